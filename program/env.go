package program

import (
	"context"
	"errors"
	"fmt"
	"sort"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/schema"
)

// Errors the SDK returns.
var (
	// ErrNoSuchComponent: the factory installed no component of that name (or kind).
	ErrNoSuchComponent = errors.New("no such component")
	// ErrNoSuchArg: the requestor passed no argument of that name (or kind).
	ErrNoSuchArg = errors.New("no such argument")
	// ErrNotInVat: the process was not started by factoryd.
	ErrNotInVat = errors.New("not running in a factoryd vat")
)

// Kind says what a component is.
type Kind = schema.ComponentKind

// The component kinds.
const (
	KindData    = schema.ComponentKind_data
	KindSensory = schema.ComponentKind_sensory
	KindFactory = schema.ComponentKind_factory
	KindHole    = schema.ComponentKind_hole
)

type component struct {
	kind Kind
	blob schema.Blob
	cap  capnp.Client
}

type arg struct {
	data []byte
	cap  capnp.Client
	// isCap distinguishes a null capability argument from a data argument.
	isCap bool
}

// Env is what the program was created with. Its capabilities live as long as the program; the
// accessors lend them (callers AddRef to keep one beyond a call they pass it to). It is filled
// in while the program starts: every accessor waits until it is.
type Env struct {
	ready      chan struct{} // closed once loaded (or failed)
	err        error
	components map[string]component
	args       map[string]arg
	meter      *Meter
}

func newEnv() *Env {
	return &Env{ready: make(chan struct{}), components: map[string]component{}, args: map[string]arg{}}
}

// wait returns once the endowment is loaded, with the error that stopped it, if any.
func (e *Env) wait() error {
	<-e.ready
	return e.err
}

// Err reports a failure to load the endowment (after waiting for it): the accessors then find
// nothing.
func (e *Env) Err() error { return e.wait() }

// Components returns the names of the factory's components, sorted.
func (e *Env) Components() []string {
	e.wait()
	return sortedKeys(e.components)
}

// Args returns the names of the requestor's arguments, sorted.
func (e *Env) Args() []string {
	e.wait()
	return sortedKeys(e.args)
}

// Kind returns the kind of the named component.
func (e *Env) Kind(name string) (Kind, error) {
	if err := e.wait(); err != nil {
		return 0, err
	}
	c, ok := e.components[name]
	if !ok {
		return 0, fmt.Errorf("component %q: %w", name, ErrNoSuchComponent)
	}
	return c.kind, nil
}

// Blob lends the named data component.
func (e *Env) Blob(name string) (schema.Blob, error) {
	if err := e.wait(); err != nil {
		return schema.Blob{}, err
	}
	c, ok := e.components[name]
	if !ok || c.kind != KindData {
		return schema.Blob{}, fmt.Errorf("data component %q: %w", name, ErrNoSuchComponent)
	}
	return c.blob, nil
}

// Data reads the whole named data component.
func (e *Env) Data(ctx context.Context, name string) ([]byte, error) {
	b, err := e.Blob(name)
	if err != nil {
		return nil, err
	}
	return ReadBlob(ctx, b)
}

// Cap lends the named capability component (sensory, factory or hole).
func (e *Env) Cap(name string) (capnp.Client, error) {
	if err := e.wait(); err != nil {
		return capnp.Client{}, err
	}
	c, ok := e.components[name]
	if !ok || c.kind == KindData {
		return capnp.Client{}, fmt.Errorf("capability component %q: %w", name, ErrNoSuchComponent)
	}
	return c.cap, nil
}

// Arg returns the named data argument.
func (e *Env) Arg(name string) ([]byte, error) {
	if err := e.wait(); err != nil {
		return nil, err
	}
	a, ok := e.args[name]
	if !ok || a.isCap {
		return nil, fmt.Errorf("data argument %q: %w", name, ErrNoSuchArg)
	}
	return a.data, nil
}

// ArgCap lends the named capability argument.
func (e *Env) ArgCap(name string) (capnp.Client, error) {
	if err := e.wait(); err != nil {
		return capnp.Client{}, err
	}
	a, ok := e.args[name]
	if !ok || !a.isCap {
		return capnp.Client{}, fmt.Errorf("capability argument %q: %w", name, ErrNoSuchArg)
	}
	return a.cap, nil
}

// ReadBlob reads a whole blob, chunk by chunk.
func ReadBlob(ctx context.Context, b schema.Blob) ([]byte, error) {
	fut, release := b.Size(ctx, nil)
	res, err := fut.Struct()
	if err != nil {
		release()
		return nil, fmt.Errorf("blob size: %w", err)
	}
	size := res.Size()
	release()
	out := make([]byte, 0, size)
	for uint64(len(out)) < size {
		chunk, err := readChunk(ctx, b, uint64(len(out)))
		if err != nil {
			return nil, err
		}
		if len(chunk) == 0 {
			return nil, fmt.Errorf("blob ended at %d of %d bytes", len(out), size)
		}
		out = append(out, chunk...)
	}
	return out, nil
}

func readChunk(ctx context.Context, b schema.Blob, off uint64) ([]byte, error) {
	fut, release := b.Read(ctx, func(p schema.Blob_read_Params) error {
		p.SetOffset(off)
		p.SetCount(1 << 20)
		return nil
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, fmt.Errorf("blob read: %w", err)
	}
	d, err := res.Data()
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), d...), nil
}

// fetch reads the endowment and fetches each of its capabilities, all calls in flight at
// once. It takes a reference to every capability.
func (e *Env) fetch(ctx context.Context, host schema.VatHost, en schema.Endowment) error {
	var pending []func() error
	comps, err := en.Components()
	if err != nil {
		return err
	}
	for i := 0; i < comps.Len(); i++ {
		c := comps.At(i)
		name, err := c.Name()
		if err != nil {
			return err
		}
		pending = append(pending, e.fetchComponent(ctx, host, name, c.Kind()))
	}
	args, err := en.Args()
	if err != nil {
		return err
	}
	for i := 0; i < args.Len(); i++ {
		f, err := e.addArg(ctx, host, args.At(i))
		if err != nil {
			return err
		}
		if f != nil {
			pending = append(pending, f)
		}
	}
	pending = append(pending, e.fetchMeter(ctx, host))
	var errs []error
	for _, wait := range pending {
		if err := wait(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fetchComponent starts the call for one component's capability; the returned function waits
// for it.
func (e *Env) fetchComponent(ctx context.Context, host schema.VatHost, name string, kind Kind) func() error {
	fut, release := host.Component(ctx, func(p schema.VatHost_component_Params) error { return p.SetName(name) })
	return func() error {
		defer release()
		res, err := fut.Struct()
		if err != nil {
			return fmt.Errorf("component %q: %w", name, err)
		}
		comp := component{kind: kind}
		if kind == KindData {
			comp.blob = schema.Blob(res.Cap().AddRef())
		} else {
			comp.cap = res.Cap().AddRef()
		}
		e.components[name] = comp
		return nil
	}
}

// addArg records a data argument, or starts the call for a capability argument and returns the
// function that waits for it.
func (e *Env) addArg(ctx context.Context, host schema.VatHost, a schema.ArgInfo) (func() error, error) {
	name, err := a.Name()
	if err != nil {
		return nil, err
	}
	if a.Which() == schema.ArgInfo_Which_data {
		d, err := a.Data()
		if err != nil {
			return nil, err
		}
		e.args[name] = arg{data: append([]byte(nil), d...)}
		return nil, nil
	}
	fut, release := host.Arg(ctx, func(p schema.VatHost_arg_Params) error { return p.SetName(name) })
	return func() error {
		defer release()
		res, err := fut.Struct()
		if err != nil {
			return fmt.Errorf("argument %q: %w", name, err)
		}
		e.args[name] = arg{cap: res.Cap().AddRef(), isCap: true}
		return nil
	}, nil
}

// fetchMeter starts the call for the billing meter. A host without one (an older daemon, a
// test harness) leaves the program a meter that refuses every charge with an error.
func (e *Env) fetchMeter(ctx context.Context, host schema.VatHost) func() error {
	fut, release := host.Meter(ctx, nil)
	return func() error {
		defer release()
		res, err := fut.Struct()
		if err != nil {
			e.meter = &Meter{err: fmt.Errorf("no billing meter: %w", err)}
			return nil
		}
		e.meter = newMeter(res.Meter().AddRef())
		return nil
	}
}

// Meter returns the program's billing meter: its one channel to the factory's builder.
func (e *Env) Meter() *Meter {
	if e.wait() != nil || e.meter == nil {
		return &Meter{err: errors.New("no billing meter: the endowment did not load")}
	}
	return e.meter
}

// release drops every capability the Env holds, once it is loaded.
func (e *Env) release() {
	e.wait()
	if e.meter != nil {
		e.meter.cap.Release()
	}
	for _, c := range e.components {
		c.blob.Release()
		c.cap.Release()
	}
	for _, a := range e.args {
		a.cap.Release()
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
