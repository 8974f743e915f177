package bench

import (
	"fmt"
	"strings"
	"time"
)

// ReportVersion is the version of the JSON report's layout.
const ReportVersion = 2

// Report is everything one run measured. Its JSON form is what --json writes.
type Report struct {
	Version  int       `json:"version"`
	Mode     string    `json:"mode"` // "full", "quick" or "custom"
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"duration_s"`
	Machine  Machine   `json:"machine"`
	Sizes    Sizes     `json:"sizes"`
	Profiled bool      `json:"profiled"` // the daemon was profd, not factoryd: figures not comparable

	Create     *CreateReport  `json:"create"`
	Call       *CallReport    `json:"call"`
	Memory     *MemoryReport  `json:"memory"`
	Billing    *BillingReport `json:"billing"`
	HolesAudit *AuditReport   `json:"holes_audit"`

	Growth  Growth   `json:"growth"`
	Targets []Target `json:"targets"`
}

// Target is one row of DESIGN.md's targets table, as measured.
type Target struct {
	Name     string  `json:"name"`
	Target   string  `json:"target"`
	Measured string  `json:"measured"`
	Value    float64 `json:"value"` // the number compared with Limit
	Limit    float64 `json:"limit"`
	Met      *bool   `json:"met"` // null: not measured in this run
}

// Growth says how each cost grows with load.
type Growth struct {
	// CreateByLiveYields: create → first reply p50 while the population grew.
	CreateByLiveYields []CreateGrowth `json:"create_by_live_yields"`
	// CallByCallers: throughput and implied per-call time by number of callers.
	CallByCallers []CallGrowth `json:"call_by_callers"`
	// MemoryByYields: the marginal cost of each yield added between populations.
	MemoryByYields []MemoryGrowth `json:"memory_by_yields"`
	// BillingByYields: durable charges per second by number of charging yields.
	BillingByYields []BillingGrowth `json:"billing_by_yields"`
	// AuditByComponents: audit time by size of the factory graph.
	AuditByComponents []AuditGrowth `json:"audit_by_components"`
}

// BillingGrowth is one number of charging yields: charges per second relative to one yield,
// and to the baseline at the same concurrency.
type BillingGrowth struct {
	Yields         int     `json:"yields"`
	ChargesPerSec  float64 `json:"charges_per_s"`
	Scaling        float64 `json:"scaling"` // charges/s over charges/s with the first level
	BaselinePerSec float64 `json:"baseline_records_per_s"`
	Ratio          float64 `json:"ratio"`
	LatencyP50ms   float64 `json:"charge_p50_ms"`
	DaemonCPUUs    float64 `json:"daemon_cpu_us_per_charge"`
}

// AuditGrowth is one graph size: the audit's p50, its time per component, and how much it
// grew from the previous size against how much the graph grew.
type AuditGrowth struct {
	Components     int     `json:"components"`
	P50ms          float64 `json:"p50_ms"`
	UsPerComponent float64 `json:"us_per_component"`
	// OverBaseline is the p50 minus the 1-component audit's, in ms: the part that depends on
	// the graph.
	OverBaselineMs float64 `json:"over_baseline_ms"`
	// TimeGrowth is P50 over the previous size's P50; SizeGrowth the component counts' ratio.
	TimeGrowth float64 `json:"time_growth"`
	SizeGrowth float64 `json:"size_growth"`
}

// CreateGrowth is the create p50 with From to To yields already live.
type CreateGrowth struct {
	From  int     `json:"from"`
	To    int     `json:"to"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

// CallGrowth is one concurrency level: calls/s, and the mean time in the system per call
// (callers / rate), relative to one caller.
type CallGrowth struct {
	Callers       int     `json:"callers"`
	DaemonPerSec  float64 `json:"daemon_calls_per_s"`
	RawPerSec     float64 `json:"raw_calls_per_s"`
	DaemonScaling float64 `json:"daemon_scaling"` // calls/s over calls/s with one caller
	RawScaling    float64 `json:"raw_scaling"`
	DaemonPerCall float64 `json:"daemon_us_per_call"`
	RawPerCall    float64 `json:"raw_us_per_call"`
	CostRatio     float64 `json:"cost_ratio"`
}

// MemoryGrowth is the cost of each yield added going from From to To live yields.
type MemoryGrowth struct {
	From             int     `json:"from"`
	To               int     `json:"to"`
	SystemPerYieldMB float64 `json:"system_per_yield_mb"`
	DaemonRSSKB      float64 `json:"daemon_rss_per_yield_kb"`
	VatRSSMeanMB     float64 `json:"vat_rss_mean_mb"`
}

// finish derives the growth section and the targets from the figures.
func (r *Report) finish() {
	r.Growth = growthOf(r)
	r.Targets = targetsOf(r)
}

func growthOf(r *Report) Growth {
	var g Growth
	if r.Memory != nil {
		prev := MemorySize{}
		var prevAvail, prevRSS = r.Memory.Before.availKB, r.Memory.Before.rssKB
		for _, s := range r.Memory.Sizes {
			g.CreateByLiveYields = append(g.CreateByLiveYields, CreateGrowth{From: prev.Yields, To: s.Yields,
				P50ms: s.Create.P50, P99ms: s.Create.P99})
			added := float64(s.Yields - prev.Yields)
			g.MemoryByYields = append(g.MemoryByYields, MemoryGrowth{From: prev.Yields, To: s.Yields,
				SystemPerYieldMB: round3(mb(prevAvail-s.Daemon.availKB) / added),
				DaemonRSSKB:      round3(float64(s.Daemon.rssKB-prevRSS) / added),
				VatRSSMeanMB:     s.VatRSSMB.Mean})
			prev, prevAvail, prevRSS = s, s.Daemon.availKB, s.Daemon.rssKB
		}
	}
	if r.Call != nil && len(r.Call.Throughput) > 0 {
		one := r.Call.Throughput[0]
		for _, t := range r.Call.Throughput {
			g.CallByCallers = append(g.CallByCallers, CallGrowth{Callers: t.Callers,
				DaemonPerSec: t.DaemonPerSec, RawPerSec: t.RawPerSec,
				DaemonScaling: ratio(t.DaemonPerSec, one.DaemonPerSec), RawScaling: ratio(t.RawPerSec, one.RawPerSec),
				DaemonPerCall: perCallUs(t.Callers, t.DaemonPerSec), RawPerCall: perCallUs(t.Callers, t.RawPerSec),
				CostRatio: t.CostRatio})
		}
	}
	g.BillingByYields = billingGrowth(r.Billing)
	g.AuditByComponents = auditGrowth(r.HolesAudit)
	return g
}

func billingGrowth(b *BillingReport) []BillingGrowth {
	if b == nil || len(b.Levels) == 0 {
		return nil
	}
	var out []BillingGrowth
	first := b.Levels[0].ChargesPerSec
	for _, l := range b.Levels {
		out = append(out, BillingGrowth{Yields: l.Yields, ChargesPerSec: l.ChargesPerSec,
			Scaling: ratio(l.ChargesPerSec, first), BaselinePerSec: l.BaselinePerSec, Ratio: l.Ratio,
			LatencyP50ms: l.Latency.P50, DaemonCPUUs: l.DaemonCPUUs})
	}
	return out
}

func auditGrowth(a *AuditReport) []AuditGrowth {
	if a == nil {
		return nil
	}
	var out []AuditGrowth
	var prev *AuditSize
	for i, s := range a.Sizes {
		if s.Error != "" {
			continue
		}
		g := AuditGrowth{Components: s.Components, P50ms: s.Audit.P50,
			UsPerComponent: round3(s.Audit.P50 * 1000 / float64(s.Components)),
			OverBaselineMs: round3(s.Audit.P50 - s.Baseline.P50)}
		if prev != nil {
			g.TimeGrowth = ratio(s.Audit.P50, prev.Audit.P50)
			g.SizeGrowth = ratio(float64(s.Components), float64(prev.Components))
		}
		out = append(out, g)
		prev = &a.Sizes[i]
	}
	return out
}

// perCallUs is the mean time a call spends in the system, by Little's law.
func perCallUs(callers int, perSec float64) float64 {
	if perSec == 0 {
		return 0
	}
	return round3(float64(callers) / perSec * 1e6)
}

func targetsOf(r *Report) []Target {
	create := Target{Name: "create → first reply, confined / plain (p50)", Target: "≤ 1.3×", Limit: 1.3}
	if c := r.Create; c != nil {
		create.Value = c.RatioP50
		create.Measured = fmt.Sprintf("%.2f× (%.1f / %.1f ms)", c.RatioP50, c.Confined.P50, c.Plain.P50)
		create.Met = verdict(c.RatioP50 <= 1.3)
	}
	pipelined := Target{Name: "  the same, run pipelined on the create (p50)", Target: "≤ 1.3×", Limit: 1.3}
	if c := r.Create; c != nil {
		pipelined.Value = c.PipelinedRatioP50
		pipelined.Measured = fmt.Sprintf("%.2f× (%.1f / %.1f ms)", c.PipelinedRatioP50, c.Pipelined.P50, c.Plain.P50)
		pipelined.Met = verdict(c.PipelinedRatioP50 <= 1.3)
	}
	call := Target{Name: "trivial call via daemon / raw 2-hop ping-pong (p50)", Target: "≤ 3×", Limit: 3}
	if c := r.Call; c != nil {
		l := c.Latency
		call.Value = l.RatioP50
		call.Measured = fmt.Sprintf("%.2f× (%.0f / %.0f µs)", l.RatioP50, l.Daemon.P50, l.Raw.P50)
		call.Met = verdict(l.RatioP50 <= 3)
	}
	mem := Target{Name: "idle yield RSS (mean, largest population)", Target: "≤ 6 MB", Limit: 6}
	if m := r.Memory; m != nil && len(m.Sizes) > 0 {
		last := m.Sizes[len(m.Sizes)-1]
		mem.Value = last.VatRSSMB.Mean
		mem.Measured = fmt.Sprintf("%.2f MB at %d yields (PSS %.2f MB)", last.VatRSSMB.Mean, last.Yields, last.VatPSSMB.Mean)
		mem.Met = verdict(last.VatRSSMB.Mean <= 6)
	}
	return []Target{create, pipelined, call, mem, billingTarget(r.Billing), auditTarget(r.HolesAudit)}
}

// billingTarget judges the best level measured.
func billingTarget(b *BillingReport) Target {
	t := Target{Name: "durable billing charges/s (best level)", Target: "≥ 200k/s", Limit: 200000}
	if b == nil || len(b.Levels) == 0 {
		return t
	}
	best := b.Levels[0]
	for _, l := range b.Levels {
		if l.ChargesPerSec > best.ChargesPerSec {
			best = l
		}
	}
	t.Value = best.ChargesPerSec
	t.Measured = fmt.Sprintf("%s/s with %d yield(s) (%.3f× bbolt loop's %s/s)", kilo(best.ChargesPerSec), best.Yields,
		best.Ratio, kilo(best.BaselinePerSec))
	t.Met = verdict(best.ChargesPerSec >= t.Limit)
	return t
}

// auditTarget judges the audit of 10,000 components (p50); with only smaller graphs measured
// it shows the largest and gives no verdict.
func auditTarget(a *AuditReport) Target {
	const want = 10000
	t := Target{Name: "holes audit, 10,000 components (p50)", Target: "≤ 10 ms", Limit: 10}
	if a == nil || len(a.Sizes) == 0 {
		return t
	}
	s := a.Sizes[len(a.Sizes)-1]
	if s.Error != "" {
		t.Measured = fmt.Sprintf("failed at %d components: %s", s.Components, firstLine(s.Error))
		if s.Components >= want {
			t.Met = verdict(false)
		}
		return t
	}
	t.Value = s.Audit.P50
	t.Measured = fmt.Sprintf("%s ms at %d components (%.1f× a 1-component audit)", num(s.Audit.P50), s.Components, s.RatioP50)
	if s.Wide {
		t.Measured = fmt.Sprintf("client fails (%s KB answer); %s ms with a wider bound", num(float64(s.AnswerBytes)/1024),
			num(s.Audit.P50))
	}
	if s.Components >= want {
		t.Met = verdict(s.Audit.P50 <= t.Limit && !s.Wide)
	}
	return t
}

// kilo formats a rate in thousands: "21.3k".
func kilo(v float64) string {
	return num(v/1000) + "k"
}

// firstLine is s up to its first newline, at most 60 bytes.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

func verdict(ok bool) *bool { return &ok }
