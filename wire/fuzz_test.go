package wire

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire/hostile"
)

// Both fuzz targets serve one of the test servers on a connection, feed it what the fuzzer
// made, hang up, and require that the connection ends within patience and that a new
// connection to the same server is served. A crash anywhere in the process fails the input.

// fuzzServers are the bootstraps a fuzz input picks from with its first byte.
var fuzzServers = []struct {
	name  string
	new   func(*gate) capnp.Client
	probe func(context.Context, capnp.Client) error
}{
	{"upload", newUpload, probeUpload},
	{"caller", func(*gate) capnp.Client { return newCallerClient(newCaller()) }, probeCaller},
	{"classifier", func(*gate) capnp.Client { return newClassifier() }, probeClassifier},
	{"relay", func(*gate) capnp.Client { return capnp.NewClient(&relay{target: newClassifier()}) }, probeClassifier},
}

func probeClassifier(ctx context.Context, c capnp.Client) error {
	fut, release := schema.Verifier(c).VerifyYield(ctx, nil)
	defer release()
	_, err := fut.Struct()
	return err
}

// fuzzServe runs one input: pick a server, let feed write to the raw end, hang up, check.
func fuzzServe(t *testing.T, pick byte, feed func(p *peer, g *gate)) {
	s := fuzzServers[int(pick)%len(fuzzServers)]
	g := newGate()
	defer g.open()
	boot := s.new(g)
	defer boot.Release()
	p := serve(t, boot.AddRef(), &Options{MaxPendingCalls: 64, MaxAnswers: 128})
	feed(p, g)
	p.raw.Close()
	p.requireClosed()
	requireServes(t, boot, s.probe)
}

// FuzzInboundFrames writes arbitrary bytes to a served connection.
func FuzzInboundFrames(f *testing.F) {
	for _, seed := range failureModeFrames() {
		f.Add(seed.pick, seed.frames)
	}
	f.Add(byte(0), recordSession(f))
	f.Add(byte(0), []byte("\x00\x00\x00\x00\x02\x00\x00\x00garbage!"))
	f.Fuzz(func(t *testing.T, pick byte, data []byte) {
		fuzzServe(t, pick, func(p *peer, g *gate) {
			p.write(data)
			g.open()
		})
	})
}

type seedFrames struct {
	pick   byte // index in fuzzServers
	frames []byte
}

// failureModeFrames are the hostile sequences of hostile_test.go, as bytes.
func failureModeFrames() []seedFrames {
	boot := hostile.Bootstrap(0)
	commit := hostile.Call(1, hostile.Answer(0), uploadCommit, hostile.Payload{})
	promise := hostile.Call(1, hostile.Import(0), publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderPromise(7)}})
	hosted := hostile.Call(1, hostile.Import(0), publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderHosted(5)}})
	return []seedFrames{
		// 1: a call pipelined on itself.
		{0, hostile.MustFrames(boot, hostile.Call(1, hostile.Answer(1), uploadWrite, hostile.Payload{Ptrs: 1}))},
		// 2: a call pipelined on commit's data field, and on its blob with a foreign method.
		{0, hostile.MustFrames(boot, commit, hostile.Call(2, hostile.Answer(1, 0), blobSize, hostile.Payload{}))},
		{0, hostile.MustFrames(boot, commit, hostile.Call(2, hostile.Answer(1, 1), uploadWrite, hostile.Payload{Ptrs: 1}))},
		// 3: a method of the server waiting for the peer, which never answers.
		{1, hostile.MustFrames(boot, hosted)},
		// 4: a frame header claiming 64 MiB.
		{0, hostile.OversizedHeader()},
		// A sender loopback on a void answer.
		{0, hostile.MustFrames(boot, hostile.Call(1, hostile.Answer(0), uploadWrite, hostile.Payload{Ptrs: 1}),
			hostile.SenderLoopback(hostile.Answer(1), 0))},
		// A promise resolved to the server's own capability, then lifted.
		{1, hostile.MustFrames(boot, promise, hostile.Resolve(7, hostile.ReceiverHosted(0)),
			hostile.ReceiverLoopback(hostile.Import(7), 0))},
		// A capability naming a call in progress.
		{1, hostile.MustFrames(boot, hosted, hostile.Call(2, hostile.Import(0), publish,
			hostile.Payload{Caps: []hostile.Cap{hostile.ReceiverAnswer(1, 0)}}), hostile.Return(0, hostile.Payload{Ptrs: 2}))},
		// A flood of calls in progress.
		{0, hostile.MustFrames(flood(boot, 100, func(q uint32) hostile.Builder {
			return hostile.Call(q, hostile.Answer(0), uploadCommit, hostile.Payload{})
		})...)},
	}
}

func flood(first hostile.Builder, n int, call func(uint32) hostile.Builder) []hostile.Builder {
	out := []hostile.Builder{first}
	for q := uint32(1); q <= uint32(n); q++ {
		out = append(out, call(q))
	}
	return out
}

// recordSession returns what the Go RPC client writes in an ordinary session with the upload
// server: bootstrap, writes, a commit with calls pipelined on its blob, finishes.
func recordSession(tb testing.TB) []byte {
	a, b := net.Pipe()
	boot := newUpload(nil)
	defer boot.Release()
	server := NewConn(a, &Options{Bootstrap: boot.AddRef()})
	defer server.Close()
	rec := &recorder{Conn: b}
	client := NewConn(rec, nil)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	up := schema.BlobUpload(client.Bootstrap(ctx))
	for _, d := range []string{"hello, ", "world"} {
		fut, release := up.Write(ctx, func(p schema.BlobUpload_write_Params) error { return p.SetData([]byte(d)) })
		_, err := fut.Struct()
		require.NoError(tb, err)
		release()
	}
	commit, crelease := up.Commit(ctx, nil)
	// Once only: a second Blob() on the future in progress returns holding the promise's lock
	// (capnp-go answer.go:441-443), and the next call through it deadlocks.
	blob := commit.Blob()
	size, srelease := blob.Size(ctx, nil)
	read, rrelease := blob.Read(ctx, func(p schema.Blob_read_Params) error { p.SetCount(5); return nil })
	_, err := size.Struct()
	require.NoError(tb, err)
	_, err = read.Struct()
	require.NoError(tb, err)
	rrelease()
	srelease()
	crelease()
	up.Release()
	time.Sleep(300 * time.Millisecond) // capnp-go sends Finish 250 ms after a Return
	client.Close()
	return rec.bytes()
}

// recorder keeps a copy of what is written through it.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(b)
	r.mu.Unlock()
	return r.Conn.Write(b)
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}
