package factory

import (
	"context"
	"fmt"
	"sync"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/caps"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/vat"
)

// builder is the Builder facet of one factory, held by its owner. No method of any other
// facet returns it.
type builder struct {
	d *Daemon
	f *Factory
	p Principal

	mu     sync.Mutex // guards sealed: the facet seal returned, so sealing twice returns it again
	sealed schema.Requestor
}

// requestor is the Requestor facet: create instances, inspect the factory.
type requestor struct {
	d *Daemon
	f *Factory
	p Principal
}

// verifier is the Verifier facet: it answers only whether a capability is one of the
// factory's yields.
type verifier struct {
	d *Daemon
	f *Factory
}

// The facet constructors return new clients, owned by the caller.
func (d *Daemon) builderFacet(f *Factory, p Principal) schema.Builder {
	return schema.Builder_ServerToClient(&builder{d: d, f: f, p: p})
}

func (d *Daemon) requestorFacet(f *Factory, p Principal) schema.Requestor {
	return schema.Requestor_ServerToClient(&requestor{d: d, f: f, p: p})
}

func (d *Daemon) verifierFacet(f *Factory) schema.Verifier {
	return schema.Verifier_ServerToClient(&verifier{d: d, f: f})
}

func (b *builder) SetProgram(ctx context.Context, call schema.Builder_setProgram) error {
	d, err := digestArg(call.Args().Sha256())
	if err != nil {
		return toWire(err)
	}
	if err := b.d.checkProgram(d); err != nil {
		return toWire(err)
	}
	return toWire(b.f.SetProgram(d))
}

// checkProgram refuses a blob that cannot run in a vat, before it is ever started.
func (d *Daemon) checkProgram(dg store.Digest) error {
	f, err := d.st.OpenBlob(dg)
	if err != nil {
		return err
	}
	defer f.Close()
	return vat.CheckProgram(f)
}

func (b *builder) InstallData(ctx context.Context, call schema.Builder_installData) error {
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	d, err := digestArg(call.Args().Sha256())
	if err != nil {
		return toWire(err)
	}
	return toWire(b.f.InstallData(name, d))
}

func (b *builder) InstallSensory(ctx context.Context, call schema.Builder_installSensory) error {
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	c, err := sensoryComponent(ctx, call.Args().Cap())
	if err != nil {
		return toWire(err)
	}
	return toWire(b.f.InstallSensory(name, c))
}

// sensoryComponent describes cap as a sensory component the daemon can rebuild, judging by its
// brand only: a blob or a verifier facet served by this daemon, or null. Anything else is
// refused, never recorded as a hole behind the builder's back.
func sensoryComponent(ctx context.Context, cap capnp.Client) (store.Component, error) {
	if !cap.IsValid() {
		return store.Component{}, nil
	}
	switch v := caps.BrandOf(ctx, cap).(type) {
	case *caps.Blob:
		return store.Component{Digest: v.ContentDigest()}, nil
	case *verifier:
		id := v.f.ID()
		return store.Component{FactoryID: &id}, nil
	}
	return store.Component{}, fmt.Errorf("%w: only blobs and verifier facets served by this daemon are sensory; install anything else as a hole", ErrNotSensory)
}

func (b *builder) InstallFactory(ctx context.Context, call schema.Builder_installFactory) error {
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	r, ok := caps.BrandOf(ctx, capnp.Client(call.Args().Requestor())).(*requestor)
	if !ok {
		return toWire(fmt.Errorf("%w: not the requestor facet of a factory on this daemon", ErrInvalid))
	}
	return toWire(b.f.InstallFactory(name, r.f))
}

func (b *builder) InstallHole(ctx context.Context, call schema.Builder_installHole) error {
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	label, err := call.Args().Label()
	if err != nil {
		return err
	}
	return toWire(b.f.InstallHole(name, call.Args().Cap().AddRef(), label))
}

func (b *builder) Seal(ctx context.Context, call schema.Builder_seal) error {
	if err := b.f.Seal(b.d.reg.holesOf); err != nil {
		return toWire(err)
	}
	b.d.log.Info("factory sealed", "factory", b.f.Snapshot().Name)
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetRequestor(b.sealedFacet())
}

// sealedFacet returns a new reference to the requestor facet this builder facet's seal made.
func (b *builder) sealedFacet() schema.Requestor {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.sealed.IsValid() {
		b.sealed = b.d.requestorFacet(b.f, b.p)
	}
	return b.sealed.AddRef()
}

// Shutdown releases the cached facet when the builder facet itself is released.
func (b *builder) Shutdown() {
	b.mu.Lock()
	r := b.sealed
	b.sealed = schema.Requestor{}
	b.mu.Unlock()
	r.Release()
}

func (b *builder) Info(ctx context.Context, call schema.Builder_info) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	info, err := res.NewInfo()
	if err != nil {
		return err
	}
	return fillFactoryInfo(info, b.f.Snapshot())
}

func (b *builder) OpenYield(ctx context.Context, call schema.Builder_openYield) error {
	inst, ok := b.d.yieldOf(ctx, call.Args().Yield())
	if !ok || inst.factory != b.f {
		return toWire(fmt.Errorf("%w: not a yield of this factory", ErrInvalid))
	}
	b.d.log.Info("yield opened by builder", "factory", b.f.Snapshot().Name, "instance", inst.id)
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetControl(inst.control())
}

func (b *builder) Destroy(ctx context.Context, call schema.Builder_destroy) error {
	name := b.f.Snapshot().Name
	if err := b.d.reg.destroy(b.f); err != nil {
		return toWire(err)
	}
	b.d.log.Info("factory destroyed", "factory", name)
	return nil
}

func (r *requestor) Create(ctx context.Context, call schema.Requestor_create) error {
	call.Go() // a slow start must not hold up other calls on this facet
	req, err := readCreateRequest(call.Args())
	if err != nil {
		return toWire(err)
	}
	client, err := r.d.create(ctx, r.f, r.p, req)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		client.Release()
		return err
	}
	return res.SetInstance(client)
}

func (r *requestor) Control(ctx context.Context, call schema.Requestor_control) error {
	inst, ok := r.d.yieldOf(ctx, call.Args().Instance())
	if !ok || inst.factory != r.f {
		return toWire(fmt.Errorf("%w: not an instance of this factory", ErrInvalid))
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetControl(inst.control())
}

func (r *requestor) Info(ctx context.Context, call schema.Requestor_info) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	info, err := res.NewInfo()
	if err != nil {
		return err
	}
	return fillFactoryInfo(info, r.f.Snapshot())
}

func (r *requestor) IsDiscreet(ctx context.Context, call schema.Requestor_isDiscreet) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetDiscreet(r.f.Snapshot().Discreet)
	return nil
}

func (r *requestor) Verifier(ctx context.Context, call schema.Requestor_verifier) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetVerifier(r.d.verifierFacet(r.f))
}

func (v *verifier) VerifyYield(ctx context.Context, call schema.Verifier_verifyYield) error {
	inst, ok := v.d.yieldOf(ctx, call.Args().Cap())
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetOk(ok && inst.factory == v.f)
	return nil
}
