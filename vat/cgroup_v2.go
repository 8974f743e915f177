package vat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// v2 puts each vat in its own cgroup of the unified hierarchy, under <daemon's cgroup>/factoryd,
// whose controllers the daemon enables. cgroup v2 forbids processes in a cgroup whose children
// have controllers, so the daemon's own cgroup must be delegated to it with the daemon in a leaf
// (systemd: Delegate=yes; see docs/operator.md).
type v2 struct {
	base string
}

var v2Controllers = []string{"memory", "pids", "cpu"}

func newV2(mounts []mount, self map[string]string) (*v2, error) {
	i := slices.IndexFunc(mounts, func(m mount) bool { return m.v2 })
	if i < 0 {
		return nil, fmt.Errorf("no cgroup2 mount")
	}
	parent := filepath.Join(mounts[i].point, self[""])
	if err := requireControllers(parent); err != nil {
		return nil, err
	}
	base := filepath.Join(parent, cgroupBase)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	if err := requireWritable(base); err != nil {
		return nil, err
	}
	if err := enableInParent(parent); err != nil {
		return nil, err
	}
	if err := enableControllers(base); err != nil {
		return nil, err
	}
	return &v2{base: base}, nil
}

// enableInParent enables the controllers for the daemon's cgroup's children. cgroup v2 refuses
// (EBUSY) while the cgroup itself holds processes — the daemon — so the daemon then moves into
// a leaf of its own, <parent>/daemon, and tries again.
func enableInParent(parent string) error {
	err := enableControllers(parent)
	if !errors.Is(err, syscall.EBUSY) {
		return err
	}
	leaf := filepath.Join(parent, "daemon")
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		return err
	}
	if err := writeFile(leaf, "cgroup.procs", strconv.Itoa(os.Getpid())); err != nil {
		return err
	}
	return enableControllers(parent)
}

func requireControllers(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return err
	}
	have := strings.Fields(string(b))
	for _, c := range v2Controllers {
		if !slices.Contains(have, c) {
			return fmt.Errorf("controller %s is not available in %s", c, dir)
		}
	}
	return nil
}

func enableControllers(dir string) error {
	return writeFile(dir, "cgroup.subtree_control", "+memory +pids +cpu")
}

func (d *v2) kind() string { return "v2" }

func (d *v2) close() { os.Remove(d.base) }

func (d *v2) sweep() { sweepStale(d.base, time.Now()) }

type v2Group struct{ dir string }

func (d *v2) create(name string) (cgroup, error) {
	dir, err := makeVatDir(d.base, name)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	return &v2Group{dir: dir}, nil
}

func (g *v2Group) setLimits(lim Limits) error {
	if lim.MemoryBytes > 0 {
		if err := writeFile(g.dir, "memory.max", strconv.FormatUint(lim.MemoryBytes, 10)); err != nil {
			return err
		}
		if err := writeFile(g.dir, "memory.swap.max", "0"); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if lim.Pids > 0 {
		if err := writeFile(g.dir, "pids.max", strconv.FormatUint(uint64(lim.Pids), 10)); err != nil {
			return err
		}
	}
	if lim.CPUMillicores > 0 {
		return writeFile(g.dir, "cpu.max", fmt.Sprintf("%d %d", cpuQuotaMicros(lim.CPUMillicores), cpuPeriodMicros))
	}
	return nil
}

func (g *v2Group) add(pid int) error {
	return writeFile(g.dir, "cgroup.procs", strconv.Itoa(pid))
}

func (g *v2Group) usage() Usage {
	return Usage{
		CPUNanos:        readKey(filepath.Join(g.dir, "cpu.stat"), "usage_usec") * 1000,
		PeakMemoryBytes: readUint(filepath.Join(g.dir, "memory.peak")),
	}
}

func (g *v2Group) cause(lim Limits) string {
	if lim.MemoryBytes > 0 && readKey(filepath.Join(g.dir, "memory.events"), "oom_kill") > 0 {
		return "memory limit " + Bytes(lim.MemoryBytes) + " exceeded"
	}
	if lim.Pids > 0 && readKey(filepath.Join(g.dir, "pids.events"), "max") > 0 {
		return fmt.Sprintf("process limit of %d reached", lim.Pids)
	}
	return ""
}

func (g *v2Group) remove() error { return removeDir(g.dir) }
