package schema

import (
	"fmt"
	"testing"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/schemas"
	cs "capnproto.org/go/capnp/v3/std/capnp/schema"
	"github.com/stretchr/testify/require"
)

// nodes loads the compiled schema of this package, by node id.
func nodes(t *testing.T) map[uint64]cs.Node {
	t.Helper()
	reg := &schemas.Registry{}
	RegisterSchema(reg)
	b, err := reg.Find(Daemon_TypeID)
	require.NoError(t, err)
	msg, err := capnp.Unmarshal(b)
	require.NoError(t, err)
	req, err := cs.ReadRootCodeGeneratorRequest(msg)
	require.NoError(t, err)
	list, err := req.Nodes()
	require.NoError(t, err)
	out := map[uint64]cs.Node{}
	for i := 0; i < list.Len(); i++ {
		out[list.At(i).Id()] = list.At(i)
	}
	return out
}

// capCount counts the capabilities a value of struct node id can carry; -1 means unbounded (a
// list of capabilities or of structs carrying them).
func capCount(t *testing.T, all map[uint64]cs.Node, id uint64, seen map[uint64]bool) int {
	if seen[id] {
		return 0
	}
	seen[id] = true
	n, ok := all[id]
	if !ok || n.Which() != cs.Node_Which_structNode {
		return 0
	}
	fields, err := n.StructNode().Fields()
	require.NoError(t, err)
	total := 0
	for i := 0; i < fields.Len(); i++ {
		f := fields.At(i)
		c := 0
		switch f.Which() {
		case cs.Field_Which_slot:
			ty, err := f.Slot().Type()
			require.NoError(t, err)
			c = typeCaps(t, all, ty, seen)
		case cs.Field_Which_group:
			c = capCount(t, all, f.Group().TypeId(), seen)
		}
		if c < 0 {
			return -1
		}
		total += c
	}
	return total
}

func typeCaps(t *testing.T, all map[uint64]cs.Node, ty cs.Type, seen map[uint64]bool) int {
	switch ty.Which() {
	case cs.Type_Which_interface:
		return 1
	case cs.Type_Which_anyPointer:
		return 1
	case cs.Type_Which_structType:
		return capCount(t, all, ty.StructType().TypeId(), seen)
	case cs.Type_Which_list:
		elem, err := ty.List().ElementType()
		require.NoError(t, err)
		if typeCaps(t, all, elem, map[uint64]bool{}) != 0 {
			return -1
		}
	}
	return 0
}

// TestResultsCarryAtMostOneCapability enforces the rule stated at the top of factory.capnp:
// capnp-go v3.1.0-alpha.2 leaks every capability of a Return but the last.
func TestResultsCarryAtMostOneCapability(t *testing.T) {
	all := nodes(t)
	checked := 0
	for _, n := range all {
		if n.Which() != cs.Node_Which_interface {
			continue
		}
		name, _ := n.DisplayName()
		methods, err := n.Interface().Methods()
		require.NoError(t, err)
		for i := 0; i < methods.Len(); i++ {
			m := methods.At(i)
			mname, _ := m.Name()
			c := capCount(t, all, m.ResultStructType(), map[uint64]bool{})
			if c < 0 || c > 1 {
				t.Errorf("%s.%s returns %s capabilities; at most one is allowed", name, mname, count(c))
			}
			checked++
		}
	}
	require.Greater(t, checked, 20, "the schema's methods were not found")
}

func count(c int) string {
	if c < 0 {
		return "unboundedly many"
	}
	return fmt.Sprint(c)
}
