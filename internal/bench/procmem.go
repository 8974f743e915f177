package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procMem is one process's memory, in kB, from /proc/PID/smaps_rollup.
type procMem struct {
	RSS, PSS, Anon int64
}

// readProcMem reads /proc/pid/smaps_rollup.
func readProcMem(pid int) (procMem, error) {
	f, err := readKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Rss", "Pss", "Anonymous")
	if err != nil {
		return procMem{}, err
	}
	return procMem{RSS: f["Rss"], PSS: f["Pss"], Anon: f["Anonymous"]}, nil
}

// memAvailable returns MemAvailable from /proc/meminfo, in kB.
func memAvailable() (int64, error) {
	f, err := readKB("/proc/meminfo", "MemAvailable")
	return f["MemAvailable"], err
}

// memTotal returns MemTotal from /proc/meminfo, in kB.
func memTotal() (int64, error) {
	f, err := readKB("/proc/meminfo", "MemTotal")
	return f["MemTotal"], err
}

// readKB reads "Name:   123 kB" lines from a /proc file and returns the wanted fields; every
// wanted field must be present.
func readKB(path string, want ...string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[name] = v
		}
	}
	for _, w := range want {
		if _, ok := out[w]; !ok {
			return nil, fmt.Errorf("%s: no %s", path, w)
		}
	}
	return out, nil
}

// processExists reports whether /proc holds pid, without signalling it.
func processExists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// statFields returns the fields of /proc/pid/stat after the command name (which may hold
// spaces): index 0 is the state, 1 the parent pid, 11 and 12 the user and system time.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

// userHZ is the unit of the times in /proc/pid/stat (USER_HZ, 100 on Linux).
const userHZ = 100

// cpuTime returns the user and system CPU time pid has used, in 10 ms ticks.
func cpuTime(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(user+sys) * time.Second / userHZ, nil
}

// childPids returns the pids of ppid's children, from /proc.
func childPids(ppid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := statFields(pid); err == nil && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out, nil
}
