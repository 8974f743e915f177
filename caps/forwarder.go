package caps

import (
	"context"
	"errors"
	"sync"

	capnp "capnproto.org/go/capnp/v3"
)

// ErrRevoked is the error a call on a revoked Forwarder fails with.
var ErrRevoked = errors.New("capability revoked")

// Forwarder is a capability that passes every call to a target until it is revoked. Its brand
// identifies it as the daemon's own, and carries a tag naming what it stands for (for example,
// the instance whose export it forwards), so the daemon can recognise it without calling it.
//
// Concurrency: mu guards target and err; calls are forwarded outside the lock, and the target
// is released outside the lock.
type Forwarder struct {
	tag       any
	onRelease func()

	mu     sync.Mutex
	target capnp.Client
	err    error
}

// NewForwarder returns a client that forwards to target. It steals target. onRelease, if not
// nil, runs once when the last reference to the returned client is released. The caller owns
// the returned client.
func NewForwarder(target capnp.Client, tag any, onRelease func()) (capnp.Client, *Forwarder) {
	f := &Forwarder{tag: tag, onRelease: onRelease, target: target}
	return capnp.NewClient(f), f
}

// Tag returns the value given to NewForwarder.
func (f *Forwarder) Tag() any { return f.tag }

// Revoke makes every later call fail with err (ErrRevoked if nil) and releases the target.
// Calls already forwarded are not interrupted. Revoke is idempotent.
func (f *Forwarder) Revoke(err error) {
	if err == nil {
		err = ErrRevoked
	}
	f.mu.Lock()
	t := f.target
	f.target = capnp.Client{}
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
	t.Release()
}

// current returns a new reference to the target, or the revocation error.
func (f *Forwarder) current() (capnp.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return capnp.Client{}, f.err
	}
	return f.target.AddRef(), nil
}

// Send implements capnp.ClientHook.
func (f *Forwarder) Send(ctx context.Context, s capnp.Send) (*capnp.Answer, capnp.ReleaseFunc) {
	t, err := f.current()
	if err != nil {
		return capnp.ErrorAnswer(s.Method, err), func() {}
	}
	defer t.Release()
	return t.SendCall(ctx, s)
}

// Recv implements capnp.ClientHook.
func (f *Forwarder) Recv(ctx context.Context, r capnp.Recv) capnp.PipelineCaller {
	t, err := f.current()
	if err != nil {
		r.Reject(err)
		// Never nil: capnp-go delivers calls pipelined on this one to what Recv returns, and a
		// nil there panics (answerqueue.go Fulfill); an error answer fails them instead.
		return capnp.ErrorAnswer(r.Method, err)
	}
	defer t.Release()
	if pc := t.RecvCall(ctx, r); pc != nil {
		return pc
	}
	return capnp.ErrorAnswer(r.Method, ErrRevoked)
}

// Brand implements capnp.ClientHook; see BrandOf.
func (f *Forwarder) Brand() capnp.Brand { return capnp.Brand{Value: f} }

// Shutdown implements capnp.ClientHook: the last reference is gone.
func (f *Forwarder) Shutdown() {
	f.Revoke(ErrRevoked)
	if f.onRelease != nil {
		f.onRelease()
	}
}

// String implements capnp.ClientHook.
func (f *Forwarder) String() string { return "factoryd forwarder" }
