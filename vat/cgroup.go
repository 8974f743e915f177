package vat

import (
	"bufio"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Vat cgroups live under the daemon's own cgroup, in a directory named cgroupBase, one
// directory per vat: limits set above the daemon (a container's, a systemd slice's) still
// hold.
const cgroupBase = "factoryd"

// cgroupDriver creates per-vat cgroups on one kind of hierarchy.
type cgroupDriver interface {
	kind() string
	create(name string) (cgroup, error)
	// close removes the base directories if no vat is left in them (another daemon may share
	// them).
	close()
	// sweep removes vat cgroups a daemon that died (kill -9) left behind.
	sweep()
}

// cgroup is one vat's cgroup.
type cgroup interface {
	setLimits(lim Limits) error
	add(pid int) error
	usage() Usage
	// cause names a limit that ended the vat ("memory limit 64 MiB exceeded"), or "".
	cause(lim Limits) string
	remove() error
}

// CgroupMode picks how vats get cgroups.
type CgroupMode string

// The modes.
const (
	CgroupAuto CgroupMode = ""    // v2 where it has the controllers, else v1, else none
	CgroupV1   CgroupMode = "v1"  // the controllers' own v1 hierarchies
	CgroupV2   CgroupMode = "v2"  // the unified hierarchy
	CgroupOff  CgroupMode = "off" // no cgroups: memory, pids and CPU share cannot be limited
)

// mount is a cgroup filesystem mount: its mount point and the controllers it carries (v1) or
// none (v2, whose controllers are listed in cgroup.controllers).
type mount struct {
	point       string
	v2          bool
	controllers []string
}

// detectCgroups finds the hierarchies from the mount table and this process's cgroup file.
func detectCgroups(mode CgroupMode, mountinfo, selfCgroup string) (cgroupDriver, error) {
	mounts := parseMounts(mountinfo)
	self := parseSelfCgroup(selfCgroup)
	if mode == CgroupOff {
		return nil, nil
	}
	if mode != CgroupV1 {
		if d, err := newV2(mounts, self); err == nil {
			return d, nil
		} else if mode == CgroupV2 {
			return nil, err
		}
	}
	d, err := newV1(mounts, self)
	if err != nil {
		if mode == CgroupAuto {
			return nil, fmt.Errorf("no usable cgroup hierarchy (v2: no delegated controllers; v1: %v)", err)
		}
		return nil, err
	}
	return d, nil
}

func parseMounts(mountinfo string) []mount {
	var out []mount
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 {
			continue
		}
		switch tail[0] {
		case "cgroup2":
			out = append(out, mount{point: fields[4], v2: true})
		case "cgroup":
			out = append(out, mount{point: fields[4], controllers: strings.Split(tail[2], ",")})
		}
	}
	return out
}

// parseSelfCgroup maps each v1 controller (and "" for v2) to this process's cgroup path.
func parseSelfCgroup(content string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(content, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// cgroupsOfThisMachine detects the hierarchies this process sees.
func cgroupsOfThisMachine(mode CgroupMode) (cgroupDriver, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	return detectCgroups(mode, string(mi), string(self))
}

func writeFile(dir, name, value string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup %s: %w", name, err)
	}
	return nil
}

func readUint(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v
}

// readKey reads "key value" lines (memory.events, cpu.stat, memory.oom_control) for key.
func readKey(path, key string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// removeDir removes a cgroup directory, retrying while the kernel finishes detaching the
// exited processes.
func removeDir(dir string) error {
	var err error
	for range 50 {
		if err = os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}

const cpuPeriodMicros = 100000

func cpuQuotaMicros(millicores uint32) uint64 { return uint64(millicores) * cpuPeriodMicros / 1000 }

// staleAge is how old an empty vat cgroup must be before a sweep removes it: younger, it may
// be another daemon's (sharing the base) between creating it and moving its vat in.
const staleAge = time.Minute

// sweepStale removes the vat cgroups under base that are empty and either older than
// staleAge or named after a helper that is gone (a daemon only ever moves the helper a
// cgroup is named after into it). A populated cgroup cannot be removed (EBUSY), so a live
// vat's never is.
func sweepStale(base string, now time.Time) (removed int) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, born, ok := vatDirBirth(e.Name())
		if !ok || !e.IsDir() || (now.Sub(born) < staleAge && processExists(pid)) {
			continue
		}
		if os.Remove(filepath.Join(base, e.Name())) == nil {
			removed++
		}
	}
	return removed
}

// vatDirName names a vat's cgroup after its helper's pid and the time it was made.
func vatDirName(pid int, now time.Time) string { return fmt.Sprintf("vat-%d-%d", pid, now.UnixNano()) }

// vatDirBirth reads the helper's pid and the time back from a vat cgroup's name.
func vatDirBirth(name string) (pid int, born time.Time, ok bool) {
	rest, ok := strings.CutPrefix(name, "vat-")
	if !ok {
		return 0, time.Time{}, false
	}
	p, nanos, ok := strings.Cut(rest, "-")
	n, err := strconv.ParseInt(nanos, 10, 64)
	pid, perr := strconv.Atoi(p)
	if !ok || err != nil || perr != nil {
		return 0, time.Time{}, false
	}
	return pid, time.Unix(0, n), true
}

// processExists reports whether pid names a process (or thread) of this pid namespace.
func processExists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// makeVatDir creates a vat's directory under base, recreating base if another daemon sharing
// it removed it meanwhile.
func makeVatDir(base, name string) (string, error) {
	dir := filepath.Join(base, name)
	for range 3 {
		if err := os.MkdirAll(base, 0o755); err != nil {
			return "", err
		}
		err := os.Mkdir(dir, 0o755)
		if !errors.Is(err, os.ErrNotExist) {
			return dir, err
		}
	}
	return "", fmt.Errorf("cgroup %s keeps disappearing", base)
}

// requireWritable fails unless this process may create vat cgroups in base: an existing base
// (made by another daemon, e.g. one running as root) may not be ours to write.
func requireWritable(base string) error {
	if err := unix.Access(base, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("cannot create cgroups in %s: %w", base, err)
	}
	return nil
}
