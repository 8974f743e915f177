package wire

import (
	"context"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire/hostile"
)

// A flood of calls that stay in progress ends the connection at the limit, instead of holding
// a goroutine and an answer each for as long as the peer likes.
func TestTooManyCallsInProgressCloses(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opts  *Options
		limit int
	}{
		{"default", nil, DefaultMaxPendingCalls},
		{"option", &Options{MaxPendingCalls: 8}, 8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			defer g.open()
			boot := newUpload(g)
			defer boot.Release()
			p := serve(t, boot.AddRef(), tt.opts)
			p.bootstrapExport(0)
			commits := make([]hostile.Builder, 0, tt.limit)
			for q := uint32(1); q < uint32(tt.limit); q++ {
				commits = append(commits, hostile.Call(q, hostile.Answer(0), uploadCommit, hostile.Payload{}))
			}
			p.send(commits...)
			p.requireOpen(uint32(tt.limit)) // the limit itself is allowed
			p.send(hostile.Call(uint32(tt.limit+1), hostile.Answer(0), uploadCommit, hostile.Payload{}),
				hostile.Call(uint32(tt.limit+2), hostile.Answer(0), uploadCommit, hostile.Payload{}))
			p.requireClosed()
			requireServes(t, boot, probeUpload)
		})
	}
}

// Answers the peer never finishes are bounded too.
func TestTooManyAnswersNotFinishedCloses(t *testing.T) {
	boot := newUpload(nil)
	defer boot.Release()
	p := serve(t, boot.AddRef(), &Options{MaxAnswers: 16})
	p.send(hostile.Bootstrap(0))
	for q := uint32(1); q < 16; q++ { // with the bootstrap, 16 answers
		p.send(hostile.Call(q, hostile.Answer(0), uploadWrite, hostile.Payload{Ptrs: 1}))
		_, ok := p.returnOf(q)
		require.True(t, ok, "write %d was not answered", q)
	}
	p.send(hostile.Call(16, hostile.Answer(0), uploadWrite, hostile.Payload{Ptrs: 1}))
	p.requireClosed()
	requireServes(t, boot, probeUpload)
}

// Answers finished in time do not count.
func TestFinishedAnswersDoNotCount(t *testing.T) {
	boot := newUpload(nil)
	defer boot.Release()
	p := serve(t, boot.AddRef(), &Options{MaxAnswers: 4, MaxPendingCalls: 2})
	p.send(hostile.Bootstrap(0))
	for q := uint32(1); q <= 50; q++ {
		p.send(hostile.Call(q, hostile.Answer(0), uploadWrite, hostile.Payload{Ptrs: 1}))
		_, ok := p.returnOf(q)
		require.True(t, ok, "write %d was not answered", q)
		p.send(hostile.Finish(q, false))
	}
	p.requireOpen(100)
}

// Failure mode 3: Conn.Close waits for every method in progress, and capnp-go rejects the
// calls this side made to the peer only after that (rpc.go shutdown): a method that waits for
// the peer without watching its context would hang Close forever. The rpc layer cancels the
// contexts of calls in progress when it shuts down, so a method written by the package rule —
// wait on ctx.Done() too, release the abandoned answer asynchronously — lets Close finish.
func TestCloseDoesNotWaitForAMethodBlockedOnThePeer(t *testing.T) {
	c := newCaller()
	boot := newCallerClient(c)
	defer boot.Release()
	p := serve(t, boot.AddRef(), nil)
	exp := p.bootstrapExport(0)
	p.send(hostile.Call(1, hostile.Import(exp), publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderHosted(5)}}))
	<-c.calls
	p.calls(2) // never answered
	closed := make(chan struct{})
	go func() {
		p.served.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(patience):
		t.Fatal("Close hangs while a method waits for the peer")
	}
	requireServes(t, boot, probeCaller)
}

// LimitFlow bounds the bytes of calls in flight through a capability: a call beyond the limit
// waits for an answer; a call larger than the limit goes alone instead of panicking.
func TestLimitFlow(t *testing.T) {
	g := newGate()
	defer g.open()
	boot := newUpload(g)
	defer boot.Release()
	a, b := pipe()
	server := NewConn(a, &Options{Bootstrap: boot.AddRef()})
	client := NewConn(b, nil)
	defer server.Close()
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	up := schema.BlobUpload(client.Bootstrap(ctx))
	defer up.Release()
	const limit = 4096
	LimitFlow(capnp.Client(up), limit)

	write := func(n int) error {
		fut, release := up.Write(ctx, func(p schema.BlobUpload_write_Params) error { return p.SetData(make([]byte, n)) })
		defer release()
		_, err := fut.Struct()
		return err
	}
	require.NoError(t, write(3*limit), "a call larger than the limit")

	commit, crelease := up.Commit(ctx, nil) // in flight until the gate opens
	defer crelease()
	done := make(chan error, 1)
	go func() { done <- write(limit) }()
	select {
	case err := <-done:
		t.Fatalf("a call beyond the limit went through at once (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	g.open()
	_, err := commit.Struct()
	require.NoError(t, err)
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("the waiting call did not go once the answer came back")
	}
}

// A peer that floods calls and never reads: the server's sender blocks on its first Return,
// the calls pile up past the limit, and the connection must still end — capnp-go shuts down
// only once its sender returns, so the refusal must also close the stream.
func TestFloodWithoutReadingCloses(t *testing.T) {
	boot := newUpload(nil)
	defer boot.Release()
	a, raw := pipe()
	defer raw.Close()
	served := NewConn(a, &Options{Bootstrap: boot.AddRef(), MaxPendingCalls: 16})
	defer served.Close()
	go func() {
		raw.Write(hostile.MustFrames(hostile.Bootstrap(0)))
		for q := uint32(1); ; q++ {
			call := hostile.Call(q, hostile.Answer(0), uploadWrite, hostile.Payload{Ptrs: 1})
			if _, err := raw.Write(hostile.MustFrames(call)); err != nil {
				return // the server hung up
			}
		}
	}()
	select {
	case <-served.Done():
	case <-time.After(patience):
		t.Fatal("the connection of a peer that floods without reading did not end")
	}
	requireServes(t, boot, probeUpload)
}
