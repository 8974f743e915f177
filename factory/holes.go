package factory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/caps"
	"github.com/factoryd/factoryd/store"
)

// foreignIDs names capabilities held by other connections: the same import gets the same id
// while it is held, so installing one capability in two factories makes one hole of both.
//
// mu guards ids.
type foreignIDs struct {
	mu  sync.Mutex
	ids map[any]string
}

func (f *foreignIDs) get(key any) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = map[any]string{}
	}
	id, ok := f.ids[key]
	if !ok {
		var b [12]byte
		rand.Read(b[:])
		id = "foreign:" + hex.EncodeToString(b[:])
		f.ids[key] = id
	}
	return id
}

// holeComponent classifies cap (by brand only) and describes the hole it makes.
func (d *Daemon) holeComponent(ctx context.Context, f *Factory, name string, cap capnp.Client, label string) store.Component {
	c := store.Component{Name: name, Kind: store.KindHole, Label: label}
	class := d.classify(ctx, cap)
	switch {
	case class.Kind == caps.KindNull:
		c.HoleID = "declared:" + f.ID().String() + "/" + name
		c.Why = "declared by the builder with no capability; it reaches nothing yet counts as a hole"
	case class.Object != nil:
		c.HoleID = class.Object.CapID()
		c.Why = whyDaemonObject(class)
	case class.Kind == caps.KindUnresolved:
		c.HoleID = "unresolved:" + f.ID().String() + "/" + name
		c.Why = "a promise that did not resolve in time: it could become anything"
	default:
		c.HoleID = d.foreign.get(class.Key)
		c.Why = "a capability held by another connection: whoever serves it sees everything the yield sends it"
	}
	return c
}

func whyDaemonObject(class caps.Class) string {
	switch class.Kind {
	case caps.KindYield:
		return "an instance's capability: its program can pass on whatever it receives"
	case caps.KindBlob, caps.KindTree, caps.KindVerifier, caps.KindRequestor:
		return fmt.Sprintf("a %v, installed as a hole although it is not one", class.Kind)
	}
	return fmt.Sprintf("a daemon object (%s) that can change state others observe", class.Object.CapID())
}

// sensoryComponent describes cap as a sensory component the daemon can rebuild, judging by its
// brand only. Anything that is not provably sensory is refused, never recorded as a hole behind
// the builder's back.
func (d *Daemon) sensoryComponent(ctx context.Context, cap capnp.Client) (store.Component, error) {
	class := d.classify(ctx, cap)
	switch o := class.Object.(type) {
	case *caps.Blob:
		return store.Component{Sensory: "blob", Digest: o.ContentDigest()}, nil
	case *caps.Tree:
		return store.Component{Sensory: "tree", Digest: o.ContentDigest()}, nil
	case *verifier:
		id := o.f.ID()
		return store.Component{Sensory: "verifier", FactoryID: &id}, nil
	}
	if class.Kind == caps.KindNull {
		return store.Component{Sensory: "null"}, nil
	}
	return store.Component{}, fmt.Errorf("%w: a %v is not sensory (only blobs, trees and verifier facets served by this daemon are); install it as a hole",
		ErrNotSensory, class.Kind)
}

// requestorOf returns the factory whose sealed requestor facet c is, judged by brand only.
func (d *Daemon) requestorOf(ctx context.Context, c capnp.Client) (*Factory, bool) {
	r, ok := d.classify(ctx, c).Object.(*requestor)
	if !ok || !r.f.Sealed() {
		return nil, false
	}
	return r.f, true
}

// yieldOf returns the instance whose export c is, judged by brand only.
func (d *Daemon) yieldOf(ctx context.Context, c capnp.Client) (*Instance, bool) {
	fwd, ok := d.classify(ctx, c).Object.(*caps.Forwarder)
	if !ok {
		return nil, false
	}
	i, ok := fwd.Tag().(*Instance)
	return i, ok
}

// classify is caps.Classify with the daemon's deadline for promises.
func (d *Daemon) classify(ctx context.Context, c capnp.Client) caps.Class {
	ctx, cancel := context.WithTimeout(ctx, d.opts.PromiseDeadline)
	defer cancel()
	return caps.Classify(ctx, c)
}
