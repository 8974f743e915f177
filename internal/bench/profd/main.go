// Command profd is factoryd with profiling, for `factory-bench --profile DIR`: the same daemon
// (daemoncmd.Main), which writes the CPU profile of its whole run to
// $FACTORYD_BENCH_PROFILE_DIR/factoryd-PID.cpu.pprof, heap and goroutine profiles
// factoryd-PID.heap-N.pprof and factoryd-PID.goroutine-N.pprof each time it receives SIGUSR1
// (the benchmark sends it at each measured population), and the same with "exit" for N when
// it stops (PID tells the runs of a restarted daemon apart). Its vats' helper is this executable, as factoryd's is
// factoryd.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/factoryd/factoryd/cmd/factoryd/daemoncmd"
	"github.com/factoryd/factoryd/vat"
)

// profileEnv names the profile directory; internal/bench sets it.
const profileEnv = "FACTORYD_BENCH_PROFILE_DIR"

func main() {
	vat.RunHelperIfRequested()
	dir := os.Getenv(profileEnv)
	stopCPU, err := profileCPU(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profd:", err)
		os.Exit(1)
	}
	stopHeaps := heapOnSignal(dir)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := daemoncmd.Main(ctx, os.Args[1:], os.Stderr)
	stop()
	stopHeaps()
	stopCPU()
	if err := writeHeap(dir, "exit"); err != nil {
		fmt.Fprintln(os.Stderr, "profd:", err)
	}
	os.Exit(code)
}

func profileCPU(dir string) (func(), error) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("factoryd-%d.cpu.pprof", os.Getpid())))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// heapOnSignal writes a numbered heap profile on every SIGUSR1 until the returned function
// is called; that function waits for the writer to finish.
func heapOnSignal(dir string) func() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 1; ; n++ {
			if _, ok := <-sig; !ok {
				return
			}
			if err := writeHeap(dir, fmt.Sprint(n)); err != nil {
				fmt.Fprintln(os.Stderr, "profd:", err)
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(sig)
		<-done
	}
}

func writeHeap(dir, name string) error {
	runtime.GC()
	for _, kind := range []string{"heap", "goroutine"} {
		if err := writeProfile(dir, kind, name); err != nil {
			return err
		}
	}
	return nil
}

// writeProfile writes the named runtime profile to factoryd-PID.KIND-NAME.pprof.
func writeProfile(dir, kind, name string) error {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("factoryd-%d.%s-%s.pprof", os.Getpid(), kind, name)))
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup(kind).WriteTo(f, 0)
}
