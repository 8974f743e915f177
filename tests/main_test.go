// Package tests holds end-to-end tests: they build the real binaries, start factoryd as a
// process in a temporary directory, and drive it with factoryctl and Go clients.
package tests

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/internal/testbin"
	"github.com/factoryd/factoryd/vat"
)

const module = "github.com/factoryd/factoryd/"

// bins are the executables under test, built once.
var bins = map[string]string{}

func TestMain(m *testing.M) {
	// The escape suite runs its daemon in-process: this binary is its vats' helper.
	vat.RunHelperIfRequested()
	for _, p := range []string{"cmd/factoryd", "cmd/factoryctl", "examples/taxprep", "examples/kvstore",
		"examples/kvclient", "internal/testprogs/probe", "internal/testprogs/garbage",
		"internal/testprogs/escape"} {
		bins[filepath.Base(p)] = testbin.MustBuild(module + p)
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// daemon is a factoryd process under test.
type daemon struct {
	t      *testing.T
	dir    string
	data   string
	socket string
	config string // a config file, if any
	cmd    *exec.Cmd
	log    *bytes.Buffer
}

func newDaemon(t *testing.T) *daemon { return newDaemonWith(t, "") }

// newDaemonWith starts factoryd with config as its config file ("" for none).
func newDaemonWith(t *testing.T, config string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{t: t, dir: dir, data: filepath.Join(dir, "data"), socket: filepath.Join(dir, "factoryd.sock")}
	if config != "" {
		d.config = filepath.Join(dir, "config.json")
		require.NoError(t, os.WriteFile(d.config, []byte(config), 0o600))
	}
	d.start()
	t.Cleanup(func() {
		if d.cmd != nil {
			d.stop()
		}
	})
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	d.log = &bytes.Buffer{}
	args := []string{"--data", d.data, "--socket", d.socket, "--log-level", "debug"}
	if d.config != "" {
		args = append(args, "--config", d.config)
	}
	d.cmd = exec.Command(bins["factoryd"], args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	require.NoError(d.t, d.cmd.Start())
	require.Eventually(d.t, func() bool {
		c, err := net.Dial("unix", d.socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "factoryd did not start: %s", d.log)
}

// stop sends SIGTERM and requires a clean exit.
func (d *daemon) stop() {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(syscall.SIGTERM))
	d.wait(0)
}

// wait waits for the daemon to exit with the given status.
func (d *daemon) wait(status int) {
	d.t.Helper()
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(d.t, err)
		}
		require.Equal(d.t, status, code, "factoryd exit status; log:\n%s", d.log)
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		d.t.Fatalf("factoryd did not exit; log:\n%s", d.log)
	}
	d.cmd = nil
}

// ctl runs factoryctl against d and returns stdout, stderr and the exit status.
func (d *daemon) ctl(stdin string, args ...string) (string, string, int) {
	d.t.Helper()
	cmd := exec.Command(bins["factoryctl"], append([]string{"--socket", d.socket, "--timeout", "30s"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(d.t, err)
	}
	return out.String(), errOut.String(), code
}

// mustCtl runs factoryctl and requires success.
func (d *daemon) mustCtl(stdin string, args ...string) string {
	d.t.Helper()
	out, errOut, code := d.ctl(stdin, args...)
	require.Equal(d.t, 0, code, "factoryctl %v: %s", args, errOut)
	return out
}

func (d *daemon) client() *client.Client {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, d.socket)
	require.NoError(d.t, err)
	d.t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
