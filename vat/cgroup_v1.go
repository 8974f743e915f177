package vat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// v1 puts each vat in its own cgroup of the memory, pids, cpu and cpuacct hierarchies.
type v1 struct {
	bases map[string]string // controller -> <mount><self path>/factoryd
	memsw bool              // swap accounting: memory.memsw.limit_in_bytes exists
}

var v1Controllers = []string{"memory", "pids", "cpu", "cpuacct"}

func newV1(mounts []mount, self map[string]string) (*v1, error) {
	d := &v1{bases: map[string]string{}}
	for _, c := range v1Controllers {
		i := slices.IndexFunc(mounts, func(m mount) bool { return !m.v2 && slices.Contains(m.controllers, c) })
		if i < 0 {
			return nil, fmt.Errorf("controller %s is not mounted", c)
		}
		base := filepath.Join(mounts[i].point, self[c], cgroupBase)
		if err := os.MkdirAll(base, 0o755); err != nil {
			d.close()
			return nil, fmt.Errorf("controller %s: %w", c, err)
		}
		if err := requireWritable(base); err != nil {
			d.close()
			return nil, fmt.Errorf("controller %s: %w", c, err)
		}
		d.bases[c] = base
	}
	_, err := os.Stat(filepath.Join(d.bases["memory"], "memory.memsw.limit_in_bytes"))
	d.memsw = err == nil
	return d, nil
}

func (d *v1) kind() string { return "v1" }

func (d *v1) sweep() {
	for _, base := range d.bases {
		sweepStale(base, time.Now())
	}
}

func (d *v1) close() {
	for _, base := range d.bases {
		os.Remove(base)
	}
}

type v1Group struct {
	dirs  map[string]string
	memsw bool
}

func (d *v1) create(name string) (cgroup, error) {
	g := &v1Group{dirs: map[string]string{}, memsw: d.memsw}
	for c, base := range d.bases {
		dir, err := makeVatDir(base, name)
		if err != nil {
			g.remove()
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		g.dirs[c] = dir
	}
	return g, nil
}

func (g *v1Group) setLimits(lim Limits) error {
	if lim.MemoryBytes > 0 {
		mem := strconv.FormatUint(lim.MemoryBytes, 10)
		if err := writeFile(g.dirs["memory"], "memory.limit_in_bytes", mem); err != nil {
			return err
		}
		// With swap accounting, the same bound on memory and swap together: no escape to swap.
		if g.memsw {
			if err := writeFile(g.dirs["memory"], "memory.memsw.limit_in_bytes", mem); err != nil {
				return err
			}
		}
	}
	if lim.Pids > 0 {
		if err := writeFile(g.dirs["pids"], "pids.max", strconv.FormatUint(uint64(lim.Pids), 10)); err != nil {
			return err
		}
	}
	if lim.CPUMillicores > 0 {
		// A new cgroup's period is the kernel's default, cpuPeriodMicros (100 ms).
		return writeFile(g.dirs["cpu"], "cpu.cfs_quota_us", strconv.FormatUint(cpuQuotaMicros(lim.CPUMillicores), 10))
	}
	return nil
}

func (g *v1Group) add(pid int) error {
	for _, dir := range g.dirs {
		if err := writeFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

func (g *v1Group) usage() Usage {
	return Usage{
		CPUNanos:        readUint(filepath.Join(g.dirs["cpuacct"], "cpuacct.usage")),
		PeakMemoryBytes: readUint(filepath.Join(g.dirs["memory"], "memory.max_usage_in_bytes")),
	}
}

func (g *v1Group) cause(lim Limits) string {
	if lim.MemoryBytes > 0 && readKey(filepath.Join(g.dirs["memory"], "memory.oom_control"), "oom_kill") > 0 {
		return "memory limit " + Bytes(lim.MemoryBytes) + " exceeded"
	}
	if lim.Pids > 0 && readKey(filepath.Join(g.dirs["pids"], "pids.events"), "max") > 0 {
		return fmt.Sprintf("process limit of %d reached", lim.Pids)
	}
	return ""
}

func (g *v1Group) remove() error {
	var errs []error
	for _, dir := range g.dirs {
		errs = append(errs, removeDir(dir))
	}
	return errors.Join(errs...)
}
