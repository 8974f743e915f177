package factory

import (
	"context"
	"errors"
	"fmt"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/caps"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

// vatHost is the daemon's bootstrap capability on a yield's fd 3. It gives the yield exactly its
// endowment — the sealed factory's components and the requestor's arguments — and takes the one
// capability the yield publishes. Nothing it returns reaches the builder or any factory facet.
type vatHost struct {
	i *Instance
}

func (h *vatHost) Endowment(ctx context.Context, call schema.VatHost_endowment) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	en, err := res.NewEndowment()
	if err != nil {
		return err
	}
	if err := fillComponentInfos(en, h.i.rec.Components); err != nil {
		return err
	}
	return fillArgInfos(en, h.i.args)
}

func fillComponentInfos(en schema.Endowment, comps []store.Component) error {
	list, err := en.NewComponents(int32(len(comps)))
	if err != nil {
		return err
	}
	for n, c := range comps {
		if err := fillComponentInfo(list.At(n), c); err != nil {
			return err
		}
	}
	return nil
}

func fillArgInfos(en schema.Endowment, args []argValue) error {
	list, err := en.NewArgs(int32(len(args)))
	if err != nil {
		return err
	}
	for n, a := range args {
		out := list.At(n)
		if err := out.SetName(a.name); err != nil {
			return err
		}
		if a.isCap {
			out.SetCap()
		} else if err := out.SetData(a.data); err != nil {
			return err
		}
	}
	return nil
}

func (h *vatHost) Component(ctx context.Context, call schema.VatHost_component) error {
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	c, ok := h.i.rec.Component(name)
	if !ok {
		return toWire(fmt.Errorf("component %q: %w", name, ErrNotFound))
	}
	cap, err := h.componentCap(c)
	if err != nil {
		return toWire(fmt.Errorf("component %q: %w", name, err))
	}
	res, err := call.AllocResults()
	if err != nil {
		cap.Release()
		return err
	}
	return res.SetCap(cap)
}

// componentCap returns, for the caller to own, the capability a yield receives for a
// component: a fresh blob for data, a rebuilt sensory view, a requestor facet for a component
// factory (sub-instances are the requestor's), or the live capability of a hole (null once the
// daemon has restarted).
func (h *vatHost) componentCap(c store.Component) (capnp.Client, error) {
	d := h.i.d
	switch c.Kind {
	case store.KindData:
		b, err := caps.NewBlob(d.st, c.Digest)
		return capnp.Client(b), err
	case store.KindFactory:
		f, err := d.reg.get(*c.FactoryID)
		if err != nil {
			return capnp.ErrorClient(err), nil
		}
		return capnp.Client(d.requestorFacet(f, h.i.principal(), requestorRights)), nil
	case store.KindSensory:
		return d.sensoryCap(c, h.i.principal())
	case store.KindHole:
		if c.HoleID == dropboxID(h.i.factory, c.Name) {
			return capnp.Client(schema.Dropbox_ServerToClient(&dropbox{d: d, f: h.i.factory, name: c.Name})), nil
		}
		return h.i.factory.Live(c.Name), nil
	}
	return capnp.Client{}, fmt.Errorf("%w: unknown component kind %q", ErrInvalid, c.Kind)
}

// sensoryCap rebuilds a sensory component from its record, for principal p. The caller owns
// the result.
func (d *Daemon) sensoryCap(c store.Component, p Principal) (capnp.Client, error) {
	switch c.Sensory {
	case "blob":
		b, err := caps.NewBlob(d.st, c.Digest)
		return capnp.Client(b), err
	case "tree":
		t, err := caps.NewTree(d.st, c.Digest)
		return capnp.Client(t), err
	case "verifier":
		f, err := d.reg.get(*c.FactoryID)
		if err != nil {
			return capnp.ErrorClient(err), nil
		}
		return capnp.Client(d.verifierFacet(f, p)), nil
	}
	return capnp.Client{}, nil
}

func (h *vatHost) Arg(ctx context.Context, call schema.VatHost_arg) error {
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	for _, a := range h.i.args {
		if a.name == name && a.isCap {
			res, err := call.AllocResults()
			if err != nil {
				return err
			}
			return res.SetCap(a.cap.AddRef())
		}
	}
	return toWire(fmt.Errorf("capability argument %q: %w", name, ErrNotFound))
}

var errPublished = errors.New("a yield publishes one capability, once")

func (h *vatHost) Publish(ctx context.Context, call schema.VatHost_publish) error {
	export := call.Args().Export()
	if !export.IsValid() {
		return toWire(fmt.Errorf("%w: a yield publishes a capability, not null", ErrInvalid))
	}
	export = export.AddRef()
	select {
	case h.i.published <- export:
		return nil
	default:
		export.Release()
		return toWire(fmt.Errorf("%w: %v", ErrInvalid, errPublished))
	}
}
