package factory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/rpc"

	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/caps"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/vat"
)

// Instance is one yield: a vat running a factory's program on behalf of a requestor.
//
// Life: starting (spawned, waiting for the program to publish) → running (its export is
// forwarded to the requestor) → ended (the process was reaped). It ends when the requestor
// releases its export or disconnects, on kill, when the program exits, or with the daemon.
// The reason is the requestor's to read; the builder never learns it.
type Instance struct {
	id        string
	d         *Daemon
	factory   *Factory
	rec       *store.Factory // the sealed record it was created from
	requestor Principal
	created   time.Time
	args      []argValue

	ctx    context.Context // cancelled when the instance ends
	cancel context.CancelFunc
	done   chan struct{} // closed once fully ended

	published chan capnp.Client // the program's export, sent once
	sinks     sync.WaitGroup
	refusals  schema.DebugSink // where refused syscalls are named (log mode), or null
	meter     *billing.Meter   // set before the vat starts

	mu         sync.Mutex // guards the fields that follow
	state      schema.InstanceState
	proc       *vat.Process
	conn       *rpc.Conn
	fwd        *caps.Forwarder
	killReason string
	endReason  string
	ended      time.Time
	wasRunning bool // it had started before it ended
}

// running reports whether the instance ever ran (published its capability).
func (i *Instance) running() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.wasRunning
}

func newInstanceID() string {
	var b [8]byte
	rand.Read(b[:])
	return "i-" + hex.EncodeToString(b[:])
}

// register creates an instance in the starting state, or fails when the daemon is stopping or
// full.
func (d *Daemon) register(f *Factory, rec *store.Factory, p Principal, args []argValue, pol *billing.Policy) (*Instance, error) {
	ctx, cancel := context.WithCancel(context.Background())
	i := &Instance{id: newInstanceID(), d: d, factory: f, rec: rec, requestor: p, created: time.Now(),
		args: args, ctx: ctx, cancel: cancel, done: make(chan struct{}), published: make(chan capnp.Client, 1),
		meter: billing.NewMeter(pol, nil), state: schema.InstanceState_starting}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		cancel()
		return nil, ErrUnavailable
	}
	if len(d.instances) >= d.opts.MaxInstances {
		cancel()
		return nil, fmt.Errorf("%w: %d live instances", ErrLimit, d.opts.MaxInstances)
	}
	d.instances[i.id] = i
	return i, nil
}

func (d *Daemon) unregister(i *Instance) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.instances, i.id)
}

// instancesOf returns the live instances p requested (every instance for uid 0), by creation.
func (d *Daemon) instancesOf(p Principal) []*Instance {
	d.mu.Lock()
	var out []*Instance
	for _, i := range d.instances {
		if p.UID == 0 || i.requestor.UID == p.UID {
			out = append(out, i)
		}
	}
	d.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].created.Before(out[b].created) })
	return out
}

// instanceFor returns the live instance id if p requested it (or p is uid 0).
func (d *Daemon) instanceFor(id string, p Principal) (*Instance, error) {
	d.mu.Lock()
	i, ok := d.instances[id]
	d.mu.Unlock()
	if !ok || (p.UID != 0 && i.requestor.UID != p.UID) {
		return nil, fmt.Errorf("instance %q: %w", id, ErrNotFound)
	}
	return i, nil
}

// principal is who the instance acts as: its requestor, through this instance.
func (i *Instance) principal() Principal {
	return Principal{UID: i.requestor.UID, GID: i.requestor.GID, Instance: i.id}
}

// kill ends the instance; reason is what its requestor will read. It does not wait.
func (i *Instance) kill(reason string) {
	i.mu.Lock()
	if i.killReason == "" {
		i.killReason = reason
	}
	p := i.proc
	i.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

// control returns a new InstanceControl capability, owned by the caller.
func (i *Instance) control() schema.InstanceControl {
	return schema.InstanceControl_ServerToClient(&control{i: i})
}

// end runs once the process has been reaped: it revokes the export, closes the connection,
// stops the debug sink and forgets the instance.
func (i *Instance) end(status vat.ExitStatus) {
	i.mu.Lock()
	i.wasRunning = i.state == schema.InstanceState_running
	i.state = schema.InstanceState_ended
	i.ended = time.Now()
	i.endReason = i.killReason
	if i.endReason == "" {
		i.endReason = status.String()
	}
	fwd, conn, proc, ended := i.fwd, i.conn, i.proc, i.ended
	i.mu.Unlock()

	i.meter.Close()
	i.recordUsage(proc, ended)
	if fwd != nil {
		fwd.Revoke(fmt.Errorf("instance %s ended: %s", i.id, i.endReason))
	}
	if conn != nil {
		conn.Close()
	}
	i.drainSinks()
	releaseArgs(i.args)
	select {
	case c := <-i.published:
		c.Release()
	default:
	}
	i.d.unregister(i)
	i.d.log.Info("instance ended", "instance", i.id, "factory", i.rec.Name)
	if i.running() {
		// Only that it ended: how (an exit status) is the yield's to choose, so it is not
		// recorded; and the entry is the requestor's alone.
		i.d.record(store.AuditEntry{Principal: i.requestor.String(), UID: i.requestor.UID,
			Action: audit.InstanceEnded, Factory: i.rec.Name, FactoryID: i.rec.ID.String(), Instance: i.id})
	}
	close(i.done)
}

// recordUsage keeps, in the requestor's own records, what the instance consumed.
func (i *Instance) recordUsage(proc *vat.Process, ended time.Time) {
	r := &store.UsageRecord{Requestor: i.requestor.owner(), Instance: i.id, Factory: i.rec.Name, FactoryID: i.rec.ID,
		Created: i.created, Ended: ended, EndReason: i.endReason}
	if proc != nil {
		u := proc.Usage()
		r.CPUNanos, r.PeakMemory, r.Measured = u.CPUNanos, u.PeakMemoryBytes, proc.Measured()
	}
	if err := i.d.st.PutUsage(r); err != nil {
		i.d.log.Error("cannot record usage", "instance", i.id, "error", err)
	}
}

// usage returns what the instance has consumed so far.
func (i *Instance) usage() *store.UsageRecord {
	i.mu.Lock()
	proc, ended, reason := i.proc, i.ended, i.endReason
	i.mu.Unlock()
	r := &store.UsageRecord{Requestor: i.requestor.owner(), Instance: i.id, Factory: i.rec.Name, FactoryID: i.rec.ID,
		Created: i.created, Ended: ended, EndReason: reason}
	if proc != nil {
		u := proc.LiveUsage()
		r.CPUNanos, r.PeakMemory, r.Measured = u.CPUNanos, u.PeakMemoryBytes, proc.Measured()
	}
	return r
}

func (i *Instance) fillInfo(info schema.InstanceInfo) error {
	i.mu.Lock()
	state, reason, ended := i.state, i.endReason, i.ended
	pid := 0
	if i.proc != nil && state != schema.InstanceState_ended {
		pid = i.proc.Pid()
	}
	i.mu.Unlock()
	if err := info.SetId(i.id); err != nil {
		return err
	}
	if err := info.SetFactory(i.rec.Name); err != nil {
		return err
	}
	info.SetState(state)
	info.SetCreatedAt(i.created.UnixNano())
	if !ended.IsZero() {
		info.SetEndedAt(ended.UnixNano())
	}
	if err := info.SetEndReason(reason); err != nil {
		return err
	}
	info.SetPid(int32(pid))
	if i.meter != nil {
		b, err := info.NewBilling()
		if err != nil {
			return err
		}
		if err := fillCapacity(b, i.meter.Policy().Capacity()); err != nil {
			return err
		}
	}
	return info.SetRequestor(i.requestor.String())
}

// control is an InstanceControl facet.
type control struct{ i *Instance }

func (c *control) Info(ctx context.Context, call schema.InstanceControl_info) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	info, err := res.NewInfo()
	if err != nil {
		return err
	}
	return c.i.fillInfo(info)
}

func (c *control) Kill(ctx context.Context, call schema.InstanceControl_kill) error {
	call.Go()
	c.i.kill("killed")
	select {
	case <-c.i.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *control) Wait(ctx context.Context, call schema.InstanceControl_wait) error {
	call.Go()
	select {
	case <-c.i.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	info, err := res.NewInfo()
	if err != nil {
		return err
	}
	return c.i.fillInfo(info)
}
