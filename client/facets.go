package client

import (
	"context"
	"time"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// Builder is a factory's builder facet. Release it when done; nil is a valid, empty Builder.
type Builder struct{ cap schema.Builder }

// Release drops the facet.
func (b *Builder) Release() {
	if b != nil {
		b.cap.Release()
	}
}

// Cap lends the underlying capability.
func (b *Builder) Cap() schema.Builder { return b.cap }

// SetProgram sets the factory's program to an uploaded blob.
func (b *Builder) SetProgram(ctx context.Context, d digest.Digest) error {
	return call(b.cap.SetProgram(ctx, func(p schema.Builder_setProgram_Params) error {
		return p.SetSha256(d[:])
	}))
}

// InstallData installs an uploaded blob as an immutable data component.
func (b *Builder) InstallData(ctx context.Context, name string, d digest.Digest) error {
	return call(b.cap.InstallData(ctx, func(p schema.Builder_installData_Params) error {
		if err := p.SetName(name); err != nil {
			return err
		}
		return p.SetSha256(d[:])
	}))
}

// InstallFactory installs another sealed factory's requestor facet as a component.
func (b *Builder) InstallFactory(ctx context.Context, name string, r *Requestor) error {
	return call(b.cap.InstallFactory(ctx, func(p schema.Builder_installFactory_Params) error {
		if err := p.SetName(name); err != nil {
			return err
		}
		return p.SetRequestor(r.cap.AddRef())
	}))
}

// InstallSensory installs a sensory capability; the daemon refuses anything it cannot prove
// transitively read-only. c is borrowed.
func (b *Builder) InstallSensory(ctx context.Context, name string, c capnp.Client) error {
	return call(b.cap.InstallSensory(ctx, func(p schema.Builder_installSensory_Params) error {
		if err := p.SetName(name); err != nil {
			return err
		}
		return p.SetCap(c.AddRef())
	}))
}

// InstallHole installs any capability as a declared hole with a label. c is borrowed.
func (b *Builder) InstallHole(ctx context.Context, name string, c capnp.Client, label string) error {
	return call(b.cap.InstallHole(ctx, func(p schema.Builder_installHole_Params) error {
		if err := p.SetName(name); err != nil {
			return err
		}
		if err := p.SetLabel(label); err != nil {
			return err
		}
		return p.SetCap(c.AddRef())
	}))
}

// AllowSyscalls declares syscalls the program needs beyond the default seccomp allowlist.
func (b *Builder) AllowSyscalls(ctx context.Context, names ...string) error {
	return call(b.cap.AllowSyscalls(ctx, func(p schema.Builder_allowSyscalls_Params) error {
		list, err := p.NewSyscalls(int32(len(names)))
		if err != nil {
			return err
		}
		for i, n := range names {
			if err := list.Set(i, n); err != nil {
				return err
			}
		}
		return nil
	}))
}

// InstallDropbox installs a dropbox the builder reads as the component name: a declared hole
// from every instance to the builder.
func (b *Builder) InstallDropbox(ctx context.Context, name, label string) error {
	return call(b.cap.InstallDropbox(ctx, func(p schema.Builder_installDropbox_Params) error {
		if err := p.SetName(name); err != nil {
			return err
		}
		return p.SetLabel(label)
	}))
}

// DropboxMessage is one message an instance posted to a dropbox.
type DropboxMessage struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Data []byte    `json:"data"`
}

// Dropbox returns the messages posted to the named dropbox after sequence number after.
func (b *Builder) Dropbox(ctx context.Context, name string, after uint64) ([]DropboxMessage, error) {
	fut, release := b.cap.Dropbox(ctx, func(p schema.Builder_dropbox_Params) error {
		p.SetAfter(after)
		return p.SetName(name)
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	list, err := res.Messages()
	if err != nil {
		return nil, err
	}
	out := make([]DropboxMessage, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		m := list.At(i)
		data, _ := m.Data()
		out = append(out, DropboxMessage{Seq: m.Seq(), Time: time.Unix(0, m.Time()).UTC(), Data: append([]byte(nil), data...)})
	}
	return out, nil
}

// Seal freezes the factory and returns its requestor facet. Sealing a sealed factory returns
// the facet again.
func (b *Builder) Seal(ctx context.Context) (*Requestor, error) {
	fut, release := b.cap.Seal(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	return &Requestor{cap: res.Requestor().AddRef()}, nil
}

// Info describes the factory.
func (b *Builder) Info(ctx context.Context) (FactoryInfo, error) {
	fut, release := b.cap.Info(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return FactoryInfo{}, wire.Decode(err)
	}
	info, err := res.Info()
	if err != nil {
		return FactoryInfo{}, err
	}
	return factoryInfo(info)
}

// Destroy removes the factory.
func (b *Builder) Destroy(ctx context.Context) error {
	return call(b.cap.Destroy(ctx, nil))
}

// Requestor is a factory's requestor facet. nil is a valid, empty Requestor.
type Requestor struct{ cap schema.Requestor }

// Release drops the facet.
func (r *Requestor) Release() {
	if r != nil {
		r.cap.Release()
	}
}

// Cap lends the underlying capability.
func (r *Requestor) Cap() schema.Requestor { return r.cap }

// Info describes the factory.
func (r *Requestor) Info(ctx context.Context) (FactoryInfo, error) {
	fut, release := r.cap.Info(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return FactoryInfo{}, wire.Decode(err)
	}
	info, err := res.Info()
	if err != nil {
		return FactoryInfo{}, err
	}
	return factoryInfo(info)
}

// IsDiscreet reports the verdict frozen at seal: true when the factory has no holes.
func (r *Requestor) IsDiscreet(ctx context.Context) (bool, error) {
	fut, release := r.cap.IsDiscreet(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return false, wire.Decode(err)
	}
	return res.Discreet(), nil
}

// Verifier returns the factory's verifier facet.
func (r *Requestor) Verifier(ctx context.Context) (*Verifier, error) {
	fut, release := r.cap.Verifier(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	return &Verifier{cap: res.Verifier().AddRef()}, nil
}

// Verifier is a factory's verifier facet. nil is a valid, empty Verifier.
type Verifier struct{ cap schema.Verifier }

// Release drops the facet.
func (v *Verifier) Release() {
	if v != nil {
		v.cap.Release()
	}
}

// Cap lends the underlying capability.
func (v *Verifier) Cap() capnp.Client { return capnp.Client(v.cap) }

// VerifyYield reports whether c was created by this verifier's factory. c is borrowed.
func (v *Verifier) VerifyYield(ctx context.Context, c capnp.Client) (bool, error) {
	fut, release := v.cap.VerifyYield(ctx, func(p schema.Verifier_verifyYield_Params) error {
		return p.SetCap(c.AddRef())
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return false, wire.Decode(err)
	}
	return res.Ok(), nil
}

// call waits for a call without results.
func call[F interface{ Struct() (S, error) }, S any](fut F, release capnp.ReleaseFunc) error {
	defer release()
	_, err := fut.Struct()
	return wire.Decode(err)
}
