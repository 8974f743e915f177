package wire

import (
	"context"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire/hostile"
)

// Each test here sends a hand-built hostile sequence to a connection NewConn serves and
// requires that the process survives, that the connection ends (or the call fails) within
// patience, and that a new connection to the same server is served. Without the validator,
// those marked "crash" kill the test binary with a nil dereference in capnp-go.

// Failure mode 1 (crash, rpc.go:961): a call pipelined on its own question.
func TestCallOnItsOwnQuestionIsRefused(t *testing.T) {
	for _, tt := range []struct {
		name   string
		frames []hostile.Builder
	}{
		{"own question", []hostile.Builder{hostile.Call(1, hostile.Answer(1), uploadWrite, hostile.Payload{Ptrs: 1})}},
		{"own question, with a transform", []hostile.Builder{hostile.Call(7, hostile.Answer(7, 0, 3), uploadWrite, hostile.Payload{})}},
		{"unknown question", []hostile.Builder{hostile.Call(1, hostile.Answer(99), uploadWrite, hostile.Payload{})}},
		{"finished question", []hostile.Builder{hostile.Finish(0, false), hostile.Call(1, hostile.Answer(0), uploadWrite, hostile.Payload{})}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			boot := newUpload(nil)
			defer boot.Release()
			p := serve(t, boot.AddRef(), nil)
			p.send(hostile.Bootstrap(0))
			p.send(tt.frames...)
			p.requireClosed()
			requireServes(t, boot, probeUpload)
		})
	}
}

// Failure mode 2 (crash, answerqueue.go:104): calls pipelined on a call in progress whose
// results hold nothing the call can be delivered to, once the call returns.
func TestPipelinedCallWithNowhereToGoIsRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		call hostile.Builder
	}{
		// commit returns (sha256 :Data, blob :Blob): pointer 0 is data, pointer 1 the blob.
		{"data field", hostile.Call(2, hostile.Answer(1, 0), blobSize, hostile.Payload{})},
		{"no such field", hostile.Call(2, hostile.Answer(1, 5), blobSize, hostile.Payload{})},
		{"the results struct", hostile.Call(2, hostile.Answer(1), blobSize, hostile.Payload{})},
		{"a method the blob lacks", hostile.Call(2, hostile.Answer(1, 1), uploadWrite, hostile.Payload{Ptrs: 1})},
		{"beyond the blob", hostile.Call(2, hostile.Answer(1, 1, 0), blobSize, hostile.Payload{})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			defer g.open()
			boot := newUpload(g)
			defer boot.Release()
			p := serve(t, boot.AddRef(), nil)
			p.send(hostile.Bootstrap(0), hostile.Call(1, hostile.Answer(0), uploadCommit, hostile.Payload{}), tt.call)
			p.sync(9) // tt.call met commit in progress
			g.open()  // commit returns: its queue is delivered
			p.requireClosed()
			requireServes(t, boot, probeUpload)
		})
	}
}

// A call pipelined on a call that itself waits in a queue: when delivered, it may meet a done
// context (answerqueue.go:158-162) and crash the same way.
func TestPipelineOnAQueuedCallIsRefused(t *testing.T) {
	g := newGate()
	defer g.open()
	boot := newUpload(g)
	defer boot.Release()
	p := serve(t, boot.AddRef(), nil)
	p.send(hostile.Bootstrap(0), hostile.Call(1, hostile.Answer(0), uploadCommit, hostile.Payload{}),
		hostile.Call(2, hostile.Answer(1, 1), blobSize, hostile.Payload{}),
		hostile.Call(3, hostile.Answer(2, 0), blobSize, hostile.Payload{}))
	p.requireClosed()
	requireServes(t, boot, probeUpload)
}

// What the project's client does — pipelining on a call in progress, on a capability of its
// results, with a method of that capability — passes and is answered.
func TestPipeliningOnACapabilityPasses(t *testing.T) {
	g := newGate()
	boot := newUpload(g)
	defer boot.Release()
	p := serve(t, boot.AddRef(), nil)
	p.send(hostile.Bootstrap(0),
		hostile.Call(1, hostile.Answer(0), uploadWrite, hostile.Payload{Ptrs: 1}),
		hostile.Call(2, hostile.Answer(0), uploadCommit, hostile.Payload{}),
		hostile.Call(3, hostile.Answer(2, 1), blobSize, hostile.Payload{}),
		hostile.Call(4, hostile.Answer(2, 1), blobRead, hostile.Payload{DataWords: 2}))
	g.open()
	r, ok := p.returnOf(3)
	require.True(t, ok, "the pipelined call was not answered")
	assert.Equal(t, rpccp.Return_Which_results, r.Which())
	_, ok = p.returnOf(4)
	require.True(t, ok)
	// Once commit has returned, anything may be pipelined on it: the rpc layer reads its
	// results directly and fails the call if there is no capability there. The returns of
	// the calls pipelined on commit may be written before commit's own.
	_, ok = p.returnOf(2)
	require.True(t, ok)
	p.send(hostile.Call(5, hostile.Answer(2, 0), blobSize, hostile.Payload{}))
	r, ok = p.returnOf(5)
	require.True(t, ok)
	assert.Equal(t, rpccp.Return_Which_exception, r.Which())
	p.requireOpen(6)
}

// The same through the Go RPC client, as client.Upload and client.Requestor.Create do.
func TestClientPipeliningPasses(t *testing.T) {
	g := newGate()
	boot := newUpload(g)
	defer boot.Release()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	a, b := pipe()
	server := NewConn(a, &Options{Bootstrap: boot.AddRef()})
	client := NewConn(b, nil)
	defer server.Close()
	defer client.Close()
	up := schema.BlobUpload(client.Bootstrap(ctx))
	defer up.Release()
	commit, crelease := up.Commit(ctx, nil)
	defer crelease()
	size, srelease := commit.Blob().Size(ctx, nil)
	defer srelease()
	g.open()
	res, err := size.Struct()
	require.NoError(t, err)
	assert.Equal(t, uint64(0), res.Size())
}

// A sender-loopback disembargo aimed at an answer that returned without results (crash,
// rpc.go:1828: the capability table of a nil message).
func TestDisembargoOnAVoidAnswerIsRefused(t *testing.T) {
	boot := newUpload(nil)
	defer boot.Release()
	p := serve(t, boot.AddRef(), nil)
	p.send(hostile.Bootstrap(0), hostile.Call(1, hostile.Answer(0), uploadWrite, hostile.Payload{Ptrs: 1}))
	_, ok := p.returnOf(1)
	require.True(t, ok)
	p.send(hostile.SenderLoopback(hostile.Answer(1), 0))
	p.requireClosed()
	requireServes(t, boot, probeUpload)
}

// A promise the peer resolves to a capability hosted by the server: the rpc layer embargoes
// it, and the server's calls on it wait in the embargo until the peer lifts it; then they are
// delivered to the server's own bootstrap, which does not implement them (crash,
// answerqueue.go:104 from export.go:332).
func TestResolveToALocalCapabilityIsRefused(t *testing.T) {
	c := newCaller()
	boot := newCallerClient(c)
	defer boot.Release()
	p := serve(t, boot.AddRef(), nil)
	exp := p.bootstrapExport(0)
	p.send(hostile.Call(1, hostile.Import(exp), publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderPromise(7)}}))
	<-c.calls
	p.calls(1)
	p.send(hostile.Resolve(7, hostile.ReceiverHosted(exp)))
	if m, ok := p.await(isDisembargo); ok {
		// Without the validator: queue calls in the embargo, then lift it.
		d, _ := m.Disembargo()
		c.again(t.Context(), false)
		p.send(hostile.ReceiverLoopback(hostile.Import(7), d.Context().SenderLoopback()))
	}
	p.requireClosed()
	requireServes(t, boot, probeCaller)
}

// A Return that puts a capability hosted by the server at a field the server pipelined a call
// on: the rpc layer embargoes it, with the same end (crash, answerqueue.go:104).
func TestReturnOfALocalCapabilityIsRefused(t *testing.T) {
	c := newCaller()
	boot := newCallerClient(c)
	defer boot.Release()
	p := serve(t, boot.AddRef(), nil)
	exp := p.bootstrapExport(0)
	p.send(hostile.Call(1, hostile.Import(exp), publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderHosted(5)}}))
	<-c.calls
	commitQ := p.calls(2)[0] // commit on our capability 5, then size pipelined on its blob
	// commit returns (sha256 :Data, blob :Blob): the blob is the server's own bootstrap.
	p.send(hostile.Return(commitQ, hostile.Payload{Ptrs: 2, Caps: []hostile.Cap{hostile.ReceiverHosted(exp), hostile.ReceiverHosted(exp)}}))
	if m, ok := p.await(isDisembargo); ok {
		d, _ := m.Disembargo()
		c.again(t.Context(), true)
		tgt, _ := d.Target()
		pa, _ := tgt.PromisedAnswer()
		p.send(hostile.ReceiverLoopback(hostile.Answer(pa.QuestionId(), 1), d.Context().SenderLoopback()))
	}
	p.requireClosed()
	requireServes(t, boot, probeCaller)
}

// A capability the peer hosts, returned at the same field, passes.
func TestReturnOfAPeerCapabilityPasses(t *testing.T) {
	c := newCaller()
	boot := newCallerClient(c)
	defer boot.Release()
	p := serve(t, boot.AddRef(), nil)
	exp := p.bootstrapExport(0)
	p.send(hostile.Call(1, hostile.Import(exp), publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderHosted(5)}}))
	<-c.calls
	ids := p.calls(2)
	p.send(hostile.Return(ids[0], hostile.Payload{Ptrs: 2, Caps: []hostile.Cap{hostile.SenderHosted(6), hostile.SenderHosted(6)}}))
	p.answerAll(ids[1:])
	_, ok := p.returnOf(1)
	require.True(t, ok, "publish did not return")
	p.requireOpen(2)
}

// A capability naming a call in progress, passed to a method that calls it: the call waits in
// the queue of the call in progress and is delivered to whatever its results hold (crash,
// answerqueue.go:104: publish has no results).
func TestCapabilityNamingACallInProgressIsRefused(t *testing.T) {
	c := newCaller()
	boot := newCallerClient(c)
	defer boot.Release()
	p := serve(t, boot.AddRef(), nil)
	exp := p.bootstrapExport(0)
	p.send(hostile.Call(1, hostile.Import(exp), publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderHosted(5)}}))
	<-c.calls
	first := p.calls(2)
	p.send(hostile.Call(2, hostile.Import(exp), publish, hostile.Payload{Caps: []hostile.Cap{hostile.ReceiverAnswer(1, 0)}}))
	select {
	case <-c.calls: // publish 2 called the capability: the call waits in publish 1's queue
	case <-p.served.Done():
	}
	p.answerAll(first) // publish 1 returns: its queue is delivered
	p.requireClosed()
	requireServes(t, boot, probeCaller)
}

// As the argument of a method of factoryd's own objects that never calls it (what
// client.Requestor.Create sends: control(create's result, in progress)), such a capability
// passes — but not when the target is not a server of this process: a forwarder would pass
// it on to a peer that may call it.
func TestCapabilityNamingACallInProgressToClassifyOnly(t *testing.T) {
	for _, tt := range []struct {
		name      string
		boot      func() capnp.Client
		wantClose bool
	}{
		{"local server", newClassifier, false},
		{"forwarded", func() capnp.Client { return capnp.NewClient(&relay{target: newClassifier()}) }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			boot := tt.boot()
			defer boot.Release()
			p := serve(t, boot.AddRef(), nil)
			exp := p.bootstrapExport(0)
			// verifyYield 1 waits for our promise 7 to resolve.
			p.send(hostile.Call(1, hostile.Import(exp), verifyYield, hostile.Payload{Caps: []hostile.Cap{hostile.SenderPromise(7)}}),
				hostile.Call(2, hostile.Import(exp), verifyYield, hostile.Payload{Caps: []hostile.Cap{hostile.ReceiverAnswer(1, 0)}}))
			if tt.wantClose {
				p.requireClosed()
				return
			}
			p.send(hostile.Resolve(7, hostile.SenderHosted(8)))
			for _, q := range []uint32{1, 2} {
				r, ok := p.returnOf(q)
				require.True(t, ok, "verifyYield %d did not return", q)
				assert.Equal(t, rpccp.Return_Which_results, r.Which())
			}
			p.requireOpen(3)
		})
	}
}

// A Return for a question the server never asked. (The rpc layer refuses these two as well;
// the validator must refuse them first, or its tables would no longer mirror the rpc layer's.)
func TestReturnForAQuestionNeverAskedIsRefused(t *testing.T) {
	boot := newUpload(nil)
	defer boot.Release()
	p := serve(t, boot.AddRef(), nil)
	p.send(hostile.Return(0, hostile.Payload{}))
	p.requireClosed()
	requireServes(t, boot, probeUpload)
}

// A question id reused while its answer is held.
func TestQuestionReuseIsRefused(t *testing.T) {
	g := newGate()
	defer g.open()
	boot := newUpload(g)
	defer boot.Release()
	p := serve(t, boot.AddRef(), nil)
	p.send(hostile.Bootstrap(0), hostile.Call(1, hostile.Answer(0), uploadCommit, hostile.Payload{}),
		hostile.Call(1, hostile.Answer(0), uploadWrite, hostile.Payload{Ptrs: 1}))
	p.requireClosed()
	requireServes(t, boot, probeUpload)
}

func isDisembargo(m rpccp.Message) bool { return m.Which() == rpccp.Message_Which_disembargo }

// A Return for a question whose call is still being written, then a hang-up that makes the
// write fail: capnp-go would reject the question it had just fulfilled (crash,
// import.go:127: Promise.Reject after Fulfill). Found by FuzzMessages.
func TestReturnWhileTheCallIsWrittenThenHangUp(t *testing.T) {
	c := newCaller()
	boot := newCallerClient(c)
	defer boot.Release()
	a, raw := pipe()
	served := NewConn(a, &Options{Bootstrap: boot.AddRef()})
	defer served.Close()
	raw.Write(hostile.MustFrames(hostile.Bootstrap(0)))
	r := hostile.NewReader(raw)
	m, err := r.Next() // the bootstrap's return; then nothing is read: writes block
	require.NoError(t, err)
	m.Message().Release()
	raw.Write(hostile.MustFrames(hostile.Call(1, hostile.Import(0), publish,
		hostile.Payload{Caps: []hostile.Cap{hostile.SenderHosted(5)}})))
	<-c.calls                         // the server calls our capability 5: question 0
	time.Sleep(50 * time.Millisecond) // its write starts, and blocks
	raw.Write(hostile.MustFrames(hostile.Return(0, hostile.Payload{Ptrs: 2})))
	time.Sleep(50 * time.Millisecond) // the return is handled
	raw.Close()                       // the write fails
	select {
	case <-served.Done():
	case <-time.After(patience):
		t.Fatal("the connection did not end")
	}
	requireServes(t, boot, probeCaller)
}

// A promise resolved to itself: capnp-go follows the cycle forever on the receive goroutine
// (capability.go:156-175), and Close then waits for it forever. Found by FuzzMessages. (A
// longer cycle is refused too, when the validator cannot exclude it; capnp-go usually drops a
// resolved promise's import first, so a test of it would not be deterministic.)
func TestPromiseResolvedInACycleIsRefused(t *testing.T) {
	for _, tt := range []struct {
		name    string
		resolve []hostile.Builder
	}{
		{"itself", []hostile.Builder{hostile.Resolve(7, hostile.SenderHosted(7))}},
		{"itself, as a promise", []hostile.Builder{hostile.Resolve(7, hostile.SenderPromise(7))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCaller()
			boot := newCallerClient(c)
			defer boot.Release()
			p := serve(t, boot.AddRef(), nil)
			exp := p.bootstrapExport(0)
			// publish holds its arguments, both promises, while it waits for us.
			p.send(hostile.Call(1, hostile.Import(exp), publish,
				hostile.Payload{Caps: []hostile.Cap{hostile.SenderPromise(7), hostile.SenderPromise(8)}}))
			<-c.calls
			p.send(tt.resolve...)
			p.requireClosed()
			requireServes(t, boot, probeCaller)
		})
	}
}
