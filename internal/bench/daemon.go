package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// daemonProc is the factoryd process under test, with its data, socket and log in dir.
type daemonProc struct {
	cmd     *exec.Cmd
	socket  string
	logPath string
	log     *os.File
	logFrom int64         // where this process's output starts in the log
	done    chan struct{} // closed once cmd.Wait returned
	waitErr error
}

// daemonConfig is the part of factoryd's config file (docs/operator.md) the benchmark sets.
type daemonConfig struct {
	Version      int           `json:"version"`
	LogLevel     string        `json:"log_level"`
	StartTimeout string        `json:"start_timeout"`
	MaxInstances int           `json:"max_instances"`
	Billing      billingConfig `json:"billing"`
}

// billingConfig is the config file's "billing" section: the operator's bounds on the billing
// channels requestors may grant.
type billingConfig struct {
	DefaultPeriod    string  `json:"default_period,omitempty"`
	MinPeriod        string  `json:"min_period,omitempty"`
	MaxBitsPerSecond float64 `json:"max_bits_per_second,omitempty"`
}

// newDaemonConfig is the configuration every figure runs under: the shipped log level, room
// for maxInstances live yields, and billing periods as short as billingPeriod with a channel
// bound high enough for the ceilings the billing figure grants (see billing.go).
func newDaemonConfig(maxInstances int, billingPeriod time.Duration) daemonConfig {
	cfg := daemonConfig{Version: 1, LogLevel: "info", StartTimeout: "30s", MaxInstances: maxInstances}
	if billingPeriod > 0 {
		cfg.Billing = billingConfig{DefaultPeriod: billingPeriod.String(), MinPeriod: billingPeriod.String(),
			MaxBitsPerSecond: maxBillingBitsPerSecond}
	}
	return cfg
}

// startDaemon starts bin as factoryd with its data directory under dir (kept from an earlier
// start, if any) and configuration cfg, and returns once it accepts connections. extraEnv is
// added to its environment. The Go runtime's GC trace goes to its log, for the daemon's heap
// size.
func startDaemon(ctx context.Context, bin, dir string, cfg daemonConfig, extraEnv []string) (*daemonProc, error) {
	cfgPath := filepath.Join(dir, "factoryd.json")
	if err := writeJSON(cfgPath, cfg); err != nil {
		return nil, err
	}
	d := &daemonProc{socket: filepath.Join(dir, "factoryd.sock"), logPath: filepath.Join(dir, "factoryd.log"),
		done: make(chan struct{})}
	log, err := os.OpenFile(d.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644) // kept across restarts
	if err != nil {
		return nil, err
	}
	d.log = log
	if st, err := log.Stat(); err == nil {
		d.logFrom = st.Size()
	}
	d.cmd = exec.Command(bin, "--data", filepath.Join(dir, "data"), "--socket", d.socket, "--config", cfgPath)
	d.cmd.Env = append(append(os.Environ(), "GODEBUG=gctrace=1"), extraEnv...)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start factoryd: %w", err)
	}
	go func() { d.waitErr = d.cmd.Wait(); close(d.done) }()
	if err := d.awaitSocket(ctx); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// awaitSocket waits until the daemon accepts a connection.
func (d *daemonProc) awaitSocket(ctx context.Context) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", d.socket); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("factoryd exited at start: %v\n%s", d.waitErr, d.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("factoryd did not accept connections within 15s\n%s", d.logTail())
}

// pid is the daemon's process id.
func (d *daemonProc) pid() int { return d.cmd.Process.Pid }

// stop ends the daemon by its pid: SIGTERM, then SIGKILL if it has not exited within 30s. It
// returns an error unless the daemon exited cleanly on SIGTERM.
func (d *daemonProc) stop() error {
	defer d.log.Close()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("factoryd did not stop within 30s of SIGTERM\n%s", d.logTail())
	}
	if d.waitErr != nil {
		return fmt.Errorf("factoryd: %w\n%s", d.waitErr, d.logTail())
	}
	return nil
}

// logTail returns the end of the daemon's log, for error messages.
func (d *daemonProc) logTail() string {
	b, _ := os.ReadFile(d.logPath)
	const keep = 4000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

// gcLine matches a GC trace line's heap sizes: "... 4->5->2 MB, 5 MB goal ...".
var gcLine = regexp.MustCompile(`^gc \d+ .* (\d+)->(\d+)->(\d+) MB`)

// liveHeapMB returns the heap left live by the daemon's most recent garbage collection (from
// this process's GC trace in the log), and false when it has not collected yet.
func (d *daemonProc) liveHeapMB() (int64, bool) {
	f, err := os.Open(d.logPath)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if _, err := f.Seek(d.logFrom, io.SeekStart); err != nil {
		return 0, false
	}
	var live int64
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := gcLine.FindStringSubmatch(sc.Text()); m != nil {
			live, _ = strconv.ParseInt(m[3], 10, 64)
			found = true
		}
	}
	return live, found
}

// errStopped reports a daemon that exited while the benchmark still needed it.
var errStopped = errors.New("factoryd exited during the benchmark")

// alive returns errStopped (with the log's end) once the daemon has exited.
func (d *daemonProc) alive() error {
	select {
	case <-d.done:
		return fmt.Errorf("%w: %v\n%s", errStopped, d.waitErr, d.logTail())
	default:
		return nil
	}
}
