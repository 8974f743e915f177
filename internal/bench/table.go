package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the report for people: the targets first, then every figure.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "factory-bench %s run, %s: %s, %d cores, %d MB, Linux %s, %s\n", r.Mode,
		r.Started.Format("2006-01-02 15:04"), m.CPU, m.Cores, m.MemTotalMB, m.Kernel, m.Go)
	fmt.Fprintf(w, "load average %.2f at start", m.LoadStart)
	if m.LoadStart > 0.5 {
		fmt.Fprint(w, ": something else was using the CPUs, figures are noisier than usual")
	}
	fmt.Fprint(w, "\n\n")
	if r.Profiled {
		fmt.Fprintln(w, "PROFILED RUN: the daemon was profd (factoryd with profiling); figures are not comparable")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	sections := []func(io.Writer) bool{r.writeTargets, r.writeCreate, r.writeCall, r.writeMemory, r.writeBilling,
		r.writeAudit, r.writeGrowth}
	for _, s := range sections {
		if s(tw) {
			fmt.Fprintln(tw)
		}
	}
	fmt.Fprintf(tw, "took %.0f s\n", r.Seconds)
	return tw.Flush()
}

func (r *Report) writeTargets(w io.Writer) bool {
	fmt.Fprintln(w, "TARGET\tWANTED\tMEASURED\tMET")
	for _, t := range r.Targets {
		met := "—"
		if t.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*t.Met]
		}
		measured := t.Measured
		if measured == "" {
			measured = "not run"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, t.Target, measured, met)
	}
	return true
}

func summaryRow(w io.Writer, name string, s Summary) {
	fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", name, s.N, num(s.P50), num(s.P99), num(s.Mean), num(s.Min), num(s.Max))
}

// num formats a figure with the precision it deserves: 3 significant digits, no exponent.
func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func (r *Report) writeCreate(w io.Writer) bool {
	c := r.Create
	if c == nil {
		return false
	}
	fmt.Fprintf(w, "CREATE → FIRST REPLY (ms, %d warm-up runs dropped)\tN\tP50\tP99\tMEAN\tMIN\tMAX\n", c.Warmup)
	summaryRow(w, "confined: create + Job.run via factoryd", c.Confined)
	summaryRow(w, "confined, run pipelined on create", c.Pipelined)
	summaryRow(w, "plain: fork/exec + bootstrap + Job.run", c.Plain)
	fmt.Fprintf(w, "ratio confined / plain\t\t%.2f×\t%.2f×\t%.2f×\n", c.RatioP50, c.RatioP99, c.RatioMean)
	fmt.Fprintf(w, "ratio pipelined / plain\t\t%.2f×\t%.2f×\t%.2f×\n", c.PipelinedRatioP50, c.PipelinedRatioP99, c.PipelinedRatioMean)
	b := c.Breakdown
	summaryRow(w, "part: program start → first message, plain", b.Program)
	summaryRow(w, "part: program start → first message, 6 namespaces", b.ProgramInNamespaces)
	summaryRow(w, "part: program start → first message, 5 namespaces (no user ns)", b.ProgramInNamespacesButUser)
	summaryRow(w, "part: helper (factoryd re-exec) start → first message, 6 ns", b.Helper)
	fmt.Fprintf(w, "(parts started by the benchmark process, RSS %.0f MB)\n", b.ForkingParentRSSMB)
	return true
}

func (r *Report) writeCall(w io.Writer) bool {
	c := r.Call
	if c == nil {
		return false
	}
	l := c.Latency
	fmt.Fprintf(w, "TRIVIAL CALL, 16 bytes, 1 caller (µs; %d warm-up calls dropped)\tN\tP50\tP99\tMEAN\tMIN\tMAX\n", l.Warmup)
	summaryRow(w, "daemon: Job.run client → factoryd → yield", l.Daemon)
	summaryRow(w, "raw: client → relay → echo, 16 bytes", l.Raw)
	fmt.Fprintf(w, "ratio daemon / raw\t\t%.2f×\t%.2f×\t%.2f×\n", l.RatioP50, l.RatioP99, l.RatioMean)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "THROUGHPUT (calls/s)\tCALLERS\tDAEMON\tRAW\tRAW / DAEMON")
	for _, t := range c.Throughput {
		fmt.Fprintf(w, "\t%d\t%.0f\t%.0f\t%.2f×\n", t.Callers, t.DaemonPerSec, t.RawPerSec, t.CostRatio)
	}
	u := c.CPU
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU PER CALL (µs, whole figure)\tCALLS\tMIDDLE HOP\tFAR END")
	fmt.Fprintf(w, "daemon path: factoryd, yield\t%d\t%.1f\t%.1f\n", u.DaemonCalls, u.DaemonUs, u.YieldUs)
	fmt.Fprintf(w, "raw path: relay, echo\t%d\t%.1f\t%.1f\n", u.RawCalls, u.RelayUs, u.EchoUs)
	return true
}

func (r *Report) writeMemory(w io.Writer) bool {
	m := r.Memory
	if m == nil {
		return false
	}
	fmt.Fprintf(w, "IDLE MEMORY (settled %.1f s)\tYIELDS\tVAT RSS MB\tVAT PSS MB\tVAT ANON MB\tSYSTEM MB/YIELD\tDAEMON RSS KB/YIELD\tDAEMON HEAP KB/YIELD\n", m.SettleSeconds)
	for _, s := range m.Sizes {
		fmt.Fprintf(w, "\t%d\t%.2f (max %.2f)\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\n", s.Yields, s.VatRSSMB.Mean, s.VatRSSMB.Max,
			s.VatPSSMB.Mean, s.VatAnonMB.Mean, s.SystemPerYieldMB, s.DaemonRSSPerYieldKB, s.DaemonHeapPerYieldKB)
	}
	state := "every yield ended and every vat process gone"
	if !m.TornDown {
		state = "TEARDOWN FAILED"
	}
	fmt.Fprintf(w, "teardown: %s in %.1f s; daemon RSS %.1f MB before, %.1f MB after\n", state,
		m.TeardownSeconds, m.Before.RSSMB, m.After.RSSMB)
	return true
}

func (r *Report) writeGrowth(w io.Writer) bool {
	g := r.Growth
	if len(g.CreateByLiveYields) > 0 {
		fmt.Fprintln(w, "GROWTH: create → first reply while growing\tLIVE YIELDS\tP50 MS\tP99 MS")
		for _, c := range g.CreateByLiveYields {
			fmt.Fprintf(w, "\t%d → %d\t%.1f\t%.1f\n", c.From, c.To, c.P50ms, c.P99ms)
		}
		fmt.Fprintln(w, "GROWTH: memory of each added yield\tLIVE YIELDS\tSYSTEM MB\tDAEMON RSS KB\tVAT RSS MB")
		for _, m := range g.MemoryByYields {
			fmt.Fprintf(w, "\t%d → %d\t%.2f\t%.1f\t%.2f\n", m.From, m.To, m.SystemPerYieldMB, m.DaemonRSSKB, m.VatRSSMeanMB)
		}
	}
	if len(g.CallByCallers) > 0 {
		fmt.Fprintln(w, "GROWTH: calls by callers\tCALLERS\tDAEMON ×1\tRAW ×1\tDAEMON µS/CALL\tRAW µS/CALL")
		for _, c := range g.CallByCallers {
			fmt.Fprintf(w, "\t%d\t%.2f\t%.2f\t%.0f\t%.0f\n", c.Callers, c.DaemonScaling, c.RawScaling, c.DaemonPerCall, c.RawPerCall)
		}
	}
	if len(g.BillingByYields) > 0 {
		fmt.Fprintf(w, "GROWTH: durable charges by yields\tYIELDS\tCHARGES/S\t×%d YIELD\tVS BBOLT LOOP\tP50 MS\tDAEMON CPU µS/CHARGE\n",
			g.BillingByYields[0].Yields)
		for _, b := range g.BillingByYields {
			fmt.Fprintf(w, "\t%d\t%.0f\t%.2f\t%.3f×\t%s\t%.1f\n", b.Yields, b.ChargesPerSec, b.Scaling, b.Ratio,
				num(b.LatencyP50ms), b.DaemonCPUUs)
		}
	}
	if len(g.AuditByComponents) > 0 {
		fmt.Fprintln(w, "GROWTH: holes audit by graph size\tCOMPONENTS\tP50 MS\tOVER 1-COMPONENT MS\tµS/COMPONENT\tTIME ×\tSIZE ×")
		for _, a := range g.AuditByComponents {
			growth := "\t"
			if a.SizeGrowth > 0 {
				growth = fmt.Sprintf("%.1f\t%.0f", a.TimeGrowth, a.SizeGrowth)
			}
			fmt.Fprintf(w, "\t%d\t%s\t%s\t%.2f\t%s\n", a.Components, num(a.P50ms), num(a.OverBaselineMs), a.UsPerComponent, growth)
		}
	}
	return true
}

func (r *Report) writeBilling(w io.Writer) bool {
	b := r.Billing
	if b == nil {
		return false
	}
	fmt.Fprintf(w, "DURABLE BILLING CHARGES (period %s ms, %d in flight)\tYIELDS\tIN FLIGHT EACH\tCHARGES\tCHARGES/S\tP50 MS\tP99 MS\tCPU µS/CHARGE DAEMON\tYIELDS\n",
		num(b.PeriodMs), b.InFlight)
	for _, l := range b.Levels {
		fmt.Fprintf(w, "daemon: yields charging their meters\t%d\t%d\t%d\t%.0f\t%s\t%s\t%.1f\t%.1f\n", l.Yields, l.InFlightPerYield,
			l.Charges, l.ChargesPerSec, num(l.Latency.P50), num(l.Latency.P99), l.DaemonCPUUs, l.YieldCPUUs)
	}
	fmt.Fprintln(w, "BASELINE: bbolt group-commit loop\tSUBMITTERS\tRECORD BYTES\tRECORDS\tRECORDS/S\tP50 MS\tP99 MS\tMEAN BATCH\tDAEMON / LOOP")
	for _, l := range b.Levels {
		fmt.Fprintf(w, "  alongside %d yields\t%d\t%d\t%d\t%.0f\t%s\t%s\t%.0f\t%.3f×\n", l.Yields, l.Submitters, l.RecordBytes,
			l.BaselineRecords, l.BaselinePerSec, num(l.BaselineLatency.P50), num(l.BaselineLatency.P99), l.BaselineBatch, l.Ratio)
	}
	return true
}

func (r *Report) writeAudit(w io.Writer) bool {
	a := r.HolesAudit
	if a == nil {
		return false
	}
	fmt.Fprintf(w, "HOLES AUDIT, Requestor.holes (ms; %d warm-up pairs dropped)\tN\tP50\tP99\tMEAN\tMIN\tMAX\n", a.Warmup)
	for _, s := range a.Sizes {
		name := fmt.Sprintf("%d components, %d factories (root: %d data + %d sub-factories of %d data)",
			s.Components, s.Factories, s.RootData, s.SubFactories, s.DataPerSub)
		if s.Error != "" {
			fmt.Fprintf(w, "%s\tFAILED: %s\n", name, firstLine(s.Error))
			continue
		}
		if s.Wide {
			fmt.Fprintf(w, "%s: package client FAILED (%s)\n", name, firstLine(s.ClientError))
			name = fmt.Sprintf("  the same over a connection taking answers up to %d MiB", wideMessageSize>>20)
		}
		summaryRow(w, name, s.Audit)
		summaryRow(w, "  1 component, alternating with it", s.Baseline)
		fmt.Fprintf(w, "  ratio\t\t%.1f×\n", s.RatioP50)
		fmt.Fprintf(w, "  answer %s KB; CPU per pair of audits: daemon %s ms, client %s ms; graph built in %.1f s\n",
			num(float64(s.AnswerBytes)/1024), num(s.DaemonCPUms), num(s.ClientCPUms), s.BuildSeconds)
	}
	return true
}
