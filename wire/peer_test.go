package wire

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/rpc"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire/hostile"
)

// Interface and method ids the hostile frames use.
var (
	uploadWrite  = hostile.Method{Interface: schema.BlobUpload_TypeID, ID: 0}
	uploadCommit = hostile.Method{Interface: schema.BlobUpload_TypeID, ID: 1}
	blobSize     = hostile.Method{Interface: schema.Blob_TypeID, ID: 0}
	blobRead     = hostile.Method{Interface: schema.Blob_TypeID, ID: 1}
	verifyYield  = hostile.Method{Interface: schema.Verifier_TypeID, ID: 0}
	publish      = hostile.Method{Interface: schema.VatHost_TypeID, ID: 1}
)

// patience bounds every wait of these tests for something that should happen at once.
const patience = 5 * time.Second

// peer is the raw end of a connection whose other end NewConn serves: the test writes frames
// by hand and reads what the server answers.
type peer struct {
	t      testing.TB
	raw    net.Conn
	served *rpc.Conn

	mu   sync.Mutex
	cond *sync.Cond
	in   []rpccp.Message
	err  error // set when the stream ends
}

// serve serves boot (stolen) on one end of a pipe and returns the other end.
func serve(t testing.TB, boot capnp.Client, opts *Options) *peer {
	t.Helper()
	a, b := net.Pipe()
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Bootstrap = boot
	p := &peer{t: t, raw: b, served: NewConn(a, &o)}
	p.cond = sync.NewCond(&p.mu)
	go p.read()
	t.Cleanup(func() {
		b.Close()
		p.served.Close()
	})
	return p
}

// read collects what the server writes until the stream ends.
func (p *peer) read() {
	r := hostile.NewReader(p.raw)
	for {
		m, err := r.Next()
		p.mu.Lock()
		if err != nil {
			p.err = err
			p.cond.Broadcast()
			p.mu.Unlock()
			return
		}
		p.in = append(p.in, m)
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// send writes the frames bs. A write the server refuses to read (it closed) is not an error
// for the test: what matters is how the server ends.
func (p *peer) send(bs ...hostile.Builder) {
	p.t.Helper()
	p.write(hostile.MustFrames(bs...))
}

func (p *peer) write(b []byte) {
	p.raw.SetWriteDeadline(time.Now().Add(patience))
	p.raw.Write(b)
}

// await returns the first message from the server that match accepts, waiting up to patience.
func (p *peer) await(match func(rpccp.Message) bool) (rpccp.Message, bool) {
	deadline := time.AfterFunc(patience, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.err == nil {
			p.err = errPatience
		}
		p.cond.Broadcast()
	})
	defer deadline.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; ; i++ {
		for ; i < len(p.in); i++ {
			if match(p.in[i]) {
				return p.in[i], true
			}
		}
		if p.err != nil {
			return rpccp.Message{}, false
		}
		p.cond.Wait()
		i--
	}
}

var errPatience = &net.OpError{Op: "await", Err: net.ErrClosed}

// returnOf waits for the server's return for question q.
func (p *peer) returnOf(q uint32) (rpccp.Return, bool) {
	m, ok := p.await(func(m rpccp.Message) bool {
		if m.Which() != rpccp.Message_Which_return {
			return false
		}
		r, err := m.Return()
		return err == nil && r.AnswerId() == q
	})
	if !ok {
		return rpccp.Return{}, false
	}
	r, _ := m.Return()
	return r, true
}

// bootstrapExport asks for the bootstrap capability as question q and returns the export id
// the server gave it.
func (p *peer) bootstrapExport(q uint32) uint32 {
	p.t.Helper()
	p.send(hostile.Bootstrap(q))
	r, ok := p.returnOf(q)
	require.True(p.t, ok, "no return for the bootstrap")
	res, err := r.Results()
	require.NoError(p.t, err)
	caps, err := res.CapTable()
	require.NoError(p.t, err)
	require.Equal(p.t, 1, caps.Len())
	return caps.At(0).SenderHosted()
}

// requireClosed requires that the server ends the connection within patience.
func (p *peer) requireClosed() {
	p.t.Helper()
	select {
	case <-p.served.Done():
	case <-time.After(patience):
		p.t.Fatal("the server kept a connection that should have been refused")
	}
}

// sync returns once the server has handled everything sent before, or has ended the
// connection: it asks for the bootstrap as question q and waits for the answer.
func (p *peer) sync(q uint32) {
	p.send(hostile.Bootstrap(q))
	p.returnOf(q)
}

// requireOpen requires that the server still serves this connection: a bootstrap is answered.
func (p *peer) requireOpen(q uint32) {
	p.t.Helper()
	p.send(hostile.Bootstrap(q))
	_, ok := p.returnOf(q)
	require.True(p.t, ok, "the connection stopped answering")
}

// requireServes requires that a new connection to the server behind boot (borrowed) answers
// probe: whatever happened to another connection, the server serves on.
func requireServes(t testing.TB, boot capnp.Client, probe func(context.Context, capnp.Client) error) {
	t.Helper()
	a, b := net.Pipe()
	server := NewConn(a, &Options{Bootstrap: boot.AddRef()})
	client := NewConn(b, nil)
	defer server.Close()
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c := client.Bootstrap(ctx)
	defer c.Release()
	require.NoError(t, probe(ctx, c), "a new connection to the same server is not served")
}

// probeUpload calls write on a BlobUpload.
func probeUpload(ctx context.Context, c capnp.Client) error {
	fut, release := schema.BlobUpload(c).Write(ctx, func(p schema.BlobUpload_write_Params) error {
		return p.SetData([]byte("x"))
	})
	defer release()
	_, err := fut.Struct()
	return err
}

// probeCaller calls endowment on a caller, which fails at once: an answer all the same.
func probeCaller(ctx context.Context, c capnp.Client) error {
	fut, release := schema.VatHost(c).Endowment(ctx, nil)
	defer release()
	_, err := fut.Struct()
	if err != nil && strings.Contains(err.Error(), errNotHere.Error()) {
		return nil
	}
	return err
}

// calls returns the question ids of the calls the server has made so far and awaits at least
// n of them.
func (p *peer) calls(n int) []uint32 {
	p.t.Helper()
	var ids []uint32
	p.await(func(m rpccp.Message) bool {
		if m.Which() == rpccp.Message_Which_call {
			c, _ := m.Call()
			ids = append(ids, c.QuestionId())
		}
		return len(ids) >= n
	})
	require.GreaterOrEqual(p.t, len(ids), n, "the server did not call")
	return ids
}

// answerAll returns, for each question id, results with one data word and two null pointers.
func (p *peer) answerAll(ids []uint32) {
	for _, q := range ids {
		p.send(hostile.Return(q, hostile.Payload{DataWords: 1, Ptrs: 2}))
	}
}

// pipe returns the two ends of an in-memory connection.
func pipe() (net.Conn, net.Conn) { return net.Pipe() }

// relay is a capability that passes every call to target, as the daemon's forwarders do: a
// server of this process in appearance only.
type relay struct {
	target capnp.Client
}

func (r *relay) Send(ctx context.Context, s capnp.Send) (*capnp.Answer, capnp.ReleaseFunc) {
	return r.target.SendCall(ctx, s)
}

func (r *relay) Recv(ctx context.Context, c capnp.Recv) capnp.PipelineCaller {
	return r.target.RecvCall(ctx, c)
}

func (r *relay) Brand() capnp.Brand { return capnp.Brand{Value: r} }
func (r *relay) Shutdown()          { r.target.Release() }
func (r *relay) String() string     { return "relay" }
