// Command charger is the billing benchmark's program: a Job whose run makes many charges on
// the instance's meter at once and reports how many were accepted.
//
// Its input is a Request in JSON; its output a Result in JSON. Each charge returns only once
// the daemon has made its period's coalesced entry durable, so the program keeps Concurrency
// charges in flight (one goroutine each) to reach a high rate. Like the other test programs it
// refuses to run outside a vat (unless it is pid 1 of its own pid namespace).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/factoryd/factoryd/program"
)

// Request says what to charge.
type Request struct {
	Kind  string `json:"kind"`
	Units uint64 `json:"units"`
	// Charges is how many charges to make; Concurrency how many are in flight at once.
	Charges     int `json:"charges"`
	Concurrency int `json:"concurrency"`
	// Samples is about how many charge latencies to report, spread evenly over the charges.
	Samples int `json:"samples"`
}

// Result is what a run did.
type Result struct {
	Accepted int64 `json:"accepted"`
	Refused  int64 `json:"refused"`
	Failed   int64 `json:"failed"`
	// FirstError is the first charge that failed, if any did.
	FirstError string `json:"first_error,omitempty"`
	// ElapsedNs is the time from the first charge to the last answer, in the program.
	ElapsedNs int64 `json:"elapsed_ns"`
	// LatencyNs are sampled charge latencies, from the call to its answer, sorted.
	LatencyNs []int64 `json:"latency_ns"`
}

// maxInFlight bounds the goroutines of a run. The SDK's meter batches concurrent charges into a
// few calls, so they do not count against the daemon's bound on a connection's pending calls.
const maxInFlight = 16384

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "charger: refusing to run outside a vat")
		os.Exit(3)
	}
	program.MainJob(run)
}

func run(ctx context.Context, env *program.Env, input []byte) ([]byte, error) {
	var req Request
	if err := json.Unmarshal(input, &req); err != nil {
		return nil, fmt.Errorf("charger: input: %w", err)
	}
	if req.Charges < 0 || req.Concurrency < 1 || req.Concurrency > maxInFlight {
		return nil, fmt.Errorf("charger: want charges ≥ 0 and concurrency in 1..%d", maxInFlight)
	}
	return json.Marshal(charge(ctx, env.Meter(), req))
}

// charge makes req.Charges charges from req.Concurrency goroutines, each taking the next
// charge as soon as its previous one is answered.
func charge(ctx context.Context, m *program.Meter, req Request) Result {
	stride := 1
	if req.Samples > 0 && req.Charges > req.Samples {
		stride = req.Charges / req.Samples
	}
	var (
		next                     atomic.Int64
		accepted, refused, fails atomic.Int64
		mu                       sync.Mutex // guards the fields that follow
		firstErr                 error
		samples                  []int64
		wg                       sync.WaitGroup
	)
	start := time.Now()
	for range min(req.Concurrency, max(req.Charges, 1)) {
		wg.Go(func() {
			var mine []int64
			defer func() {
				mu.Lock()
				samples = append(samples, mine...)
				mu.Unlock()
			}()
			for {
				n := next.Add(1) - 1
				if n >= int64(req.Charges) {
					return
				}
				t0 := time.Now()
				ok, err := m.Charge(ctx, req.Kind, req.Units)
				took := time.Since(t0)
				switch {
				case err != nil:
					fails.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				case ok:
					accepted.Add(1)
				default:
					refused.Add(1)
				}
				if req.Samples > 0 && n%int64(stride) == 0 {
					mine = append(mine, took.Nanoseconds())
				}
			}
		})
	}
	wg.Wait()
	r := Result{Accepted: accepted.Load(), Refused: refused.Load(), Failed: fails.Load(),
		ElapsedNs: time.Since(start).Nanoseconds(), LatencyNs: samples}
	slices.Sort(r.LatencyNs)
	if firstErr != nil {
		r.FirstError = firstErr.Error()
	}
	return r
}
