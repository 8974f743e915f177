package client

import (
	"context"
	"errors"
	"fmt"
	"net"

	"capnproto.org/go/capnp/v3/rpc"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// Client is a connection to factoryd. Its methods are safe for concurrent use.
type Client struct {
	conn   *rpc.Conn
	daemon schema.Daemon
}

// MaxAnswerSize bounds one message from the daemon. It is larger than the daemon's own bound
// on what clients send (wire.DefaultMaxMessageSize): an audit report of a factory graph of many
// thousands of components takes a few MB.
const MaxAnswerSize = 64 << 20

// Dial connects to the daemon at socket ("" means DefaultSocket()).
func Dial(ctx context.Context, socket string) (*Client, error) {
	if socket == "" {
		socket = DefaultSocket()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("connect to factoryd at %s: %w", socket, err)
	}
	return New(nc), nil
}

// New speaks to the daemon over nc, a connection already made (for example to a socket the
// caller dialled its own way). The client owns nc.
func New(nc net.Conn) *Client {
	conn := wire.NewConn(nc, &wire.Options{MaxMessageSize: MaxAnswerSize})
	return &Client{conn: conn, daemon: schema.Daemon(conn.Bootstrap(context.Background()))}
}

// Close releases every capability obtained through c and closes the connection: instances
// created through it end.
func (c *Client) Close() error {
	c.daemon.Release()
	err := c.conn.Close()
	if errors.Is(err, rpc.ErrConnClosed) {
		return nil
	}
	return err
}

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.conn.Done() }

// Daemon lends the daemon's bootstrap capability, for calls this package does not wrap.
func (c *Client) Daemon() schema.Daemon { return c.daemon }

// Whoami returns the principal the daemon sees for this connection.
func (c *Client) Whoami(ctx context.Context) (Principal, error) {
	fut, release := c.daemon.Whoami(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return Principal{}, wire.Decode(err)
	}
	p, err := res.Principal()
	if err != nil {
		return Principal{}, err
	}
	out := Principal{UID: p.Uid(), GID: p.Gid(), PID: p.Pid()}
	out.Name, _ = p.Name()
	out.Token, _ = p.Token()
	out.User, _ = p.User()
	if out.Groups, err = textList(p.Groups()); err != nil {
		return Principal{}, err
	}
	return out, nil
}

// Principal is the caller as the daemon sees it.
type Principal struct {
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	PID  int32  `json:"pid"`
	Name string `json:"name"`
	// Token is the access token the daemon built from the connection's credentials, printed
	// readably; User and Groups are its SIDs.
	Token  string   `json:"token"`
	User   string   `json:"user"`
	Groups []string `json:"groups"`
}

// NewFactory creates an empty factory owned by the caller.
func (c *Client) NewFactory(ctx context.Context, name string) (*Builder, error) {
	fut, release := c.daemon.NewFactory(ctx, func(p schema.Daemon_newFactory_Params) error {
		return p.SetName(name)
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	return &Builder{cap: res.Builder().AddRef()}, nil
}

// Builder returns the builder facet of the named factory, with the builder rights its
// descriptor grants the caller (all of them to its owner, by default).
func (c *Client) Builder(ctx context.Context, name string) (*Builder, error) {
	fut, release := c.daemon.Builder(ctx, func(p schema.Daemon_builder_Params) error { return p.SetName(name) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	return &Builder{cap: res.Builder().AddRef()}, nil
}

// Requestor returns the requestor facet of the named factory, which must be sealed, with the
// requestor rights its descriptor grants the caller (everyone's, by default).
func (c *Client) Requestor(ctx context.Context, name string) (*Requestor, error) {
	fut, release := c.daemon.Requestor(ctx, func(p schema.Daemon_requestor_Params) error { return p.SetName(name) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	return &Requestor{cap: res.Requestor().AddRef()}, nil
}

// Verifier returns the verifier facet of the named factory.
func (c *Client) Verifier(ctx context.Context, name string) (*Verifier, error) {
	fut, release := c.daemon.Verifier(ctx, func(p schema.Daemon_verifier_Params) error { return p.SetName(name) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	return &Verifier{cap: res.Verifier().AddRef()}, nil
}

// Factories lists the factories on which the caller holds any right.
func (c *Client) Factories(ctx context.Context) ([]FactoryInfo, error) {
	fut, release := c.daemon.ListFactories(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	list, err := res.Factories()
	if err != nil {
		return nil, err
	}
	out := make([]FactoryInfo, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		fi, err := factoryInfo(list.At(i))
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	return out, nil
}

// Factory returns the named factory's description.
func (c *Client) Factory(ctx context.Context, name string) (FactoryInfo, error) {
	all, err := c.Factories(ctx)
	if err != nil {
		return FactoryInfo{}, err
	}
	for _, f := range all {
		if f.Name == name {
			return f, nil
		}
	}
	return FactoryInfo{}, fmt.Errorf("%w: factory %q", ErrNotFound, name)
}

// Instances lists the caller's live instances.
func (c *Client) Instances(ctx context.Context) ([]InstanceInfo, error) {
	fut, release := c.daemon.ListInstances(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	list, err := res.Instances()
	if err != nil {
		return nil, err
	}
	out := make([]InstanceInfo, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		ii, err := instanceInfo(list.At(i))
		if err != nil {
			return nil, err
		}
		out = append(out, ii)
	}
	return out, nil
}

// KillInstance ends one of the caller's instances and returns once it has ended.
func (c *Client) KillInstance(ctx context.Context, id string) error {
	fut, release := c.daemon.KillInstance(ctx, func(p schema.Daemon_killInstance_Params) error {
		return p.SetId(id)
	})
	defer release()
	_, err := fut.Struct()
	return wire.Decode(err)
}
