package vat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requireCgroups(t *testing.T, s *Spawner) {
	t.Helper()
	if _, err := s.Cgroups(); err != nil {
		t.Skipf("no cgroups on this machine: %v", err)
	}
}

// hog spawns the probe with limits, tells it what to hog, and waits for it to end.
func hog(t *testing.T, s *Spawner, lim Limits, what byte) *Process {
	t.Helper()
	p, _ := spawnProbe(t, s, Spec{Limits: lim})
	_, err := p.Conn().Write([]byte{what})
	require.NoError(t, err)
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("the vat outlived its limit %+v", lim)
	}
	return p
}

func TestMemoryLimitKillsAndSaysWhy(t *testing.T) {
	s := newSpawner(t)
	requireCgroups(t, s)
	p := hog(t, s, Limits{MemoryBytes: 32 << 20}, 'm')
	assert.Equal(t, "memory limit 32 MiB exceeded", p.Status().String())
	// The kernel's high-water mark may record the page whose charge failed the limit (it
	// charges before it reclaims): allow one charge batch (64 pages) above it.
	assert.LessOrEqual(t, p.Usage().PeakMemoryBytes, uint64(32<<20+64*4096))
	assert.Greater(t, p.Usage().PeakMemoryBytes, uint64(16<<20))
}

func TestProcessLimitStopsThreadBombs(t *testing.T) {
	s := newSpawner(t)
	requireCgroups(t, s)
	p := hog(t, s, Limits{Pids: 16}, 't')
	assert.Equal(t, "process limit of 16 reached", p.Status().String())
}

func TestCPUTimeLimit(t *testing.T) {
	s := newSpawner(t)
	requireCgroups(t, s)
	start := time.Now()
	p := hog(t, s, Limits{CPUSeconds: 1}, 'c')
	assert.Equal(t, "CPU time limit of 1s exceeded", p.Status().String())
	// RLIMIT_CPU is enforced on sampled ticks, cpuacct counts exactly: allow a tick or so.
	assert.GreaterOrEqual(t, p.Usage().CPUNanos, uint64(900*time.Millisecond))
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestCPUShareThrottles(t *testing.T) {
	s := newSpawner(t)
	requireCgroups(t, s)
	p, _ := spawnProbe(t, s, Spec{Limits: Limits{CPUMillicores: 100}})
	_, err := p.Conn().Write([]byte{'c'})
	require.NoError(t, err)
	time.Sleep(time.Second)
	live := p.LiveUsage()
	assert.True(t, p.Measured())
	assert.Positive(t, live.CPUNanos, "usage so far, read while the vat runs")
	assert.Positive(t, live.PeakMemoryBytes)
	p.Kill()
	<-p.Done()
	used := time.Duration(p.Usage().CPUNanos)
	assert.GreaterOrEqual(t, used, time.Duration(live.CPUNanos))
	assert.Equal(t, p.Usage(), p.LiveUsage(), "once ended, the final figures")
	assert.Less(t, used, 400*time.Millisecond, "a tenth of a core for a second, got %v", used)
	assert.Greater(t, used, 20*time.Millisecond)
}

func TestLimitsAreValidated(t *testing.T) {
	s := newSpawner(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.Spawn(ctx, Spec{Program: probePath, Limits: Limits{MemoryBytes: 1 << 20}})
	assert.ErrorIs(t, err, ErrInvalidPolicy)
}

func TestCgroupsAreRemoved(t *testing.T) {
	s := newSpawnerWith(t, noPool)
	requireCgroups(t, s)
	// Other test processes may be creating vats under the same base at the same time: look
	// only at this vat's own directory, the one its program is in.
	p, _ := spawnProbe(t, s, Spec{Limits: Limits{MemoryBytes: 64 << 20}})
	dir := vatCgroupDir(t, s, p.Pid())
	assert.DirExists(t, dir)
	p.Kill()
	<-p.Done()
	assert.NoDirExists(t, dir, "the vat's cgroup is gone with it")
}

// vatCgroupDir is the directory of the cgroup pid is in (v1: in the memory hierarchy), checked
// to be a vat cgroup under the spawner's base.
func vatCgroupDir(t *testing.T, s *Spawner, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	require.NoError(t, err)
	var base, rel string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		require.Len(t, parts, 3)
		switch d := s.cgroups.(type) {
		case *v1:
			if slices.Contains(strings.Split(parts[1], ","), "memory") {
				base, rel = d.bases["memory"], parts[2]
			}
		case *v2:
			if parts[0] == "0" {
				base, rel = d.base, parts[2]
			}
		}
	}
	require.NotEmpty(t, rel, "pid %d's cgroup", pid)
	name := filepath.Base(rel)
	_, _, ok := vatDirBirth(name)
	require.True(t, ok, "pid %d is in %s, not a vat cgroup", pid, rel)
	return filepath.Join(base, name)
}
