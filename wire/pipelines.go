package wire

import (
	"fmt"
	"sync"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/schemas"
	schemapb "capnproto.org/go/capnp/v3/std/capnp/schema"

	"github.com/factoryd/factoryd/schema"
)

// methodKey names a method on the wire.
type methodKey struct {
	iface uint64
	id    uint16
}

// capField is a result field a peer may pipeline on while the call is in progress: a pointer
// field of the result struct, outside any union or group, whose type is the interface iface,
// or anyInterface for a forwarding field (forwardingFields).
type capField struct {
	ptr   uint16
	iface uint64
}

// anyInterface marks a capField that accepts calls of any interface.
const anyInterface = 0

// schemaTables is what the validator knows of factoryd's schema, read from the compiled schema
// embedded in package schema.
type schemaTables struct {
	// capFields holds, for every method of the schema, the fields of its results a peer may
	// pipeline on (possibly none). A method absent from it is not factoryd's.
	capFields map[methodKey][]capField
	// methods is the number of methods of each interface; supers its direct superclasses.
	methods map[uint64]int
	supers  map[uint64][]uint64
	// classifyOnly are the methods that never call, nor keep, a capability they are passed:
	// they only look at its brand (see receiverAnswer in validate.go).
	classifyOnly map[methodKey]bool
}

// classifyOnlyMethods are the methods of factoryd's own objects that never call, nor keep,
// their capability argument (the schema says so of compare and verifyYield; control and
// openYield only classify it). Requestor.control is what client.Requestor.Create sends, with
// create's result, still in progress, as its argument.
var classifyOnlyMethods = []struct {
	iface uint64
	name  string
}{
	{schema.Requestor_TypeID, "control"},
	{schema.Requestor_TypeID, "compare"},
	{schema.Verifier_TypeID, "verifyYield"},
	{schema.Builder_TypeID, "openYield"},
}

// forwardingFields are result fields declared as untyped capabilities that hold, when their
// call succeeds, a capability of the daemon forwarding every call to a peer (caps.Forwarder):
// a call pipelined on one is admitted whatever its method. Requestor.create's instance is what
// client.Requestor.CreateAndRun (factoryctl run) pipelines Job.run on.
var forwardingFields = []struct {
	iface         uint64
	method, field string
}{
	{schema.Requestor_TypeID, "create", "instance"},
}

var (
	tablesOnce sync.Once
	tables     *schemaTables
	tablesErr  error
)

// factorydTables returns the tables of factoryd's schema, built on first use.
func factorydTables() (*schemaTables, error) {
	tablesOnce.Do(func() {
		var reg schemas.Registry
		schema.RegisterSchema(&reg)
		tables, tablesErr = buildTables(&reg, schema.Daemon_TypeID)
	})
	return tables, tablesErr
}

// buildTables reads every node of the schema that holds node id.
func buildTables(reg *schemas.Registry, id uint64) (*schemaTables, error) {
	data, err := reg.Find(id)
	if err != nil {
		return nil, err
	}
	msg, err := capnp.Unmarshal(data)
	if err != nil {
		return nil, err
	}
	req, err := schemapb.ReadRootCodeGeneratorRequest(msg)
	if err != nil {
		return nil, err
	}
	nodes, err := req.Nodes()
	if err != nil {
		return nil, err
	}
	structs := map[uint64]schemapb.Node{}
	var ifaces []schemapb.Node
	for i := 0; i < nodes.Len(); i++ {
		switch n := nodes.At(i); n.Which() {
		case schemapb.Node_Which_structNode:
			structs[n.Id()] = n
		case schemapb.Node_Which_interface:
			ifaces = append(ifaces, n)
		}
	}
	t := &schemaTables{capFields: map[methodKey][]capField{}, methods: map[uint64]int{},
		supers: map[uint64][]uint64{}, classifyOnly: map[methodKey]bool{}}
	for _, n := range ifaces {
		if err := t.addInterface(n, structs); err != nil {
			return nil, fmt.Errorf("interface %#x: %w", n.Id(), err)
		}
	}
	if err := t.addClassifyOnly(ifaces); err != nil {
		return nil, err
	}
	return t, t.addForwarding(ifaces, structs)
}

func (t *schemaTables) addInterface(n schemapb.Node, structs map[uint64]schemapb.Node) error {
	methods, err := n.Interface().Methods()
	if err != nil {
		return err
	}
	t.methods[n.Id()] = methods.Len()
	for i := 0; i < methods.Len(); i++ {
		res, ok := structs[methods.At(i).ResultStructType()]
		if !ok {
			return fmt.Errorf("method %d: no result struct", i)
		}
		fields, err := capFieldsOf(res)
		if err != nil {
			return err
		}
		t.capFields[methodKey{n.Id(), uint16(i)}] = fields
	}
	supers, err := n.Interface().Superclasses()
	if err != nil {
		return err
	}
	for i := 0; i < supers.Len(); i++ {
		t.supers[n.Id()] = append(t.supers[n.Id()], supers.At(i).Id())
	}
	return nil
}

// capFieldsOf returns the interface-typed pointer fields of a struct that are neither union
// members nor inside a group: a pointer slot shared by union members may hold something other
// than a capability.
func capFieldsOf(n schemapb.Node) ([]capField, error) {
	fields, err := n.StructNode().Fields()
	if err != nil {
		return nil, err
	}
	var out []capField
	for i := 0; i < fields.Len(); i++ {
		f := fields.At(i)
		if f.Which() != schemapb.Field_Which_slot || f.DiscriminantValue() != schemapb.Field_noDiscriminant {
			continue
		}
		typ, err := f.Slot().Type()
		if err != nil {
			return nil, err
		}
		if typ.Which() == schemapb.Type_Which_interface {
			out = append(out, capField{ptr: uint16(f.Slot().Offset()), iface: typ.Interface().TypeId()})
		}
	}
	return out, nil
}

func (t *schemaTables) addClassifyOnly(ifaces []schemapb.Node) error {
	for _, w := range classifyOnlyMethods {
		id, err := methodID(ifaces, w.iface, w.name)
		if err != nil {
			return err
		}
		t.classifyOnly[methodKey{w.iface, id}] = true
	}
	return nil
}

func (t *schemaTables) addForwarding(ifaces []schemapb.Node, structs map[uint64]schemapb.Node) error {
	for _, w := range forwardingFields {
		id, err := methodID(ifaces, w.iface, w.method)
		if err != nil {
			return err
		}
		ptr, err := untypedCapField(ifaces, structs, w.iface, id, w.field)
		if err != nil {
			return err
		}
		k := methodKey{w.iface, id}
		t.capFields[k] = append(t.capFields[k], capField{ptr: ptr, iface: anyInterface})
	}
	return nil
}

// untypedCapField returns the pointer index of the named field of a method's results, which
// must be an untyped capability outside any union.
func untypedCapField(ifaces []schemapb.Node, structs map[uint64]schemapb.Node, iface uint64, id uint16, name string) (uint16, error) {
	for _, n := range ifaces {
		if n.Id() != iface {
			continue
		}
		methods, err := n.Interface().Methods()
		if err != nil {
			return 0, err
		}
		fields, err := structs[methods.At(int(id)).ResultStructType()].StructNode().Fields()
		if err != nil {
			return 0, err
		}
		for i := 0; i < fields.Len(); i++ {
			f := fields.At(i)
			if got, _ := f.Name(); got != name || f.Which() != schemapb.Field_Which_slot ||
				f.DiscriminantValue() != schemapb.Field_noDiscriminant {
				continue
			}
			typ, err := f.Slot().Type()
			if err != nil {
				return 0, err
			}
			if typ.Which() == schemapb.Type_Which_anyPointer {
				return uint16(f.Slot().Offset()), nil
			}
		}
	}
	return 0, fmt.Errorf("no untyped capability field %s in the results of %#x.%d", name, iface, id)
}

func methodID(ifaces []schemapb.Node, iface uint64, name string) (uint16, error) {
	for _, n := range ifaces {
		if n.Id() != iface {
			continue
		}
		methods, err := n.Interface().Methods()
		if err != nil {
			return 0, err
		}
		for i := 0; i < methods.Len(); i++ {
			if got, _ := methods.At(i).Name(); got == name {
				return uint16(i), nil
			}
		}
	}
	return 0, fmt.Errorf("no method %s on interface %#x", name, iface)
}

// known reports whether m is a method of factoryd's schema.
func (t *schemaTables) known(m methodKey) bool {
	_, ok := t.capFields[m]
	return ok
}

// serves reports whether a server of interface iface implements method m: m belongs to iface
// or to one of its superclasses. Any method goes to anyInterface.
func (t *schemaTables) serves(iface uint64, m methodKey) bool {
	if iface == anyInterface {
		return true
	}
	seen := map[uint64]bool{}
	var walk func(uint64) bool
	walk = func(i uint64) bool {
		if seen[i] {
			return false
		}
		seen[i] = true
		if i == m.iface {
			return int(m.id) < t.methods[i]
		}
		for _, s := range t.supers[i] {
			if walk(s) {
				return true
			}
		}
		return false
	}
	return walk(iface)
}
