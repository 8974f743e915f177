package factory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/schema"
)

// counter is a capability served by the test — a foreign capability to the daemon — that
// counts every call made on it: the daemon must never make one (invariant 6).
type counter struct{ calls *atomic.Int64 }

func (c counter) Run(context.Context, schema.Job_run) error { c.calls.Add(1); return nil }

// fakeRequestor claims to be a factory; fakeTree claims to be sensory. Both are served by the
// test, so no brand of the daemon's can be theirs.
type fakeRequestor struct{ calls *atomic.Int64 }

func (f fakeRequestor) Create(context.Context, schema.Requestor_create) error {
	f.calls.Add(1)
	return nil
}
func (f fakeRequestor) Info(context.Context, schema.Requestor_info) error { f.calls.Add(1); return nil }
func (f fakeRequestor) IsDiscreet(_ context.Context, c schema.Requestor_isDiscreet) error {
	f.calls.Add(1)
	r, _ := c.AllocResults()
	r.SetDiscreet(true)
	return nil
}
func (f fakeRequestor) Verifier(context.Context, schema.Requestor_verifier) error {
	f.calls.Add(1)
	return nil
}
func (f fakeRequestor) Control(context.Context, schema.Requestor_control) error {
	f.calls.Add(1)
	return nil
}
func (f fakeRequestor) Holes(context.Context, schema.Requestor_holes) error {
	f.calls.Add(1)
	return nil
}
func (f fakeRequestor) Compare(_ context.Context, c schema.Requestor_compare) error {
	f.calls.Add(1)
	return nil
}

func (f fakeRequestor) Capacity(context.Context, schema.Requestor_capacity) error {
	f.calls.Add(1)
	return nil
}

type fakeTree struct{ calls *atomic.Int64 }

func (f fakeTree) List(context.Context, schema.Tree_list) error     { f.calls.Add(1); return nil }
func (f fakeTree) Get(context.Context, schema.Tree_get) error       { f.calls.Add(1); return nil }
func (f fakeTree) Digest(context.Context, schema.Tree_digest) error { f.calls.Add(1); return nil }

// yieldProxy forwards Job.run to a real yield: a forgery of a yield.
type yieldProxy struct {
	target capnp.Client
	calls  *atomic.Int64
}

func (p yieldProxy) Run(ctx context.Context, call schema.Job_run) error {
	p.calls.Add(1)
	return nil
}

// world is the state of one random run: the daemon, the capabilities on offer, and a model of
// what every factory must be.
type world struct {
	t         *testing.T
	h         *harness
	ctx       context.Context
	rng       *rand.Rand
	calls     atomic.Int64 // calls on the test's own capabilities: must stay 0
	factories []*modelFactory
	foreign   []capnp.Client // test-served capabilities, each its own hole identity
	prog      [32]byte
	blob      capnp.Client
	tree      *client.Tree
	yields    []*client.Instance
}

type modelFactory struct {
	name   string
	b      *client.Builder
	r      *client.Requestor
	sealed bool
	n      int                // components installed
	holes  map[string]bool    // symbolic identities of its own holes
	subs   []*modelFactory    // installed factories
	frozen *client.Report     // the report at seal
	info   client.FactoryInfo // the record at seal
}

// expected is the model's hole set: own holes and every installed factory's.
func (m *modelFactory) expected() map[string]bool {
	out := map[string]bool{}
	for h := range m.holes {
		out[h] = true
	}
	for _, s := range m.subs {
		for h := range s.expected() {
			out[h] = true
		}
	}
	return out
}

// An offer is a capability the random sequence may pass, with what the model says it is.
type offer struct {
	name    string
	cap     capnp.Client
	sensory bool          // installSensory must accept it
	factory *modelFactory // a sealed requestor facet
	hole    string        // its symbolic hole identity
}

func (w *world) offers() []offer {
	out := []offer{
		{name: "null", sensory: true},
		{name: "blob", cap: w.blob, sensory: true},
		{name: "tree", cap: w.tree.Cap(), sensory: true},
	}
	for i, f := range w.foreign {
		out = append(out, offer{name: fmt.Sprintf("foreign%d", i), cap: f, hole: fmt.Sprintf("foreign%d", i)})
	}
	for _, f := range w.factories {
		out = append(out, offer{name: "builder of " + f.name, cap: capnp.Client(f.b.Cap()), hole: "builder:" + f.name})
		if f.sealed {
			out = append(out, offer{name: "requestor of " + f.name, cap: capnp.Client(f.r.Cap()), factory: f})
		}
	}
	for i, y := range w.yields {
		out = append(out, offer{name: fmt.Sprintf("yield%d", i), cap: y.Cap(), hole: fmt.Sprintf("yield%d", i)})
	}
	return out
}

func newWorld(t *testing.T, seed uint64) *world {
	h := newHarness(t, nil)
	w := &world{t: t, h: h, ctx: ctxT(t), rng: rand.New(rand.NewPCG(seed, seed^0x9e37))}
	ctx := w.ctx
	w.foreign = []capnp.Client{
		capnp.Client(schema.Job_ServerToClient(counter{&w.calls})),
		capnp.Client(schema.Requestor_ServerToClient(fakeRequestor{&w.calls})),
		capnp.Client(schema.Tree_ServerToClient(fakeTree{&w.calls})),
	}
	t.Cleanup(func() {
		for _, f := range w.foreign {
			f.Release()
		}
	})
	prog, err := buildProgram(kvstore)
	require.NoError(t, err)
	w.prog, err = h.c.UploadFile(ctx, prog)
	require.NoError(t, err)
	d, err := h.c.Upload(ctx, bytesReader([]byte("some data")))
	require.NoError(t, err)
	w.blob, err = h.c.Blob(ctx, d)
	require.NoError(t, err)
	t.Cleanup(w.blob.Release)
	w.tree = uploadTree(t, h.c, map[string]string{"a": "1", "b/c": "2"})
	return w
}

func (w *world) pick(fs []*modelFactory, sealed bool) *modelFactory {
	var c []*modelFactory
	for _, f := range fs {
		if f.sealed == sealed {
			c = append(c, f)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[w.rng.IntN(len(c))]
}

// step performs one random call and checks the model.
func (w *world) step() {
	switch op := w.rng.IntN(10); {
	case op == 0 || len(w.factories) < 2:
		w.newFactory()
	case op <= 4:
		if f := w.pick(w.factories, false); f != nil {
			w.install(f)
		}
	case op <= 6:
		if f := w.pick(w.factories, false); f != nil {
			w.seal(f)
		}
	case op == 7:
		if f := w.pick(w.factories, true); f != nil {
			w.installAfterSeal(f)
		}
	case op == 8:
		if f := w.pick(w.factories, true); f != nil {
			w.compare(f)
		}
	default:
		if f := w.pick(w.factories, true); f != nil && len(w.yields) < 3 {
			w.create(f)
		}
	}
}

func (w *world) newFactory() {
	name := fmt.Sprintf("f%d", len(w.factories))
	b, err := w.h.c.NewFactory(w.ctx, name)
	require.NoError(w.t, err)
	w.t.Cleanup(b.Release)
	require.NoError(w.t, b.SetProgram(w.ctx, w.prog))
	w.factories = append(w.factories, &modelFactory{name: name, b: b, holes: map[string]bool{}})
}

// install makes one random install and checks the daemon accepted exactly what the model
// allows (invariant 3), recording the model's holes.
func (w *world) install(f *modelFactory) {
	offers := w.offers()
	o := offers[w.rng.IntN(len(offers))]
	if sealed := w.pick(w.factories, true); sealed != nil && w.rng.IntN(3) == 0 {
		o = offer{name: "requestor of " + sealed.name, cap: capnp.Client(sealed.r.Cap()), factory: sealed}
	}
	name := fmt.Sprintf("c%d", f.n)
	f.n++
	switch w.rng.IntN(4) {
	case 0:
		err := f.b.InstallSensory(w.ctx, name, o.cap)
		if o.sensory {
			require.NoError(w.t, err, "installSensory(%s)", o.name)
		} else {
			require.ErrorIs(w.t, err, client.ErrInvalid, "installSensory(%s) must be refused", o.name)
		}
	case 1:
		if o.factory != nil {
			require.NoError(w.t, f.b.InstallFactory(w.ctx, name, o.factory.r), "installFactory(%s)", o.name)
			f.subs = append(f.subs, o.factory)
			return
		}
		err := installFactoryCap(w.ctx, f.b, name, o.cap)
		require.ErrorIs(w.t, err, client.ErrInvalid, "installFactory(%s) must be refused", o.name)
	case 2:
		require.NoError(w.t, f.b.InstallHole(w.ctx, name, o.cap, "label"), "installHole(%s)", o.name)
		h := o.hole
		switch {
		case o.cap.IsValid() && h == "" && o.factory != nil:
			h = "requestor:" + o.factory.name
		case !o.cap.IsValid():
			h = "declared:" + f.name + "/" + name
		case h == "":
			h = o.name // a sensory capability installed as a hole is still counted as one
		}
		f.holes[h] = true
	default:
		require.NoError(w.t, f.b.InstallDropbox(w.ctx, name, "box"))
		f.holes["dropbox:"+f.name+"/"+name] = true
	}
}

func installFactoryCap(ctx context.Context, b *client.Builder, name string, c capnp.Client) error {
	fut, release := b.Cap().InstallFactory(ctx, func(p schema.Builder_installFactory_Params) error {
		if err := p.SetName(name); err != nil {
			return err
		}
		return p.SetRequestor(schema.Requestor(c.AddRef()))
	})
	defer release()
	_, err := fut.Struct()
	return wireDecode(err)
}

func (w *world) seal(f *modelFactory) {
	r, err := f.b.Seal(w.ctx)
	require.NoError(w.t, err)
	w.t.Cleanup(r.Release)
	f.r, f.sealed = r, true
	f.frozen, err = r.Holes(w.ctx)
	require.NoError(w.t, err)
	f.info, err = r.Info(w.ctx)
	require.NoError(w.t, err)
	want := f.expected()
	assert.Len(w.t, f.frozen.Holes, len(want), "%s: holes = declared ∪ holes of component factories (%v)", f.name, want)
	assert.Equal(w.t, len(want) == 0, f.frozen.Discreet, "%s: discreet iff no holes", f.name)
}

// installAfterSeal checks seal immutability (invariant 1): every mutation fails with sealed
// and nothing changes.
func (w *world) installAfterSeal(f *modelFactory) {
	for _, err := range []error{
		f.b.InstallData(w.ctx, "late", w.prog),
		f.b.InstallSensory(w.ctx, "late", w.blob),
		f.b.InstallHole(w.ctx, "late", w.foreign[0], "late"),
		f.b.InstallDropbox(w.ctx, "late", "late"),
		f.b.SetProgram(w.ctx, w.prog),
	} {
		require.ErrorIs(w.t, err, client.ErrSealed)
	}
	rep, err := f.r.Holes(w.ctx)
	require.NoError(w.t, err)
	assert.Equal(w.t, f.frozen, rep, "%s: the report is frozen at seal", f.name)
	info, err := f.r.Info(w.ctx)
	require.NoError(w.t, err)
	assert.Equal(w.t, f.info, info, "%s: the record is frozen at seal", f.name)
}

// compare checks compare against every offer (invariant 5): the model's subset relation for
// sealed factories, notAFactory for everything else.
func (w *world) compare(policy *modelFactory) {
	for _, o := range w.offers() {
		v, err := policy.r.Compare(w.ctx, o.cap)
		require.NoError(w.t, err)
		want := client.NotAFactory
		if o.factory != nil {
			want = client.ExtraHoles
			if subsetOf(o.factory.expected(), policy.expected()) {
				want = client.Subset
			}
		}
		assert.Equal(w.t, want, v, "%s.compare(%s)", policy.name, o.name)
	}
}

func subsetOf(a, b map[string]bool) bool {
	for h := range a {
		if !b[h] {
			return false
		}
	}
	return true
}

// create checks invariants 7 and 8: provenance by the verifier, and that the instance's
// endowment is exactly the factory's components.
func (w *world) create(f *modelFactory) {
	inst, err := f.r.Create(w.ctx, nil)
	require.NoError(w.t, err)
	w.t.Cleanup(inst.Release)
	w.yields = append(w.yields, inst)
	for _, g := range w.factories {
		if !g.sealed {
			continue
		}
		v, err := g.r.Verifier(w.ctx)
		require.NoError(w.t, err)
		ok, err := v.VerifyYield(w.ctx, inst.Cap())
		v.Release()
		require.NoError(w.t, err)
		assert.Equal(w.t, g == f, ok, "verifier of %s on a yield of %s", g.name, f.name)
	}
}

func TestInvariantsOverRandomSequences(t *testing.T) {
	seeds, steps := uint64(6), 60
	if raceEnabled {
		seeds, steps = 2, 30
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := newWorld(t, seed)
			for range steps {
				w.step()
			}
			for _, f := range w.factories {
				if f.sealed {
					w.compare(f)
				}
			}
			assert.Zero(t, w.calls.Load(), "the daemon called a capability it was given")
			checkPreorder(t, w)
			t.Logf("%s", w.summary())
		})
	}
}

// checkPreorder checks compare is reflexive and transitive over the sealed factories.
func checkPreorder(t *testing.T, w *world) {
	var sealed []*modelFactory
	for _, f := range w.factories {
		if f.sealed {
			sealed = append(sealed, f)
		}
	}
	cmp := map[[2]int]client.Verdict{}
	for i, a := range sealed {
		for j, b := range sealed {
			v, err := a.r.Compare(w.ctx, capnp.Client(b.r.Cap()))
			require.NoError(t, err)
			cmp[[2]int{i, j}] = v
		}
		assert.Equal(t, client.Subset, cmp[[2]int{i, i}], "reflexive: %s", a.name)
	}
	for i := range sealed {
		for j := range sealed {
			for k := range sealed {
				if cmp[[2]int{i, j}] == client.Subset && cmp[[2]int{j, k}] == client.Subset {
					assert.Equal(t, client.Subset, cmp[[2]int{i, k}], "transitive")
				}
			}
		}
	}
}

func (w *world) summary() string {
	sealed, comps, holes, subs := 0, 0, 0, 0
	for _, f := range w.factories {
		comps += f.n
		holes += len(f.holes)
		subs += len(f.subs)
		if f.sealed {
			sealed++
		}
	}
	return fmt.Sprintf("%d factories (%d sealed), %d installs, %d holes, %d nested, %d yields",
		len(w.factories), sealed, comps, holes, subs, len(w.yields))
}
