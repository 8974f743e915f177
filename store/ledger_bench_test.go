package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factoryd/factoryd/billing"
	"github.com/stretchr/testify/require"
)

// Run with: go test -run '^$' -bench . ./store/
//
// BenchmarkLedgerThroughputTable prints the side-by-side table (baseline and writer, 2 s per
// run) and BenchmarkMeterToLedger runs for 2 s: both ignore b.N. The others are ordinary
// benchmarks (one op = one durable entry) that also report entries/s.

func BenchmarkLedgerThroughputTable(b *testing.B) {
	d := 2 * time.Second
	rep, err := MeasureLedger(context.Background(), b.TempDir(), []int{256, 1000}, []int{1, 16, 256, 1024}, d)
	require.NoError(b, err)
	b.Logf("durable ledger entries per second, %v per run:\n%s", d, rep)
	for _, r := range rep.Writer {
		b.ReportMetric(r.PerSecond, fmt.Sprintf("entries/s@%d", r.Producers))
	}
	b.ReportMetric(rep.Baseline[len(rep.Baseline)-1].PerSecond, "baseline-entries/s")
}

func BenchmarkLedgerWriter(b *testing.B) {
	for _, producers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			s, err := Open(b.TempDir(), nil)
			require.NoError(b, err)
			defer s.Close()
			w := s.NewLedgerWriter(nil)
			defer w.Close()
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for p := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e := measureEntry(p)
					for left.Add(-1) >= 0 {
						if _, err := w.Submit(context.Background(), e); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

func BenchmarkBoltGroupCommit(b *testing.B) {
	for _, batch := range []int{256, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			r, err := measureBoltBaseline(context.Background(), b.TempDir(), batch, time.Hour, uint64(b.N))
			require.NoError(b, err)
			b.ReportMetric(float64(r.Elapsed.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(r.PerSecond, "entries/s")
		})
	}
}

// BenchmarkMeterToLedger drives the whole path: yields charge their meters, a flusher per
// meter records the coalesced entries through a LedgerWriter at every period end. With durable
// acknowledgement each charge waits until its period is recorded; callers is then how many
// charges each yield has in flight.
func BenchmarkMeterToLedger(b *testing.B) {
	for _, tc := range []struct {
		yields, callers int
		durable         bool
	}{{256, 1, false}, {256, 64, true}} {
		b.Run(fmt.Sprintf("yields=%d/callers=%d/durable=%v", tc.yields, tc.callers, tc.durable), func(b *testing.B) {
			charges, entries, elapsed := runMeterPath(b, tc.yields, tc.callers, tc.durable, 2*time.Second)
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(charges), "ns/op") // one op = one charge
			b.ReportMetric(float64(charges)/elapsed.Seconds(), "charges/s")
			b.ReportMetric(float64(entries)/elapsed.Seconds(), "entries/s")
			b.Logf("%d yields × %d callers, durable=%v: %.0f charges/s, %.0f ledger entries/s (period 100ms, 2 kinds)",
				tc.yields, tc.callers, tc.durable, float64(charges)/elapsed.Seconds(), float64(entries)/elapsed.Seconds())
		})
	}
}

func runMeterPath(b *testing.B, yields, callers int, durable bool, d time.Duration) (charges, entries uint64, elapsed time.Duration) {
	s, err := Open(b.TempDir(), nil)
	require.NoError(b, err)
	defer s.Close()
	w := s.NewLedgerWriter(nil)
	defer w.Close()
	kinds := []billing.Kind{{Name: "pages", Quantum: 1}, {Name: "cpu-seconds", Quantum: 10}}
	policy, err := billing.NewPolicy(kinds, billing.Limits{Period: 100 * time.Millisecond, Ceilings: map[string]billing.Ceiling{
		"pages": {PerPeriod: billing.MaxUnits, Total: billing.MaxUnits}, "cpu-seconds": {PerPeriod: billing.MaxUnits, Total: billing.MaxUnits}}},
		&billing.Bounds{MinPeriod: 10 * time.Millisecond})
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var charged, recorded atomic.Uint64
	var yieldsWG, flushers sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for y := range yields {
		m := billing.NewMeter(policy, nil)
		flushers.Add(1)
		go func() { // the daemon's side: record each ended period
			defer flushers.Done()
			tmpl := measureEntry(y)
			for {
				time.Sleep(time.Until(m.NextFlush()))
				out, through := m.Flush()
				if len(out) > 0 {
					es := make([]LedgerEntry, len(out))
					for i, c := range out {
						es[i] = tmpl
						es[i].Kind, es[i].Units = c.Kind, c.Units
						es[i].PeriodStart, es[i].PeriodEnd, es[i].Time = c.PeriodStart, c.PeriodEnd, c.PeriodEnd
					}
					if _, err := w.Submit(ctx, es...); err != nil {
						m.Fail(err)
						return
					}
					recorded.Add(uint64(len(es)))
				}
				m.Recorded(through)
				if m.Drained() {
					return
				}
			}
		}()
		for c := range callers {
			yieldsWG.Add(1)
			go func() { // the yield
				defer yieldsWG.Done()
				for i := 0; time.Now().Before(deadline); i++ {
					kind := kinds[(c+i)%2].Name
					var ok bool
					if durable {
						ok, err = m.ChargeDurable(ctx, kind, 7)
					} else {
						ok = m.Charge(kind, 7)
					}
					if ok && err == nil {
						charged.Add(1)
					}
				}
			}()
		}
		go func() { yieldsWG.Wait(); m.Close() }()
	}
	yieldsWG.Wait()
	elapsed = time.Since(start)
	flushers.Wait()
	return charged.Load(), recorded.Load(), elapsed
}
