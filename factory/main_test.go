package factory

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/internal/testbin"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/vat"
)

var leaks = make(chan string, 100)

func TestMain(m *testing.M) {
	vat.RunHelperIfRequested()
	capnp.SetClientLeakFunc(func(msg string) {
		select {
		case leaks <- msg:
		default:
		}
	})
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// harness is a daemon serving on a temporary socket, and a client connected to it.
type harness struct {
	t      *testing.T
	dir    string
	socket string
	st     *store.Store
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
	c      *client.Client
}

func newHarness(t *testing.T, opts *Options) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir()}
	h.start(opts)
	t.Cleanup(h.stop)
	return h
}

func (h *harness) start(opts *Options) {
	t := h.t
	var err error
	h.st, err = store.Open(filepath.Join(h.dir, "data"), nil)
	require.NoError(t, err)
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	h.d, err = New(log, h.st, opts)
	require.NoError(t, err)
	h.socket = filepath.Join(h.dir, "factoryd.sock")
	ln, err := net.Listen("unix", h.socket)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.d.Run(ctx, ln) }()
	h.c = h.dial()
}

func (h *harness) dial() *client.Client {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, h.socket)
	require.NoError(h.t, err)
	return c
}

// stop shuts the daemon down and checks it stopped cleanly.
func (h *harness) stop() {
	if h.d == nil {
		return
	}
	h.c.Close()
	h.cancel()
	select {
	case err := <-h.done:
		require.NoError(h.t, err)
	case <-time.After(15 * time.Second):
		h.t.Fatal("daemon did not stop")
	}
	require.NoError(h.t, h.st.Close())
	h.d = nil
}

func (h *harness) restart(opts *Options) {
	h.stop()
	h.start(opts)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// publish uploads the program built from pkg, creates factory name with the given data
// components and seals it.
func (h *harness) publish(name, pkg string, data map[string][]byte) *client.Requestor {
	t := h.t
	ctx := ctxT(t)
	prog, err := testbin.Build(pkg)
	require.NoError(t, err)
	b, err := h.c.NewFactory(ctx, name)
	require.NoError(t, err)
	defer b.Release()
	d, err := h.c.UploadFile(ctx, prog)
	require.NoError(t, err)
	require.NoError(t, b.SetProgram(ctx, d))
	if pkg == probe {
		require.NoError(t, b.AllowSyscalls(ctx, probeSyscalls...))
	}
	for k, v := range data {
		dd, err := h.c.Upload(ctx, bytesReader(v))
		require.NoError(t, err)
		require.NoError(t, b.InstallData(ctx, k, dd))
	}
	r, err := b.Seal(ctx)
	require.NoError(t, err)
	t.Cleanup(r.Release)
	return r
}

// liveInstances counts the daemon's live instances.
func (h *harness) liveInstances() int {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	return len(h.d.instances)
}

// eventually waits for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, what)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
