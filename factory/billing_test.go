package factory

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/internal/testbin"
	"github.com/factoryd/factoryd/store"
)

// publishCharging publishes the probe as a factory declaring kinds.
func (h *harness) publishCharging(name string, kinds ...billing.Kind) *client.Requestor {
	t := h.t
	ctx := ctxT(t)
	prog, err := testbin.Build(probe)
	require.NoError(t, err)
	b, err := h.c.NewFactory(ctx, name)
	require.NoError(t, err)
	defer b.Release()
	d, err := h.c.UploadFile(ctx, prog)
	require.NoError(t, err)
	require.NoError(t, b.SetProgram(ctx, d))
	require.NoError(t, b.DeclareCharges(ctx, kinds...))
	r, err := b.Seal(ctx)
	require.NoError(t, err)
	t.Cleanup(r.Release)
	return r
}

// runProbe creates an instance with lim, runs input and returns the output and the instance id.
func runProbe(t *testing.T, r *client.Requestor, lim *billing.Limits, input string) ([]byte, string) {
	t.Helper()
	ctx := ctxT(t)
	inst, err := r.Create(ctx, &client.CreateOptions{Billing: lim})
	require.NoError(t, err)
	defer inst.Release()
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	out, err := inst.Run(ctx, []byte(input))
	require.NoError(t, err)
	return out, info.ID
}

func charges(t *testing.T, out []byte) (accepted, refused int) {
	t.Helper()
	var c struct {
		Accepted, Refused int
		Errors            []string
	}
	require.NoError(t, json.Unmarshal(out, &c))
	require.Empty(t, c.Errors)
	return c.Accepted, c.Refused
}

func TestDeclareCharges(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	b, err := h.c.NewFactory(ctx, "f")
	require.NoError(t, err)
	defer b.Release()
	assert.ErrorIs(t, b.DeclareCharges(ctx, billing.Kind{Name: "Pages", Quantum: 1}), client.ErrInvalid)
	assert.ErrorIs(t, b.DeclareCharges(ctx, billing.Kind{Name: "pages"}), client.ErrInvalid, "a zero quantum")
	assert.ErrorIs(t, b.DeclareCharges(ctx, billing.Kind{Name: "a", Quantum: 1}, billing.Kind{Name: "a", Quantum: 2}),
		client.ErrInvalid, "twice")
	nine := make([]billing.Kind, 9)
	for i := range nine {
		nine[i] = billing.Kind{Name: string(rune('a' + i)), Quantum: 1}
	}
	assert.ErrorIs(t, b.DeclareCharges(ctx, nine...), client.ErrInvalid, "more than 8 kinds")

	kinds := []billing.Kind{{Name: "pages", Quantum: 10}, {Name: "returns", Quantum: 1}}
	require.NoError(t, b.DeclareCharges(ctx, kinds...))
	info, err := b.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, kinds, info.Charges)

	prog, err := testbin.Build(probe)
	require.NoError(t, err)
	d, err := h.c.UploadFile(ctx, prog)
	require.NoError(t, err)
	require.NoError(t, b.SetProgram(ctx, d))
	r, err := b.Seal(ctx)
	require.NoError(t, err)
	defer r.Release()
	assert.ErrorIs(t, b.DeclareCharges(ctx), client.ErrSealed)

	rep, err := r.Holes(ctx)
	require.NoError(t, err)
	assert.Equal(t, kinds, rep.Factories[rep.Root].Charges)
	require.NotEmpty(t, rep.Covert)
	bill := rep.Covert[0]
	assert.Equal(t, "billing", bill.Name)
	assert.Equal(t, "at most 100 bit/s", bill.Bound, "the operator's default bound")
	assert.Contains(t, bill.Note, "pages (quantum 10)")
}

// A charge within the requestor's ceilings is acknowledged once it is in the ledger; beyond
// them, refused; the ledger and the instance's stated capacity agree with the policy.
func TestChargesReachTheLedger(t *testing.T) {
	h := newHarness(t, nil)
	r := h.publishCharging("tax", billing.Kind{Name: "pages", Quantum: 1}, billing.Kind{Name: "returns", Quantum: 5})
	lim := &billing.Limits{Period: time.Second, Ceilings: map[string]billing.Ceiling{
		"pages": {PerPeriod: 10, Total: 9}}}

	out, id := runProbe(t, r, lim, "charge:pages:3:4")
	accepted, refused := charges(t, out)
	assert.Equal(t, 3, accepted, "the total ceiling holds 3 charges of 3")
	assert.Equal(t, 1, refused)

	// Acknowledged means durable: the entries are already in the ledger.
	ctx := ctxT(t)
	entries, err := h.c.LedgerAll(ctx, client.LedgerQuery{Factory: "tax"})
	require.NoError(t, err)
	var units uint64
	for _, e := range entries {
		assert.Equal(t, id, e.Instance)
		assert.Equal(t, "pages", e.Kind)
		assert.Equal(t, "tax", e.Factory)
		assert.Equal(t, e.PeriodEnd, e.Time, "stamped with the period's end, not a commit time")
		assert.Equal(t, time.Second, e.PeriodEnd.Sub(e.PeriodStart))
		assert.Zero(t, e.PeriodStart.UnixNano()%int64(time.Second), "periods lie on a fixed grid")
		units += e.Units
	}
	assert.Equal(t, uint64(9), units)
	mine, err := h.c.LedgerAll(ctx, client.LedgerQuery{Instance: id})
	require.NoError(t, err)
	assert.Equal(t, entries, mine)

	verdicts, err := h.c.VerifyLedger(ctx, "tax", nil)
	require.NoError(t, err)
	require.Len(t, verdicts, 1)
	assert.True(t, verdicts[0].OK, verdicts[0].Error)
	assert.Equal(t, uint64(len(entries)), verdicts[0].Head.Seq)

	// Undeclared kinds, kinds without a ceiling, and no consent at all are refused.
	out, _ = runProbe(t, r, lim, "charge:returns:5:1")
	_, refused = charges(t, out)
	assert.Equal(t, 1, refused, "no ceiling for returns")
	out, _ = runProbe(t, r, lim, "charge:coffee:1:1")
	_, refused = charges(t, out)
	assert.Equal(t, 1, refused, "an undeclared kind")
	out, _ = runProbe(t, r, nil, "charge:pages:1:2")
	_, refused = charges(t, out)
	assert.Equal(t, 2, refused, "the requestor granted nothing")
}

func TestCapacityIsStatedBeforeAndAfterCreate(t *testing.T) {
	h := newHarness(t, &Options{Billing: BillingOptions{Bounds: billing.Bounds{MaxBitsPerSecond: 10}}})
	r := h.publishCharging("tax", billing.Kind{Name: "pages", Quantum: 4})
	ctx := ctxT(t)
	lim := &billing.Limits{Period: 2 * time.Second, Ceilings: map[string]billing.Ceiling{"pages": {PerPeriod: 60, Total: 1000}}}
	c, err := r.Capacity(ctx, lim)
	require.NoError(t, err)
	// 60/4 = 15 quanta: 16 values, 4 bits per 2s period.
	assert.Equal(t, 2*time.Second, c.Period)
	assert.InDelta(t, 4, c.BitsPerPeriod, 1e-9)
	assert.InDelta(t, 2, c.BitsPerSecond, 1e-9)
	assert.Equal(t, "audit", c.Rating)
	require.Len(t, c.Kinds, 1)
	assert.Equal(t, uint64(16), c.Kinds[0].Values)

	inst, err := r.Create(ctx, &client.CreateOptions{Billing: lim})
	require.NoError(t, err)
	defer inst.Release()
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, c, info.Billing, "the instance has the channel the requestor was told")

	wide := &billing.Limits{Period: time.Second, Ceilings: map[string]billing.Ceiling{"pages": {PerPeriod: 1 << 40, Total: 1 << 40}}}
	_, err = r.Capacity(ctx, wide)
	assert.ErrorIs(t, err, client.ErrInvalid, "above the operator's 10 bit/s")
	_, err = r.Create(ctx, &client.CreateOptions{Billing: wide})
	assert.ErrorIs(t, err, client.ErrInvalid)
	_, err = r.Create(ctx, &client.CreateOptions{Billing: &billing.Limits{Period: time.Millisecond}})
	assert.ErrorIs(t, err, client.ErrInvalid, "a period below the operator's minimum")
	_, err = r.Capacity(ctx, &billing.Limits{Ceilings: map[string]billing.Ceiling{"coffee": {PerPeriod: 1, Total: 1}}})
	assert.ErrorIs(t, err, client.ErrInvalid, "an undeclared kind")
}

// A yield that varies its charges to signal gets at most one quantised value per kind and
// period into the ledger, within the ceiling: no more bits than the stated capacity.
func TestSignallingThroughChargesIsBounded(t *testing.T) {
	h := newHarness(t, nil)
	r := h.publishCharging("tax", billing.Kind{Name: "pages", Quantum: 2})
	lim := &billing.Limits{Period: time.Second, Ceilings: map[string]billing.Ceiling{"pages": {PerPeriod: 6, Total: 1 << 20}}}
	ctx := ctxT(t)
	c, err := r.Capacity(ctx, lim)
	require.NoError(t, err)

	start := time.Now()
	// Many charges of every size, from many goroutines, spread over several periods.
	for _, units := range []string{"1", "2", "3", "5", "1", "4"} {
		runProbe(t, r, lim, "charge:pages:"+units+":8")
	}
	elapsed := time.Since(start)
	entries, err := h.c.LedgerAll(ctx, client.LedgerQuery{Factory: "tax"})
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	type slot struct {
		instance string
		period   time.Time
	}
	seen := map[slot]bool{}
	for _, e := range entries {
		assert.Zero(t, e.Units%2, "quantised")
		assert.LessOrEqual(t, e.Units, uint64(6), "within the per-period ceiling")
		s := slot{e.Instance, e.PeriodStart}
		assert.False(t, seen[s], "one entry per kind and period")
		seen[s] = true
	}
	// Each instance's entries carry at most log2(values) bits per period it lived through.
	periods := math.Ceil(elapsed.Seconds()) + 6 // each instance may touch one period more
	bits := float64(len(entries)) * math.Log2(float64(c.Kinds[0].Values))
	assert.LessOrEqual(t, bits, periods*c.BitsPerPeriod)
}

// The requestor reads what its instances consumed, live and after they end.
func TestUsageIsRecordedForTheRequestor(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := h.d.vats.Cgroups(); err != nil {
		t.Skipf("no cgroups: %v", err)
	}
	r := h.publish("probe", probe, nil)
	ctx := ctxT(t)
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	_, err = inst.Run(ctx, []byte("view"))
	require.NoError(t, err)
	live, err := h.c.Usage(ctx, info.ID)
	require.NoError(t, err)
	assert.True(t, live.Live)
	assert.True(t, live.Measured)
	assert.Positive(t, live.CPU)
	assert.Positive(t, live.PeakMemory)

	require.NoError(t, inst.Kill(ctx))
	inst.Release()
	ended, err := h.c.Usage(ctx, info.ID)
	require.NoError(t, err)
	assert.False(t, ended.Live)
	assert.GreaterOrEqual(t, ended.CPU, live.CPU)
	assert.GreaterOrEqual(t, ended.PeakMemory, live.PeakMemory)
	assert.Positive(t, ended.Wall)
	assert.Equal(t, "killed", ended.EndReason)
	require.NotNil(t, ended.Ended)

	// The record survives a restart: it is the requestor's, in the store.
	h.restart(nil)
	again, err := h.c.Usage(ctx, info.ID)
	require.NoError(t, err)
	assert.Equal(t, ended.CPU, again.CPU)

	_, err = h.c.Usage(ctx, "i-0000000000000000")
	assert.ErrorIs(t, err, client.ErrNotFound)
}

// When the daemon stops, what meters hold is recorded at once, unfinished periods included.
func TestShutdownRecordsPendingCharges(t *testing.T) {
	h := newHarness(t, nil)
	r := h.publishCharging("tax", billing.Kind{Name: "pages", Quantum: 1})
	lim := &billing.Limits{Period: time.Hour, Ceilings: map[string]billing.Ceiling{"pages": {PerPeriod: 100, Total: 100}}}
	ctx := ctxT(t)
	inst, err := r.Create(ctx, &client.CreateOptions{Billing: lim})
	require.NoError(t, err)
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	go inst.Run(ctx, []byte("charge:pages:7:1")) // waits for the hour's end
	eventually(t, "the charge is counted", func() bool {
		i, err := h.d.instanceFor(info.ID, Principal{})
		return err == nil && i.meter.Accepted()[0] == 7
	})
	h.restart(nil)
	entries, err := h.c.LedgerAll(ctx, client.LedgerQuery{Factory: "tax"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, uint64(7), entries[0].Units)
	assert.Equal(t, info.ID, entries[0].Instance)
}

// Payees read their factories' whole chains, payers their own entries, nobody anything else.
func TestLedgerVisibility(t *testing.T) {
	h := newHarness(t, nil)
	st := h.d.st
	alice, bob, carol := store.Principal{UID: 1001}, store.Principal{UID: 1002}, store.Principal{UID: 1003}
	fa := &store.Factory{ID: store.NewFactoryID(), Name: "alice-tax", Owner: alice, Created: time.Now()}
	fb := &store.Factory{ID: store.NewFactoryID(), Name: "bob-tax", Owner: bob, Created: time.Now()}
	require.NoError(t, st.CreateFactory(fa))
	require.NoError(t, st.CreateFactory(fb))
	now := time.Now().Truncate(time.Second)
	entry := func(f store.FactoryID, payer store.Principal, inst string) store.LedgerEntry {
		return store.LedgerEntry{Factory: f, Instance: inst, Payer: payer, Kind: "pages", Units: 1,
			PeriodStart: now, PeriodEnd: now.Add(time.Second), Time: now.Add(time.Second)}
	}
	_, err := st.AppendLedger(entry(fa.ID, bob, "i-b1"), entry(fa.ID, carol, "i-c1"), entry(fb.ID, carol, "i-c2"),
		entry(fb.ID, alice, "i-a1"))
	require.NoError(t, err)

	list := func(p store.Principal, factory, instance string) []string {
		s := &session{d: h.d, p: Principal{UID: p.UID}}
		v, err := s.ledgerView()
		require.NoError(t, err)
		entries, err := s.listLedger(v, factory, instance, store.LedgerPos{}, 100)
		if err != nil {
			return []string{err.Error()}
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Instance)
		}
		return out
	}
	assert.ElementsMatch(t, []string{"i-b1", "i-c1", "i-a1"}, list(alice, "", ""), "alice: her chain, and what she paid")
	assert.ElementsMatch(t, []string{"i-b1", "i-c1"}, list(alice, "alice-tax", ""))
	assert.ElementsMatch(t, []string{"i-a1"}, list(alice, "bob-tax", ""), "only her own entries of bob's")
	assert.ElementsMatch(t, []string{"i-c1", "i-c2"}, list(carol, "", ""), "carol pays, owns nothing")
	assert.Empty(t, list(carol, "", "i-b1"), "not bob's instance")
	assert.Empty(t, list(store.Principal{UID: 1004}, "", ""), "a stranger sees nothing")
	assert.ElementsMatch(t, []string{"i-b1", "i-c1", "i-c2", "i-a1"}, list(store.Principal{UID: 0}, "", ""), "the operator")

	// Destroyed factories' bills stay with their payees.
	require.NoError(t, st.DeleteFactory(fa.ID))
	assert.ElementsMatch(t, []string{"i-b1", "i-c1"}, list(alice, "alice-tax", ""))

	verify := func(p store.Principal) map[string]uint64 {
		s := &session{d: h.d, p: Principal{UID: p.UID}}
		v, err := s.ledgerView()
		require.NoError(t, err)
		ids, err := s.verifiable(v, "")
		require.NoError(t, err)
		out := map[string]uint64{}
		for _, id := range ids {
			vd := s.verifyChain(v, id, nil)
			require.NoError(t, vd.err)
			out[v.payees[id].Name] = vd.entries
		}
		return out
	}
	assert.Equal(t, map[string]uint64{"alice-tax": 2, "bob-tax": 1}, verify(alice))
	assert.Equal(t, map[string]uint64{"alice-tax": 1, "bob-tax": 1}, verify(carol))
	assert.Empty(t, verify(store.Principal{UID: 1004}))
	s := &session{d: h.d, p: Principal{UID: 1004}}
	v, err := s.ledgerView()
	require.NoError(t, err)
	_, err = s.verifiable(v, "bob-tax")
	assert.ErrorIs(t, err, ErrPermission)
}
