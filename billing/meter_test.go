package billing

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// epoch is a period boundary for every period a test uses.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestMeter(t *testing.T, kinds []Kind, period time.Duration, ceilings map[string]Ceiling) (*Meter, *ManualClock) {
	t.Helper()
	p, err := NewPolicy(kinds, Limits{Period: period, Ceilings: ceilings}, nil)
	require.NoError(t, err)
	clock := NewManualClock(epoch)
	return NewMeter(p, clock), clock
}

func TestChargeQuantisedAndCoalesced(t *testing.T) {
	m, clock := newTestMeter(t, []Kind{{"pages", 1}, {"cpu-seconds", 10}}, time.Second,
		map[string]Ceiling{"pages": {100, 1000}, "cpu-seconds": {100, 1000}})
	for _, c := range []struct {
		kind  string
		units uint64
	}{{"cpu-seconds", 1}, {"pages", 3}, {"cpu-seconds", 11}, {"pages", 4}, {"cpu-seconds", 0}} {
		assert.True(t, m.Charge(c.kind, c.units), "%s %d", c.kind, c.units)
		clock.Advance(100 * time.Millisecond)
	}
	got, through := m.Flush()
	assert.Empty(t, got, "nothing before the period ends")
	assert.Equal(t, epoch, through)

	clock.Set(epoch.Add(time.Second))
	got, through = m.Flush()
	assert.Equal(t, epoch.Add(time.Second), through)
	assert.Equal(t, []Entry{
		{Kind: "pages", Units: 7, PeriodStart: epoch, PeriodEnd: epoch.Add(time.Second)},
		{Kind: "cpu-seconds", Units: 30, PeriodStart: epoch, PeriodEnd: epoch.Add(time.Second)},
	}, got, "one entry per kind, in declaration order; cpu-seconds rounded 1→10 and 11→20")
	got, _ = m.Flush()
	assert.Empty(t, got, "flushed once")
	assert.Equal(t, []uint64{7, 30}, m.Accepted(), "what was accepted over the meter's life, by kind")
}

func TestChargeRefused(t *testing.T) {
	m, clock := newTestMeter(t, []Kind{{"pages", 5}, {"free", 1}}, time.Second,
		map[string]Ceiling{"pages": {PerPeriod: 10, Total: 25}})
	tests := []struct {
		name  string
		kind  string
		units uint64
		want  bool
	}{
		{"undeclared kind", "disk", 1, false},
		{"kind without ceiling", "free", 1, false},
		{"larger than the period ceiling", "pages", 11, false},
		{"max uint64", "pages", ^uint64(0), false},
		{"rounded 1 to 5", "pages", 1, true},
		{"rounded 6 to 10 does not fit after 5", "pages", 6, false},
		{"5 more fits exactly", "pages", 5, true},
		{"period full", "pages", 1, false},
		{"zero still accepted", "pages", 0, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, m.Charge(tt.kind, tt.units), tt.name)
	}
	clock.Advance(time.Second)
	assert.True(t, m.Charge("pages", 10), "a new period")
	clock.Advance(time.Second)
	assert.True(t, m.Charge("pages", 5), "total 25 reached")
	assert.False(t, m.Charge("pages", 1), "total ceiling")
	clock.Advance(time.Second)
	assert.False(t, m.Charge("pages", 1), "total ceiling in a later period too")

	got, _ := m.Flush()
	var units []uint64
	for _, e := range got {
		units = append(units, e.Units)
	}
	assert.Equal(t, []uint64{10, 10, 5}, units)
}

func TestPeriodsOnTheGrid(t *testing.T) {
	m, clock := newTestMeter(t, []Kind{{"pages", 1}}, 10*time.Second, map[string]Ceiling{"pages": {100, 1000}})
	clock.Set(epoch.Add(7 * time.Second)) // created at 0; charges 7s into the first period
	require.True(t, m.Charge("pages", 1))
	assert.Equal(t, epoch.Add(10*time.Second), m.NextFlush())
	clock.Set(epoch.Add(33 * time.Second)) // periods [10,20) and [20,30) passed empty
	require.True(t, m.Charge("pages", 2))
	clock.Set(epoch.Add(41 * time.Second))
	got, through := m.Flush()
	assert.Equal(t, epoch.Add(40*time.Second), through)
	assert.Equal(t, []Entry{
		{Kind: "pages", Units: 1, PeriodStart: epoch, PeriodEnd: epoch.Add(10 * time.Second)},
		{Kind: "pages", Units: 2, PeriodStart: epoch.Add(30 * time.Second), PeriodEnd: epoch.Add(40 * time.Second)},
	}, got)
}

func TestClockBackwards(t *testing.T) {
	m, clock := newTestMeter(t, []Kind{{"pages", 1}}, time.Second, map[string]Ceiling{"pages": {3, 100}})
	clock.Set(epoch.Add(1500 * time.Millisecond))
	require.True(t, m.Charge("pages", 3))
	clock.Set(epoch.Add(500 * time.Millisecond))
	assert.False(t, m.Charge("pages", 1), "still the later period, which is full")
	clock.Set(epoch.Add(2 * time.Second))
	got, _ := m.Flush()
	require.Len(t, got, 1)
	assert.Equal(t, epoch.Add(time.Second), got[0].PeriodStart)
}

func TestCloseFlushesAtPeriodEnd(t *testing.T) {
	m, clock := newTestMeter(t, []Kind{{"pages", 1}}, time.Second, map[string]Ceiling{"pages": {10, 100}})
	require.True(t, m.Charge("pages", 4))
	clock.Advance(300 * time.Millisecond)
	m.Close()
	m.Close()
	assert.False(t, m.Charge("pages", 1), "closed")
	got, _ := m.Flush()
	assert.Empty(t, got, "the yield's exit does not emit the unfinished period")
	assert.False(t, m.Drained())
	clock.Advance(700 * time.Millisecond)
	got, _ = m.Flush()
	assert.Equal(t, []Entry{{Kind: "pages", Units: 4, PeriodStart: epoch, PeriodEnd: epoch.Add(time.Second)}}, got)
	assert.True(t, m.Drained())
}

func TestDrain(t *testing.T) {
	m, clock := newTestMeter(t, []Kind{{"pages", 1}}, time.Second, map[string]Ceiling{"pages": {10, 100}})
	require.True(t, m.Charge("pages", 4))
	clock.Advance(time.Second)
	require.True(t, m.Charge("pages", 5))
	got := m.Drain()
	assert.Equal(t, []Entry{
		{Kind: "pages", Units: 4, PeriodStart: epoch, PeriodEnd: epoch.Add(time.Second)},
		{Kind: "pages", Units: 5, PeriodStart: epoch.Add(time.Second), PeriodEnd: epoch.Add(2 * time.Second)},
	}, got)
	assert.True(t, m.Drained())
	assert.False(t, m.Charge("pages", 1))
}

func TestChargeDurable(t *testing.T) {
	m, clock := newTestMeter(t, []Kind{{"pages", 1}}, time.Second, map[string]Ceiling{"pages": {10, 100}})
	ctx := context.Background()
	type result struct {
		ok  bool
		err error
	}
	res := make(chan result, 1)
	go func() {
		ok, err := m.ChargeDurable(ctx, "pages", 2)
		res <- result{ok, err}
	}()
	// The charge lands in whichever period is current when the goroutine runs: move on a
	// period at a time until it shows in a flush.
	var got []Entry
	var through time.Time
	require.Eventually(t, func() bool {
		clock.Advance(time.Second)
		var e []Entry
		e, through = m.Flush()
		got = append(got, e...)
		return len(got) > 0
	}, 5*time.Second, time.Millisecond)
	select {
	case r := <-res:
		t.Fatalf("acknowledged before recorded: %+v", r)
	case <-time.After(20 * time.Millisecond):
	}
	m.Recorded(through)
	r := <-res
	assert.True(t, r.ok)
	assert.NoError(t, r.err)

	ok, err := m.ChargeDurable(ctx, "pages", 11)
	assert.False(t, ok, "refused charges do not wait")
	assert.NoError(t, err)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ok, err = m.ChargeDurable(cctx, "pages", 1)
	assert.True(t, ok)
	assert.ErrorIs(t, err, context.Canceled)

	boom := errors.New("disk full")
	go m.Fail(boom)
	ok, err = m.ChargeDurable(ctx, "pages", 1)
	if ok { // the charge may run before or after Fail
		assert.ErrorIs(t, err, ErrClosed)
		assert.ErrorIs(t, err, boom)
	}
	ok, _ = m.ChargeDurable(ctx, "pages", 1)
	assert.False(t, ok, "a failed meter refuses")
}

// A batch is the same charges made one by one: as many as fit are accepted, the rest refused.
func TestChargeManyDurable(t *testing.T) {
	m, clock := newTestMeter(t, []Kind{{"pages", 2}}, time.Second, map[string]Ceiling{"pages": {10, 14}})
	type result struct {
		n   uint32
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := m.ChargeManyDurable(context.Background(), "pages", 1, 7) // 7 charges of 2 after rounding
		res <- result{n, err}
	}()
	var got []Entry
	var through time.Time
	require.Eventually(t, func() bool {
		clock.Advance(time.Second)
		var e []Entry
		e, through = m.Flush()
		got = append(got, e...)
		return len(got) > 0
	}, 5*time.Second, time.Millisecond)
	m.Recorded(through)
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, uint32(5), r.n, "5 of 2 units fit under 10 per period")
	require.Len(t, got, 1)
	assert.Equal(t, uint64(10), got[0].Units)

	// The total leaves room for 4 units: a batch gets what fits, and one that fits nothing
	// is refused at once.
	clock.Advance(time.Second)
	_, err := m.ChargeManyDurable(context.Background(), "pages", 1, MaxBatch+1)
	assert.Error(t, err)
	assert.False(t, m.Charge("pages", 5), "6 units do not fit in the 4 left of the total")
	n, err := m.ChargeManyDurable(context.Background(), "pages", 5, 2)
	require.NoError(t, err)
	assert.Zero(t, n)
}

// Within a period, a batch of charges gets exactly what the same charges made one by one get.
func TestBatchEqualsOneByOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for range 2000 {
		q := 1 + rng.Uint64N(8)
		c := Ceiling{PerPeriod: rng.Uint64N(200), Total: rng.Uint64N(400)}
		one, _ := newTestMeter(t, []Kind{{"k", q}}, time.Second, map[string]Ceiling{"k": c})
		many, _ := newTestMeter(t, []Kind{{"k", q}}, time.Second, map[string]Ceiling{"k": c})
		for range 1 + rng.IntN(4) {
			units, count := rng.Uint64N(30), uint32(rng.IntN(50))
			var want uint32
			for range count {
				if one.Charge("k", units) {
					want++
				}
			}
			_, got := many.chargeMany("k", units, count)
			require.Equal(t, want, got, "quantum %d ceiling %+v units %d count %d", q, c, units, count)
		}
	}
}
