package wire

import (
	"io"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/rpc"
	"capnproto.org/go/capnp/v3/rpc/transport"
)

// DefaultMaxMessageSize bounds one message on any factoryd connection. Blob chunks are far
// smaller; the bound stops a peer from making the receiver allocate a huge segment.
const DefaultMaxMessageSize = 1 << 20

// Options configures NewConn. A nil *Options means defaults.
type Options struct {
	// Bootstrap is offered to the peer; NewConn steals it. May be null.
	Bootstrap capnp.Client
	// Logger receives the RPC system's own reports; nil discards them.
	Logger rpc.Logger
	// MaxMessageSize bounds one incoming message; 0 means DefaultMaxMessageSize.
	MaxMessageSize uint64
}

// NewConn starts an RPC connection over rwc, which it owns from now on.
func NewConn(rwc io.ReadWriteCloser, opts *Options) *rpc.Conn {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.Logger == nil {
		o.Logger = discard{}
	}
	return rpc.NewConn(transport.New(newCodec(rwc, o.MaxMessageSize)), &rpc.Options{
		BootstrapClient: o.Bootstrap,
		Logger:          o.Logger,
	})
}

// codec frames messages on a byte stream with a size-limited decoder.
type codec struct {
	*capnp.Decoder
	*capnp.Encoder
	io.Closer
}

func newCodec(rwc io.ReadWriteCloser, max uint64) *codec {
	dec := capnp.NewDecoder(rwc)
	dec.MaxMessageSize = max
	return &codec{Decoder: dec, Encoder: capnp.NewEncoder(rwc), Closer: rwc}
}

type discard struct{}

func (discard) Debug(string, ...any) {}
func (discard) Info(string, ...any)  {}
func (discard) Warn(string, ...any)  {}
func (discard) Error(string, ...any) {}
