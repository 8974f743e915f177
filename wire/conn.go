package wire

import (
	"bufio"
	"io"
	"sync"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/rpc"
	"capnproto.org/go/capnp/v3/rpc/transport"
)

// DefaultMaxMessageSize bounds one message on any factoryd connection. Blob chunks are far
// smaller; the bound stops a peer from making the receiver allocate a huge segment.
const DefaultMaxMessageSize = 1 << 20

// DefaultMaxPendingCalls bounds the calls a peer may have in progress on one connection: calls
// this side has not returned yet. The project's client keeps at most a few dozen in flight.
const DefaultMaxPendingCalls = 1024

// DefaultMaxAnswers bounds the answers one connection holds for its peer: calls not yet both
// returned and finished. capnp-go finishes a call 250 ms after its return arrives, so a busy
// legitimate peer (≈ 20k calls/s) holds about 5000.
const DefaultMaxAnswers = 16384

// Options configures NewConn. A nil *Options means defaults.
type Options struct {
	// Bootstrap is offered to the peer; NewConn steals it. May be null.
	Bootstrap capnp.Client
	// Logger receives the RPC system's own reports; nil discards them.
	Logger rpc.Logger
	// MaxMessageSize bounds one incoming message; 0 means DefaultMaxMessageSize.
	MaxMessageSize uint64
	// MaxPendingCalls bounds the peer's calls in progress; 0 means DefaultMaxPendingCalls.
	// A peer that exceeds it loses the connection.
	MaxPendingCalls int
	// MaxAnswers bounds the answers held for the peer; 0 means DefaultMaxAnswers. A peer that
	// exceeds it loses the connection.
	MaxAnswers int
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.MaxMessageSize == 0 {
		r.MaxMessageSize = DefaultMaxMessageSize
	}
	if r.MaxPendingCalls <= 0 {
		r.MaxPendingCalls = DefaultMaxPendingCalls
	}
	if r.MaxAnswers <= 0 {
		r.MaxAnswers = DefaultMaxAnswers
	}
	if r.Logger == nil {
		r.Logger = discard{}
	}
	return r
}

// NewConn starts an RPC connection over rwc, which it owns from now on. Every message the peer
// sends is validated before the RPC layer reads it (see the package doc).
func NewConn(rwc io.ReadWriteCloser, opts *Options) *rpc.Conn {
	o := opts.withDefaults()
	t, err := factorydTables()
	if err != nil {
		panic("wire: factoryd's compiled schema is unreadable: " + err.Error())
	}
	return rpc.NewConn(transport.New(newCodec(rwc, newValidator(t, o), o.MaxMessageSize)), &rpc.Options{
		BootstrapClient: o.Bootstrap,
		Logger:          o.Logger,
	})
}

// codec frames messages on a byte stream with a size-limited decoder, and shows every message
// to the validator: inbound ones before the RPC layer reads them, outbound ones before they
// are written.
type codec struct {
	dec *capnp.Decoder
	enc *capnp.Encoder
	v   *validator

	closer    io.Closer
	closeOnce sync.Once
	closeErr  error
}

// readBuffer is the read buffer of a connection. capnp's decoder reads a message's header and
// then its body, each with its own read: through the buffer, one read system call takes both
// (and any message queued behind them) whenever the peer has sent them, which halves the reads
// of a call's round trip. Larger reads bypass it.
const readBuffer = 4 << 10

func newCodec(rwc io.ReadWriteCloser, v *validator, max uint64) *codec {
	dec := capnp.NewDecoder(bufio.NewReaderSize(rwc, readBuffer))
	dec.MaxMessageSize = max
	return &codec{dec: dec, enc: capnp.NewEncoder(rwc), closer: rwc, v: v}
}

// Close closes the stream; it is idempotent.
func (c *codec) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.closer.Close() })
	return c.closeErr
}

// traverseLimit is capnp's default read limit of a message (64 MiB), restored after the
// validator read it.
const traverseLimit = 64 << 20

// Decode returns the next message, or an error that ends the connection: the stream's, or the
// validator's refusal.
//
// On an error it closes the stream at once. capnp-go shuts a connection down only once both
// its receive and send goroutines have returned (rpc.go startBackgroundTasks), and the sender
// may be blocked writing to a peer that does not read — a peer flooding calls, say — for ever:
// closing the stream fails that write.
func (c *codec) Decode() (*capnp.Message, error) {
	msg, err := c.dec.Decode()
	if err == nil {
		if err = c.v.inbound(msg); err != nil {
			msg.Release()
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	msg.ResetReadLimit(traverseLimit)
	return msg, nil
}

// Encode writes msg after the validator recorded it.
//
// A peer may return a question while its call is still being written, then make the write
// fail (it stops reading and hangs up). capnp-go would then reject the question it already
// fulfilled, and panic (import.go:127, question.go:157, rpc.go:353: Promise.Reject after
// Fulfill). So when the write of a question fails after its return was admitted, the failure
// is not reported: the stream is broken anyway, and the connection ends on the next read.
func (c *codec) Encode(msg *capnp.Message) error {
	q, asks := c.v.outbound(msg)
	err := c.enc.Encode(msg)
	if err != nil && asks && c.v.unsent(q) {
		return nil
	}
	return err
}

type discard struct{}

func (discard) Debug(string, ...any) {}
func (discard) Info(string, ...any)  {}
func (discard) Warn(string, ...any)  {}
func (discard) Error(string, ...any) {}
