// Package daemontest runs a real factoryd daemon in-process for tests of packages above it
// (the CLI, the client). Instances are real vats: the test binary must call
// vat.RunHelperIfRequested first thing in TestMain.
package daemontest

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/factory"
	"github.com/factoryd/factoryd/store"
)

// Daemon is a running daemon serving on Socket; it stops when the test ends.
type Daemon struct {
	Socket string
	Dir    string
}

// Start starts a daemon with a fresh data directory.
func Start(t *testing.T, opts *factory.Options) *Daemon {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "data"), nil)
	require.NoError(t, err)
	d, err := factory.New(hclog.NewNullLogger(), st, opts)
	require.NoError(t, err)
	socket := filepath.Join(dir, "factoryd.sock")
	ln, err := net.Listen("unix", socket)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("daemon did not stop")
		}
		require.NoError(t, st.Close())
	})
	return &Daemon{Socket: socket, Dir: dir}
}

// Client connects a client, closed when the test ends.
func (d *Daemon) Client(t *testing.T) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, d.Socket)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}
