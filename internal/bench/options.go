package bench

import (
	"io"
	"slices"
	"time"
)

// Options configures Run. A nil *Options means a full run with no progress output.
type Options struct {
	// Quick selects QuickSizes (a smoke test finishing well under a minute) instead of
	// FullSizes, unless Sizes is set.
	Quick bool
	// Sizes overrides the sizes Quick selects.
	Sizes *Sizes
	// Only restricts the run to these figures (Figures); empty means all.
	Only []string
	// ProfileDir, when set, runs profd (factoryd with profiling) instead of factoryd and
	// leaves its CPU and heap profiles there, with the benchmark's own CPU profile.
	ProfileDir string
	// Progress receives one line per step; nil is silent.
	Progress io.Writer
}

// Sizes says how much each figure measures.
type Sizes struct {
	// CreateRuns is the number of measured creates of each mode; CreateWarmup more are run
	// first and dropped.
	CreateRuns   int `json:"create_runs"`
	CreateWarmup int `json:"create_warmup"`
	// BreakdownRuns is the number of runs of each part of the create breakdown.
	BreakdownRuns int `json:"breakdown_runs"`
	// CallSamples is the number of measured calls of each path for latency, in blocks of
	// CallBlock alternating between the paths; CallWarmup more are dropped.
	CallSamples int `json:"call_samples"`
	CallWarmup  int `json:"call_warmup"`
	CallBlock   int `json:"call_block"`
	// Callers are the concurrency levels of the throughput figure; each path runs for
	// ThroughputTime per round, ThroughputRounds rounds, alternating.
	Callers          []int         `json:"callers"`
	ThroughputTime   time.Duration `json:"throughput_ns"`
	ThroughputRounds int           `json:"throughput_rounds"`
	// MemoryYields are the live-yield populations measured, ascending; Settle is the pause
	// before each measurement.
	MemoryYields []int         `json:"memory_yields"`
	Settle       time.Duration `json:"settle_ns"`
	// BillingYields are the numbers of charging yields measured. BillingInFlight charges are
	// in flight in all at each level, split evenly among the yields but at most 8192 per yield
	// (the SDK batches them into a few calls); the baseline has as many submitters as there
	// are charges in flight. BillingPeriod is the
	// billing period the yields are granted (the operator's default is 1 s; see billing.go).
	// Each level runs BillingRounds rounds of about BillingTime of charging, alternating with
	// the baseline, after a warm-up round of each.
	BillingYields   []int         `json:"billing_yields"`
	BillingInFlight int           `json:"billing_in_flight"`
	BillingPeriod   time.Duration `json:"billing_period_ns"`
	BillingTime     time.Duration `json:"billing_time_ns"`
	BillingRounds   int           `json:"billing_rounds"`
	// AuditComponents are the sizes of the factory graphs audited; AuditRuns the measured
	// audits of each, each paired with one of the 1-component baseline, after AuditWarmup
	// dropped pairs.
	AuditComponents []int `json:"audit_components"`
	AuditRuns       int   `json:"audit_runs"`
	AuditWarmup     int   `json:"audit_warmup"`
}

// Figures names the figures a run can measure, in the order they run.
var Figures = []string{"create", "call", "memory", "billing", "audit"}

// FullSizes is what `factory-bench` measures by default: a few minutes.
func FullSizes() Sizes {
	return Sizes{
		CreateRuns: 100, CreateWarmup: 5, BreakdownRuns: 50,
		CallSamples: 5000, CallWarmup: 500, CallBlock: 250,
		Callers: []int{1, 8, 64}, ThroughputTime: 2 * time.Second, ThroughputRounds: 2,
		MemoryYields: []int{10, 100, 1000}, Settle: 2 * time.Second,
		BillingYields: []int{1, 16, 256}, BillingInFlight: 16384, BillingPeriod: 20 * time.Millisecond,
		BillingTime: 2 * time.Second, BillingRounds: 2,
		AuditComponents: []int{10, 1000, 10000}, AuditRuns: 50, AuditWarmup: 5,
	}
}

// QuickSizes is the smoke test CI runs: every figure, small.
func QuickSizes() Sizes {
	return Sizes{
		CreateRuns: 8, CreateWarmup: 2, BreakdownRuns: 5,
		CallSamples: 400, CallWarmup: 50, CallBlock: 100,
		Callers: []int{1, 8, 64}, ThroughputTime: 250 * time.Millisecond, ThroughputRounds: 1,
		MemoryYields: []int{5, 20}, Settle: 300 * time.Millisecond,
		BillingYields: []int{1, 8}, BillingInFlight: 128, BillingPeriod: 20 * time.Millisecond,
		BillingTime: 250 * time.Millisecond, BillingRounds: 1,
		AuditComponents: []int{10, 100}, AuditRuns: 5, AuditWarmup: 1,
	}
}

// maxYields is the largest live-yield population measured.
func (s *Sizes) maxYields() int {
	if len(s.MemoryYields) == 0 {
		return 0
	}
	return slices.Max(s.MemoryYields)
}

// withDefaults returns a copy of o with Sizes filled in; it never writes to o.
func (o *Options) withDefaults() *Options {
	r := &Options{}
	if o != nil {
		*r = *o
	}
	s := FullSizes()
	if r.Quick {
		s = QuickSizes()
	}
	if r.Sizes != nil {
		s = *r.Sizes
	}
	r.Sizes = &s
	return r
}

// wants reports whether the figure is part of this run.
func (o *Options) wants(figure string) bool {
	return len(o.Only) == 0 || slices.Contains(o.Only, figure)
}
