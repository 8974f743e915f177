package bench

import (
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
)

// startCPUProfile writes the benchmark's own CPU profile (the client side of every figure)
// to dir/bench.cpu.pprof until the returned function is called; dir "" does nothing.
func startCPUProfile(dir string) (stop func() error, err error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "bench.cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// snapshotDaemonHeap asks profd to write a heap profile now (SIGUSR1); only when profiling,
// since SIGUSR1 would end factoryd itself.
func (h *harness) snapshotDaemonHeap() {
	if h.profiling {
		h.daemon.cmd.Process.Signal(syscall.SIGUSR1)
	}
}
