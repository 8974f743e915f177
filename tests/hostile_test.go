package tests

import (
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire/hostile"
)

// hostileModes are the attacks of internal/testprogs/garbage.
var hostileModes = []string{"self", "pipeline", "oversized", "random", "flood", "disembargo", "resolve", "cycle", "null"}

// A yield that writes hostile frames on its fd 3 loses its connection (its create fails, or it
// ends), and nothing else is disturbed: the daemon serves on, and an instance created before
// keeps answering.
func TestHostileYields(t *testing.T) {
	d := newDaemon(t)
	ctx := ctxT(t)
	d.mustCtl("", "factory", "new", "probe", "--program", bins["probe"], "--seal")
	c := d.client()
	good := createProbe(t, c)
	defer good.Release()
	for _, mode := range hostileModes {
		t.Run(mode, func(t *testing.T) {
			r := garbageFactory(t, d, c, mode)
			defer r.Release()
			inst, err := r.Create(ctx, &client.CreateOptions{StartTimeout: 5 * time.Second})
			if err == nil {
				// It published before attacking: it ends once the daemon hangs up, or when
				// released.
				inst.Release()
			} else {
				assert.ErrorIs(t, err, client.ErrStart, "create fails cleanly")
			}
			requireServing(t, d, c, good)
		})
	}
}

// A requestor that pipelines a call on the instance being created (client.CreateAndRun, what
// `factoryctl run` does) on a yield that publishes nothing usable: the call waits in create's
// queue and is delivered, when create returns, to the instance's caps.Forwarder. If that
// returns no PipelineCaller — it forwards to a null capability, or to a yield that has already
// gone — capnp-go's AnswerQueue.Fulfill dereferences nil and the daemon dies. The wire
// validator cannot prevent it without refusing CreateAndRun itself.
func TestRunOnAHostileYield(t *testing.T) {
	d := newDaemon(t)
	d.mustCtl("", "factory", "new", "probe", "--program", bins["probe"], "--seal")
	c := d.client()
	good := createProbe(t, c)
	defer good.Release()
	for _, tt := range []struct {
		mode string
		runs int
	}{{"null", 1}, {"disembargo", 1}, {"resolve", 1}, {"self", 1}, {"exit", 20}} {
		t.Run(tt.mode, func(t *testing.T) {
			r := garbageFactory(t, d, c, tt.mode)
			defer r.Release()
			for range tt.runs {
				_, err := r.RunOnce(ctxT(t), &client.CreateOptions{StartTimeout: 5 * time.Second}, []byte("x"))
				assert.Error(t, err)
				requireServing(t, d, c, good)
			}
		})
	}
}

// A local client writing hostile frames or random bytes on the daemon's socket loses its own
// connection (or, where the daemon answered before the hostile frame arrived, gets an
// exception), and nothing else is disturbed.
func TestHostileClients(t *testing.T) {
	d := newDaemon(t)
	d.mustCtl("", "factory", "new", "probe", "--program", bins["probe"], "--seal")
	c := d.client()
	good := createProbe(t, c)
	defer good.Release()

	whoami := hostile.Method{Interface: schema.Daemon_TypeID, ID: 9}
	uploadBlob := hostile.Method{Interface: schema.Daemon_TypeID, ID: 0}
	blobSize := hostile.Method{Interface: schema.Blob_TypeID, ID: 0}
	random := make([]byte, 256<<10)
	rand.Read(random)
	flood := []hostile.Builder{hostile.Bootstrap(0)}
	for q := uint32(1); q <= 5000; q++ {
		flood = append(flood, hostile.Call(q, hostile.Answer(0), whoami, hostile.Payload{}))
	}
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"self", hostile.MustFrames(hostile.Bootstrap(0), hostile.Call(1, hostile.Answer(1), whoami, hostile.Payload{}))},
		{"pipeline", hostile.MustFrames(hostile.Bootstrap(0), hostile.Call(1, hostile.Answer(0), uploadBlob, hostile.Payload{}),
			hostile.Call(2, hostile.Answer(1, 0), blobSize, hostile.Payload{}))},
		{"oversized", hostile.OversizedHeader()},
		{"random", random},
		{"flood", hostile.MustFrames(flood...)},
		{"return never asked", hostile.MustFrames(hostile.Return(0, hostile.Payload{}))},
		{"resolve unknown", hostile.MustFrames(hostile.Resolve(3, hostile.SenderHosted(3)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("unix", d.socket)
			require.NoError(t, err)
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			go func() {
				conn.Write(tt.bytes) // fails once the daemon hangs up
				conn.(*net.UnixConn).CloseWrite()
			}()
			_, err = io.Copy(io.Discard, conn)
			if !errors.Is(err, syscall.ECONNRESET) { // the daemon hung up on unread bytes
				require.NoError(t, err, "the daemon did not hang up within 10s")
			}
			requireServing(t, d, c, good)
		})
	}
}

func createProbe(t *testing.T, c *client.Client) *client.Instance {
	t.Helper()
	ctx := ctxT(t)
	r, err := c.Requestor(ctx, "probe")
	require.NoError(t, err)
	defer r.Release()
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	return inst
}

// garbageFactory seals a factory of the garbage program with the given mode and returns its
// requestor facet.
func garbageFactory(t *testing.T, d *daemon, c *client.Client, mode string) *client.Requestor {
	t.Helper()
	file := filepath.Join(t.TempDir(), "mode")
	require.NoError(t, os.WriteFile(file, []byte(mode), 0o600))
	name := "garbage-" + mode
	d.mustCtl("", "factory", "new", name, "--program", bins["garbage"], "--data", "mode="+file, "--seal")
	r, err := c.Requestor(ctxT(t), name)
	require.NoError(t, err)
	return r
}

// requireServing requires the daemon to be alive and serving: the instance created before
// answers, the client that created it works, and a new client works.
func requireServing(t *testing.T, d *daemon, c *client.Client, good *client.Instance) {
	t.Helper()
	ctx := ctxT(t)
	require.True(t, alive(d.cmd.Process.Pid), "factoryd died; log:\n%s", d.log)
	out, err := good.Run(ctx, []byte("echo:alive"))
	require.NoError(t, err, "the instance created before stopped answering; log:\n%s", d.log)
	assert.Equal(t, "alive", string(out))
	_, err = c.Whoami(ctx)
	require.NoError(t, err)
	assert.Contains(t, d.mustCtl("", "whoami"), "uid ")
}

// A program that shuts its connection down has no channel left: it is ended at once, not at
// its start timeout, and its requestor reads why.
func TestYieldThatHangsUpIsEnded(t *testing.T) {
	d := newDaemon(t)
	c := d.client()
	r := garbageFactory(t, d, c, "hangup")
	defer r.Release()
	_, err := r.Create(ctxT(t), &client.CreateOptions{StartTimeout: time.Minute})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the program's connection to the daemon closed before publishing its capability")
	insts, err := c.Instances(ctxT(t))
	require.NoError(t, err)
	assert.Empty(t, insts)
}
