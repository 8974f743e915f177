package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/factoryd/factoryd/client"
)

// CallReport is the call figure: Job.run with 16 bytes through the daemon to a yield, against
// raw 16-byte messages over the same two hops.
type CallReport struct {
	Latency    CallLatency  `json:"latency"`
	Throughput []Throughput `json:"throughput"`
	CPU        CallCPU      `json:"cpu"`
}

// CallCPU is the CPU time each process of a path used per call over the whole figure
// (latency and throughput runs, warm-ups included), from /proc/PID/stat in 10 ms ticks. The
// client is one process for both paths and is left out.
type CallCPU struct {
	DaemonCalls int64   `json:"daemon_calls"`
	RawCalls    int64   `json:"raw_calls"`
	DaemonUs    float64 `json:"daemon_us_per_call"` // factoryd, the middle hop
	YieldUs     float64 `json:"yield_us_per_call"`  // the yield, the far end
	RelayUs     float64 `json:"relay_us_per_call"`  // rawhop relay, the middle hop
	EchoUs      float64 `json:"echo_us_per_call"`   // rawhop echo, the far end
}

// CallLatency is one caller's sequential calls.
type CallLatency struct {
	Daemon Summary `json:"daemon"`
	Raw    Summary `json:"raw"`
	// Ratios are daemon over raw.
	RatioP50  float64 `json:"ratio_p50"`
	RatioP99  float64 `json:"ratio_p99"`
	RatioMean float64 `json:"ratio_mean"`
	// Warmup is the number of calls of each path dropped; Block the calls of one path in a
	// row before the other path's turn.
	Warmup int `json:"warmup"`
	Block  int `json:"block"`
}

// Throughput is the calls per second that a number of concurrent callers complete.
type Throughput struct {
	Callers       int     `json:"callers"`
	DaemonPerSec  float64 `json:"daemon_calls_per_s"`
	RawPerSec     float64 `json:"raw_calls_per_s"`
	DaemonCalls   int64   `json:"daemon_calls"`
	RawCalls      int64   `json:"raw_calls"`
	DaemonSeconds float64 `json:"daemon_s"`
	RawSeconds    float64 `json:"raw_s"`
	// CostRatio is raw over daemon calls per second: what one call through the daemon costs
	// in raw calls.
	CostRatio float64 `json:"cost_ratio"`
}

// path is one way of making the trivial call, with its latency samples and the number of
// calls it answered.
type path struct {
	name    string
	call    func(context.Context) error
	samples []time.Duration
	calls   atomic.Int64
}

// newPath returns a path whose call counts the successful calls of call.
func newPath(name string, call func(context.Context) error) *path {
	p := &path{name: name}
	p.call = func(ctx context.Context) error {
		err := call(ctx)
		if err == nil {
			p.calls.Add(1)
		}
		return err
	}
	return p
}

// benchCall measures the call figure against one fresh yield and one fresh relay.
func (h *harness) benchCall(ctx context.Context, s *Sizes) (r *CallReport, err error) {
	inst, err := h.req.Create(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	defer func() {
		err = errors.Join(err, inst.Kill(context.WithoutCancel(ctx)))
		inst.Release()
	}()
	relay, err := h.startRaw(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, relay.close()) }()
	procs, err := h.callProcs(ctx, inst, relay)
	if err != nil {
		return nil, err
	}
	daemon := newPath("daemon", func(ctx context.Context) error {
		out, err := inst.Run(ctx, payload)
		return checkEcho(out, err)
	})
	return h.measureCall(ctx, s, procs, daemon, newPath("raw", relay.client.call))
}

// measureCall measures latency, then throughput at each number of callers, and the CPU the
// processes of both paths used over all of it.
func (h *harness) measureCall(ctx context.Context, s *Sizes, procs callProcs, daemon, raw *path) (*CallReport, error) {
	before, err := procs.cpu()
	if err != nil {
		return nil, err
	}
	r := &CallReport{}
	h.logf("call: latency, %d+%d calls of each path in blocks of %d", s.CallWarmup, s.CallSamples, s.CallBlock)
	if r.Latency, err = callLatency(ctx, s, daemon, raw); err != nil {
		return nil, err
	}
	for _, n := range s.Callers {
		h.logf("call: throughput with %d callers", n)
		t, err := callThroughput(ctx, s, n, daemon, raw)
		if err != nil {
			return nil, err
		}
		r.Throughput = append(r.Throughput, t)
	}
	after, err := procs.cpu()
	if err != nil {
		return nil, err
	}
	r.CPU = cpuPerCall(before, after, daemon.calls.Load(), raw.calls.Load())
	return r, nil
}

func callLatency(ctx context.Context, s *Sizes, daemon, raw *path) (CallLatency, error) {
	if err := alternateBlocks(ctx, s.CallWarmup, s.CallSamples, s.CallBlock, daemon, raw); err != nil {
		return CallLatency{}, err
	}
	l := CallLatency{Daemon: summarize(daemon.samples, "us"), Raw: summarize(raw.samples, "us"),
		Warmup: s.CallWarmup, Block: s.CallBlock}
	l.RatioP50 = ratio(l.Daemon.P50, l.Raw.P50)
	l.RatioP99 = ratio(l.Daemon.P99, l.Raw.P99)
	l.RatioMean = ratio(l.Daemon.Mean, l.Raw.Mean)
	return l, nil
}

// alternateBlocks makes warmup+n timed calls on every path, block calls at a time per path,
// alternating paths (and their order every other round); it keeps the samples after warmup.
func alternateBlocks(ctx context.Context, warmup, n, block int, paths ...*path) error {
	for round, done := 0, 0; done < warmup+n; round++ {
		k := min(block, warmup+n-done)
		order := paths
		if round%2 == 1 {
			order = reversed(paths)
		}
		for _, p := range order {
			for j := range k {
				start := time.Now()
				if err := p.call(ctx); err != nil {
					return fmt.Errorf("%s call: %w", p.name, err)
				}
				if done+j >= warmup {
					p.samples = append(p.samples, time.Since(start))
				}
			}
		}
		done += k
	}
	return nil
}

// callThroughput runs both paths with callers concurrent callers: a warm-up of a quarter of
// ThroughputTime each, then ThroughputRounds rounds of ThroughputTime each, alternating.
func callThroughput(ctx context.Context, s *Sizes, callers int, daemon, raw *path) (Throughput, error) {
	t := Throughput{Callers: callers}
	for _, p := range []*path{daemon, raw} {
		if _, _, err := saturate(ctx, callers, s.ThroughputTime/4, p.call); err != nil {
			return t, fmt.Errorf("%s warm-up: %w", p.name, err)
		}
	}
	var dn, rn int64
	var dt, rt time.Duration
	for round := range s.ThroughputRounds {
		order := []*path{daemon, raw}
		if round%2 == 1 {
			order = reversed(order)
		}
		for _, p := range order {
			n, took, err := saturate(ctx, callers, s.ThroughputTime, p.call)
			if err != nil {
				return t, fmt.Errorf("%s, %d callers: %w", p.name, callers, err)
			}
			if p == daemon {
				dn, dt = dn+n, dt+took
			} else {
				rn, rt = rn+n, rt+took
			}
		}
	}
	t.DaemonCalls, t.RawCalls = dn, rn
	t.DaemonSeconds, t.RawSeconds = round3(dt.Seconds()), round3(rt.Seconds())
	t.DaemonPerSec, t.RawPerSec = roundRate(float64(dn)/dt.Seconds()), roundRate(float64(rn)/rt.Seconds())
	t.CostRatio = ratio(t.RawPerSec, t.DaemonPerSec)
	return t, nil
}

// roundRate rounds a rate to a whole number.
func roundRate(v float64) float64 { return float64(int64(v + 0.5)) }

// saturate runs callers goroutines calling call back to back for d, and returns the calls
// completed and the time from the first call to the last answer.
func saturate(ctx context.Context, callers int, d time.Duration, call func(context.Context) error) (int64, time.Duration, error) {
	var (
		count    atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	start := time.Now()
	deadline := start.Add(d)
	for range callers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := call(ctx); err != nil {
					mu.Lock()
					firstErr = firstOf(firstErr, err)
					mu.Unlock()
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	return count.Load(), time.Since(start), firstErr
}

// firstOf returns a unless it is nil, else b.
func firstOf(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// callProcs are the pids of the processes of both paths, client aside.
type callProcs [4]int // daemon, yield, relay, echo

func (h *harness) callProcs(ctx context.Context, inst *client.Instance, relay *rawRelay) (callProcs, error) {
	info, err := inst.Info(ctx)
	if err != nil {
		return callProcs{}, err
	}
	kids, err := childPids(relay.cmd.Process.Pid)
	if err != nil || len(kids) != 1 {
		return callProcs{}, fmt.Errorf("find the echo process: %d children of the relay: %v", len(kids), err)
	}
	return callProcs{h.daemon.pid(), int(info.Pid), relay.cmd.Process.Pid, kids[0]}, nil
}

// cpu reads each process's CPU time.
func (p callProcs) cpu() ([4]time.Duration, error) {
	var out [4]time.Duration
	for i, pid := range p {
		t, err := cpuTime(pid)
		if err != nil {
			return out, err
		}
		out[i] = t
	}
	return out, nil
}

func cpuPerCall(before, after [4]time.Duration, daemonCalls, rawCalls int64) CallCPU {
	per := func(i int, calls int64) float64 {
		if calls == 0 {
			return 0
		}
		return round3(float64(after[i]-before[i]) / float64(time.Microsecond) / float64(calls))
	}
	return CallCPU{DaemonCalls: daemonCalls, RawCalls: rawCalls, DaemonUs: per(0, daemonCalls),
		YieldUs: per(1, daemonCalls), RelayUs: per(2, rawCalls), EchoUs: per(3, rawCalls)}
}
