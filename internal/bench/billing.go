package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/client"
)

// BillingReport is the billing figure: durable charges per second made by charging yields
// through the daemon, against a plain bbolt group-commit loop in the benchmark process.
type BillingReport struct {
	// PeriodMs is the billing period the yields were granted: a charge is answered once its
	// period has ended and the period's coalesced entry is durable.
	PeriodMs float64 `json:"period_ms"`
	// InFlight is how many charges were at most in flight in all at a level (split among the
	// yields, at most maxInFlightPerYield each); the baseline had as many submitters as a
	// level had charges in flight.
	InFlight int            `json:"in_flight"`
	Levels   []BillingLevel `json:"levels"`
}

// BillingLevel is one number of charging yields, with the baseline measured alongside it.
type BillingLevel struct {
	Yields           int `json:"yields"`
	InFlightPerYield int `json:"in_flight_per_yield"`
	// Charges is how many charges were acknowledged (accepted and durable) over the measured
	// rounds, in Seconds of wall time from the first Job.run sent to the last answered.
	Charges       int64   `json:"charges"`
	Seconds       float64 `json:"seconds"`
	ChargesPerSec float64 `json:"charges_per_s"`
	// Latency is a sample of single charges, from the yield's call to its answer (ms).
	Latency Summary `json:"charge_latency"`
	// CPU used per acknowledged charge over the measured rounds (10 ms ticks): the daemon's,
	// and that of every yield together.
	DaemonCPUUs float64 `json:"daemon_cpu_us_per_charge"`
	YieldCPUUs  float64 `json:"yield_cpu_us_per_charge"`

	// The baseline: Submitters goroutines each appending one record of RecordBytes and
	// waiting until it is durable, one writer committing everything pending at once.
	Submitters      int     `json:"baseline_submitters"`
	RecordBytes     int     `json:"baseline_record_bytes"`
	BaselineRecords int64   `json:"baseline_records"`
	BaselineSeconds float64 `json:"baseline_s"`
	BaselinePerSec  float64 `json:"baseline_records_per_s"`
	BaselineCommits int64   `json:"baseline_commits"`
	BaselineBatch   float64 `json:"baseline_mean_batch"`
	BaselineLatency Summary `json:"baseline_latency"`

	// Ratio is charges per second over baseline records per second.
	Ratio float64 `json:"ratio"`
}

// chargeKind is the one kind the charger factory declares.
const chargeKind = "charge"

// The ceilings the billing figure grants: far above anything it charges, so that nothing is
// refused. They make a channel of log2(2^24+1) ≈ 24 bits per period, ≈ 1,200 bits/s at a
// 20 ms period: the benchmark's daemon allows maxBillingBitsPerSecond (the shipped default is
// 100).
const (
	chargesPerPeriod        = 1 << 24
	chargesTotal            = 1 << 40
	maxBillingBitsPerSecond = 1e6
)

// maxInFlightPerYield bounds the charges one yield keeps in flight (goroutines of the charger).
// The program SDK sends concurrent charges in batches (Meter.chargeMany, at most 8 calls in
// flight per kind), so they stay far below the daemon's bound on a connection's pending calls.
const maxInFlightPerYield = 8192

// benchBilling measures the billing figure at each number of yields.
func (h *harness) benchBilling(ctx context.Context, s *Sizes) (r *BillingReport, err error) {
	req, err := h.publishCharger(ctx)
	if err != nil {
		return nil, err
	}
	defer req.Release()
	dbPath := h.path("baseline.bbolt")
	base, err := openGroupCommit(dbPath)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, base.close(), os.Remove(dbPath)) }()
	r = &BillingReport{PeriodMs: round3(float64(s.BillingPeriod) / float64(time.Millisecond)), InFlight: s.BillingInFlight}
	for _, y := range s.BillingYields {
		level, err := h.billingLevel(ctx, s, req, base, y)
		if err != nil {
			return nil, fmt.Errorf("billing, %d yields: %w", y, err)
		}
		r.Levels = append(r.Levels, *level)
	}
	return r, nil
}

// publishCharger uploads the charger program and seals it as the factory "charger", which
// declares one charge kind.
func (h *harness) publishCharger(ctx context.Context) (*client.Requestor, error) {
	d, err := h.client.UploadFile(ctx, h.bins.charger)
	if err != nil {
		return nil, fmt.Errorf("upload charger: %w", err)
	}
	b, err := h.client.NewFactory(ctx, "charger")
	if err != nil {
		return nil, err
	}
	defer b.Release()
	if err := b.SetProgram(ctx, d); err != nil {
		return nil, err
	}
	if err := b.DeclareCharges(ctx, billing.Kind{Name: chargeKind, Quantum: 1}); err != nil {
		return nil, err
	}
	return b.Seal(ctx)
}

// chargers are the yields of one level, with their pids (for their CPU time).
type chargers struct {
	insts []*client.Instance
	pids  []int
}

// billingLevel creates yields charging yields, measures them against the baseline and ends
// them.
func (h *harness) billingLevel(ctx context.Context, s *Sizes, req *client.Requestor, base *groupCommit, yields int) (level *BillingLevel, err error) {
	h.logf("billing: creating %d charging yields", yields)
	var c chargers
	defer func() {
		_, terr := h.teardown(context.WithoutCancel(ctx), "billing", c.insts)
		err = errors.Join(err, terr)
	}()
	grant := &client.CreateOptions{Billing: &billing.Limits{Period: s.BillingPeriod,
		Ceilings: map[string]billing.Ceiling{chargeKind: {PerPeriod: chargesPerPeriod, Total: chargesTotal}}}}
	for range yields {
		inst, err := req.Create(ctx, grant)
		if err != nil {
			return nil, fmt.Errorf("create charging yield %d: %w", len(c.insts)+1, err)
		}
		c.insts = append(c.insts, inst)
		info, err := inst.Info(ctx)
		if err != nil {
			return nil, err
		}
		c.pids = append(c.pids, int(info.Pid))
	}
	return h.measureBilling(ctx, s, c, base)
}

// measureBilling runs a warm-up round of each side, then s.BillingRounds measured rounds of
// each, alternating (the order reversed every other round). The charges of a round are sized
// from the warm-up rate to last about s.BillingTime.
func (h *harness) measureBilling(ctx context.Context, s *Sizes, c chargers, base *groupCommit) (*BillingLevel, error) {
	yields := len(c.insts)
	perYield := min(max(s.BillingInFlight/yields, 1), maxInFlightPerYield)
	l := &BillingLevel{Yields: yields, InFlightPerYield: perYield, Submitters: yields * perYield,
		RecordBytes: baselineRecordSize}
	samples := max(16, 4096/yields)
	h.logf("billing: %d yields × %d charges in flight; %d baseline submitters", yields, perYield, l.Submitters)
	warm, err := h.chargeRound(ctx, c, 5*perYield, perYield, 0)
	if err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if _, err := base.run(ctx, l.Submitters, s.BillingTime/4, math.MaxInt); err != nil {
		return nil, fmt.Errorf("baseline warm-up: %w", err)
	}
	rate := float64(warm.accepted) / warm.took.Seconds()
	charges := max(int(math.Ceil(rate*s.BillingTime.Seconds()/float64(yields))), 5*perYield)
	var (
		latency, baseLatency []time.Duration
		took, baseTook       time.Duration
		daemonCPU, yieldCPU  time.Duration
	)
	for round := range s.BillingRounds {
		sides := []string{"daemon", "baseline"}
		if round%2 == 1 {
			sides = reversed(sides)
		}
		for _, side := range sides {
			if side == "baseline" {
				b, err := base.run(ctx, l.Submitters, s.BillingTime, 8)
				if err != nil {
					return nil, fmt.Errorf("baseline: %w", err)
				}
				l.BaselineRecords, l.BaselineCommits = l.BaselineRecords+b.records, l.BaselineCommits+b.commits
				baseTook += b.took
				baseLatency = append(baseLatency, b.latency...)
				continue
			}
			dBefore, yBefore, err := h.billingCPU(c.pids)
			if err != nil {
				return nil, err
			}
			d, err := h.chargeRound(ctx, c, charges, perYield, samples)
			if err != nil {
				return nil, err
			}
			dAfter, yAfter, err := h.billingCPU(c.pids)
			if err != nil {
				return nil, err
			}
			daemonCPU, yieldCPU = daemonCPU+dAfter-dBefore, yieldCPU+yAfter-yBefore
			l.Charges += d.accepted
			took += d.took
			latency = append(latency, d.latency...)
		}
	}
	l.Seconds, l.BaselineSeconds = round3(took.Seconds()), round3(baseTook.Seconds())
	l.ChargesPerSec = roundRate(float64(l.Charges) / took.Seconds())
	l.BaselinePerSec = roundRate(float64(l.BaselineRecords) / baseTook.Seconds())
	l.BaselineBatch = ratio(float64(l.BaselineRecords), float64(l.BaselineCommits))
	l.Latency, l.BaselineLatency = summarize(latency, "ms"), summarize(baseLatency, "ms")
	l.DaemonCPUUs = perCharge(daemonCPU, l.Charges)
	l.YieldCPUUs = perCharge(yieldCPU, l.Charges)
	l.Ratio = ratio(l.ChargesPerSec, l.BaselinePerSec)
	return l, nil
}

// perCharge is CPU time per charge in µs.
func perCharge(cpu time.Duration, charges int64) float64 {
	if charges == 0 {
		return 0
	}
	return round3(float64(cpu) / float64(time.Microsecond) / float64(charges))
}

// billingCPU reads the CPU time of the daemon and the sum over the yields.
func (h *harness) billingCPU(pids []int) (daemon, yields time.Duration, err error) {
	if daemon, err = cpuTime(h.daemon.pid()); err != nil {
		return 0, 0, err
	}
	for _, pid := range pids {
		t, err := cpuTime(pid)
		if err != nil {
			return 0, 0, fmt.Errorf("charging yield: %w", err)
		}
		yields += t
	}
	return daemon, yields, nil
}

// chargerRequest and chargerResult are the charger program's input and output
// (internal/testprogs/charger).
type chargerRequest struct {
	Kind        string `json:"kind"`
	Units       uint64 `json:"units"`
	Charges     int    `json:"charges"`
	Concurrency int    `json:"concurrency"`
	Samples     int    `json:"samples"`
}

type chargerResult struct {
	Accepted   int64   `json:"accepted"`
	Refused    int64   `json:"refused"`
	Failed     int64   `json:"failed"`
	FirstError string  `json:"first_error"`
	ElapsedNs  int64   `json:"elapsed_ns"`
	LatencyNs  []int64 `json:"latency_ns"`
}

// chargeResult is what one round of every yield charging at once got acknowledged.
type chargeResult struct {
	accepted int64
	took     time.Duration
	latency  []time.Duration
}

// chargeRound has every yield make charges charges of one unit, concurrency at a time, all
// yields at once; it times from the first Job.run sent to the last answered, and fails unless
// every charge was accepted.
func (h *harness) chargeRound(ctx context.Context, c chargers, charges, concurrency, samples int) (chargeResult, error) {
	input, err := json.Marshal(chargerRequest{Kind: chargeKind, Units: 1, Charges: charges,
		Concurrency: concurrency, Samples: samples})
	if err != nil {
		return chargeResult{}, err
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		res      chargeResult
		firstErr error
	)
	start := time.Now()
	for i, inst := range c.insts {
		wg.Go(func() {
			got, err := runCharger(ctx, inst, input, charges)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = firstOf(firstErr, fmt.Errorf("yield %d: %w", i+1, err))
				return
			}
			res.accepted += got.Accepted
			for _, ns := range got.LatencyNs {
				res.latency = append(res.latency, time.Duration(ns))
			}
		})
	}
	wg.Wait()
	res.took = time.Since(start)
	return res, firstErr
}

// runCharger runs one charger and checks that it had all of its charges accepted.
func runCharger(ctx context.Context, inst *client.Instance, input []byte, charges int) (*chargerResult, error) {
	out, err := inst.Run(ctx, input)
	if err != nil {
		return nil, fmt.Errorf("run charger: %w", err)
	}
	var got chargerResult
	if err := json.Unmarshal(out, &got); err != nil {
		return nil, fmt.Errorf("charger answered %q: %w", out, err)
	}
	if got.Accepted != int64(charges) {
		return nil, fmt.Errorf("%d of %d charges accepted (%d refused, %d failed: %s)", got.Accepted, charges,
			got.Refused, got.Failed, got.FirstError)
	}
	slices.Sort(got.LatencyNs)
	return &got, nil
}
