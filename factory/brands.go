package factory

import (
	"fmt"

	"github.com/factoryd/factoryd/caps"
)

// Every object the daemon serves declares its kind and a stable identity (caps.Branded), so
// that caps.Classify can judge a capability by its brand alone. The identities name holes: the
// same object installed twice is the same hole.

func (b *builder) CapKind() caps.Kind { return caps.KindDaemonObject }
func (b *builder) CapID() string      { return "builder:" + b.f.ID().String() }

// A requestor facet is only ever made for a sealed factory; one whose factory is unsealed
// (which cannot happen) would count as a hole.
func (r *requestor) CapKind() caps.Kind {
	if r.f.Sealed() {
		return caps.KindRequestor
	}
	return caps.KindDaemonObject
}
func (r *requestor) CapID() string { return "requestor:" + r.f.ID().String() }

func (v *verifier) CapKind() caps.Kind { return caps.KindVerifier }
func (v *verifier) CapID() string      { return "verifier:" + v.f.ID().String() }

func (i *Instance) CapKind() caps.Kind { return caps.KindYield }
func (i *Instance) CapID() string      { return "instance:" + i.id }

func (c *control) CapKind() caps.Kind { return caps.KindDaemonObject }
func (c *control) CapID() string      { return "control:" + c.i.id }

func (h *vatHost) CapKind() caps.Kind { return caps.KindDaemonObject }
func (h *vatHost) CapID() string      { return "vathost:" + h.i.id }

func (s *session) CapKind() caps.Kind { return caps.KindDaemonObject }
func (s *session) CapID() string      { return fmt.Sprintf("daemon:%p", s) }

func (u *upload) CapKind() caps.Kind { return caps.KindDaemonObject }
func (u *upload) CapID() string      { return fmt.Sprintf("upload:%p", u) }

func (d *dropbox) CapKind() caps.Kind { return caps.KindDaemonObject }
func (d *dropbox) CapID() string      { return dropboxID(d.f, d.name) }

func (dir *directory) CapKind() caps.Kind { return caps.KindDaemonObject }
func (dir *directory) CapID() string      { return fmt.Sprintf("directory:%p", dir) }
