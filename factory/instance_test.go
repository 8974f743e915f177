package factory

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/internal/testbin"
)

const (
	taxprep = "github.com/factoryd/factoryd/examples/taxprep"
	kvstore = "github.com/factoryd/factoryd/examples/kvstore"
	probe   = "github.com/factoryd/factoryd/internal/testprogs/probe"
	silent  = "github.com/factoryd/factoryd/internal/testprogs/silent"
	exitnow = "github.com/factoryd/factoryd/internal/testprogs/exitnow"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// probeSyscalls are what the probe declares to look around its vat: without them seccomp
// refuses even looking.
var probeSyscalls = []string{"openat", "getdents64", "socket", "bind", "pidfd_open"}

var rates = []byte("0 0.10\n10000 0.20\n50000 0.30\n")

type probeView struct {
	Pid         int               `json:"pid"`
	UID         int               `json:"uid"`
	Env         []string          `json:"env"`
	FDs         []int             `json:"fds"`
	Root        []string          `json:"root"`
	Interfaces  []string          `json:"interfaces"`
	OtherPids   []int             `json:"other_pids"`
	Hostname    string            `json:"hostname"`
	Components  []string          `json:"components"`
	Args        []string          `json:"args"`
	Data        map[string]string `json:"data"`
	CreateError string            `json:"create_error"`
}

func TestRunJob(t *testing.T) {
	h := newHarness(t, nil)
	r := h.publish("tax", taxprep, map[string][]byte{"rates": rates})
	ctx := ctxT(t)
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	out, err := inst.Run(ctx, []byte("income=60000 deductions=0"))
	require.NoError(t, err)
	// 10000*0.10 + 40000*0.20 + 10000*0.30 = 12000
	assert.Contains(t, string(out), "tax due: 12000.00")
	assert.Equal(t, 1, h.liveInstances())
	inst.Release()
	eventually(t, "the instance ends when its capability is released", func() bool { return h.liveInstances() == 0 })
}

func TestInstanceSeesOnlyItsEndowment(t *testing.T) {
	h := newHarness(t, nil)
	r := h.publish("probe", probe, map[string][]byte{"table": []byte("secret table")})
	ctx := ctxT(t)
	inst, err := r.Create(ctx, &client.CreateOptions{Args: []client.Arg{{Name: "who", Data: []byte("alice")}}})
	require.NoError(t, err)
	defer inst.Release()
	out, err := inst.Run(ctx, []byte("view"))
	require.NoError(t, err)
	var v probeView
	require.NoError(t, json.Unmarshal(out, &v))

	assert.Equal(t, 1, v.Pid)
	assert.Equal(t, []int{0, 1, 2, 3}, v.FDs, "only fds 0-3")
	assert.Empty(t, v.Env, "an empty environment")
	assert.Empty(t, v.OtherPids, "no other processes visible")
	assert.Equal(t, []string{"lo"}, v.Interfaces, "no network interface but loopback")
	assert.Equal(t, []string{"/", "/bin", "/bin/prog"}, v.Root, "a root holding only the program")
	assert.Contains(t, v.CreateError, "read-only file system")
	assert.Equal(t, "yield", v.Hostname)
	if !h.d.vats.Rootless() {
		assert.Equal(t, 1000, v.UID)
	}
	assert.Equal(t, []string{"table"}, v.Components, "exactly the factory's components")
	assert.Equal(t, []string{"who"}, v.Args, "exactly the requestor's arguments")
	assert.Equal(t, map[string]string{"table": "secret table", "arg:who": "alice"}, v.Data)
}

func TestInstanceLifetime(t *testing.T) {
	h := newHarness(t, nil)
	r := h.publish("kv", kvstore, nil)
	ctx := ctxT(t)

	t.Run("kill through control", func(t *testing.T) {
		inst, err := r.Create(ctx, nil)
		require.NoError(t, err)
		defer inst.Release()
		require.NoError(t, inst.Kill(ctx))
		info, err := inst.Wait(ctx)
		require.NoError(t, err)
		assert.Equal(t, "ended", info.State)
		assert.Equal(t, "killed", info.EndReason)
		_, err = inst.Run(ctx, nil)
		assert.Error(t, err, "calls on an ended instance fail")
	})
	t.Run("kill by id", func(t *testing.T) {
		inst, err := r.Create(ctx, nil)
		require.NoError(t, err)
		defer inst.Release()
		info, err := inst.Info(ctx)
		require.NoError(t, err)
		list, err := h.c.Instances(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, info.ID, list[0].ID)
		assert.Positive(t, list[0].Pid)
		require.NoError(t, h.c.KillInstance(ctx, info.ID))
		assert.ErrorIs(t, h.c.KillInstance(ctx, info.ID), client.ErrNotFound)
		assert.Equal(t, 0, h.liveInstances())
	})
	t.Run("requestor disconnects", func(t *testing.T) {
		c := h.dial()
		r2, err := c.Requestor(ctx, "kv")
		require.NoError(t, err)
		_, err = r2.Create(ctx, nil)
		require.NoError(t, err)
		assert.Equal(t, 1, h.liveInstances())
		c.Close()
		eventually(t, "the instance ends with its requestor's connection", func() bool { return h.liveInstances() == 0 })
	})
}

func TestCrashFailsOnlyThatInstance(t *testing.T) {
	h := newHarness(t, nil)
	r := h.publish("probe", probe, nil)
	ctx := ctxT(t)
	victim, err := r.Create(ctx, nil)
	require.NoError(t, err)
	defer victim.Release()
	bystander, err := r.Create(ctx, nil)
	require.NoError(t, err)
	defer bystander.Release()

	_, err = victim.Run(ctx, []byte("crash"))
	require.Error(t, err, "the crashing call fails")
	info, err := victim.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, "exited with status 2", info.EndReason)

	out, err := bystander.Run(ctx, []byte("echo:still here"))
	require.NoError(t, err)
	assert.Equal(t, "still here", string(out))
	more, err := r.Create(ctx, nil)
	require.NoError(t, err, "the daemon serves on")
	more.Release()
}

func TestBadInput(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	h.publish("exits", exitnow, nil)
	h.publish("silent", silent, nil)

	b, err := h.c.NewFactory(ctx, "draft")
	require.NoError(t, err)
	defer b.Release()
	prog, err := testbin.Build(probe)
	require.NoError(t, err)
	d, err := h.c.UploadFile(ctx, prog)
	require.NoError(t, err)
	require.NoError(t, b.SetProgram(ctx, d))
	text, err := h.c.Upload(ctx, bytes.NewReader([]byte("#!/bin/sh\necho hi\n")))
	require.NoError(t, err)

	tests := []struct {
		name string
		want error
		do   func() error
	}{
		{"unknown factory", client.ErrNotFound, func() error { _, err := h.c.Requestor(ctx, "nosuch"); return err }},
		{"unsealed create", client.ErrNotSealed, func() error { _, err := h.c.Requestor(ctx, "draft"); return err }},
		{"non-executable program", client.ErrNotExecutable, func() error { return b.SetProgram(ctx, text) }},
		{"unknown blob", client.ErrNotFound, func() error { return b.SetProgram(ctx, [32]byte{1}) }},
		{"program exits at once", client.ErrStart, func() error { return createRelease(ctx, h.c, "exits", 0) }},
		{"program never answers", client.ErrStart, func() error { return createRelease(ctx, h.c, "silent", 500*time.Millisecond) }},
		{"start timeout above the maximum", client.ErrLimit, func() error { return createRelease(ctx, h.c, "silent", time.Hour) }},
		{"duplicate factory", client.ErrExists, func() error { _, err := h.c.NewFactory(ctx, "draft"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			assert.ErrorIs(t, err, tt.want, "got %v", err)
		})
	}
	assert.Equal(t, 0, h.liveInstances(), "failed starts leave nothing behind")

	r := h.publish("probe", probe, nil)
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err, "the daemon serves on")
	inst.Release()
}

func TestStartErrorsSayWhy(t *testing.T) {
	h := newHarness(t, &Options{StartTimeout: 300 * time.Millisecond, MaxStartTimeout: time.Minute})
	ctx := ctxT(t)
	h.publish("exits", exitnow, nil)
	h.publish("silent", silent, nil)
	err := createRelease(ctx, h.c, "exits", 30*time.Second)
	assert.ErrorContains(t, err, "program exited with status 3 before publishing its capability")
	start := time.Now()
	err = createRelease(ctx, h.c, "silent", 0) // the operator's default applies
	assert.ErrorContains(t, err, "did not publish its capability within 300ms")
	assert.Less(t, time.Since(start), 5*time.Second)
}

func createRelease(ctx context.Context, c *client.Client, name string, timeout time.Duration) error {
	r, err := c.Requestor(ctx, name)
	if err != nil {
		return err
	}
	defer r.Release()
	inst, err := r.Create(ctx, &client.CreateOptions{StartTimeout: timeout})
	if err != nil {
		return err
	}
	inst.Release()
	return nil
}

func TestDebugSinkReachesRequestor(t *testing.T) {
	h := newHarness(t, nil)
	r := h.publish("probe", probe, nil)
	ctx := ctxT(t)
	var out, errOut syncBuffer
	inst, err := r.Create(ctx, &client.CreateOptions{Stdout: &out, Stderr: &errOut})
	require.NoError(t, err)
	_, err = inst.Run(ctx, []byte("stderr:hello sink"))
	require.NoError(t, err)
	require.NoError(t, inst.Kill(ctx))
	inst.Release()
	eventually(t, "output reaches the sink", func() bool {
		return errOut.String() == "hello sink" && out.String() == "out:hello sink"
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestVerifierAndControl(t *testing.T) {
	h := newHarness(t, nil)
	tax := h.publish("tax", taxprep, map[string][]byte{"rates": rates})
	kv := h.publish("kv", kvstore, nil)
	ctx := ctxT(t)
	inst, err := tax.Create(ctx, nil)
	require.NoError(t, err)
	defer inst.Release()
	sibling, err := kv.Create(ctx, nil)
	require.NoError(t, err)
	defer sibling.Release()

	vt, err := tax.Verifier(ctx)
	require.NoError(t, err)
	defer vt.Release()
	ok, err := vt.VerifyYield(ctx, inst.Cap())
	require.NoError(t, err)
	assert.True(t, ok, "its own yield")
	ok, err = vt.VerifyYield(ctx, sibling.Cap())
	require.NoError(t, err)
	assert.False(t, ok, "another factory's yield")
	ok, err = vt.VerifyYield(ctx, capnp.Client(h.c.Daemon()))
	require.NoError(t, err)
	assert.False(t, ok, "a daemon object that is no yield")

	_, err = kv.Create(ctx, nil)
	require.NoError(t, err)
	fut, release := kv.Cap().Control(ctx, func(p schemaControlParams) error { return p.SetInstance(inst.Cap().AddRef()) })
	defer release()
	_, err = fut.Struct()
	assert.Error(t, err, "control of another factory's instance is refused")
}

func TestSurvivesRestart(t *testing.T) {
	h := newHarness(t, nil)
	h.publish("tax", taxprep, map[string][]byte{"rates": rates})
	ctx := ctxT(t)
	h.restart(nil)
	r, err := h.c.Requestor(ctx, "tax")
	require.NoError(t, err)
	defer r.Release()
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	defer inst.Release()
	out, err := inst.Run(ctx, []byte("income=20000"))
	require.NoError(t, err)
	assert.Contains(t, string(out), "tax due: 3000.00")
	f, err := h.c.Factory(ctx, "tax")
	require.NoError(t, err)
	assert.True(t, f.Sealed)
	assert.True(t, f.Discreet)
}

func TestSealTwiceSameFacet(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	h.publish("kv", kvstore, nil)
	b, err := h.c.Builder(ctx, "kv")
	require.NoError(t, err)
	defer b.Release()
	r1, err := b.Seal(ctx)
	require.NoError(t, err)
	defer r1.Release()
	r2, err := b.Seal(ctx)
	require.NoError(t, err)
	defer r2.Release()
	assert.True(t, r1.Cap().IsSame(r2.Cap()), "sealing twice returns the same facet")
	err = b.InstallData(ctx, "late", [32]byte{})
	assert.ErrorIs(t, err, client.ErrSealed)
}

func TestShutdownEndsInstances(t *testing.T) {
	h := newHarness(t, nil)
	r := h.publish("kv", kvstore, nil)
	ctx := ctxT(t)
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	h.stop()
	assert.False(t, processAlive(int(info.Pid)), "the vat is gone once the daemon has stopped")
}
