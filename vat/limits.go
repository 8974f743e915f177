package vat

import "fmt"

// Limits are the resources one vat may use, enforced by the kernel: memory, pids and CPU share
// by a cgroup of its own, CPU time and open files by rlimits. Zero means no limit of that kind
// (open files: the Spawner's default).
type Limits struct {
	MemoryBytes   uint64
	Pids          uint32
	CPUMillicores uint32 // share of CPU, in thousandths of a core: 500 is half a core
	CPUSeconds    uint32 // total CPU time
	OpenFiles     uint32
}

// minMemory is the least memory a vat may be given: the helper itself needs a few MiB before
// it execs the program.
const minMemory = 16 << 20

// minPids is the least process limit: the helper's threads are in the vat's cgroup when it
// starts the program, and a Go program starts several threads of its own.
const minPids = 16

func (l Limits) needsCgroup() bool { return l.MemoryBytes > 0 || l.Pids > 0 || l.CPUMillicores > 0 }

// Validate refuses limits below what a vat needs to start: a memory limit under 16 MiB, a
// process limit under 16, a CPU share under 10 millicores. Zero (no limit) is valid.
func (l Limits) Validate() error {
	if l.MemoryBytes > 0 && l.MemoryBytes < minMemory {
		return fmt.Errorf("%w: memory limit %s is below the minimum of %s", ErrInvalidPolicy, Bytes(l.MemoryBytes), Bytes(minMemory))
	}
	if l.Pids > 0 && l.Pids < minPids {
		return fmt.Errorf("%w: process limit %d is below the minimum of %d", ErrInvalidPolicy, l.Pids, minPids)
	}
	if l.CPUMillicores > 0 && l.CPUMillicores < 10 {
		return fmt.Errorf("%w: a CPU share below 10 millicores would starve the program", ErrInvalidPolicy)
	}
	return nil
}

// Usage is what a vat consumed, from the kernel's counters.
type Usage struct {
	CPUNanos        uint64 // CPU time, user and system
	PeakMemoryBytes uint64
}

// Bytes formats a size for people: "64 MiB".
func Bytes(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
