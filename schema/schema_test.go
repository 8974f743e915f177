package schema

import (
	"fmt"
	"strings"
	"testing"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/schemas"
	cs "capnproto.org/go/capnp/v3/std/capnp/schema"
	"github.com/stretchr/testify/assert"
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

// yieldReachable is every interface a yield can come to hold: its VatHost, what its endowment
// may contain (blobs, trees, component factories' requestor facets, verifiers, dropboxes),
// and what calls on those return.
func yieldReachable(t *testing.T, all map[uint64]cs.Node) map[uint64]bool {
	seen := map[uint64]bool{}
	queue := []uint64{VatHost_TypeID, Blob_TypeID, Tree_TypeID, Requestor_TypeID, Verifier_TypeID,
		Dropbox_TypeID, Job_TypeID}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		methods, err := all[id].Interface().Methods()
		require.NoError(t, err)
		for i := 0; i < methods.Len(); i++ {
			queue = append(queue, returnedInterfaces(t, all, methods.At(i).ResultStructType())...)
		}
	}
	return seen
}

// returnedInterfaces lists the interface types a struct's fields name.
func returnedInterfaces(t *testing.T, all map[uint64]cs.Node, id uint64) []uint64 {
	fields, err := all[id].StructNode().Fields()
	require.NoError(t, err)
	var out []uint64
	for i := 0; i < fields.Len(); i++ {
		if fields.At(i).Which() != cs.Field_Which_slot {
			continue
		}
		ty, err := fields.At(i).Slot().Type()
		require.NoError(t, err)
		if ty.Which() == cs.Type_Which_interface {
			out = append(out, ty.Interface().TypeId())
		}
	}
	return out
}

// No facet a yield can reach leads to a builder facet or the daemon's bootstrap (invariant:
// facet separation), and none turns bits into a capability (invariant 9: no authority as bits),
// except looking up a name among capabilities the caller already holds.
func TestYieldReachableInterfaces(t *testing.T) {
	all := nodes(t)
	reach := yieldReachable(t, all)
	for _, forbidden := range []uint64{Builder_TypeID, Daemon_TypeID, BlobUpload_TypeID} {
		name, _ := all[forbidden].DisplayName()
		assert.False(t, reach[forbidden], "a yield can reach %s", name)
	}
	nameLookups := map[string]bool{
		"factory.capnp:VatHost.component": true, // its own endowment's components
		"factory.capnp:VatHost.arg":       true, // its own requestor's arguments
		"factory.capnp:Tree.get":          true, // an entry of a tree it holds
	}
	for id := range reach {
		iname, _ := all[id].DisplayName()
		methods, err := all[id].Interface().Methods()
		require.NoError(t, err)
		for i := 0; i < methods.Len(); i++ {
			m := methods.At(i)
			mname, _ := m.Name()
			full := iname + "." + mname
			takesBits := hasBits(t, all, m.ParamStructType())
			givesCaps := capCount(t, all, m.ResultStructType(), map[uint64]bool{}) != 0
			if takesBits && givesCaps {
				assert.True(t, nameLookups[full], "%s turns bits into a capability", full)
			}
			assert.False(t, namesToken(t, all, m.ResultStructType()), "%s returns something named like a token", full)
		}
	}
}

// hasBits reports whether a struct has a Text or Data field.
func hasBits(t *testing.T, all map[uint64]cs.Node, id uint64) bool {
	fields, err := all[id].StructNode().Fields()
	require.NoError(t, err)
	for i := 0; i < fields.Len(); i++ {
		if fields.At(i).Which() != cs.Field_Which_slot {
			continue
		}
		ty, _ := fields.At(i).Slot().Type()
		if ty.Which() == cs.Type_Which_text || ty.Which() == cs.Type_Which_data {
			return true
		}
	}
	return false
}

func namesToken(t *testing.T, all map[uint64]cs.Node, id uint64) bool {
	fields, err := all[id].StructNode().Fields()
	require.NoError(t, err)
	for i := 0; i < fields.Len(); i++ {
		name, _ := fields.At(i).Name()
		for _, w := range []string{"token", "sturdy", "secret", "password"} {
			if strings.Contains(strings.ToLower(name), w) {
				return true
			}
		}
	}
	return false
}
