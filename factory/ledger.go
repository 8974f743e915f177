package factory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

// Who reads which ledger entries: the payee (the owner of the factory, even once destroyed)
// reads its factory's whole chain; a payer reads the entries of the instances it requested;
// the operator (uid 0, who holds the file anyway) reads everything. Nobody else reads anything,
// and nothing a yield holds reads the ledger.

const (
	ledgerPage    = 1000  // entries per listing when the caller names no limit
	maxLedgerPage = 10000 // the most one listing returns
)

// ledgerView is what p may see of the ledger.
type ledgerView struct {
	p      Principal
	payees map[store.FactoryID]store.Payee
}

func (s *session) ledgerView() (*ledgerView, error) {
	payees, err := s.d.st.Payees()
	if err != nil {
		return nil, err
	}
	v := &ledgerView{p: s.p, payees: make(map[store.FactoryID]store.Payee, len(payees))}
	for _, p := range payees {
		v.payees[p.Factory] = p
	}
	return v, nil
}

func (v *ledgerView) operator() bool { return v.p.UID == 0 && v.p.Instance == "" }

// payee reports whether p reads f's whole chain.
func (v *ledgerView) payee(f store.FactoryID) bool {
	pe, ok := v.payees[f]
	return v.operator() || (ok && v.p.owns(pe.Owner))
}

// owned returns the factories whose chains p reads whole, by id.
func (v *ledgerView) owned(st *store.Store) ([]store.FactoryID, error) {
	if v.operator() {
		return st.LedgerFactories()
	}
	var out []store.FactoryID
	for id, pe := range v.payees {
		if v.p.owns(pe.Owner) {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b store.FactoryID) int { return compareIDs(a, b) })
	return out, nil
}

func compareIDs(a, b store.FactoryID) int {
	return slices.Compare(a[:], b[:])
}

// resolve names a factory by live name, by the name it had (a destroyed factory's ledger stays
// readable), or by id.
func (v *ledgerView) resolve(d *Daemon, name string) (store.FactoryID, error) {
	if f, err := d.reg.byNameOrErr(name); err == nil {
		return f.ID(), nil
	}
	var found []store.FactoryID
	for id, pe := range v.payees {
		if pe.Name == name || id.String() == name {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return store.FactoryID{}, fmt.Errorf("factory %q: %w", name, ErrNotFound)
	case 1:
		return found[0], nil
	}
	return store.FactoryID{}, fmt.Errorf("%w: %d destroyed factories were named %q: name one by id", ErrInvalid, len(found), name)
}

func (s *session) Ledger(ctx context.Context, call schema.Daemon_ledger) error {
	q, err := call.Args().Query()
	if err != nil {
		return err
	}
	factory, err := q.Factory()
	if err != nil {
		return err
	}
	instance, err := q.Instance()
	if err != nil {
		return err
	}
	afterHex, err := q.AfterFactory()
	if err != nil {
		return err
	}
	var after store.LedgerPos
	if afterHex != "" {
		if err := after.Factory.UnmarshalText([]byte(afterHex)); err != nil {
			return toWire(err)
		}
	}
	after.Seq = q.AfterSeq()
	limit := int(q.Limit())
	if limit <= 0 {
		limit = ledgerPage
	}
	limit = min(limit, maxLedgerPage)
	v, err := s.ledgerView()
	if err != nil {
		return toWire(err)
	}
	entries, err := s.listLedger(v, factory, instance, after, limit)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	list, err := res.NewEntries(int32(len(entries)))
	if err != nil {
		return err
	}
	for n := range entries {
		if err := fillLedgerEntry(list.At(n), &entries[n], v.payees[entries[n].Factory].Name); err != nil {
			return err
		}
	}
	return nil
}

// listLedger returns the first limit entries after `after`, ordered by (factory id, seq), of
// those v may see that match factory and instance.
func (s *session) listLedger(v *ledgerView, factory, instance string, after store.LedgerPos, limit int) ([]store.LedgerEntry, error) {
	uid := v.p.UID
	if factory != "" {
		id, err := v.resolve(s.d, factory)
		if err != nil {
			return nil, err
		}
		q := store.LedgerQuery{Factory: id, Instance: instance, After: after, Limit: limit}
		if !v.payee(id) {
			q.Payer = &uid
		}
		if after.Factory != (store.FactoryID{}) && after.Factory != id {
			return nil, fmt.Errorf("%w: the resume position belongs to another factory", ErrInvalid)
		}
		return s.d.st.Ledger(q)
	}
	// Every factory p may see: its own chains whole, and its entries as a payer elsewhere.
	owned, err := v.owned(s.d.st)
	if err != nil {
		return nil, err
	}
	var out []store.LedgerEntry
	for _, id := range owned {
		if compareIDs(id, after.Factory) < 0 {
			continue
		}
		q := store.LedgerQuery{Factory: id, Instance: instance, Limit: limit - len(out)}
		if id == after.Factory {
			q.After = after
		}
		part, err := s.d.st.Ledger(q)
		if err != nil {
			return nil, err
		}
		if out = append(out, part...); len(out) >= limit {
			break
		}
	}
	if !v.operator() {
		mine, err := s.d.st.Ledger(store.LedgerQuery{Payer: &uid, Instance: instance, After: after, Limit: limit})
		if err != nil {
			return nil, err
		}
		out = mergeEntries(out, mine)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// mergeEntries merges two listings ordered by position, dropping an entry both hold (a payee
// paying its own factory).
func mergeEntries(a, b []store.LedgerEntry) []store.LedgerEntry {
	out := append(a, b...)
	cmp := func(x, y store.LedgerEntry) int {
		if c := compareIDs(x.Factory, y.Factory); c != 0 {
			return c
		}
		switch {
		case x.Seq < y.Seq:
			return -1
		case x.Seq > y.Seq:
			return 1
		}
		return 0
	}
	slices.SortFunc(out, cmp)
	return slices.CompactFunc(out, func(x, y store.LedgerEntry) bool { return cmp(x, y) == 0 })
}

func fillLedgerEntry(out schema.LedgerEntry, e *store.LedgerEntry, name string) error {
	out.SetSeq(e.Seq)
	if err := out.SetFactory(name); err != nil {
		return err
	}
	if err := out.SetFactoryId(e.Factory.String()); err != nil {
		return err
	}
	if err := out.SetInstance(e.Instance); err != nil {
		return err
	}
	if err := out.SetPayer(e.Payer.String()); err != nil {
		return err
	}
	out.SetPayerUid(e.Payer.UID)
	if err := out.SetKind(e.Kind); err != nil {
		return err
	}
	out.SetUnits(e.Units)
	out.SetPeriodStart(e.PeriodStart.UnixNano())
	out.SetPeriodEnd(e.PeriodEnd.UnixNano())
	out.SetTime(e.Time.UnixNano())
	if err := out.SetPrev(e.Prev[:]); err != nil {
		return err
	}
	return out.SetHash(e.Hash[:])
}

func (s *session) VerifyLedger(ctx context.Context, call schema.Daemon_verifyLedger) error {
	factory, err := call.Args().Factory()
	if err != nil {
		return err
	}
	cps, err := readCheckpoints(call.Args())
	if err != nil {
		return toWire(err)
	}
	v, err := s.ledgerView()
	if err != nil {
		return toWire(err)
	}
	ids, err := s.verifiable(v, factory)
	if err != nil {
		return toWire(err)
	}
	verdicts := make([]chainVerdict, 0, len(ids))
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		verdicts = append(verdicts, s.verifyChain(v, id, cps[id]))
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	list, err := res.NewChains(int32(len(verdicts)))
	if err != nil {
		return err
	}
	for n, vd := range verdicts {
		if err := vd.fill(list.At(n), v.payees[vd.id].Name); err != nil {
			return err
		}
	}
	return nil
}

// verifiable returns the factories whose chains p may verify: those it owns and those it paid
// into (or the one named, if p may see it).
func (s *session) verifiable(v *ledgerView, factory string) ([]store.FactoryID, error) {
	uid := v.p.UID
	if factory != "" {
		id, err := v.resolve(s.d, factory)
		if err != nil {
			return nil, err
		}
		if !v.payee(id) {
			mine, err := s.d.st.PayerFactories(uid)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(mine, id) {
				return nil, fmt.Errorf("%w: factory %q: neither yours nor one you paid", ErrPermission, factory)
			}
		}
		return []store.FactoryID{id}, nil
	}
	ids, err := v.owned(s.d.st)
	if err != nil {
		return nil, err
	}
	if !v.operator() {
		mine, err := s.d.st.PayerFactories(uid)
		if err != nil {
			return nil, err
		}
		ids = append(ids, mine...)
	}
	slices.SortFunc(ids, compareIDs)
	return slices.Compact(ids), nil
}

type chainVerdict struct {
	id      store.FactoryID
	head    store.LedgerHead
	err     error
	entries uint64
	payee   bool
}

// verifyChain checks f's whole chain; a payer learns the verdict, the head, and how many of the
// entries are its own.
func (s *session) verifyChain(v *ledgerView, f store.FactoryID, cp []store.LedgerHead) chainVerdict {
	vd := chainVerdict{id: f, payee: v.payee(f)}
	vd.head, vd.err = s.d.st.VerifyLedger(f, cp...)
	if vd.payee {
		vd.entries = vd.head.Seq
		return vd
	}
	uid := v.p.UID
	mine, err := s.d.st.Ledger(store.LedgerQuery{Factory: f, Payer: &uid})
	if err != nil && vd.err == nil {
		vd.err = err
	}
	vd.entries = uint64(len(mine))
	return vd
}

func (vd *chainVerdict) fill(out schema.ChainVerdict, name string) error {
	if err := out.SetFactory(name); err != nil {
		return err
	}
	if err := out.SetFactoryId(vd.id.String()); err != nil {
		return err
	}
	out.SetOk(vd.err == nil)
	if vd.err != nil {
		if err := out.SetError(vd.err.Error()); err != nil {
			return err
		}
	}
	out.SetHeadSeq(vd.head.Seq)
	if err := out.SetHeadHash(vd.head.Hash[:]); err != nil {
		return err
	}
	out.SetEntries(vd.entries)
	out.SetPayee(vd.payee)
	return nil
}

func readCheckpoints(args schema.Daemon_verifyLedger_Params) (map[store.FactoryID][]store.LedgerHead, error) {
	out := map[store.FactoryID][]store.LedgerHead{}
	if !args.HasCheckpoints() {
		return out, nil
	}
	list, err := args.Checkpoints()
	if err != nil {
		return nil, err
	}
	for i := 0; i < list.Len(); i++ {
		c := list.At(i)
		idText, err := c.FactoryId()
		if err != nil {
			return nil, err
		}
		var id store.FactoryID
		if err := id.UnmarshalText([]byte(idText)); err != nil {
			return nil, err
		}
		h, err := c.Hash()
		if err != nil {
			return nil, err
		}
		var head store.LedgerHead
		if len(h) != len(head.Hash) {
			return nil, fmt.Errorf("%w: checkpoint hash of %d bytes", ErrInvalid, len(h))
		}
		head.Seq = c.Seq()
		copy(head.Hash[:], h)
		out[id] = append(out[id], head)
	}
	return out, nil
}

func (s *session) Usage(ctx context.Context, call schema.Daemon_usage) error {
	id, err := call.Args().Instance()
	if err != nil {
		return err
	}
	r, live, err := s.d.usageOf(id, s.p)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	out, err := res.NewUsage()
	if err != nil {
		return err
	}
	return fillUsage(out, r, live)
}

// usageOf returns what instance id consumed, if p requested it: live figures for a running
// instance, else the record kept when it ended.
func (d *Daemon) usageOf(id string, p Principal) (*store.UsageRecord, bool, error) {
	if i, err := d.instanceFor(id, p); err == nil {
		r := i.usage()
		return r, r.Ended.IsZero(), nil
	}
	uid := p.UID
	if p.UID == 0 {
		// The operator may read anyone's; the record is under its requestor's uid.
		if r, err := d.st.UsageAnyRequestor(id); err == nil || !errors.Is(err, store.ErrNotFound) {
			return r, false, err
		}
	}
	r, err := d.st.Usage(uid, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, fmt.Errorf("instance %q: %w", id, ErrNotFound)
	}
	return r, false, err
}

func fillUsage(out schema.InstanceUsage, r *store.UsageRecord, live bool) error {
	if err := out.SetInstance(r.Instance); err != nil {
		return err
	}
	if err := out.SetFactory(r.Factory); err != nil {
		return err
	}
	out.SetLive(live)
	out.SetCpuNanos(r.CPUNanos)
	out.SetPeakMemoryBytes(r.PeakMemory)
	end := r.Ended
	if end.IsZero() {
		end = time.Now()
	}
	out.SetWallNanos(uint64(max(end.Sub(r.Created), 0)))
	out.SetCreatedAt(r.Created.UnixNano())
	if !r.Ended.IsZero() {
		out.SetEndedAt(r.Ended.UnixNano())
	}
	if err := out.SetEndReason(r.EndReason); err != nil {
		return err
	}
	out.SetMeasured(r.Measured)
	return nil
}
