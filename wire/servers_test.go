package wire

import (
	"context"
	"errors"
	"sync"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/schema"
)

// The servers the tests offer to a peer, built from factoryd's schema so that the validator's
// schema tables apply to them as they do to the daemon's objects.

// gate blocks methods until it is opened.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// wait waits for the gate or for ctx, as every method that waits must (see the package doc).
func (g *gate) wait(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case <-g.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// testBlob is a Blob of fixed content. digest returns without results.
type testBlob struct {
	data []byte
}

func (b *testBlob) Size(_ context.Context, call schema.Blob_size) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetSize(uint64(len(b.data)))
	return nil
}

func (b *testBlob) Read(_ context.Context, call schema.Blob_read) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetData(b.data)
}

func (b *testBlob) Digest(context.Context, schema.Blob_digest) error { return nil }

// testUpload is the usual bootstrap of the tests: a BlobUpload whose write returns without
// results and whose commit waits for its gate, then returns a testBlob of what was written.
type testUpload struct {
	commit *gate

	mu   sync.Mutex
	data []byte
}

func (u *testUpload) Write(_ context.Context, call schema.BlobUpload_write) error {
	d, err := call.Args().Data()
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.data = append(u.data, d...)
	u.mu.Unlock()
	return nil
}

func (u *testUpload) Commit(ctx context.Context, call schema.BlobUpload_commit) error {
	call.Go()
	if err := u.commit.wait(ctx); err != nil {
		return err
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	u.mu.Lock()
	data := append([]byte(nil), u.data...)
	u.mu.Unlock()
	if err := res.SetSha256([]byte("not a digest")); err != nil {
		return err
	}
	return res.SetBlob(schema.Blob_ServerToClient(&testBlob{data: data}))
}

// newUpload returns a testUpload client whose commit waits for g (nil: does not wait).
func newUpload(g *gate) capnp.Client {
	return capnp.Client(schema.BlobUpload_ServerToClient(&testUpload{commit: g}))
}

// caller is a VatHost whose publish treats its argument as a BlobUpload: it calls commit on
// it, pipelines size on the blob of commit's results, and waits for that answer or for its
// context — a method blocked on the peer, written by the package rule. again calls the last
// argument, or that blob, once more, without waiting. Its other methods fail.
type caller struct {
	mu    sync.Mutex
	arg   capnp.Client
	blob  capnp.Client
	calls chan struct{} // one receive per publish started
}

func newCaller() *caller { return &caller{calls: make(chan struct{}, 16)} }

func (c *caller) Publish(ctx context.Context, call schema.VatHost_publish) error {
	call.Go()
	up := schema.BlobUpload(call.Args().Export().AddRef())
	commit, crelease := up.Commit(ctx, nil)
	blob := commit.Blob()
	size, srelease := blob.Size(ctx, nil)
	c.mu.Lock()
	c.arg.Release()
	c.blob.Release()
	c.arg, c.blob = capnp.Client(up), capnp.Client(blob.AddRef())
	c.mu.Unlock()
	c.calls <- struct{}{}
	select {
	case <-size.Done():
		_, err := size.Struct()
		srelease()
		crelease()
		return err
	case <-ctx.Done():
		// Releasing an answer waits for it: the peer may never send it.
		go func() {
			srelease()
			crelease()
		}()
		return ctx.Err()
	}
}

// again calls commit on the last argument (blob false) or size on the blob pipelined on it;
// the answer is dropped.
func (c *caller) again(ctx context.Context, blob bool) {
	c.mu.Lock()
	arg, b := c.arg.AddRef(), c.blob.AddRef()
	c.mu.Unlock()
	defer arg.Release()
	defer b.Release()
	var release capnp.ReleaseFunc
	if blob {
		_, release = schema.Blob(b).Size(ctx, nil)
	} else {
		_, release = schema.BlobUpload(arg).Commit(ctx, nil)
	}
	go release()
}

func (c *caller) Shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arg.Release()
	c.blob.Release()
	c.arg, c.blob = capnp.Client{}, capnp.Client{}
}

var errNotHere = errors.New("not implemented by this test server")

func (c *caller) Endowment(context.Context, schema.VatHost_endowment) error { return errNotHere }
func (c *caller) Component(context.Context, schema.VatHost_component) error { return errNotHere }
func (c *caller) Arg(context.Context, schema.VatHost_arg) error             { return errNotHere }
func (c *caller) Meter(context.Context, schema.VatHost_meter) error         { return errNotHere }

func newCallerClient(c *caller) capnp.Client {
	return capnp.Client(schema.VatHost_ServerToClient(c))
}

// classifier is a Verifier that behaves as factoryd's own: verifyYield never calls its
// argument, it only waits for it to resolve (or for its context) and looks at it.
type classifier struct{}

func (classifier) VerifyYield(ctx context.Context, call schema.Verifier_verifyYield) error {
	call.Go()
	snap := call.Args().Cap().Snapshot()
	defer snap.Release()
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	resolved := snap.Resolve(ctx) == nil
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetOk(resolved && snap.IsValid())
	return nil
}

func newClassifier() capnp.Client { return capnp.Client(schema.Verifier_ServerToClient(classifier{})) }
