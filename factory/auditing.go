package factory

import (
	"context"
	"fmt"
	"slices"

	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/caps"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

// record appends to the audit log, in the background (auditWriter). A failure to record is
// logged for the operator, not returned: the action it describes has already happened.
func (d *Daemon) record(e store.AuditEntry) { d.audit.record(e) }

// recordFactory records a public event of f's life.
func (d *Daemon) recordFactory(p Principal, action string, f *Factory, e store.AuditEntry) {
	rec := f.Snapshot()
	e.Principal, e.UID, e.Public, e.Action = p.String(), p.UID, true, action
	e.Factory, e.FactoryID = rec.Name, rec.ID.String()
	d.record(e)
}

// visibleTo says whether p may read e: public factory events, p's own events, and everything
// for the operator (uid 0).
func visibleTo(p Principal, e *store.AuditEntry) bool {
	return e.Public || (p.Instance == "" && (p.UID == 0 || e.UID == p.UID))
}

// report builds f's audit report.
func (d *Daemon) report(f *Factory) (*audit.Report, error) {
	rec := f.record()
	r, err := audit.Build(rec, func(id store.FactoryID) (*store.Factory, error) {
		sub, err := d.reg.get(id)
		if err != nil {
			return nil, err
		}
		return sub.record(), nil
	})
	if err != nil {
		return nil, err
	}
	conf, reach, err := confinementOf(rec, d.namespace())
	if err != nil {
		return nil, err
	}
	r.Factories[r.Root].Confinement = conf
	for _, h := range reach {
		i := slices.IndexFunc(r.Holes, func(o audit.Hole) bool { return o.ID == h.ID })
		if i >= 0 {
			r.Holes[i] = h // frozen at seal, and still there: describe it as it stands
			continue
		}
		if rec.Sealed {
			h.Reason += " (since seal: a descriptor changed)"
		}
		r.Holes = append(r.Holes, h)
		r.Discreet = false
	}
	// Only the audited factory's own charges count: the instances a yield creates of its
	// component factories can charge nothing (a yield cannot grant ceilings).
	r.Covert = audit.Inventory(d.factoryBilling(rec.Charges), len(r.Holes))
	return r, nil
}

// fillReport answers a holes() call: alloc is the call's AllocResults.
func fillReport[R interface {
	NewReport() (schema.AuditReport, error)
}](d *Daemon, f *Factory, alloc func() (R, error)) error {
	r, err := d.report(f)
	if err != nil {
		return toWire(err)
	}
	res, err := alloc()
	if err != nil {
		return err
	}
	out, err := res.NewReport()
	if err != nil {
		return err
	}
	return fillAuditReport(out, r)
}

func (s *session) NewTree(ctx context.Context, call schema.Daemon_newTree) error {
	entries, err := readTreeEntries(call.Args())
	if err != nil {
		return toWire(err)
	}
	d, err := caps.BuildTree(s.d.st, entries)
	if err != nil {
		return toWire(err)
	}
	t, err := caps.NewTree(s.d.st, d)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		t.Release()
		return err
	}
	return res.SetTree(t)
}

func readTreeEntries(p schema.Daemon_newTree_Params) ([]caps.TreeEntry, error) {
	list, err := p.Entries()
	if err != nil {
		return nil, err
	}
	out := make([]caps.TreeEntry, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		e := list.At(i)
		name, err := e.Name()
		if err != nil {
			return nil, err
		}
		d, err := digestArg(e.Sha256())
		if err != nil {
			return nil, err
		}
		out = append(out, caps.TreeEntry{Name: name, IsTree: e.Kind() == schema.TreeEntryKind_tree, Digest: d})
	}
	return out, nil
}

func (s *session) VerifyInstance(ctx context.Context, call schema.Daemon_verifyInstance) error {
	name, err := call.Args().Factory()
	if err != nil {
		return err
	}
	id, err := call.Args().Instance()
	if err != nil {
		return err
	}
	f, err := s.d.reg.byNameOrErr(name)
	if err != nil {
		return toWire(err)
	}
	inst, err := s.d.instanceFor(id, s.p)
	if err != nil {
		return toWire(err)
	}
	ok := inst.factory == f
	s.d.record(store.AuditEntry{Principal: s.p.String(), UID: s.p.UID, Action: audit.VerifyAsked,
		Factory: name, FactoryID: f.ID().String(), Instance: id, Detail: fmt.Sprintf("verified: %v", ok)})
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetOk(ok)
	return nil
}

func (s *session) AuditLog(ctx context.Context, call schema.Daemon_auditLog) error {
	name, err := call.Args().Factory()
	if err != nil {
		return err
	}
	limit := int(min(call.Args().Limit(), 10000))
	if limit == 0 {
		limit = 1000
	}
	s.d.audit.flush()
	entries, err := s.d.st.AuditEntries(func(e *store.AuditEntry) bool {
		return visibleTo(s.p, e) && (name == "" || e.Factory == name)
	}, limit)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return fillAuditEntries(res, entries)
}
