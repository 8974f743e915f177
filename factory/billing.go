package factory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

// The billing channel, as the daemon drives it (package billing has the policy, package store
// the ledger):
//
//   - a factory declares charge kinds before seal (Builder.declareCharges);
//   - a requestor grants, at create, a period and ceilings per kind; without them the instance
//     can charge nothing. A yield creating a sub-instance cannot grant any: only a requestor's
//     own consent opens a channel to a builder;
//   - each instance whose policy lets it charge gets a Meter and a goroutine (meterLoop) that,
//     at every period end, appends the ended periods' coalesced entries to the factory's ledger
//     through the daemon's one LedgerWriter (group commit), then acknowledges the charges of
//     those periods. A charge call returns only then: acknowledged means durable;
//   - when the instance ends its meter is closed; the loop still records what was accepted, at
//     the period's end (never earlier: the yield must not choose when an entry appears). When
//     the daemon stops, the loops record everything at once (Drain) before the ledger closes.

// BillingOptions are the operator's bounds on billing channels.
type BillingOptions struct {
	// DefaultPeriod applies when a requestor grants ceilings without a period. Default 1s.
	DefaultPeriod time.Duration
	// Bounds limit what a requestor may choose: period bounds and the most bits per second
	// one instance's channel may carry (default DefaultMaxBitsPerSecond).
	Bounds billing.Bounds
}

// DefaultMaxBitsPerSecond bounds one instance's billing channel unless the operator says
// otherwise: above it, TCSEC's guideline calls a covert channel high bandwidth.
const DefaultMaxBitsPerSecond = billing.HighBandwidth

func (o BillingOptions) withDefaults() BillingOptions {
	if o.DefaultPeriod <= 0 {
		o.DefaultPeriod = time.Second
	}
	if o.Bounds.MinPeriod <= 0 {
		o.Bounds.MinPeriod = billing.DefaultMinPeriod
	}
	if o.Bounds.MaxPeriod <= 0 {
		o.Bounds.MaxPeriod = billing.DefaultMaxPeriod
	}
	if o.Bounds.MaxBitsPerSecond <= 0 {
		o.Bounds.MaxBitsPerSecond = DefaultMaxBitsPerSecond
	}
	o.DefaultPeriod = min(max(o.DefaultPeriod, o.Bounds.MinPeriod), o.Bounds.MaxPeriod)
	return o
}

// retryDelay bounds the wait between attempts to record a meter's entries when the ledger
// fails; the charges stay unacknowledged meanwhile.
const retryDelay = 5 * time.Second

// readBillingLimits reads a create or capacity call's billing limits (has: whether the call
// carries any; get reads them).
func readBillingLimits(has bool, get func() (schema.BillingLimits, error)) (billing.Limits, error) {
	var out billing.Limits
	if !has {
		return out, nil
	}
	l, err := get()
	if err != nil {
		return out, err
	}
	out.Period = time.Duration(l.PeriodMs()) * time.Millisecond
	list, err := l.Ceilings()
	if err != nil {
		return out, err
	}
	if list.Len() > billing.MaxKinds {
		return out, fmt.Errorf("%w: %d ceilings, at most %d", ErrInvalid, list.Len(), billing.MaxKinds)
	}
	for i := 0; i < list.Len(); i++ {
		c := list.At(i)
		kind, err := c.Kind()
		if err != nil {
			return out, err
		}
		if out.Ceilings == nil {
			out.Ceilings = map[string]billing.Ceiling{}
		}
		if _, dup := out.Ceilings[kind]; dup {
			return out, fmt.Errorf("%w: two ceilings for kind %q", ErrInvalid, kind)
		}
		out.Ceilings[kind] = billing.Ceiling{PerPeriod: c.PerPeriod(), Total: c.Total()}
	}
	return out, nil
}

// billingPolicy checks what requestor p grants an instance of rec.
func (d *Daemon) billingPolicy(rec *store.Factory, p Principal, lim billing.Limits) (*billing.Policy, error) {
	if p.Instance != "" && len(lim.Ceilings) > 0 {
		return nil, fmt.Errorf("%w: an instance cannot grant billing ceilings: only a requestor's own consent opens a channel to a builder", ErrPermission)
	}
	if lim.Period == 0 {
		lim.Period = d.opts.Billing.DefaultPeriod
	}
	pol, err := billing.NewPolicy(rec.Charges, lim, &d.opts.Billing.Bounds)
	if errors.Is(err, billing.ErrInvalid) {
		return nil, fmt.Errorf("%w: billing: %v", ErrInvalid, err)
	}
	return pol, err
}

// factoryBilling is the billing channel of f's instances as the audit states it before any
// requestor has chosen: the most the operator's bounds allow.
func (d *Daemon) factoryBilling(kinds []billing.Kind) audit.Channel {
	if len(kinds) == 0 {
		return audit.NoBilling()
	}
	most := billing.Limits{Period: d.opts.Billing.Bounds.MinPeriod, Ceilings: map[string]billing.Ceiling{}}
	for _, k := range kinds {
		most.Ceilings[k.Name] = billing.Ceiling{PerPeriod: billing.MaxUnits, Total: billing.MaxUnits}
	}
	bounds := d.opts.Billing.Bounds
	bounds.MaxBitsPerSecond = 0
	pol, err := billing.NewPolicy(kinds, most, &bounds)
	if err != nil {
		return audit.Unbounded("billing", err.Error())
	}
	c := pol.Capacity()
	if m := d.opts.Billing.Bounds.MaxBitsPerSecond; m > 0 && m < c.BitsPerSecond {
		c.BitsPerSecond = m
	}
	return audit.FactoryBilling(kinds, c)
}

// startMeter starts the loop recording the instance's meter, when its policy lets the yield
// charge anything.
func (i *Instance) startMeter() {
	if i.meter.Policy().Capacity().BitsPerPeriod == 0 {
		i.meter.Close()
		return
	}
	base := store.LedgerEntry{Factory: i.rec.ID, Instance: i.id, Payer: i.requestor.owner()}
	i.d.billingWG.Add(1)
	go i.d.meterLoop(i.meter, base)
}

// meterLoop records m's entries at each period end until m is closed and drained, or the
// daemon stops.
func (d *Daemon) meterLoop(m *billing.Meter, base store.LedgerEntry) {
	defer d.billingWG.Done()
	t := time.NewTimer(time.Until(m.NextFlush()))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-d.billingStop:
			entries := m.Drain()
			if d.recordCharges(m, base, entries) {
				m.Recorded(time.Unix(0, math.MaxInt64))
			}
			return
		}
		entries, through := m.Flush()
		if !d.recordCharges(m, base, entries) {
			return
		}
		m.Recorded(through)
		if m.Drained() {
			return
		}
		t.Reset(time.Until(m.NextFlush()))
	}
}

// recordCharges makes entries durable, retrying while the ledger fails, and reports whether it
// did. When it gives up (the daemon is stopping) the meter fails: its waiting charges are told
// so, never acknowledged.
func (d *Daemon) recordCharges(m *billing.Meter, base store.LedgerEntry, entries []billing.Entry) bool {
	if len(entries) == 0 {
		return true
	}
	les := make([]store.LedgerEntry, len(entries))
	for n, e := range entries {
		le := base
		le.Kind, le.Units, le.PeriodStart, le.PeriodEnd, le.Time = e.Kind, e.Units, e.PeriodStart, e.PeriodEnd, e.PeriodEnd
		les[n] = le
	}
	for {
		_, err := d.ledger.Submit(context.Background(), les...)
		if err == nil {
			return true
		}
		d.log.Error("billing: cannot record charges", "instance", base.Instance, "error", err)
		if errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrInvalid) {
			m.Fail(err)
			return false
		}
		select {
		case <-time.After(retryDelay):
		case <-d.billingStop:
			if _, err := d.ledger.Submit(context.Background(), les...); err == nil {
				return true
			}
			m.Fail(err)
			return false
		}
	}
}

// meter is the Meter capability a yield charges through.
type meter struct{ i *Instance }

func (h *vatHost) Meter(ctx context.Context, call schema.VatHost_meter) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetMeter(schema.Meter_ServerToClient(&meter{i: h.i}))
}

func (m *meter) Charge(ctx context.Context, call schema.Meter_charge) error {
	kind, err := call.Args().Kind()
	if err != nil {
		return err
	}
	call.Go() // many charges wait for the same period end at once
	accepted, err := m.i.meter.ChargeDurable(ctx, kind, call.Args().Units())
	if err != nil {
		return chargeErr(ctx, err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetAccepted(accepted)
	return nil
}

func (m *meter) ChargeMany(ctx context.Context, call schema.Meter_chargeMany) error {
	kind, err := call.Args().Kind()
	if err != nil {
		return err
	}
	count := call.Args().Count()
	if count > billing.MaxBatch {
		return toWire(fmt.Errorf("%w: %d charges at once, at most %d", ErrInvalid, count, billing.MaxBatch))
	}
	call.Go()
	accepted, err := m.i.meter.ChargeManyDurable(ctx, kind, call.Args().Units(), count)
	if err != nil {
		return chargeErr(ctx, err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetAccepted(accepted)
	return nil
}

// chargeErr is the answer to a charge whose wait for durability failed: the call was
// cancelled, or the ledger failed.
func chargeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return toWire(fmt.Errorf("%w: billing: %v", ErrUnavailable, err))
}

func (b *builder) DeclareCharges(ctx context.Context, call schema.Builder_declareCharges) error {
	if err := b.need(RightInstall); err != nil {
		return toWire(err)
	}
	list, err := call.Args().Kinds()
	if err != nil {
		return err
	}
	if list.Len() > billing.MaxKinds {
		return toWire(fmt.Errorf("%w: %d charge kinds, at most %d", ErrInvalid, list.Len(), billing.MaxKinds))
	}
	kinds := make([]billing.Kind, list.Len())
	for i := range kinds {
		name, err := list.At(i).Name()
		if err != nil {
			return err
		}
		kinds[i] = billing.Kind{Name: name, Quantum: list.At(i).Quantum()}
	}
	if err := b.f.checkMutable(); err != nil {
		return toWire(err)
	}
	if err := billing.ValidateKinds(kinds); err != nil {
		return toWire(fmt.Errorf("%w: %v", ErrInvalid, err))
	}
	if err := b.f.mutate(func(r *store.Factory) error { r.Charges = kinds; return nil }); err != nil {
		return toWire(err)
	}
	b.d.recordFactory(b.p, audit.ChargesDeclared, b.f, store.AuditEntry{Detail: kindsText(kinds)})
	return nil
}

func kindsText(kinds []billing.Kind) string {
	s := ""
	for n, k := range kinds {
		if n > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%d", k.Name, k.Quantum)
	}
	return s
}

func (r *requestor) Capacity(ctx context.Context, call schema.Requestor_capacity) error {
	if err := r.need(RightAudit); err != nil {
		return toWire(err)
	}
	lim, err := readBillingLimits(call.Args().HasBilling(), call.Args().Billing)
	if err != nil {
		return toWire(err)
	}
	rec := r.f.Snapshot()
	pol, err := r.d.billingPolicy(rec, r.p, lim)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	out, err := res.NewCapacity()
	if err != nil {
		return err
	}
	return fillCapacity(out, pol.Capacity())
}

func fillCapacity(out schema.ChannelCapacity, c billing.Capacity) error {
	out.SetPeriodMs(uint32(c.Period / time.Millisecond))
	out.SetBitsPerPeriod(c.BitsPerPeriod)
	out.SetBitsPerSecond(c.BitsPerSecond)
	if err := out.SetRating(audit.Rate(c.BitsPerSecond)); err != nil {
		return err
	}
	list, err := out.NewKinds(int32(len(c.Kinds)))
	if err != nil {
		return err
	}
	for n, k := range c.Kinds {
		o := list.At(n)
		if err := o.SetKind(k.Kind); err != nil {
			return err
		}
		o.SetQuantum(k.Quantum)
		o.SetCeiling(k.Ceiling)
		o.SetValues(k.Values)
		o.SetBitsPerPeriod(k.BitsPerPeriod)
		o.SetBitsPerSecond(k.BitsPerSecond)
	}
	return nil
}

func fillChargeKinds(newList func(int32) (schema.ChargeKind_List, error), kinds []billing.Kind) error {
	if len(kinds) == 0 {
		return nil
	}
	list, err := newList(int32(len(kinds)))
	if err != nil {
		return err
	}
	for n, k := range kinds {
		if err := list.At(n).SetName(k.Name); err != nil {
			return err
		}
		list.At(n).SetQuantum(k.Quantum)
	}
	return nil
}
