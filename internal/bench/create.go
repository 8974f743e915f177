package bench

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// CreateReport is the create figure: create → first reply, confined against plain.
type CreateReport struct {
	// Confined is Requestor.create through factoryd, then Job.run on the new yield.
	Confined Summary `json:"confined"`
	// Pipelined is the same with the run pipelined on the create (client.CreateAndRun, what
	// factoryctl run does): one round trip fewer.
	Pipelined Summary `json:"pipelined"`
	// Plain is fork/exec of the same binary with the benchmark serving its bootstrap on
	// fd 3, then the same Job.run.
	Plain Summary `json:"plain"`
	// Ratios are confined over plain.
	RatioP50  float64 `json:"ratio_p50"`
	RatioP99  float64 `json:"ratio_p99"`
	RatioMean float64 `json:"ratio_mean"`
	// PipelinedRatios are pipelined over plain.
	PipelinedRatioP50  float64 `json:"pipelined_ratio_p50"`
	PipelinedRatioP99  float64 `json:"pipelined_ratio_p99"`
	PipelinedRatioMean float64 `json:"pipelined_ratio_mean"`
	// Warmup is the number of runs of each mode dropped before measuring.
	Warmup int `json:"warmup"`
	// Breakdown times the parts a confined start adds.
	Breakdown Breakdown `json:"breakdown"`
}

// payload is the 16-byte input of every Job.run.
var payload = []byte("factory-bench-16")

// mode is one way of doing a measured thing, with its samples.
type mode struct {
	name    string
	once    func(context.Context) (time.Duration, error)
	samples []time.Duration
}

// interleave runs every mode warmup+runs times, one run of each in turn, reversing the order
// every other round so that neither always goes first; it keeps the samples after warmup.
func interleave(ctx context.Context, warmup, runs int, modes ...*mode) error {
	for i := range warmup + runs {
		order := modes
		if i%2 == 1 {
			order = reversed(modes)
		}
		for _, m := range order {
			d, err := m.once(ctx)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", m.name, i, err)
			}
			if i >= warmup {
				m.samples = append(m.samples, d)
			}
		}
	}
	return nil
}

func reversed[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// benchCreate measures the create figure and its breakdown.
func (h *harness) benchCreate(ctx context.Context, s *Sizes) (*CreateReport, error) {
	h.logf("create: %d+%d runs of confined and plain, interleaved", s.CreateWarmup, s.CreateRuns)
	confined := &mode{name: "confined create", once: h.confinedOnce}
	pipelined := &mode{name: "confined create, pipelined run", once: h.pipelinedOnce}
	plain := &mode{name: "plain start", once: h.plainOnce}
	if err := interleave(ctx, s.CreateWarmup, s.CreateRuns, confined, pipelined, plain); err != nil {
		return nil, err
	}
	r := &CreateReport{Confined: summarize(confined.samples, "ms"), Pipelined: summarize(pipelined.samples, "ms"),
		Plain: summarize(plain.samples, "ms"), Warmup: s.CreateWarmup}
	r.RatioP50 = ratio(r.Confined.P50, r.Plain.P50)
	r.RatioP99 = ratio(r.Confined.P99, r.Plain.P99)
	r.RatioMean = ratio(r.Confined.Mean, r.Plain.Mean)
	r.PipelinedRatioP50 = ratio(r.Pipelined.P50, r.Plain.P50)
	r.PipelinedRatioP99 = ratio(r.Pipelined.P99, r.Plain.P99)
	r.PipelinedRatioMean = ratio(r.Pipelined.Mean, r.Plain.Mean)
	h.logf("create: breakdown, %d runs of each part", s.BreakdownRuns)
	b, err := h.benchBreakdown(ctx, s)
	if err != nil {
		return nil, err
	}
	r.Breakdown = *b
	return r, nil
}

// confinedOnce times one create → first reply through the daemon, then ends the yield and
// waits for it to be gone (not timed).
func (h *harness) confinedOnce(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	inst, err := h.req.Create(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("create: %w", err)
	}
	defer inst.Release()
	out, err := inst.Run(ctx, payload)
	took := time.Since(start)
	if err := checkEcho(out, err); err != nil {
		return 0, err
	}
	return took, inst.Kill(ctx)
}

// pipelinedOnce times one create → first reply with the run pipelined on the create, then ends
// the yield (not timed).
func (h *harness) pipelinedOnce(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	inst, out, err := h.req.CreateAndRun(ctx, nil, payload)
	took := time.Since(start)
	if inst != nil {
		defer inst.Release()
	}
	if err := checkEcho(out, err); err != nil {
		return 0, err
	}
	return took, inst.Kill(ctx)
}

// plainOnce times one plain start → first reply of the same program, then hangs up and waits
// for it to exit (not timed).
func (h *harness) plainOnce(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	v, err := startPlain(ctx, h.bins.ping)
	if err != nil {
		return 0, err
	}
	out, err := jobRun(ctx, schema.Job(v.export), payload)
	took := time.Since(start)
	if err := checkEcho(out, err); err != nil {
		v.stop()
		return 0, err
	}
	return took, v.stop()
}

// jobRun calls Job.run(input) on j (borrowed) and returns a copy of the output.
func jobRun(ctx context.Context, j schema.Job, input []byte) ([]byte, error) {
	fut, release := j.Run(ctx, func(p schema.Job_run_Params) error { return p.SetInput(input) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	out, err := res.Output()
	return bytes.Clone(out), err
}

// checkEcho checks a Job.run's answer to payload.
func checkEcho(out []byte, err error) error {
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if !bytes.Equal(out, payload) {
		return fmt.Errorf("run answered %q, want %q", out, payload)
	}
	return nil
}
