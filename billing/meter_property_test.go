package billing

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The properties in this file say that whatever a yield does — any kinds, amounts, timing,
// concurrency — the recorded entries carry no more than Policy.Capacity: quantised values within
// the ceilings, at most one per kind per ended grid period, and nothing that depends on when
// within a period a charge was made or when the daemon flushed.

const propPeriod = time.Second

// propKinds and propCeilings are small on purpose, so that the adversaries below can reach every
// recordable value and the counts of distinct outputs can be compared with the capacity.
var (
	propKinds    = []Kind{{"pages", 3}, {"cpu-seconds", 1}, {"disk", 5}, {"off", 1}}
	propCeilings = map[string]Ceiling{
		"pages":       {PerPeriod: 10, Total: 40},  // values 0,3,6,9: 4 ≤ ceil(10/3)+1 = 5
		"cpu-seconds": {PerPeriod: 4, Total: 100},  // values 0..4: 5
		"disk":        {PerPeriod: 100, Total: 12}, // effective ceiling 12: 0,5,10: 3 ≤ ceil(12/5)+1 = 4
	}
)

func propPolicy(t testing.TB) *Policy {
	p, err := NewPolicy(propKinds, Limits{Period: propPeriod, Ceilings: propCeilings}, nil)
	require.NoError(t, err)
	return p
}

// op is one thing a yield (a charge) or the daemon (a flush) does, at offset at from epoch.
type op struct {
	at    time.Duration
	flush bool
	kind  string
	units uint64
}

// run plays ops (sorted by at) against a fresh meter, checks every flush's invariants, and
// returns every entry recorded, with a final flush after the last period.
func run(t testing.TB, p *Policy, ops []op) []Entry {
	t.Helper()
	clock := NewManualClock(epoch)
	m := NewMeter(p, clock)
	var all []Entry
	seen := map[string]bool{}
	flush := func(now time.Time) {
		got, through := m.Flush()
		checkFlush(t, p, now, through, got, all, seen)
		all = append(all, got...)
	}
	for _, o := range ops {
		clock.Set(epoch.Add(o.at))
		if o.flush {
			flush(epoch.Add(o.at))
		} else {
			m.Charge(o.kind, o.units)
		}
	}
	end := epoch.Add(propPeriod)
	if len(ops) > 0 {
		end = epoch.Add(ops[len(ops)-1].at).Truncate(propPeriod).Add(propPeriod)
	}
	clock.Set(end)
	flush(end)
	m.Close()
	assert.True(t, m.Drained())
	checkTotals(t, p, all)
	return all
}

// checkFlush checks what one Flush at now returned.
func checkFlush(t testing.TB, p *Policy, now, through time.Time, got, before []Entry, seen map[string]bool) {
	t.Helper()
	assert.Equal(t, now.Truncate(propPeriod), through, "through is the current period's start")
	for _, e := range got {
		i := p.index(e.Kind)
		require.GreaterOrEqual(t, i, 0, "undeclared kind %q recorded", e.Kind)
		q, c := p.kinds[i].Quantum, p.effective(i)
		assert.NotZero(t, e.Units, "a zero entry")
		assert.Zero(t, e.Units%q, "%s: %d not a multiple of %d", e.Kind, e.Units, q)
		assert.LessOrEqual(t, e.Units, c, "%s over its ceiling", e.Kind)
		assert.Zero(t, e.PeriodStart.UnixNano()%int64(propPeriod), "period start %v off the grid", e.PeriodStart)
		assert.Equal(t, propPeriod, e.PeriodEnd.Sub(e.PeriodStart))
		assert.False(t, e.PeriodEnd.After(now), "entry for a period that has not ended")
		if len(before) > 0 {
			assert.False(t, e.PeriodEnd.Before(before[len(before)-1].PeriodEnd), "entries out of order")
		}
		key := e.Kind + "@" + e.PeriodStart.String()
		assert.False(t, seen[key], "two entries for %s", key)
		seen[key] = true
	}
}

func checkTotals(t testing.TB, p *Policy, all []Entry) {
	t.Helper()
	sums := map[string]uint64{}
	for _, e := range all {
		sums[e.Kind] += e.Units
	}
	for k, s := range sums {
		assert.LessOrEqual(t, s, p.Ceiling(k).Total, "%s over its total", k)
	}
}

// model computes, without a Meter, what must be recorded for ops: per period, the sums of the
// charges accepted in call order. Only the order of charges and their periods go in: no times.
func model(p *Policy, ops []op) []Entry {
	sums := map[int64][]uint64{}
	totals := make([]uint64, len(p.kinds))
	for _, o := range ops {
		i := p.index(o.kind)
		if o.flush || i < 0 {
			continue
		}
		per := int64(o.at / propPeriod)
		if sums[per] == nil {
			sums[per] = make([]uint64, len(p.kinds))
		}
		c := p.ceilings[i]
		if o.units > c.PerPeriod {
			continue
		}
		r := ceilDiv(o.units, p.kinds[i].Quantum) * p.kinds[i].Quantum
		if sums[per][i]+r > c.PerPeriod || totals[i]+r > c.Total {
			continue
		}
		sums[per][i] += r
		totals[i] += r
	}
	var out []Entry
	for _, per := range slices.Sorted(maps.Keys(sums)) {
		for i, s := range sums[per] {
			if s > 0 {
				start := epoch.Add(time.Duration(per) * propPeriod)
				out = append(out, Entry{Kind: p.kinds[i].Name, Units: s, PeriodStart: start, PeriodEnd: start.Add(propPeriod)})
			}
		}
	}
	return out
}

// adversary generates a yield's charges over periods periods, in one of several styles.
type adversary struct {
	name string
	gen  func(r *rand.Rand, periods int) []op
}

var kindsAndJunk = []string{"pages", "cpu-seconds", "disk", "off", "undeclared", ""}

func anyUnits(r *rand.Rand) uint64 {
	switch r.IntN(6) {
	case 0:
		return 0
	case 1:
		return ^uint64(0) - uint64(r.IntN(3))
	case 2:
		return MaxUnits + uint64(r.IntN(3))
	default:
		return uint64(r.IntN(15))
	}
}

// at returns a random offset inside period per.
func at(r *rand.Rand, per int) time.Duration {
	return time.Duration(per)*propPeriod + time.Duration(r.Int64N(int64(propPeriod)))
}

var adversaries = []adversary{
	{"random", func(r *rand.Rand, periods int) []op {
		var ops []op
		for range r.IntN(60) + 1 {
			ops = append(ops, op{at: at(r, r.IntN(periods)), kind: kindsAndJunk[r.IntN(len(kindsAndJunk))], units: anyUnits(r)})
		}
		return ops
	}},
	{"timing encoder: one unit early or late in the period", func(r *rand.Rand, periods int) []op {
		var ops []op
		for per := range periods {
			off := propPeriod / 10
			if r.IntN(2) == 1 {
				off = 9 * propPeriod / 10
			}
			ops = append(ops, op{at: time.Duration(per)*propPeriod + off, kind: "cpu-seconds", units: 1})
		}
		return ops
	}},
	{"rate encoder: bursts of tiny charges", func(r *rand.Rand, periods int) []op {
		var ops []op
		for per := range periods {
			for range r.IntN(30) {
				ops = append(ops, op{at: at(r, per), kind: propKinds[r.IntN(3)].Name, units: uint64(r.IntN(2))})
			}
		}
		return ops
	}},
	{"amount encoder: one charge per kind of any size", func(r *rand.Rand, periods int) []op {
		var ops []op
		for per := range periods {
			for _, k := range kindsAndJunk {
				ops = append(ops, op{at: at(r, per), kind: k, units: uint64(r.IntN(25))})
			}
		}
		return ops
	}},
	{"probe: climb to the ceiling then overshoot", func(r *rand.Rand, periods int) []op {
		var ops []op
		for per := range periods {
			for u := uint64(1); u < 20; u += uint64(r.IntN(3)) + 1 {
				ops = append(ops, op{at: at(r, per), kind: "pages", units: u})
			}
		}
		return ops
	}},
}

// withFlushes sorts ops by time and adds daemon flushes at random moments, mid-period too.
func withFlushes(r *rand.Rand, ops []op, periods int) []op {
	for range r.IntN(2 * periods) {
		ops = append(ops, op{at: at(r, r.IntN(periods)), flush: true})
	}
	sort.SliceStable(ops, func(a, b int) bool { return ops[a].at < ops[b].at })
	return ops
}

// retime keeps every op in its period and in the same order, but moves it to a new random
// moment of that period, and moves the flushes too.
func retime(r *rand.Rand, ops []op) []op {
	byPeriod := map[int64][]int{}
	for i, o := range ops {
		per := int64(o.at / propPeriod)
		byPeriod[per] = append(byPeriod[per], i)
	}
	out := slices.Clone(ops)
	for per, idx := range byPeriod {
		offs := make([]time.Duration, len(idx))
		for j := range offs {
			offs[j] = time.Duration(per)*propPeriod + time.Duration(r.Int64N(int64(propPeriod)))
		}
		slices.Sort(offs)
		for j, i := range idx {
			out[i].at = offs[j]
		}
	}
	return out
}

func TestPropertyRecordedEntriesCarryOnlyTheCapacity(t *testing.T) {
	p := propPolicy(t)
	capa := p.Capacity()
	perKind := map[string]map[uint64]bool{} // distinct recorded values per kind per period
	perPeriod := map[string]bool{}          // distinct per-period output vectors
	for _, adv := range adversaries {
		t.Run(adv.name, func(t *testing.T) {
			for seed := range uint64(300) {
				r := rand.New(rand.NewPCG(seed, 0xb111))
				periods := r.IntN(4) + 1
				ops := withFlushes(r, adv.gen(r, periods), periods)
				got := run(t, p, ops)
				require.Equal(t, model(p, ops), got, "seed %d: recorded entries are the coalesced sums", seed)
				require.Equal(t, got, run(t, p, retime(r, ops)),
					"seed %d: moving charges and flushes within their periods changed the ledger", seed)
				for _, vec := range vectors(p, got) {
					perPeriod[vec.key] = true
					for k, u := range vec.units {
						if perKind[k] == nil {
							perKind[k] = map[uint64]bool{}
						}
						perKind[k][u] = true
					}
				}
			}
		})
	}
	var product float64 = 1
	for _, kc := range capa.Kinds {
		n := len(perKind[kc.Kind])
		if n == 0 {
			n = 1 // never recorded: the one value 0
		}
		assert.LessOrEqual(t, uint64(n), kc.Values, "kind %s: %d distinct values seen", kc.Kind, n)
		product *= float64(kc.Values)
	}
	assert.LessOrEqual(t, float64(len(perPeriod)), product)
	assert.LessOrEqual(t, math.Log2(float64(len(perPeriod))), capa.BitsPerPeriod)
	t.Logf("distinct per-period outputs seen: %d (%.2f bits) ≤ bound %.0f (%.2f bits)",
		len(perPeriod), math.Log2(float64(len(perPeriod))), product, capa.BitsPerPeriod)
}

type vector struct {
	key   string
	units map[string]uint64
}

// vectors groups recorded entries by period: what the builder sees for each period.
func vectors(p *Policy, entries []Entry) map[time.Time]vector {
	out := map[time.Time]vector{}
	for _, e := range entries {
		v, ok := out[e.PeriodStart]
		if !ok {
			v = vector{units: map[string]uint64{}}
			for _, k := range p.kinds {
				v.units[k.Name] = 0
			}
		}
		v.units[e.Kind] = e.Units
		out[e.PeriodStart] = v
	}
	for per, v := range out {
		var b strings.Builder
		for _, k := range p.kinds {
			fmt.Fprintf(&b, "%s=%d;", k.Name, v.units[k.Name])
		}
		v.key = b.String()
		out[per] = v
	}
	return out
}

// TestPropertySecretEncoder plays a yield that tries to send a 12-bit secret in one period,
// using amounts, the number of calls and their timing all at once. What the builder receives
// must distinguish at most Π Values secrets: the channel carries at most BitsPerPeriod of them.
func TestPropertySecretEncoder(t *testing.T) {
	p := propPolicy(t)
	capa := p.Capacity()
	decode := map[string][]int{} // the builder's view → the secrets that produce it
	for secret := range 1 << 12 {
		var ops []op
		// bits 0-3: pages amount; bits 4-6: cpu-seconds amount; bits 7-8: disk;
		// bits 9-11: the timing and number of calls.
		calls := (secret>>9)&7 + 1
		for c := range calls {
			off := time.Duration(c+1) * propPeriod / time.Duration(calls+2)
			if secret>>11&1 == 1 {
				off = propPeriod - off
			}
			share := func(bits uint64) uint64 { return bits / uint64(calls) }
			ops = append(ops,
				op{at: off, kind: "pages", units: share(uint64(secret & 15))},
				op{at: off, kind: "cpu-seconds", units: share(uint64(secret >> 4 & 7))},
				op{at: off, kind: "disk", units: share(uint64(secret>>7&3) * 4)})
		}
		got := run(t, p, ops)
		key := vectors(p, got)[epoch].key
		decode[key] = append(decode[key], secret)
	}
	var bound float64 = 1
	for _, kc := range capa.Kinds {
		bound *= float64(kc.Values)
	}
	assert.LessOrEqual(t, float64(len(decode)), bound)
	bits := math.Log2(float64(len(decode)))
	assert.LessOrEqual(t, bits, capa.BitsPerPeriod)
	t.Logf("4096 secrets → %d distinguishable ledgers: %.2f bits ≤ capacity %.2f bits/period", len(decode), bits, capa.BitsPerPeriod)
}

// TestPropertyConcurrentCharges charges from many goroutines while the daemon flushes and time
// moves on; the invariants must hold and the ledger must hold exactly what was accepted.
func TestPropertyConcurrentCharges(t *testing.T) {
	p := propPolicy(t)
	clock := NewManualClock(epoch)
	m := NewMeter(p, clock)
	var accepted [MaxKinds]atomic.Uint64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := kindsAndJunk[r.IntN(len(kindsAndJunk))]
				u := anyUnits(r)
				if m.Charge(k, u) {
					i := p.index(k)
					accepted[i].Add(ceilDiv(u, p.kinds[i].Quantum) * p.kinds[i].Quantum)
				}
			}
		}()
	}
	var all []Entry
	seen := map[string]bool{}
	for range 200 {
		clock.Advance(propPeriod / 7)
		got, through := m.Flush()
		checkFlush(t, p, clock.Now(), through, got, all, seen)
		all = append(all, got...)
	}
	close(stop)
	wg.Wait()
	m.Close()
	clock.Advance(propPeriod)
	got, through := m.Flush()
	checkFlush(t, p, clock.Now(), through, got, all, seen)
	all = append(all, got...)
	assert.True(t, m.Drained())
	checkTotals(t, p, all)
	sums := map[string]uint64{}
	for _, e := range all {
		sums[e.Kind] += e.Units
	}
	for i, k := range p.kinds {
		assert.Equal(t, accepted[i].Load(), sums[k.Name], "kind %s: recorded ≠ accepted", k.Name)
	}
}

// FuzzMeter drives a meter with an arbitrary sequence of charges, flushes and clock moves
// decoded from bytes, and checks the invariants and the model.
func FuzzMeter(f *testing.F) {
	f.Add([]byte{0, 1, 5, 1, 0, 200, 2, 0, 0, 0, 3, 9})
	f.Add([]byte{3, 255, 255, 255, 0, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := propPolicy(t)
		var ops []op
		var now time.Duration
		for len(data) >= 3 {
			a, b, c := data[0], data[1], data[2]
			data = data[3:]
			now += time.Duration(a%16) * propPeriod / 8
			switch b % 4 {
			case 0:
				ops = append(ops, op{at: now, flush: true})
			default:
				ops = append(ops, op{at: now, kind: kindsAndJunk[int(b/4)%len(kindsAndJunk)], units: uint64(c) % 32})
			}
		}
		assert.Equal(t, model(p, ops), run(t, p, ops))
	})
}
