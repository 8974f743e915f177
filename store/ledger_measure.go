package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ThroughputResult is one measured run: durable entries acknowledged per second.
type ThroughputResult struct {
	Name      string        `json:"name"`
	Producers int           `json:"producers"` // 0 for the baseline loop
	Batch     int           `json:"batch"`     // the baseline's records per transaction
	Entries   uint64        `json:"entries"`   // acknowledged after fsync
	Commits   uint64        `json:"commits"`   // transactions, one fsync'd commit each
	Elapsed   time.Duration `json:"elapsed"`
	PerSecond float64       `json:"per_second"`
	// MeanBatch is entries per transaction.
	MeanBatch float64 `json:"mean_batch"`
	// P50 and P99: latency of one Submit, from call to durable acknowledgement (writer runs).
	P50 time.Duration `json:"p50"`
	P99 time.Duration `json:"p99"`
}

// ThroughputReport holds baseline and writer runs measured side by side.
type ThroughputReport struct {
	Baseline []ThroughputResult `json:"baseline"`
	Writer   []ThroughputResult `json:"writer"`
}

// MeasureLedger measures, one after the other in fresh stores under dir (removed afterwards),
// a plain bbolt group-commit loop for each of baselineBatches and the LedgerWriter with each
// count of concurrent producers, each for d. Runs fsync as the daemon does.
func MeasureLedger(ctx context.Context, dir string, baselineBatches, producers []int, d time.Duration) (ThroughputReport, error) {
	var rep ThroughputReport
	for _, n := range baselineBatches {
		r, err := MeasureBoltBaseline(ctx, dir, n, d)
		if err != nil {
			return rep, err
		}
		rep.Baseline = append(rep.Baseline, r)
	}
	for _, p := range producers {
		r, err := MeasureLedgerThroughput(ctx, dir, p, d)
		if err != nil {
			return rep, err
		}
		rep.Writer = append(rep.Writer, r)
	}
	return rep, nil
}

// String formats the report as a table. The ratio is to the baseline run with the most
// records per transaction.
func (r ThroughputReport) String() string {
	var b strings.Builder
	var ref ThroughputResult
	for _, x := range r.Baseline {
		if x.Batch > ref.Batch {
			ref = x
		}
	}
	fmt.Fprintf(&b, "%-38s %12s %9s %11s %10s %10s %8s\n", "run", "entries/s", "commits", "mean batch", "p50", "p99", "ratio")
	row := func(x ThroughputResult) {
		ratio := "-"
		if ref.PerSecond > 0 {
			ratio = fmt.Sprintf("%.2f", x.PerSecond/ref.PerSecond)
		}
		p50, p99 := "-", "-"
		if x.Producers > 0 {
			p50, p99 = x.P50.Round(time.Microsecond).String(), x.P99.Round(time.Microsecond).String()
		}
		fmt.Fprintf(&b, "%-38s %12.0f %9d %11.1f %10s %10s %8s\n", x.Name, x.PerSecond, x.Commits, x.MeanBatch, p50, p99, ratio)
	}
	for _, x := range r.Baseline {
		row(x)
	}
	for _, x := range r.Writer {
		row(x)
	}
	return b.String()
}

// measureEntry is the entry producer appends in measurements: the size of a real one (163
// bytes), for one of 16 factories and one of 8 payers, with an instance per producer.
func measureEntry(producer int) LedgerEntry {
	var f FactoryID
	binary.BigEndian.PutUint32(f[:], uint32(producer%16)+1) // 16 factories
	p := time.Unix(1_900_000_000, 0).UTC()
	return LedgerEntry{Factory: f, Instance: fmt.Sprintf("i-%016x", producer), Payer: Principal{UID: 1000 + uint32(producer%8), GID: 1000},
		Kind: "cpu-seconds", Units: 10, PeriodStart: p, PeriodEnd: p.Add(time.Minute), Time: p.Add(time.Minute)}
}

// MeasureBoltBaseline measures the physical reference: one goroutine appending batch records of
// a ledger entry's size per bbolt transaction, with fsync, for d, in a fresh file under dir.
func MeasureBoltBaseline(ctx context.Context, dir string, batch int, d time.Duration) (ThroughputResult, error) {
	return measureBoltBaseline(ctx, dir, batch, d, 0)
}

// measureBoltBaseline is MeasureBoltBaseline stopping after max records too, unless max is 0.
func measureBoltBaseline(ctx context.Context, dir string, batch int, d time.Duration, max uint64) (ThroughputResult, error) {
	res := ThroughputResult{Name: fmt.Sprintf("bbolt loop, %d records/tx", batch), Batch: batch}
	tmp, err := os.MkdirTemp(dir, "ledger-baseline-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	db, err := bolt.Open(filepath.Join(tmp, DBFile), 0o600, nil)
	if err != nil {
		return res, err
	}
	defer db.Close()
	e := measureEntry(0)
	rec := appendLedgerRecord(nil, &e)
	var seq uint64
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil && (max == 0 || seq < max) {
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("ledger"))
			if err != nil {
				return err
			}
			b.FillPercent = 1.0
			for range batch {
				if max > 0 && seq == max {
					break
				}
				seq++
				if err := b.Put(seqKey(seq), rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Commits++
	}
	res.Entries = seq
	res.finish(time.Since(start))
	return res, ctx.Err()
}

// MeasureLedgerThroughput measures durable entries per second through a LedgerWriter (default
// options, so folds included) with producers goroutines, each submitting one entry at a time
// and waiting for its acknowledgement, for d, in a fresh store under dir (removed afterwards).
// The entries go to 16 factories and 8 payers. It verifies afterwards that the chains hold
// exactly the acknowledged entries.
func MeasureLedgerThroughput(ctx context.Context, dir string, producers int, d time.Duration) (ThroughputResult, error) {
	res := ThroughputResult{Name: fmt.Sprintf("LedgerWriter, %d producers", producers), Producers: producers}
	tmp, err := os.MkdirTemp(dir, "ledger-writer-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	s, err := Open(tmp, nil)
	if err != nil {
		return res, err
	}
	defer s.Close()
	w := s.NewLedgerWriter(nil)
	lat := make([][]time.Duration, producers)
	errs := make([]error, producers)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := measureEntry(p)
			<-startGate
			deadline := time.Now().Add(d)
			for ctx.Err() == nil {
				t0 := time.Now()
				if _, err := w.Submit(ctx, e); err != nil {
					errs[p] = err
					return
				}
				t1 := time.Now()
				lat[p] = append(lat[p], t1.Sub(t0))
				if t1.After(deadline) {
					return
				}
			}
		}()
	}
	start := time.Now()
	close(startGate)
	wg.Wait()
	elapsed := time.Since(start)
	w.Close()
	st := w.Stats()
	res.Entries, res.Commits = st.Entries, st.Commits
	res.finish(elapsed)
	all := slices.Concat(lat...)
	slices.Sort(all)
	if n := len(all); n > 0 {
		res.P50, res.P99 = all[n/2], all[n*99/100]
	}
	for _, err := range errs {
		if err != nil && ctx.Err() == nil {
			return res, err
		}
	}
	return res, verifyMeasured(s, res.Entries)
}

// verifyMeasured checks that the measured ledger holds exactly the acknowledged entries.
func verifyMeasured(s *Store, acknowledged uint64) error {
	fs, err := s.LedgerFactories()
	if err != nil {
		return err
	}
	var n uint64
	for _, f := range fs {
		h, err := s.VerifyLedger(f)
		if err != nil {
			return err
		}
		n += h.Seq
	}
	if n != acknowledged {
		return fmt.Errorf("%w: %d entries in the ledger, %d acknowledged", ErrCorrupt, n, acknowledged)
	}
	return nil
}

func (r *ThroughputResult) finish(elapsed time.Duration) {
	r.Elapsed = elapsed
	r.PerSecond = float64(r.Entries) / elapsed.Seconds()
	if r.Commits > 0 {
		r.MeanBatch = float64(r.Entries) / float64(r.Commits)
	}
}
