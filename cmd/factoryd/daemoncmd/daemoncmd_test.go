package daemoncmd

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/config"
	"github.com/factoryd/factoryd/vat"
)

func TestMain(m *testing.M) {
	vat.RunHelperIfRequested()
	os.Exit(m.Run())
}

func TestFlags(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	var stderr bytes.Buffer
	assert.Equal(t, 2, Main(t.Context(), []string{"--nope"}, &stderr))
	assert.Equal(t, 2, Main(t.Context(), []string{"extra"}, &stderr))
	assert.Contains(t, stderr.String(), `unexpected argument "extra"`)
	stderr.Reset()
	assert.Equal(t, 0, Main(t.Context(), []string{"--help"}, &stderr))
	assert.Contains(t, stderr.String(), "usage: factoryd")

	cfg, err := parseArgs([]string{"--data", "/d", "--socket", "/s", "--log-level", "debug"}, &stderr)
	require.NoError(t, err)
	assert.Equal(t, "/d", cfg.DataDir)
	assert.Equal(t, "/s", cfg.Socket)
	assert.Equal(t, "debug", cfg.LogLevel)
}

func TestRunsUntilCancelled(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	socket := filepath.Join(dir, "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"--data", filepath.Join(dir, "data"), "--socket", socket}, &stderr) }()
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	st, err := os.Stat(socket)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o666), st.Mode().Perm(), "any local user may connect")
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	_, err = os.Stat(socket)
	assert.True(t, os.IsNotExist(err))
}

func TestListenReplacesOnlyStaleSockets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "s.sock")
	ln, err := listen(path)
	require.NoError(t, err)
	_, err = listen(path)
	assert.ErrorContains(t, err, "another factoryd is serving", "a live socket is never taken over")
	ln.SetUnlinkOnClose(false)
	ln.Close() // leaves a stale socket file behind
	_, err = os.Stat(path)
	require.NoError(t, err)
	ln, err = listen(path)
	require.NoError(t, err, "a stale socket is replaced")
	ln.Close()
}

// The config's vat and limits sections reach the daemon's options.
func TestConfigReachesTheDaemon(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"version":1,"limits":{"default":{"memory":"64MiB","pids":32,"cpu":0.5}},
		"vat":{"pool":-1,"cgroups":"off","hostname":"h","open_files":32}}`))
	require.NoError(t, err)
	o := factoryOptions(cfg)
	assert.Equal(t, vat.Limits{MemoryBytes: 64 << 20, Pids: 32, CPUMillicores: 500}, o.DefaultLimits)
	assert.Equal(t, -1, o.Vat.Pool)
	assert.Equal(t, vat.CgroupMode("off"), o.Vat.Cgroups)
	assert.Equal(t, "h", o.Vat.Hostname)
	assert.Equal(t, uint64(32), o.Vat.OpenFiles)
}
