package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/factoryd/factoryd/client"
)

// MemoryReport is the memory figure: idle yields at growing populations, then torn down.
type MemoryReport struct {
	Sizes []MemorySize `json:"sizes"`
	// SettleSeconds is the pause between reaching a population and measuring it.
	SettleSeconds float64 `json:"settle_s"`
	// Before is a freshly restarted daemon with no yield (other figures ran on the process
	// before); After is the same process after teardown.
	Before DaemonMem `json:"before"`
	After  DaemonMem `json:"after"`
	// TornDown says every yield ended and every vat process is gone; TeardownSeconds is how
	// long that took.
	TornDown        bool    `json:"torn_down"`
	TeardownSeconds float64 `json:"teardown_s"`
}

// MemorySize is the memory of one population of idle yields. Each yield was created and
// answered one Job.run, then left idle.
type MemorySize struct {
	Yields int `json:"yields"`
	// Per vat process, from /proc/PID/smaps_rollup.
	VatRSSMB  Spread `json:"vat_rss_mb"`
	VatPSSMB  Spread `json:"vat_pss_mb"`
	VatAnonMB Spread `json:"vat_anon_mb"`
	// SystemPerYieldMB is the fall of MemAvailable since Before, divided by Yields: every
	// cost, kernel (namespaces, page tables, stacks) and daemon included.
	SystemPerYieldMB float64 `json:"system_per_yield_mb"`
	// The daemon's growth since Before, divided by Yields.
	DaemonRSSPerYieldKB  float64 `json:"daemon_rss_per_yield_kb"`
	DaemonAnonPerYieldKB float64 `json:"daemon_anon_per_yield_kb"`
	// DaemonHeapPerYieldKB is the growth of the heap live after the daemon's last GC (its
	// GC trace has a 1 MB resolution); 0 when it has not collected.
	DaemonHeapPerYieldKB float64   `json:"daemon_heap_per_yield_kb"`
	Daemon               DaemonMem `json:"daemon"`
	// Create is create → first reply of the yields added to reach this population, while
	// the smaller population was live: how a start's cost grows with live yields.
	Create        Summary `json:"create_while_growing"`
	CreateSeconds float64 `json:"create_s"`
}

// Spread summarises a per-process quantity.
type Spread struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	Max  float64 `json:"max"`
}

// DaemonMem is the daemon's memory at one moment.
type DaemonMem struct {
	RSSMB         float64 `json:"rss_mb"`
	AnonMB        float64 `json:"anon_mb"`
	HeapLiveMB    int64   `json:"heap_live_mb"`
	MemAvailMB    float64 `json:"system_mem_available_mb"`
	rssKB, anonKB int64
	availKB       int64
}

// benchMemory grows a population of idle yields through s.MemoryYields, measuring each, then
// ends them all, checks that they are gone and measures the daemon again.
func (h *harness) benchMemory(ctx context.Context, s *Sizes) (*MemoryReport, error) {
	r := &MemoryReport{SettleSeconds: s.Settle.Seconds()}
	var live []*client.Instance
	err := h.measureGrowth(ctx, s, r, &live)
	took, terr := h.teardown(context.WithoutCancel(ctx), "memory", live)
	r.TornDown, r.TeardownSeconds = terr == nil, round3(took.Seconds())
	if terr == nil && err == nil {
		terr = h.settleAfter(ctx, s, r)
	}
	if err := errors.Join(err, terr); err != nil {
		return nil, err
	}
	return r, nil
}

// measureGrowth measures the daemon alone, then each population; *live collects the yields
// for the caller to end, also on error.
func (h *harness) measureGrowth(ctx context.Context, s *Sizes, r *MemoryReport, live *[]*client.Instance) error {
	h.logf("memory: restarting the daemon")
	if err := h.restartDaemon(ctx); err != nil {
		return err
	}
	if err := sleep(ctx, s.Settle); err != nil {
		return err
	}
	var err error
	if r.Before, err = h.daemonMem(); err != nil {
		return err
	}
	for _, n := range s.MemoryYields {
		h.logf("memory: growing to %d live yields", n)
		size, err := h.growTo(ctx, live, n)
		if err != nil {
			return err
		}
		if err := sleep(ctx, s.Settle); err != nil {
			return err
		}
		if err := h.measurePopulation(ctx, size, r.Before); err != nil {
			return err
		}
		r.Sizes = append(r.Sizes, *size)
	}
	return nil
}

// growTo creates yields, each answering one call, until *live holds n.
func (h *harness) growTo(ctx context.Context, live *[]*client.Instance, n int) (*MemorySize, error) {
	size := &MemorySize{Yields: n}
	var samples []time.Duration
	began := time.Now()
	for len(*live) < n {
		start := time.Now()
		inst, err := h.req.Create(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("create yield %d: %w", len(*live)+1, err)
		}
		*live = append(*live, inst)
		out, err := inst.Run(ctx, payload)
		if err := checkEcho(out, err); err != nil {
			return nil, err
		}
		samples = append(samples, time.Since(start))
	}
	size.Create = summarize(samples, "ms")
	size.CreateSeconds = round3(time.Since(began).Seconds())
	return size, nil
}

// measurePopulation fills size with the vats' and the daemon's memory.
func (h *harness) measurePopulation(ctx context.Context, size *MemorySize, before DaemonMem) error {
	pids, err := h.vatPids(ctx)
	if err != nil {
		return err
	}
	if len(pids) != size.Yields {
		return fmt.Errorf("daemon lists %d live vats, want %d", len(pids), size.Yields)
	}
	var rss, pss, anon []float64
	for _, pid := range pids {
		m, err := readProcMem(pid)
		if err != nil {
			return fmt.Errorf("vat %d: %w", pid, err)
		}
		rss, pss, anon = append(rss, mb(m.RSS)), append(pss, mb(m.PSS)), append(anon, mb(m.Anon))
	}
	size.VatRSSMB, size.VatPSSMB, size.VatAnonMB = spread(rss), spread(pss), spread(anon)
	h.snapshotDaemonHeap()
	if size.Daemon, err = h.daemonMem(); err != nil {
		return err
	}
	n := float64(size.Yields)
	size.SystemPerYieldMB = round3(mb(before.availKB-size.Daemon.availKB) / n)
	size.DaemonRSSPerYieldKB = round3(float64(size.Daemon.rssKB-before.rssKB) / n)
	size.DaemonAnonPerYieldKB = round3(float64(size.Daemon.anonKB-before.anonKB) / n)
	size.DaemonHeapPerYieldKB = round3(float64(size.Daemon.HeapLiveMB-before.HeapLiveMB) * 1024 / n)
	return nil
}

// vatPids returns the pids of the daemon's live vats, as it lists them.
func (h *harness) vatPids(ctx context.Context) ([]int, error) {
	list, err := h.client.Instances(ctx)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, i := range list {
		if i.Pid > 0 {
			pids = append(pids, int(i.Pid))
		}
	}
	return pids, nil
}

// daemonMem reads the daemon's memory and the system's available memory.
func (h *harness) daemonMem() (DaemonMem, error) {
	st, err := readKB(fmt.Sprintf("/proc/%d/status", h.daemon.pid()), "VmRSS", "RssAnon")
	if err != nil {
		return DaemonMem{}, err
	}
	avail, err := memAvailable()
	if err != nil {
		return DaemonMem{}, err
	}
	heap, _ := h.daemon.liveHeapMB()
	return DaemonMem{RSSMB: mb(st["VmRSS"]), AnonMB: mb(st["RssAnon"]), HeapLiveMB: heap, MemAvailMB: mb(avail),
		rssKB: st["VmRSS"], anonKB: st["RssAnon"], availKB: avail}, nil
}

// teardown releases every yield, then waits until the daemon lists none and every vat
// process is gone; figure names the figure in the progress line.
func (h *harness) teardown(ctx context.Context, figure string, live []*client.Instance) (time.Duration, error) {
	if len(live) == 0 {
		return 0, nil
	}
	h.logf("%s: tearing down %d yields", figure, len(live))
	pids, perr := h.vatPids(ctx)
	start := time.Now()
	for _, inst := range live {
		inst.Release()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		left, err := h.vatPids(ctx)
		if err == nil && len(left) == 0 && !slices.ContainsFunc(pids, processExists) {
			return time.Since(start), perr
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return time.Since(start), fmt.Errorf("yields still live after teardown: %d listed: %w", len(left), err)
		}
	}
}

// settleAfter measures the daemon once everything is torn down and settled.
func (h *harness) settleAfter(ctx context.Context, s *Sizes, r *MemoryReport) error {
	if err := sleep(ctx, s.Settle); err != nil {
		return err
	}
	var err error
	r.After, err = h.daemonMem()
	return err
}

func spread(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	slices.Sort(v)
	var sum float64
	for _, x := range v {
		sum += x
	}
	return Spread{Mean: round3(sum / float64(len(v))), P50: round3(v[(len(v)-1)/2]), Max: round3(v[len(v)-1])}
}

// mb converts kB to MB (MiB).
func mb(kb int64) float64 { return round3(float64(kb) / 1024) }

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
