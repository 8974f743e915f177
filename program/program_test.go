package program

import (
	"context"
	"testing"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
)

func TestServeOutsideAVat(t *testing.T) {
	// A test process has no socket on fd 3 (or none at all).
	err := Serve(context.Background(), func(context.Context, *Env) (capnp.Client, error) {
		t.Fatal("export must not be called")
		return capnp.Client{}, nil
	})
	assert.ErrorIs(t, err, ErrNotInVat)
}

func TestEnvAccessors(t *testing.T) {
	e := newEnv()
	e.components = map[string]component{"rates": {kind: KindData}, "net": {kind: KindHole}}
	e.args = map[string]arg{"who": {data: []byte("alice")}, "sink": {isCap: true}}
	close(e.ready)
	assert.Equal(t, []string{"net", "rates"}, e.Components())
	assert.Equal(t, []string{"sink", "who"}, e.Args())
	_, err := e.Blob("net")
	assert.ErrorIs(t, err, ErrNoSuchComponent, "a hole is not a data component")
	_, err = e.Cap("rates")
	assert.ErrorIs(t, err, ErrNoSuchComponent, "a data component is not a capability component")
	v, err := e.Arg("who")
	assert.NoError(t, err)
	assert.Equal(t, "alice", string(v))
	_, err = e.Arg("sink")
	assert.ErrorIs(t, err, ErrNoSuchArg)
	_, err = e.ArgCap("who")
	assert.ErrorIs(t, err, ErrNoSuchArg)
	k, err := e.Kind("net")
	assert.NoError(t, err)
	assert.Equal(t, KindHole, k)
	_, err = e.Kind("nope")
	assert.ErrorIs(t, err, ErrNoSuchComponent)
}
