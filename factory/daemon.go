package factory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/rpc"
	"github.com/hashicorp/go-hclog"

	"github.com/factoryd/factoryd/access"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/vat"
	"github.com/factoryd/factoryd/wire"
)

// Options configures a Daemon. A nil *Options means defaults; New never writes to it.
type Options struct {
	// StartTimeout bounds how long a new instance may take to publish its capability when the
	// requestor does not say. Default 10s.
	StartTimeout time.Duration
	// MaxStartTimeout is the most a requestor may ask for. Default 60s.
	MaxStartTimeout time.Duration
	// MaxBlobSize bounds one uploaded blob. Default 1 GiB.
	MaxBlobSize int64
	// MaxInstances bounds the live instances of the whole daemon. Default 4096.
	MaxInstances int
	// PromiseDeadline bounds the wait for a promised capability to resolve before it is
	// judged (an unresolved promise is a hole). Default 2s.
	PromiseDeadline time.Duration
	// DefaultLimits apply where a requestor asks for none; MaxLimits bound what it may ask for
	// (zero: no bound of that kind).
	DefaultLimits, MaxLimits vat.Limits
	// Vat configures the confinement of instances.
	Vat *vat.Options
	// Billing bounds what requestors may grant instances to charge.
	Billing BillingOptions
	// MaxConnectionsPerUser bounds the client connections one uid holds at once, so that one
	// local user cannot take every descriptor of the daemon. Default 256.
	MaxConnectionsPerUser int
	// Access is the operator's policy for client tokens.
	Access AccessOptions
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.StartTimeout <= 0 {
		r.StartTimeout = 10 * time.Second
	}
	if r.MaxStartTimeout <= 0 {
		r.MaxStartTimeout = 60 * time.Second
	}
	r.MaxStartTimeout = max(r.MaxStartTimeout, r.StartTimeout)
	if r.MaxBlobSize <= 0 {
		r.MaxBlobSize = 1 << 30
	}
	if r.MaxInstances <= 0 {
		r.MaxInstances = 4096
	}
	if r.PromiseDeadline <= 0 {
		r.PromiseDeadline = 2 * time.Second
	}
	r.Billing = r.Billing.withDefaults()
	if r.MaxConnectionsPerUser <= 0 {
		r.MaxConnectionsPerUser = 256
	}
	return r
}

// Daemon hosts factories and their instances and serves clients over a unix socket.
//
// Concurrency: mu guards the live-object tables; it is never held while calling a capability,
// releasing one, or waiting for a process. Every goroutine the daemon starts is counted in wg.
type Daemon struct {
	log  hclog.Logger
	st   *store.Store
	opts Options
	reg  *registry
	vats *vat.Spawner

	peers   *access.UnixPeerOptions // how client tokens are built (positive confinement)
	foreign foreignIDs              // identities of capabilities held by other connections
	audit   *auditWriter

	ledger      *store.LedgerWriter // the billing ledger's one group-commit writer
	billingStop chan struct{}       // closed at shutdown: meters record what they hold, now
	billingWG   sync.WaitGroup      // meter loops

	mu        sync.Mutex // guards the fields that follow
	instances map[string]*Instance
	conns     map[*rpc.Conn]struct{}
	connsOf   map[uint32]int // client connections by uid
	closing   bool
	ran       bool

	wg sync.WaitGroup
}

// New loads the daemon's state from st. The caller keeps ownership of st and closes it after
// Run returns. logger may be nil.
func New(logger hclog.Logger, st *store.Store, opts *Options) (*Daemon, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	o := opts.withDefaults()
	if err := checkLimits(o.DefaultLimits, o.MaxLimits); err != nil {
		return nil, err
	}
	reg, err := loadRegistry(st)
	if err != nil {
		return nil, err
	}
	vats, err := vat.NewSpawner(o.Vat)
	if err != nil {
		return nil, err
	}
	peers, err := o.Access.peerOptions()
	if err != nil {
		return nil, err
	}
	return &Daemon{log: logger, st: st, opts: o, reg: reg, vats: vats, peers: peers, billingStop: make(chan struct{}),
		instances: map[string]*Instance{}, conns: map[*rpc.Conn]struct{}{}, connsOf: map[uint32]int{}}, nil
}

// checkLimits refuses, at start, operator limits no instance could start under, rather than
// failing every create.
func checkLimits(def, max vat.Limits) error {
	if err := def.Validate(); err != nil {
		return fmt.Errorf("default limits: %w", err)
	}
	if err := max.Validate(); err != nil {
		return fmt.Errorf("maximum limits: %w", err)
	}
	return nil
}

// Run serves clients on ln until ctx is cancelled, then stops accepting, ends every instance
// and returns nil. It owns ln. It may be called once.
func (d *Daemon) Run(ctx context.Context, ln net.Listener) error {
	d.mu.Lock()
	if d.ran {
		d.mu.Unlock()
		return errors.New("factoryd: Run called twice")
	}
	d.ran = true
	d.audit = newAuditWriter(d.st, d.log)
	d.ledger = d.st.NewLedgerWriter(nil)
	d.mu.Unlock()

	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	d.log.Info("serving", "addr", ln.Addr().String(), "factories", len(d.reg.list()),
		"rootless", d.vats.Rootless())
	if kind, err := d.vats.Cgroups(); err != nil {
		d.log.Warn("no cgroup limits: memory, process and CPU share limits cannot be enforced, nor usage measured", "reason", err)
	} else {
		d.log.Info("cgroups", "hierarchy", kind)
	}
	err := d.acceptLoop(ln)
	d.shutdown()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (d *Daemon) acceptLoop(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		d.serveClient(c)
	}
}

// serveClient starts an RPC connection whose bootstrap is a session for the peer's principal.
func (d *Daemon) serveClient(c net.Conn) {
	p, err := peerPrincipal(c, d.peers)
	if err != nil {
		d.log.Warn("refused connection", "error", err)
		c.Close()
		return
	}
	d.serveAs(c, p)
}

// serveAs serves c as principal p.
func (d *Daemon) serveAs(c net.Conn, p Principal) {
	if !d.admit(p.UID) {
		d.log.Warn("refused connection: too many from this user", "principal", p.String(), "pid", p.PID,
			"limit", d.opts.MaxConnectionsPerUser)
		c.Close()
		return
	}
	s := &session{d: d, p: p}
	conn := wire.NewConn(c, &wire.Options{Bootstrap: capnp.Client(schema.Daemon_ServerToClient(s)),
		Logger: wire.Logger{L: d.log.Named("rpc")}})
	if !d.track(conn) {
		d.leave(p.UID)
		conn.Close()
		return
	}
	d.log.Debug("client connected", "principal", p.String(), "pid", p.PID)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		<-conn.Done()
		d.untrack(conn)
		d.leave(p.UID)
		d.log.Debug("client disconnected", "principal", p.String(), "pid", p.PID)
	}()
}

// admit counts a new connection of uid, unless uid holds the most it may.
func (d *Daemon) admit(uid uint32) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.connsOf[uid] >= d.opts.MaxConnectionsPerUser {
		return false
	}
	d.connsOf[uid]++
	return true
}

func (d *Daemon) leave(uid uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.connsOf[uid]--; d.connsOf[uid] <= 0 {
		delete(d.connsOf, uid)
	}
}

func (d *Daemon) track(c *rpc.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return false
	}
	d.conns[c] = struct{}{}
	return true
}

func (d *Daemon) untrack(c *rpc.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.conns, c)
}

// shutdown closes every client connection and ends every instance, then waits for all of the
// daemon's goroutines.
func (d *Daemon) shutdown() {
	d.mu.Lock()
	d.closing = true
	conns := make([]*rpc.Conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	insts := d.liveInstancesLocked()
	d.mu.Unlock()

	for _, i := range insts {
		i.kill("daemon stopped")
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
	for _, i := range insts {
		<-i.done
	}
	d.wg.Wait()
	close(d.billingStop)
	d.billingWG.Wait()
	if err := d.ledger.Close(); err != nil {
		d.log.Error("billing ledger", "error", err)
	}
	d.vats.Close()
	d.audit.close()
	d.log.Info("stopped")
}

func (d *Daemon) liveInstancesLocked() []*Instance {
	out := make([]*Instance, 0, len(d.instances))
	for _, i := range d.instances {
		out = append(out, i)
	}
	return out
}
