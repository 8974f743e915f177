package caps

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/wire"
)

type echoJob struct{ calls int }

func (j *echoJob) Run(ctx context.Context, call schema.Job_run) error {
	j.calls++
	in, _ := call.Args().Input()
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetOutput(in)
}

func run(ctx context.Context, c capnp.Client, in string) (string, error) {
	fut, release := schema.Job(c).Run(ctx, func(p schema.Job_run_Params) error { return p.SetInput([]byte(in)) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return "", err
	}
	out, _ := res.Output()
	return string(out), nil
}

func TestForwarderForwardsRevokesAndReportsRelease(t *testing.T) {
	job := &echoJob{}
	released := make(chan struct{})
	c, f := NewForwarder(capnp.Client(schema.Job_ServerToClient(job)), "tag", func() { close(released) })
	ctx := t.Context()
	out, err := run(ctx, c, "hi")
	require.NoError(t, err)
	assert.Equal(t, "hi", out)
	assert.Equal(t, "tag", f.Tag())
	assert.Same(t, f, Classify(ctx, c).Object, "the brand is the forwarder itself")

	f.Revoke(errors.New("instance ended"))
	_, err = run(ctx, c, "again")
	assert.ErrorContains(t, err, "instance ended")
	assert.Equal(t, 1, job.calls, "no call reaches a revoked target")
	f.Revoke(nil)

	c.Release()
	select {
	case <-released:
	case <-time.After(time.Second):
		t.Fatal("onRelease did not run")
	}
}

// A capability imported from another connection never has the daemon's brand, even when it
// forwards to one of the daemon's own objects on the far side.
func TestBrandOfRemoteAndPromise(t *testing.T) {
	a, b := net.Pipe()
	job := &echoJob{}
	server := wire.NewConn(a, &wire.Options{Bootstrap: capnp.Client(schema.Job_ServerToClient(job))})
	client := wire.NewConn(b, nil)
	defer server.Close()
	defer client.Close()
	ctx := t.Context()
	remote := client.Bootstrap(ctx)
	defer remote.Release()
	require.NoError(t, remote.Resolve(ctx))
	assert.Equal(t, KindForeign, Classify(ctx, remote).Kind)
	assert.Equal(t, Classify(ctx, remote).Key, Classify(ctx, remote).Key, "the same import, the same key")

	blob := &Blob{info: store.BlobInfo{Digest: store.Digest{1}}}
	local := capnp.Client(schema.Blob_ServerToClient(blob))
	defer local.Release()
	assert.Equal(t, Class{Kind: KindBlob, Object: blob}, Classify(ctx, local))
	assert.Equal(t, KindNull, Classify(ctx, capnp.Client{}).Kind)
	plain := capnp.Client(schema.Job_ServerToClient(job))
	defer plain.Release()
	assert.Equal(t, KindForeign, Classify(ctx, plain).Kind, "a local server that is not Branded is foreign")

	promise, resolver := capnp.NewLocalPromise[capnp.Client]()
	defer promise.Release()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	assert.Equal(t, KindUnresolved, Classify(short, promise).Kind, "an unresolved promise is a hole")
	resolver.Fulfill(local.AddRef())
	assert.Equal(t, KindBlob, Classify(ctx, promise).Kind, "a resolved promise has its target's kind")
}

func TestKinds(t *testing.T) {
	for k := KindNull; k <= KindUnresolved; k++ {
		if k.Sensory() {
			assert.False(t, k.Hole(), "%v: a sensory kind is never a hole", k)
		}
		assert.NotContains(t, k.String(), "kind(", "every kind has a name")
	}
	for _, k := range []Kind{KindYield, KindDaemonObject, KindForeign, KindUnresolved} {
		assert.True(t, k.Hole(), "%v", k)
	}
	for _, k := range []Kind{KindRequestor, KindMeter} {
		assert.False(t, k.Hole(), "%v", k)
		assert.False(t, k.Sensory(), "%v: not a hole, yet not sensory either", k)
	}
}

func TestBlobReadsInChunks(t *testing.T) {
	st, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer st.Close()
	content := make([]byte, MaxReadChunk+1000)
	for i := range content {
		content[i] = byte(i)
	}
	w, err := st.NewBlobWriter(0)
	require.NoError(t, err)
	_, err = w.Write(content)
	require.NoError(t, err)
	info, err := w.Commit()
	require.NoError(t, err)

	b, err := NewBlob(st, info.Digest)
	require.NoError(t, err)
	defer b.Release()
	ctx := t.Context()
	read := func(off uint64, n uint32) []byte {
		fut, release := b.Read(ctx, func(p schema.Blob_read_Params) error { p.SetOffset(off); p.SetCount(n); return nil })
		defer release()
		res, err := fut.Struct()
		require.NoError(t, err)
		d, _ := res.Data()
		return append([]byte(nil), d...)
	}
	assert.Len(t, read(0, 1<<30), MaxReadChunk, "one read returns at most a chunk")
	assert.Equal(t, content[MaxReadChunk:], read(MaxReadChunk, 1<<20))
	assert.Empty(t, read(uint64(len(content)), 10))
	assert.Empty(t, read(1<<40, 10))

	_, err = NewBlob(st, store.Digest{1})
	assert.ErrorIs(t, err, store.ErrNotFound)
}
