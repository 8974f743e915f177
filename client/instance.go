package client

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// Arg is one argument for a new instance: data, or a capability (borrowed by Create).
type Arg struct {
	Name string
	Data []byte
	Cap  *capnp.Client
}

// CreateOptions tunes Create. A nil *CreateOptions means defaults.
type CreateOptions struct {
	Args []Arg
	// StartTimeout bounds the program's start; 0 means the daemon's default.
	StartTimeout time.Duration
	// Limits bound what the instance may use; zero fields mean the daemon's defaults.
	Limits Limits
	// Stdout and Stderr receive the program's output when set (it is discarded otherwise).
	// Only the requestor ever sees it.
	Stdout, Stderr io.Writer
	// Billing is what the instance may charge, the requestor's consent: a period and a ceiling
	// per kind. Nil: it can charge nothing.
	Billing *billing.Limits
}

// Create starts a confined instance of the factory.
func (r *Requestor) Create(ctx context.Context, opts *CreateOptions) (*Instance, error) {
	if opts == nil {
		opts = &CreateOptions{}
	}
	fut, release := r.cap.Create(ctx, func(p schema.Requestor_create_Params) error {
		return fillCreate(p, opts)
	})
	defer release()
	// Pipelined on create's result: one round trip for both.
	cfut, crelease := r.cap.Control(ctx, func(p schema.Requestor_control_Params) error {
		return p.SetInstance(fut.Instance().AddRef())
	})
	defer crelease()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	inst := &Instance{cap: res.Instance().AddRef()}
	cres, err := cfut.Struct()
	if err != nil {
		inst.Release()
		return nil, wire.Decode(err)
	}
	inst.control = cres.Control().AddRef()
	return inst, nil
}

func fillCreate(p schema.Requestor_create_Params, opts *CreateOptions) error {
	args, err := p.NewArgs(int32(len(opts.Args)))
	if err != nil {
		return err
	}
	for i, a := range opts.Args {
		if err := fillArg(args.At(i), a); err != nil {
			return err
		}
	}
	limits, err := p.NewLimits()
	if err != nil {
		return err
	}
	limits.SetStartTimeoutMs(uint32(opts.StartTimeout / time.Millisecond))
	limits.SetMemoryBytes(opts.Limits.MemoryBytes)
	limits.SetPids(opts.Limits.Pids)
	limits.SetCpuMillicores(opts.Limits.CPUMillicores)
	limits.SetCpuSeconds(opts.Limits.CPUSeconds)
	limits.SetOpenFiles(opts.Limits.OpenFiles)
	if err := fillBilling(p.NewBilling, opts.Billing); err != nil {
		return err
	}
	if opts.Stdout != nil || opts.Stderr != nil {
		return p.SetDebugSink(schema.DebugSink_ServerToClient(&debugSink{out: opts.Stdout, err: opts.Stderr}))
	}
	return nil
}

func fillArg(out schema.Arg, a Arg) error {
	if err := out.SetName(a.Name); err != nil {
		return err
	}
	if a.Cap != nil {
		return out.SetCap(a.Cap.AddRef())
	}
	return out.SetData(a.Data)
}

// CreateAndRun creates an instance and calls its Job.run with input, sending create, the
// control request and the run together: the run is pipelined on the create, saving a round
// trip. It returns the live instance (the caller releases it) and the run's output; when the
// run failed because the instance ended, the error says why.
func (r *Requestor) CreateAndRun(ctx context.Context, opts *CreateOptions, input []byte) (*Instance, []byte, error) {
	if opts == nil {
		opts = &CreateOptions{}
	}
	cfut, crelease := r.cap.Create(ctx, func(p schema.Requestor_create_Params) error { return fillCreate(p, opts) })
	defer crelease()
	// Take the pipelined capability once: capnp-go's Future.Client leaves the promise locked when
	// asked twice for the same field before the call returns (docs/protocol.md).
	pipelined := cfut.Instance()
	ctlFut, ctlRelease := r.cap.Control(ctx, func(p schema.Requestor_control_Params) error {
		return p.SetInstance(pipelined.AddRef())
	})
	defer ctlRelease()
	rfut, rrelease := schema.Job(pipelined).Run(ctx, func(p schema.Job_run_Params) error { return p.SetInput(input) })
	defer rrelease()
	cres, err := cfut.Struct()
	if err != nil {
		return nil, nil, wire.Decode(err)
	}
	inst := &Instance{cap: cres.Instance().AddRef()}
	if cres, err := ctlFut.Struct(); err == nil {
		inst.control = cres.Control().AddRef()
	}
	res, err := rfut.Struct()
	if err != nil {
		return inst, nil, whyEnded(ctx, inst.control, wire.Decode(err))
	}
	out, err := res.Output()
	return inst, append([]byte(nil), out...), err
}

// RunOnce creates an instance, runs it once (CreateAndRun) and ends it, returning once it has
// ended: the last of its output has reached the debug sink, and nothing of it is left.
func (r *Requestor) RunOnce(ctx context.Context, opts *CreateOptions, input []byte) ([]byte, error) {
	inst, out, err := r.CreateAndRun(ctx, opts, input)
	if inst == nil {
		return nil, err
	}
	defer inst.Release()
	if kerr := inst.Kill(ctx); err == nil {
		err = kerr
	}
	return out, err
}

// whyEnded replaces a call's failure by the reason its instance ended, when it ended: "memory
// limit 64 MiB exceeded" says more than "connection closed".
func whyEnded(ctx context.Context, ctl schema.InstanceControl, err error) error {
	if !ctl.IsValid() {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	fut, release := ctl.Wait(ctx, nil)
	defer release()
	res, werr := fut.Struct()
	if werr != nil {
		return err
	}
	info, werr := res.Info()
	if werr != nil {
		return err
	}
	if reason, _ := info.EndReason(); reason != "" {
		return fmt.Errorf("%w: %s", ErrEnded, reason)
	}
	return err
}

// Limits are what an instance may use, enforced by the kernel. An instance that exceeds memory,
// processes or CPU time is killed, and Wait says why.
type Limits struct {
	MemoryBytes   uint64 // at least 16 MiB
	Pids          uint32 // processes and threads, at least 16
	CPUMillicores uint32 // CPU share: 500 is half a core, at least 10
	CPUSeconds    uint32 // total CPU time
	OpenFiles     uint32
}

// Instance is a running yield: the capability its program published and its control facet.
// Releasing it ends the instance.
type Instance struct {
	cap     capnp.Client
	control schema.InstanceControl
}

// Cap lends the capability the program published.
func (i *Instance) Cap() capnp.Client { return i.cap }

// Job lends the instance's capability as a Job.
func (i *Instance) Job() schema.Job { return schema.Job(i.cap) }

// Run calls Job.run on the instance.
func (i *Instance) Run(ctx context.Context, input []byte) ([]byte, error) {
	fut, release := i.Job().Run(ctx, func(p schema.Job_run_Params) error {
		return p.SetInput(input)
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	out, err := res.Output()
	return append([]byte(nil), out...), err
}

// Info describes the instance.
func (i *Instance) Info(ctx context.Context) (InstanceInfo, error) {
	fut, release := i.control.Info(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return InstanceInfo{}, wire.Decode(err)
	}
	info, err := res.Info()
	if err != nil {
		return InstanceInfo{}, err
	}
	return instanceInfo(info)
}

// Kill ends the instance and returns once it has ended.
func (i *Instance) Kill(ctx context.Context) error {
	return call(i.control.Kill(ctx, nil))
}

// Wait returns once the instance has ended, with its final description.
func (i *Instance) Wait(ctx context.Context) (InstanceInfo, error) {
	fut, release := i.control.Wait(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return InstanceInfo{}, wire.Decode(err)
	}
	info, err := res.Info()
	if err != nil {
		return InstanceInfo{}, err
	}
	return instanceInfo(info)
}

// Release drops the instance's capabilities: once no one holds its capability, it ends.
func (i *Instance) Release() {
	if i != nil {
		i.cap.Release()
		i.control.Release()
	}
}

// debugSink writes a yield's output to the requestor's writers.
type debugSink struct {
	mu  sync.Mutex // serialises writes to out and err
	out io.Writer
	err io.Writer
}

func (s *debugSink) Write(ctx context.Context, call schema.DebugSink_write) error {
	data, err := call.Args().Data()
	if err != nil {
		return err
	}
	w := s.out
	if call.Args().Stream() == schema.Stream_stderr {
		w = s.err
	}
	if w == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = w.Write(data)
	return err
}
