package factory

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/rpc"

	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/caps"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/vat"
	"github.com/factoryd/factoryd/wire"
)

// argValue is one requestor argument, copied out of the create call.
type argValue struct {
	name  string
	data  []byte
	cap   capnp.Client
	isCap bool
}

func releaseArgs(args []argValue) {
	for _, a := range args {
		a.cap.Release()
	}
}

// createRequest is a create call's arguments, owned by the daemon once read.
type createRequest struct {
	args         []argValue
	startTimeout time.Duration
	limits       vat.Limits
	sink         schema.DebugSink
	billing      billing.Limits
}

func (r *createRequest) release() {
	releaseArgs(r.args)
	r.sink.Release()
}

func readCreateRequest(p schema.Requestor_create_Params) (req *createRequest, err error) {
	req = &createRequest{}
	defer func() {
		if err != nil {
			req.release()
		}
	}()
	args, err := p.Args()
	if err != nil {
		return nil, err
	}
	for i := 0; i < args.Len(); i++ {
		a, err := readArg(args.At(i))
		if err != nil {
			return nil, err
		}
		req.args = append(req.args, a)
	}
	limits, err := p.Limits()
	if err != nil {
		return nil, err
	}
	req.startTimeout = time.Duration(limits.StartTimeoutMs()) * time.Millisecond
	req.limits = vat.Limits{MemoryBytes: limits.MemoryBytes(), Pids: limits.Pids(),
		CPUMillicores: limits.CpuMillicores(), CPUSeconds: limits.CpuSeconds(), OpenFiles: limits.OpenFiles()}
	if req.billing, err = readBillingLimits(p.HasBilling(), p.Billing); err != nil {
		return nil, err
	}
	if p.HasDebugSink() {
		req.sink = p.DebugSink().AddRef()
	}
	return req, nil
}

func readArg(a schema.Arg) (argValue, error) {
	name, err := a.Name()
	if err != nil {
		return argValue{}, err
	}
	if err := checkName("argument", name); err != nil {
		return argValue{}, err
	}
	if a.Which() == schema.Arg_Which_cap {
		return argValue{name: name, cap: a.Cap().AddRef(), isCap: true}, nil
	}
	data, err := a.Data()
	if err != nil {
		return argValue{}, err
	}
	return argValue{name: name, data: append([]byte(nil), data...)}, nil
}

// create starts an instance of f for p, and returns the capability it published, wrapped in a
// forwarder the caller owns. It consumes req. On failure nothing is left behind.
func (d *Daemon) create(ctx context.Context, f *Factory, p Principal, req *createRequest) (capnp.Client, error) {
	timeout, err := d.startTimeout(req.startTimeout)
	if err == nil {
		req.limits, err = d.resolveLimits(req.limits)
	}
	if err != nil {
		req.release()
		return capnp.Client{}, err
	}
	rec := f.Snapshot()
	if !rec.Sealed {
		req.release()
		return capnp.Client{}, fmt.Errorf("factory %q: %w", rec.Name, ErrNotSealed)
	}
	pol, err := d.billingPolicy(rec, p, req.billing)
	if err == nil {
		err = d.confineArgs(ctx, rec, req.args)
	}
	if err != nil {
		req.release()
		return capnp.Client{}, err
	}
	inst, err := d.register(f, rec, p, req.args, pol)
	if err != nil {
		req.release()
		return capnp.Client{}, err
	}
	inst.startMeter()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	export, err := inst.start(ctx, req.sink, timeout, req.limits)
	if err != nil {
		inst.kill("failed to start")
		<-inst.done
		return capnp.Client{}, err
	}
	client, fwd := caps.NewForwarder(export, inst, func() { inst.kill("released") })
	inst.mu.Lock()
	inst.fwd = fwd
	inst.state = schema.InstanceState_running
	inst.mu.Unlock()
	d.log.Info("instance created", "instance", inst.id, "factory", rec.Name, "requestor", p.String())
	d.record(store.AuditEntry{Principal: p.String(), UID: p.UID, Action: audit.InstanceCreated,
		Factory: rec.Name, FactoryID: rec.ID.String(), Instance: inst.id})
	return client, nil
}

// resolveLimits fills each limit the requestor left zero with the operator's default (or, with
// no default, the operator's maximum) and refuses one asked above the operator's maximum.
func (d *Daemon) resolveLimits(asked vat.Limits) (vat.Limits, error) {
	def, max := d.opts.DefaultLimits, d.opts.MaxLimits
	var lim vat.Limits
	var err error
	lim.MemoryBytes, err = resolve("memory (bytes)", asked.MemoryBytes, def.MemoryBytes, max.MemoryBytes, err)
	lim.Pids, err = resolve("processes", asked.Pids, def.Pids, max.Pids, err)
	lim.CPUMillicores, err = resolve("CPU share (millicores)", asked.CPUMillicores, def.CPUMillicores, max.CPUMillicores, err)
	lim.CPUSeconds, err = resolve("CPU time (seconds)", asked.CPUSeconds, def.CPUSeconds, max.CPUSeconds, err)
	lim.OpenFiles, err = resolve("open files", asked.OpenFiles, def.OpenFiles, max.OpenFiles, err)
	return lim, err
}

func resolve[T uint32 | uint64](what string, asked, def, max T, err error) (T, error) {
	switch {
	case err != nil:
		return 0, err
	case asked == 0 && def != 0:
		return def, nil
	case asked == 0:
		return max, nil
	case max != 0 && asked > max:
		return 0, fmt.Errorf("%w: %s %d is above the operator's maximum %d", ErrLimit, what, asked, max)
	}
	return asked, nil
}

func (d *Daemon) startTimeout(asked time.Duration) (time.Duration, error) {
	switch {
	case asked == 0:
		return d.opts.StartTimeout, nil
	case asked > d.opts.MaxStartTimeout:
		return 0, fmt.Errorf("%w: start timeout %v is above the operator's maximum %v", ErrLimit, asked, d.opts.MaxStartTimeout)
	}
	return asked, nil
}

// start spawns the vat, connects to it and waits for the program's export. It steals sink.
// When it returns an error the caller ends the instance.
func (i *Instance) start(ctx context.Context, sink schema.DebugSink, timeout time.Duration, lim vat.Limits) (capnp.Client, error) {
	logMode := sink.IsValid()
	if logMode {
		i.refusals = sink.AddRef()
	}
	stdout, stderr, err := i.startSinks(sink)
	if err != nil {
		return capnp.Client{}, err
	}
	proc, err := i.d.vats.Spawn(ctx, vat.Spec{Program: i.d.st.BlobPath(i.rec.Program), Stdout: stdout, Stderr: stderr,
		Syscalls: i.rec.Syscalls, LogSyscalls: logMode, Limits: lim})
	closeFiles(stdout, stderr)
	if err != nil {
		i.d.unregister(i)
		i.finishUnstarted()
		return capnp.Client{}, err
	}
	if err := i.attach(proc); err != nil {
		return capnp.Client{}, err
	}
	return i.awaitPublish(ctx, timeout)
}

// finishUnstarted ends an instance whose vat never ran.
func (i *Instance) finishUnstarted() {
	i.meter.Close()
	i.refusals.Release()
	i.mu.Lock()
	i.state = schema.InstanceState_ended
	i.mu.Unlock()
	i.cancel()
	i.sinks.Wait()
	releaseArgs(i.args)
	close(i.done)
}

// attach connects to the running vat and starts watching it.
func (i *Instance) attach(proc *vat.Process) error {
	nc, err := net.FileConn(proc.Conn())
	proc.Conn().Close()
	i.mu.Lock()
	i.proc = proc
	i.mu.Unlock()
	i.d.wg.Add(2)
	go func() {
		defer i.d.wg.Done()
		<-proc.Done()
		i.end(proc.Status())
	}()
	go func() {
		defer i.d.wg.Done()
		i.serveRefusals(proc)
	}()
	if err != nil {
		return fmt.Errorf("%w: connect to vat: %v", vat.ErrStart, err)
	}
	host := schema.VatHost_ServerToClient(&vatHost{i: i})
	conn := wire.NewConn(nc, &wire.Options{Bootstrap: capnp.Client(host),
		Logger: wire.Logger{L: i.d.log.Named("yield").With("instance", i.id)}})
	i.mu.Lock()
	i.conn = conn
	i.mu.Unlock()
	i.d.wg.Add(1)
	go func() {
		defer i.d.wg.Done()
		i.endWithConn(conn, proc)
	}()
	return nil
}

// endWithConn ends the instance when its connection does (the program hung up, or broke the
// protocol and the daemon closed it): without it the program can do nothing for anyone. A
// program that exits closes its connection too; its exit status, not this, is then the reason.
func (i *Instance) endWithConn(conn *rpc.Conn, proc *vat.Process) {
	select {
	case <-conn.Done():
	case <-proc.Done():
		return
	}
	select {
	case <-proc.Done():
	case <-time.After(connGrace):
		i.kill("the program's connection to the daemon closed")
	}
}

// connGrace is how long a program whose connection closed has to exit by itself.
const connGrace = 200 * time.Millisecond

// awaitPublish waits for the program's export. The helper's own verdict arrives meanwhile: a
// failed step ends the wait at once with the step's name. An export is returned only once the
// verdict is in too (it nearly always is: the helper gives it as the program starts), so that
// the instance's process is the program's from then on.
func (i *Instance) awaitPublish(ctx context.Context, timeout time.Duration) (capnp.Client, error) {
	started := i.proc.Started()
	var export capnp.Client
	published := i.published
	for {
		if export.IsValid() && started == nil {
			return export, nil
		}
		select {
		case export = <-published:
			published = nil
		case <-started:
			if err := i.proc.StartErr(); err != nil {
				export.Release()
				return capnp.Client{}, err
			}
			started = nil
		case <-i.proc.Done():
			export.Release()
			if err := i.proc.StartErr(); err != nil {
				return capnp.Client{}, err
			}
			i.mu.Lock()
			why := i.killReason
			i.mu.Unlock()
			if why == "" {
				why = "program " + i.proc.Status().String()
			}
			return capnp.Client{}, fmt.Errorf("%w: %s before publishing its capability", vat.ErrStart, why)
		case <-ctx.Done():
			export.Release()
			if ctx.Err() == context.DeadlineExceeded {
				return capnp.Client{}, fmt.Errorf("%w: program did not publish its capability within %v", vat.ErrStart, timeout)
			}
			return capnp.Client{}, fmt.Errorf("%w: %v", vat.ErrStart, ctx.Err())
		}
	}
}

func closeFiles(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}
