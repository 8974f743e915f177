package factory

import (
	"testing"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/store"
)

// fixture is a registry over a real store, with one uploaded program and one data blob.
type fixture struct {
	st   *store.Store
	reg  *registry
	prog store.Digest
	data store.Digest
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	reg, err := loadRegistry(st)
	require.NoError(t, err)
	return &fixture{st: st, reg: reg, prog: putBlob(t, st, "program"), data: putBlob(t, st, "0 0.1\n")}
}

func putBlob(t *testing.T, st *store.Store, s string) store.Digest {
	t.Helper()
	w, err := st.NewBlobWriter(0)
	require.NoError(t, err)
	_, err = w.Write([]byte(s))
	require.NoError(t, err)
	info, err := w.Commit()
	require.NoError(t, err)
	return info.Digest
}

func (fx *fixture) newFactory(t *testing.T, name string) *Factory {
	t.Helper()
	f, err := fx.reg.create(name, store.Principal{UID: 1000, GID: 1000})
	require.NoError(t, err)
	require.NoError(t, f.SetProgram(fx.prog))
	return f
}

func (fx *fixture) sealed(t *testing.T, name string) *Factory {
	t.Helper()
	f := fx.newFactory(t, name)
	require.NoError(t, f.Seal(fx.reg.holesOf))
	return f
}

func TestSealFreezesEverything(t *testing.T) {
	fx := newFixture(t)
	other := fx.sealed(t, "other")
	f := fx.newFactory(t, "tax")
	require.NoError(t, f.InstallData("rates", fx.data))
	require.NoError(t, f.Seal(fx.reg.holesOf))
	before := f.Snapshot()

	mutations := []struct {
		name string
		do   func() error
	}{
		{"setProgram", func() error { return f.SetProgram(fx.data) }},
		{"installData", func() error { return f.InstallData("more", fx.data) }},
		{"installData of an unknown blob", func() error { return f.InstallData("more", store.Digest{7}) }},
		{"installData with a bad name", func() error { return f.InstallData("../x", fx.data) }},
		{"installFactory", func() error { return f.InstallFactory("sub", other) }},
		{"installSensory", func() error { return f.InstallSensory("view", store.Component{Digest: fx.data}) }},
		{"installHole", func() error { return f.InstallHole(hole("net", "the network"), capnp.Client{}) }},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			assert.ErrorIs(t, m.do(), ErrSealed)
		})
	}
	require.NoError(t, f.Seal(fx.reg.holesOf), "sealing twice is not an error")
	assert.Equal(t, before, f.Snapshot(), "nothing changed after seal")

	stored, err := fx.st.FactoryByName("tax")
	require.NoError(t, err)
	assert.Equal(t, before, stored, "the store holds the sealed record")
}

func TestSealNeedsProgram(t *testing.T) {
	fx := newFixture(t)
	f, err := fx.reg.create("empty", store.Principal{})
	require.NoError(t, err)
	assert.ErrorIs(t, f.Seal(fx.reg.holesOf), ErrInvalid)
	assert.False(t, f.Sealed())
}

func TestInstallValidation(t *testing.T) {
	fx := newFixture(t)
	unsealed := fx.newFactory(t, "unsealed")
	f := fx.newFactory(t, "f")
	require.NoError(t, f.InstallData("rates", fx.data))
	tests := []struct {
		name string
		err  error
		do   func() error
	}{
		{"duplicate name", ErrExists, func() error { return f.InstallData("rates", fx.data) }},
		{"bad name", ErrInvalid, func() error { return f.InstallData("../etc", fx.data) }},
		{"empty name", ErrInvalid, func() error { return f.InstallData("", fx.data) }},
		{"unknown blob", store.ErrNotFound, func() error { return f.InstallData("x", store.Digest{9}) }},
		{"unsealed component factory", ErrInvalid, func() error { return f.InstallFactory("sub", unsealed) }},
		{"unknown program", store.ErrNotFound, func() error { return f.SetProgram(store.Digest{9}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, tt.do(), tt.err)
		})
	}
	assert.Len(t, f.Snapshot().Components, 1, "failed installs change nothing")
}

func TestHoleSetUnion(t *testing.T) {
	fx := newFixture(t)
	discreet := fx.sealed(t, "discreet")
	assert.True(t, discreet.Snapshot().Discreet)

	leaky := fx.newFactory(t, "leaky")
	require.NoError(t, leaky.InstallHole(hole("net", "network access"), capnp.Client{}))
	require.NoError(t, leaky.Seal(fx.reg.holesOf))
	lr := leaky.Snapshot()
	assert.False(t, lr.Discreet)
	assert.Equal(t, []string{"test:net"}, lr.Holes)

	outer := fx.newFactory(t, "outer")
	require.NoError(t, outer.InstallFactory("a", discreet))
	require.NoError(t, outer.InstallFactory("b", leaky))
	require.NoError(t, outer.InstallFactory("c", leaky))
	require.NoError(t, outer.Seal(fx.reg.holesOf))
	or := outer.Snapshot()
	assert.False(t, or.Discreet, "holes of component factories are the outer factory's")
	assert.Equal(t, lr.Holes, or.Holes, "the same hole twice is one hole")

	only := fx.newFactory(t, "only-discreet")
	require.NoError(t, only.InstallFactory("a", discreet))
	require.NoError(t, only.Seal(fx.reg.holesOf))
	assert.True(t, only.Snapshot().Discreet)
}

func TestRegistryNamesAndDestroy(t *testing.T) {
	fx := newFixture(t)
	sub := fx.sealed(t, "sub")
	outer := fx.newFactory(t, "outer")
	require.NoError(t, outer.InstallFactory("s", sub))

	_, err := fx.reg.create("sub", store.Principal{})
	assert.ErrorIs(t, err, ErrExists)
	_, err = fx.reg.create("no/slash", store.Principal{})
	assert.ErrorIs(t, err, ErrInvalid)

	assert.ErrorIs(t, fx.reg.destroy(sub), ErrInUse, "a component factory cannot be destroyed")
	require.NoError(t, fx.reg.destroy(outer))
	require.NoError(t, fx.reg.destroy(sub))
	_, err = fx.reg.byNameOrErr("sub")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, sub.InstallData("x", fx.data), ErrNotFound, "a destroyed factory cannot change")
	assert.Empty(t, fx.reg.list())
}

func TestRegistryReload(t *testing.T) {
	fx := newFixture(t)
	f := fx.newFactory(t, "tax")
	require.NoError(t, f.InstallData("rates", fx.data))
	require.NoError(t, f.Seal(fx.reg.holesOf))
	fx.newFactory(t, "draft")

	reg, err := loadRegistry(fx.st)
	require.NoError(t, err)
	got := reg.list()
	require.Len(t, got, 2)
	assert.Equal(t, "draft", got[0].Name)
	assert.False(t, got[0].Sealed)
	assert.Equal(t, f.Snapshot(), got[1])
}

func hole(name, label string) store.Component {
	return store.Component{Name: name, Label: label, HoleID: "test:" + name}
}
