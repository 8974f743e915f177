package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var leaks = make(chan string, 100)

func TestMain(m *testing.M) {
	capnp.SetClientLeakFunc(func(msg string) {
		select {
		case leaks <- msg:
		default:
		}
	})
	os.Exit(m.Run())
}

// TestQuickRunProducesEveryFigure runs `factory-bench --quick --json FILE` end to end and
// checks that every figure is there — never what the figures are.
func TestQuickRunProducesEveryFigure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmp := t.TempDir() // the benchmark's own temporary files go here, to check they are gone
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		require.NoError(t, os.Chmod(d, 0o755), "vats run as other uids and must reach the programs")
	}
	t.Setenv("TMPDIR", tmp)
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	code := Main(ctx, []string{"--quick", "--quiet", "--json", out}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s", stderr.String())

	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(b, &rep))
	checkCreate(t, rep.Create)
	checkCall(t, rep.Call)
	checkMemory(t, rep.Memory)
	checkBilling(t, rep.Billing)
	checkAudit(t, rep.HolesAudit)
	checkGrowth(t, rep.Growth)
	assert.Len(t, rep.Targets, 6)
	for _, target := range rep.Targets {
		assert.NotEmpty(t, target.Measured, target.Name)
	}
	for _, title := range []string{"TARGET", "CREATE", "TRIVIAL CALL", "THROUGHPUT", "IDLE MEMORY",
		"DURABLE BILLING CHARGES", "BASELINE: bbolt", "HOLES AUDIT", "GROWTH"} {
		assert.Contains(t, stdout.String(), title)
	}
	assert.NotContains(t, stdout.String(), "not measured yet")

	kids, err := childPids(os.Getpid())
	require.NoError(t, err)
	assert.Empty(t, kids, "every process the benchmark started has been reaped")
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the benchmark's temporary files are gone")
	checkNoLeaks(t)
}

func checkCreate(t *testing.T, c *CreateReport) {
	t.Helper()
	require.NotNil(t, c)
	s := QuickSizes()
	for name, sum := range map[string]Summary{"confined": c.Confined, "plain": c.Plain} {
		assert.Equal(t, s.CreateRuns, sum.N, name)
		assert.Positive(t, sum.P50, name)
		assert.Positive(t, sum.P99, name)
		assert.Positive(t, sum.Mean, name)
	}
	assert.Positive(t, c.RatioP50)
	assert.Positive(t, c.RatioMean)
	for name, sum := range map[string]Summary{"program": c.Breakdown.Program, "ns": c.Breakdown.ProgramInNamespaces,
		"ns but user": c.Breakdown.ProgramInNamespacesButUser, "helper": c.Breakdown.Helper} {
		assert.Equal(t, s.BreakdownRuns, sum.N, name)
		assert.Positive(t, sum.P50, name)
	}
}

func checkCall(t *testing.T, c *CallReport) {
	t.Helper()
	require.NotNil(t, c)
	s := QuickSizes()
	assert.Equal(t, s.CallSamples, c.Latency.Daemon.N)
	assert.Equal(t, s.CallSamples, c.Latency.Raw.N)
	assert.Positive(t, c.Latency.Daemon.P50)
	assert.Positive(t, c.Latency.Raw.P50)
	assert.Positive(t, c.Latency.RatioP50)
	require.Len(t, c.Throughput, len(s.Callers))
	for i, tp := range c.Throughput {
		assert.Equal(t, s.Callers[i], tp.Callers)
		assert.Positive(t, tp.DaemonPerSec, "daemon, %d callers", tp.Callers)
		assert.Positive(t, tp.RawPerSec, "raw, %d callers", tp.Callers)
		assert.Positive(t, tp.CostRatio)
	}
	assert.Positive(t, c.CPU.DaemonCalls)
	assert.Positive(t, c.CPU.RawCalls)
	assert.Positive(t, c.CPU.DaemonUs+c.CPU.YieldUs, "CPU of the daemon path")
	assert.Positive(t, c.CPU.RelayUs+c.CPU.EchoUs, "CPU of the raw path")
}

func checkMemory(t *testing.T, m *MemoryReport) {
	t.Helper()
	require.NotNil(t, m)
	s := QuickSizes()
	require.Len(t, m.Sizes, len(s.MemoryYields))
	for i, size := range m.Sizes {
		assert.Equal(t, s.MemoryYields[i], size.Yields)
		assert.Positive(t, size.VatRSSMB.Mean, "%d yields", size.Yields)
		assert.Positive(t, size.VatPSSMB.Mean, "%d yields", size.Yields)
		assert.Positive(t, size.VatAnonMB.Mean, "%d yields", size.Yields)
		assert.Positive(t, size.Daemon.RSSMB, "%d yields", size.Yields)
		assert.Positive(t, size.Daemon.MemAvailMB, "%d yields", size.Yields)
		assert.Equal(t, size.Yields-prevYields(s, i), size.Create.N)
	}
	assert.True(t, m.TornDown)
	assert.Positive(t, m.After.RSSMB)
}

func prevYields(s Sizes, i int) int {
	if i == 0 {
		return 0
	}
	return s.MemoryYields[i-1]
}

func checkBilling(t *testing.T, b *BillingReport) {
	t.Helper()
	require.NotNil(t, b)
	s := QuickSizes()
	assert.Positive(t, b.PeriodMs)
	require.Len(t, b.Levels, len(s.BillingYields))
	for i, l := range b.Levels {
		assert.Equal(t, s.BillingYields[i], l.Yields)
		assert.Positive(t, l.InFlightPerYield, "%d yields", l.Yields)
		assert.Positive(t, l.Charges, "%d yields", l.Yields)
		assert.Positive(t, l.ChargesPerSec, "%d yields", l.Yields)
		assert.Positive(t, l.Latency.N, "%d yields", l.Yields)
		assert.Positive(t, l.Latency.P50, "%d yields", l.Yields)
		assert.Equal(t, l.Yields*l.InFlightPerYield, l.Submitters, "the baseline runs at the same concurrency")
		assert.Positive(t, l.BaselineRecords, "%d yields", l.Yields)
		assert.Positive(t, l.BaselinePerSec, "%d yields", l.Yields)
		assert.Positive(t, l.BaselineCommits, "%d yields", l.Yields)
		assert.Positive(t, l.Ratio, "%d yields", l.Yields)
	}
}

func checkAudit(t *testing.T, a *AuditReport) {
	t.Helper()
	require.NotNil(t, a)
	s := QuickSizes()
	require.Len(t, a.Sizes, len(s.AuditComponents))
	for i, size := range a.Sizes {
		assert.Equal(t, s.AuditComponents[i], size.Components)
		assert.Empty(t, size.Error, "%d components", size.Components)
		assert.Equal(t, size.Components, size.RootData+size.SubFactories*(1+size.DataPerSub), "%d components", size.Components)
		assert.Equal(t, size.SubFactories+1, size.Factories, "%d components", size.Components)
		assert.Equal(t, s.AuditRuns, size.Audit.N, "%d components", size.Components)
		assert.Equal(t, s.AuditRuns, size.Baseline.N, "%d components", size.Components)
		assert.Positive(t, size.Audit.P50, "%d components", size.Components)
		assert.Positive(t, size.Baseline.P50, "%d components", size.Components)
		assert.Positive(t, size.RatioP50, "%d components", size.Components)
		assert.Positive(t, size.AnswerBytes, "%d components", size.Components)
	}
}

func checkGrowth(t *testing.T, g Growth) {
	t.Helper()
	s := QuickSizes()
	assert.Len(t, g.CreateByLiveYields, len(s.MemoryYields))
	assert.Len(t, g.MemoryByYields, len(s.MemoryYields))
	assert.Len(t, g.CallByCallers, len(s.Callers))
	assert.Len(t, g.BillingByYields, len(s.BillingYields))
	assert.Len(t, g.AuditByComponents, len(s.AuditComponents))
}

func checkNoLeaks(t *testing.T) {
	t.Helper()
	for range 2 {
		runtime.GC()
	}
	time.Sleep(10 * time.Millisecond)
	select {
	case msg := <-leaks:
		t.Errorf("capability leaked: %s", msg)
	default:
	}
}

func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name    string
		samples []time.Duration
		want    Summary
	}{
		{"empty", nil, Summary{Unit: "ms"}},
		{"one", ms(7), Summary{N: 1, Unit: "ms", P50: 7, P99: 7, Mean: 7, Min: 7, Max: 7}},
		{"unsorted", ms(4, 1, 3, 2), Summary{N: 4, Unit: "ms", P50: 2, P99: 4, Mean: 2.5, Min: 1, Max: 4}},
		{"hundred", ms(seq(100)...), Summary{N: 100, Unit: "ms", P50: 50, P99: 99, Mean: 50.5, Min: 1, Max: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(tt.samples, "ms")
			assert.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantOnly []string
		wantJSON string
		wantErr  bool
	}{
		{"defaults", nil, nil, "", false},
		{"quick json", []string{"--quick", "--json", "x.json"}, nil, "x.json", false},
		{"only", []string{"--only", "create,memory"}, []string{"create", "memory"}, "", false},
		{"only new figures", []string{"--only", "billing,audit"}, []string{"billing", "audit"}, "", false},
		{"unknown figure", []string{"--only", "ledger"}, nil, "", true},
		{"stray argument", []string{"now"}, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, path, err := parseArgs(tt.args, &bytes.Buffer{})
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantOnly, opts.Only)
			assert.Equal(t, tt.wantJSON, path)
		})
	}
}
