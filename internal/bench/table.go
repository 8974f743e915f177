package bench

import (
	"fmt"
	"io"
	"strings"
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
	sections := []func(io.Writer) bool{r.writeTargets, r.writeCreate, r.writeCall, r.writeMemory, r.writeGrowth}
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
	fmt.Fprintln(w, strings.TrimSpace(`
NOT YET MEASURED (later issues): durable billing charges/s vs a plain bbolt group-commit loop;
holes-audit time for factory graphs of 10 / 1,000 / 10,000 components.`))
	return true
}
