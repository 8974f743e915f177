package factory

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/schema"
)

// Forgeries: objects a client implements that claim to be what they are not, a proxy of a
// yield, a sibling's yield and a promise that never resolves must each be judged correctly,
// without the daemon ever calling them.
func TestForgeries(t *testing.T) {
	h := newHarness(t, &Options{PromiseDeadline: 200 * time.Millisecond})
	ctx := ctxT(t)
	policy := h.publish("policy", kvstore, nil)
	sibling := h.publish("sibling", kvstore, nil)
	yield, err := policy.Create(ctx, nil)
	require.NoError(t, err)
	defer yield.Release()
	sib, err := sibling.Create(ctx, nil)
	require.NoError(t, err)
	defer sib.Release()

	var calls atomic.Int64
	never, _ := capnp.NewLocalPromise[capnp.Client]() // never resolved
	defer never.Release()
	forgeries := map[string]capnp.Client{
		"fake factory":            capnp.Client(schema.Requestor_ServerToClient(fakeRequestor{&calls})),
		"fake sensory view":       capnp.Client(schema.Tree_ServerToClient(fakeTree{&calls})),
		"proxy of a yield":        capnp.Client(schema.Job_ServerToClient(yieldProxy{yield.Cap(), &calls})),
		"never-resolving promise": never,
	}
	b, err := h.c.NewFactory(ctx, "draft")
	require.NoError(t, err)
	defer b.Release()
	v, err := policy.Verifier(ctx)
	require.NoError(t, err)
	defer v.Release()

	for name, c := range forgeries {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, b.InstallSensory(ctx, "s", c), client.ErrInvalid, "never sensory")
			assert.ErrorIs(t, installFactoryCap(ctx, b, "f", c), client.ErrInvalid, "never a factory")
			verdict, err := policy.Compare(ctx, c)
			require.NoError(t, err)
			assert.Equal(t, client.NotAFactory, verdict)
			ok, err := v.VerifyYield(ctx, c)
			require.NoError(t, err)
			assert.False(t, ok, "never a yield of this factory")
		})
	}
	ok, err := v.VerifyYield(ctx, sib.Cap())
	require.NoError(t, err)
	assert.False(t, ok, "a sibling's yield")
	ok, err = v.VerifyYield(ctx, yield.Cap())
	require.NoError(t, err)
	assert.True(t, ok, "its own yield")

	for name, c := range forgeries {
		require.NoError(t, b.InstallHole(ctx, strings.ReplaceAll(name, " ", "-"), c, name), "anything may be a hole")
	}
	rep, err := b.Holes(ctx)
	require.NoError(t, err)
	assert.Len(t, rep.Holes, len(forgeries), "each forgery is a hole")
	for _, hole := range rep.Holes {
		if hole.Label == "never-resolving promise" {
			assert.Contains(t, hole.Reason, "did not resolve")
		} else {
			assert.Contains(t, hole.Reason, "held by another connection")
		}
	}
	assert.Zero(t, calls.Load(), "the daemon never calls what it judges")
}

// Builder-only methods fail through every other facet: a facet's capability answers only its
// own interface, whatever method a caller names.
func TestFacetSeparation(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	r := h.publish("kv", kvstore, nil)
	v, err := r.Verifier(ctx)
	require.NoError(t, err)
	defer v.Release()
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	defer inst.Release()
	for name, c := range map[string]capnp.Client{
		"requestor": capnp.Client(r.Cap()),
		"verifier":  v.Cap(),
		"yield":     inst.Cap(),
	} {
		t.Run(name, func(t *testing.T) {
			b := schema.Builder(c.AddRef())
			defer b.Release()
			fut, release := b.Seal(ctx, nil)
			_, err := fut.Struct()
			release()
			assert.Error(t, err, "seal through the %s", name)
			fut2, release2 := b.InstallHole(ctx, func(p schema.Builder_installHole_Params) error { return p.SetName("x") })
			_, err = fut2.Struct()
			release2()
			assert.Error(t, err, "installHole through the %s", name)
		})
	}
	f, err := h.c.Factory(ctx, "kv")
	require.NoError(t, err)
	assert.Empty(t, f.Components, "nothing was installed")
}

// Every capability a sensory tree returns is sensory too, at every depth, and reading it
// changes nothing (invariant 4).
func TestSensoryClosure(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	tree := uploadTree(t, h.c, map[string]string{"a": "1", "d/b": "2", "d/e/c": "3", "d/e/f/g": "4"})
	b, err := h.c.NewFactory(ctx, "views")
	require.NoError(t, err)
	defer b.Release()
	n := 0
	var walk func(c capnp.Client)
	walk = func(c capnp.Client) {
		n++
		require.NoError(t, b.InstallSensory(ctx, "v"+string(rune('a'+n)), c), "returned capability %d is sensory", n)
		tr := schema.Tree(c)
		fut, release := tr.List(ctx, nil)
		res, err := fut.Struct()
		if err != nil { // a blob: no entries
			release()
			return
		}
		entries, _ := res.Entries()
		for i := 0; i < entries.Len(); i++ {
			name, _ := entries.At(i).Name()
			gf, grel := tr.Get(ctx, func(p schema.Tree_get_Params) error { return p.SetName(name) })
			gr, err := gf.Struct()
			require.NoError(t, err)
			walk(gr.Cap())
			grel()
		}
		release()
	}
	walk(tree.Cap())
	assert.Equal(t, 8, n, "every tree (4) and blob (4) was reached")
	again := uploadTree(t, h.c, map[string]string{"a": "1", "d/b": "2", "d/e/c": "3", "d/e/f/g": "4"})
	assert.Equal(t, tree.Digest, again.Digest, "reads changed nothing: the same content is the same tree")
}

func TestAuditLogVisibility(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	r := h.publish("kv", kvstore, nil)
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, inst.Kill(ctx))
	inst.Release()

	actions := func(p Principal) []string {
		sess := schema.Daemon_ServerToClient(&session{d: h.d, p: p})
		defer sess.Release()
		fut, release := sess.AuditLog(ctx, func(p schema.Daemon_auditLog_Params) error { return p.SetFactory("kv") })
		defer release()
		res, err := fut.Struct()
		require.NoError(t, err)
		list, _ := res.Entries()
		var out []string
		for i := 0; i < list.Len(); i++ {
			a, _ := list.At(i).Action()
			d, _ := list.At(i).Detail()
			assert.NotContains(t, d, "status", "nothing a yield controls is recorded")
			out = append(out, a)
		}
		return out
	}
	me := h.c
	who, err := me.Whoami(ctx)
	require.NoError(t, err)
	mine := actions(Principal{UID: who.UID})
	assert.Equal(t, []string{audit.FactoryCreated, audit.ProgramSet, audit.FactorySealed,
		audit.InstanceCreated, audit.InstanceEnded}, mine)
	other := actions(Principal{UID: 4242})
	assert.Equal(t, []string{audit.FactoryCreated, audit.ProgramSet, audit.FactorySealed}, other,
		"another principal (the builder, were it someone else) never sees instance events")
	assert.Equal(t, other, actions(Principal{UID: 0, Instance: "i-x"}), "a yield is no operator")
}

func TestDropboxIsAHoleTheBuilderReads(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	prog, err := buildProgram(taxprep)
	require.NoError(t, err)
	b, err := h.c.NewFactory(ctx, "freetax")
	require.NoError(t, err)
	defer b.Release()
	d, err := h.c.UploadFile(ctx, prog)
	require.NoError(t, err)
	require.NoError(t, b.SetProgram(ctx, d))
	rd, err := h.c.Upload(ctx, bytesReader(rates))
	require.NoError(t, err)
	require.NoError(t, b.InstallData(ctx, "rates", rd))
	require.NoError(t, b.InstallDropbox(ctx, "telemetry", "usage analytics"))
	r, err := b.Seal(ctx)
	require.NoError(t, err)
	defer r.Release()
	discreet, err := r.IsDiscreet(ctx)
	require.NoError(t, err)
	assert.False(t, discreet)

	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	_, err = inst.Run(ctx, []byte("income=123"))
	require.NoError(t, err)
	inst.Release()
	msgs, err := b.Dropbox(ctx, "telemetry", 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, "income=123", string(msgs[0].Data), "what the audit warned of")
	_, err = b.Dropbox(ctx, "rates", 0)
	assert.ErrorIs(t, err, client.ErrNotFound, "only dropbox components can be read")

	f, err := h.d.reg.byNameOrErr("freetax")
	require.NoError(t, err)
	box := schema.Dropbox_ServerToClient(&dropbox{d: h.d, f: f, name: "telemetry"})
	defer box.Release()
	fut, release := box.Post(ctx, func(p schema.Dropbox_post_Params) error {
		return p.SetData(make([]byte, maxDropboxMessage+1))
	})
	defer release()
	_, err = fut.Struct()
	assert.ErrorIs(t, wireDecode(err), client.ErrLimit)
}

// A builder may inspect a yield only when its requestor hands it over; the event is recorded
// for the requestor.
func TestOpenYieldUnderRequestorControl(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	r := h.publish("kv", kvstore, nil)
	h.publish("other", kvstore, nil)
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	defer inst.Release()
	open := func(factory string) error {
		b, err := h.c.Builder(ctx, factory)
		require.NoError(t, err)
		defer b.Release()
		fut, release := b.Cap().OpenYield(ctx, func(p schema.Builder_openYield_Params) error {
			return p.SetYield(inst.Cap().AddRef())
		})
		defer release()
		res, err := fut.Struct()
		if err != nil {
			return wireDecode(err)
		}
		ctl := res.Control()
		ifut, irel := ctl.Info(ctx, nil)
		defer irel()
		_, err = ifut.Struct()
		return err
	}
	assert.ErrorIs(t, open("other"), client.ErrInvalid, "not a yield of that factory")
	require.NoError(t, open("kv"))
	entries, err := h.c.AuditLog(ctx, "kv", 0)
	require.NoError(t, err)
	assert.Equal(t, audit.YieldOpened, entries[len(entries)-1].Action)
}
