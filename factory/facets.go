package factory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/access"
	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/vat"
)

// builder is the Builder facet of one factory, opened by a principal the factory's descriptor
// grants builder rights (its owner by default). No method of any other facet returns it.
type builder struct {
	d      *Daemon
	f      *Factory
	p      Principal
	rights access.AccessMask // the builder rights this facet holds

	mu     sync.Mutex // guards sealed: the facet seal returned, so sealing twice returns it again
	sealed schema.Requestor
}

// requestor is the Requestor facet: create instances, audit the factory.
type requestor struct {
	d      *Daemon
	f      *Factory
	p      Principal
	rights access.AccessMask // the requestor rights this facet holds
}

// verifier is the Verifier facet: it answers only whether a capability is one of the
// factory's yields.
type verifier struct {
	d *Daemon
	f *Factory
	p Principal
}

// The facet constructors return new clients, owned by the caller, holding rights: a facet
// opened by name holds what AccessCheck granted; one handed over as a capability (seal's
// result, a component factory) holds every right of its kind.
func (d *Daemon) builderFacet(f *Factory, p Principal, rights access.AccessMask) schema.Builder {
	return schema.Builder_ServerToClient(&builder{d: d, f: f, p: p, rights: rights & builderRights})
}

func (d *Daemon) requestorFacet(f *Factory, p Principal, rights access.AccessMask) schema.Requestor {
	return schema.Requestor_ServerToClient(&requestor{d: d, f: f, p: p, rights: rights & requestorRights})
}

// need fails unless the builder facet holds r.
func (b *builder) need(r access.AccessMask) error { return need(b.rights, r, b.f.Snapshot().Name) }

// need fails unless the requestor facet holds r.
func (r *requestor) need(m access.AccessMask) error { return need(r.rights, m, r.f.Snapshot().Name) }

func (d *Daemon) verifierFacet(f *Factory, p Principal) schema.Verifier {
	return schema.Verifier_ServerToClient(&verifier{d: d, f: f, p: p})
}

func (b *builder) SetProgram(ctx context.Context, call schema.Builder_setProgram) error {
	if err := b.need(RightInstall); err != nil {
		return toWire(err)
	}
	d, err := digestArg(call.Args().Sha256())
	if err != nil {
		return toWire(err)
	}
	if err := b.f.checkMutable(); err != nil {
		return toWire(err)
	}
	if err := b.d.checkProgram(d); err != nil {
		return toWire(err)
	}
	if err := b.f.SetProgram(d); err != nil {
		return toWire(err)
	}
	b.d.recordFactory(b.p, audit.ProgramSet, b.f, store.AuditEntry{Detail: "sha256:" + d.String()})
	return nil
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
	if err := b.need(RightInstall); err != nil {
		return toWire(err)
	}
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	d, err := digestArg(call.Args().Sha256())
	if err != nil {
		return toWire(err)
	}
	if err := b.f.InstallData(name, d); err != nil {
		return toWire(err)
	}
	b.installed(name, store.KindData, "", "sha256:"+d.String())
	return nil
}

// installed records a successful install in the audit log.
func (b *builder) installed(name string, kind store.ComponentKind, label, detail string) {
	b.d.recordFactory(b.p, audit.ComponentInstalled, b.f, store.AuditEntry{Component: name, Kind: string(kind),
		Label: label, Detail: detail})
}

func (b *builder) InstallSensory(ctx context.Context, call schema.Builder_installSensory) error {
	if err := b.need(RightInstall); err != nil {
		return toWire(err)
	}
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	if err := b.f.checkMutable(); err != nil {
		return toWire(err)
	}
	c, err := b.d.sensoryComponent(ctx, call.Args().Cap())
	if err != nil {
		return toWire(err)
	}
	if err := b.f.InstallSensory(name, c); err != nil {
		return toWire(err)
	}
	b.installed(name, store.KindSensory, "", c.Sensory)
	return nil
}

func (b *builder) InstallFactory(ctx context.Context, call schema.Builder_installFactory) error {
	if err := b.need(RightInstall); err != nil {
		return toWire(err)
	}
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	if err := b.f.checkMutable(); err != nil {
		return toWire(err)
	}
	other, ok := b.d.requestorOf(ctx, capnp.Client(call.Args().Requestor()))
	if !ok {
		return toWire(fmt.Errorf("%w: not the requestor facet of a sealed factory on this daemon", ErrInvalid))
	}
	if err := b.f.InstallFactory(name, other); err != nil {
		return toWire(err)
	}
	b.installed(name, store.KindFactory, other.Snapshot().Name, "")
	return nil
}

func (b *builder) InstallHole(ctx context.Context, call schema.Builder_installHole) error {
	if err := b.need(RightInstall); err != nil {
		return toWire(err)
	}
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	label, err := call.Args().Label()
	if err != nil {
		return err
	}
	if err := b.f.checkMutable(); err != nil {
		return toWire(err)
	}
	cap := call.Args().Cap()
	c := b.d.holeComponent(ctx, b.f, name, cap, label)
	if err := b.f.InstallHole(c, cap.AddRef()); err != nil {
		return toWire(err)
	}
	b.installed(name, store.KindHole, label, c.HoleID)
	return nil
}

func (b *builder) InstallDropbox(ctx context.Context, call schema.Builder_installDropbox) error {
	if err := b.need(RightInstall); err != nil {
		return toWire(err)
	}
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	label, err := call.Args().Label()
	if err != nil {
		return err
	}
	c := store.Component{Name: name, Label: label, HoleID: dropboxID(b.f, name),
		Why: "a dropbox: every message a yield posts is read by the builder"}
	if err := b.f.InstallHole(c, capnp.Client{}); err != nil {
		return toWire(err)
	}
	b.installed(name, store.KindHole, label, c.HoleID)
	return nil
}

func (b *builder) AllowSyscalls(ctx context.Context, call schema.Builder_allowSyscalls) error {
	if err := b.need(RightInstall); err != nil {
		return toWire(err)
	}
	list, err := call.Args().Syscalls()
	if err != nil {
		return err
	}
	names := make([]string, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		n, err := list.At(i)
		if err != nil {
			return err
		}
		names = append(names, n)
	}
	if err := b.f.checkMutable(); err != nil {
		return toWire(err)
	}
	if err := vat.CheckSyscalls(names); err != nil {
		return toWire(err)
	}
	if err := b.f.AllowSyscalls(names); err != nil {
		return toWire(err)
	}
	b.d.recordFactory(b.p, audit.SyscallsAllowed, b.f, store.AuditEntry{Detail: strings.Join(names, " ")})
	return nil
}

func (b *builder) Dropbox(ctx context.Context, call schema.Builder_dropbox) error {
	if err := b.need(RightManage); err != nil {
		return toWire(err)
	}
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	if c, ok := b.f.Snapshot().Component(name); !ok || c.HoleID != dropboxID(b.f, name) {
		return toWire(fmt.Errorf("dropbox %q: %w", name, ErrNotFound))
	}
	msgs, err := b.d.st.DropboxMessages(b.f.ID(), name, call.Args().After(), maxDropboxRead)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return fillDropboxMessages(res, msgs)
}

func (b *builder) Seal(ctx context.Context, call schema.Builder_seal) error {
	if err := b.need(RightSeal); err != nil {
		return toWire(err)
	}
	wasSealed := b.f.Sealed()
	snap := b.f.Snapshot()
	reach, err := b.d.reachHoles(snap)
	if err != nil {
		return toWire(err)
	}
	if err := b.f.SealWith(b.d.reg.holesOf, func(r *store.Factory) ([]string, error) {
		if !slices.Equal(r.Capabilities, snap.Capabilities) || r.Strict != snap.Strict {
			return nil, fmt.Errorf("%w: the declared capabilities changed while sealing; seal again", ErrInUse)
		}
		return reach, nil
	}); err != nil {
		return toWire(err)
	}
	if !wasSealed {
		rec := b.f.Snapshot()
		b.d.log.Info("factory sealed", "factory", rec.Name, "holes", len(rec.Holes))
		b.d.recordFactory(b.p, audit.FactorySealed, b.f, store.AuditEntry{Detail: verdictText(rec)})
	}
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
		b.sealed = b.d.requestorFacet(b.f, b.p, requestorRights)
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

func (b *builder) Holes(ctx context.Context, call schema.Builder_holes) error {
	return fillReport(b.d, b.f, call.AllocResults)
}

func (b *builder) OpenYield(ctx context.Context, call schema.Builder_openYield) error {
	if err := b.need(RightManage); err != nil {
		return toWire(err)
	}
	inst, ok := b.d.yieldOf(ctx, call.Args().Yield())
	if !ok || inst.factory != b.f {
		return toWire(fmt.Errorf("%w: not a yield of this factory", ErrInvalid))
	}
	b.d.log.Info("yield opened by its builder", "factory", b.f.Snapshot().Name, "instance", inst.id)
	b.d.record(store.AuditEntry{Principal: b.p.String(), UID: inst.requestor.UID, Action: audit.YieldOpened,
		Factory: inst.rec.Name, FactoryID: inst.rec.ID.String(), Instance: inst.id,
		Detail: "the requestor handed this yield to the builder"})
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetControl(inst.control())
}

func (b *builder) Destroy(ctx context.Context, call schema.Builder_destroy) error {
	if err := b.need(RightDestroy); err != nil {
		return toWire(err)
	}
	rec := b.f.Snapshot()
	if err := b.d.reg.destroy(b.f); err != nil {
		return toWire(err)
	}
	b.d.st.DeleteDropboxes(rec.ID)
	b.d.log.Info("factory destroyed", "factory", rec.Name)
	b.d.record(store.AuditEntry{Principal: b.p.String(), UID: b.p.UID, Public: true, Action: audit.FactoryDestroyed,
		Factory: rec.Name, FactoryID: rec.ID.String()})
	return nil
}

func (r *requestor) Create(ctx context.Context, call schema.Requestor_create) error {
	if err := r.need(RightCreate); err != nil {
		return toWire(err)
	}
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
	if err := r.need(RightCreate); err != nil {
		return toWire(err)
	}
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
	if err := r.need(RightAudit); err != nil {
		return toWire(err)
	}
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
	if err := r.need(RightAudit); err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetDiscreet(len(r.d.holesNow(r.f)) == 0)
	return nil
}

func (r *requestor) Verifier(ctx context.Context, call schema.Requestor_verifier) error {
	if err := r.need(RightAudit); err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetVerifier(r.d.verifierFacet(r.f, r.p))
}

func (r *requestor) Holes(ctx context.Context, call schema.Requestor_holes) error {
	if err := r.need(RightAudit); err != nil {
		return toWire(err)
	}
	return fillReport(r.d, r.f, call.AllocResults)
}

// Compare judges other by its brand only: it is never called.
func (r *requestor) Compare(ctx context.Context, call schema.Requestor_compare) error {
	if err := r.need(RightAudit); err != nil {
		return toWire(err)
	}
	verdict := audit.NotAFactory
	candidate, ok := r.d.requestorOf(ctx, call.Args().Other())
	if ok {
		verdict = audit.Compare(r.d.holesNow(r.f), r.d.holesNow(candidate))
	}
	policy := r.f.Snapshot()
	r.d.record(store.AuditEntry{Principal: r.p.String(), UID: r.p.UID, Action: audit.CompareAsked,
		Factory: policy.Name, FactoryID: policy.ID.String(), Detail: compareDetail(candidate, verdict)})
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetResult(schema.CompareResult(verdict))
	return nil
}

func compareDetail(candidate *Factory, v audit.Verdict) string {
	if candidate == nil {
		return "candidate: not a factory of this daemon; " + v.String()
	}
	return "candidate: " + candidate.Snapshot().Name + "; " + v.String()
}

func (v *verifier) VerifyYield(ctx context.Context, call schema.Verifier_verifyYield) error {
	inst, ok := v.d.yieldOf(ctx, call.Args().Cap())
	ok = ok && inst.factory == v.f
	rec := v.f.Snapshot()
	v.d.record(store.AuditEntry{Principal: v.p.String(), UID: v.p.UID, Action: audit.VerifyAsked,
		Factory: rec.Name, FactoryID: rec.ID.String(), Detail: fmt.Sprintf("verified: %v", ok)})
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetOk(ok)
	return nil
}

func verdictText(rec *store.Factory) string {
	if rec.Discreet {
		return "discreet"
	}
	return fmt.Sprintf("%d hole(s)", len(rec.Holes))
}
