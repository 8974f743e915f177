package factory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/factoryd/factoryd/access"
	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

// A yield handed a directory opens names with a confined token (confinedToken): whatever its
// requestor's token, AccessCheck intersects its grant with a pass over the factory's
// confinement SID and declared capability SIDs. What that pass grants on each named object is
// therefore the most any yield of the factory reaches (access.ConfinementBound), and the audit
// shows it. A declared capability that reaches something mutable is a hole, as is reach that
// the confinement SID itself, or ALL_APPLICATION_PACKAGES, gives to something mutable.

// Reach hole identities: "<factory id>/@capability:<name>" and "<factory id>/@confinement". A
// component name never starts with "@".
const reachHoleMark = "/@"

func capabilityHoleID(rec *store.Factory, name string) string {
	return rec.ID.String() + reachHoleMark + "capability:" + name
}

func confinementHoleID(rec *store.Factory) string {
	return rec.ID.String() + reachHoleMark + "confinement"
}

// isReachHole reports whether a hole comes from a factory's confinement rather than from a
// component. A factory installed as a component contributes none: its instances are created by
// a yield, which can hand them only its own confined directory.
func isReachHole(id string) bool { return strings.Contains(id, reachHoleMark) }

const (
	viaConfinement = "confinement SID"
	viaPackages    = "all application packages"
)

// namedObject is one object of the namespace and its descriptor.
type namedObject struct {
	rec *store.Factory
	sd  *access.SecurityDescriptor
}

// namespace returns every named object with its descriptor.
func (d *Daemon) namespace() []namedObject {
	recs := d.reg.records()
	out := make([]namedObject, 0, len(recs))
	for _, rec := range recs {
		sd, err := descriptorOf(rec)
		if err != nil {
			d.log.Warn("unreadable descriptor", "factory", rec.Name, "error", err)
			continue
		}
		out = append(out, namedObject{rec: rec, sd: sd})
	}
	return out
}

// confinementOf computes what rec's yields reach in ns, and the reach holes that follow.
func confinementOf(rec *store.Factory, ns []namedObject) (*audit.Confinement, []audit.Hole, error) {
	csid := access.ConfinementSID(rec.ID[:])
	sids, err := capabilitySIDs(rec.Capabilities)
	if err != nil {
		return nil, nil, err
	}
	conf := &audit.Confinement{SID: csid.String(), Strict: rec.Strict, Reach: []audit.Reached{}}
	mutableVia := map[string][]string{} // via -> mutable objects it reaches
	for _, o := range ns {
		bound, err := access.ConfinementBound(o.sd, factoryMapping, csid, sids, rec.Strict)
		if err != nil {
			return nil, nil, fmt.Errorf("factory %q: %w", o.rec.Name, err)
		}
		if bound == 0 {
			continue
		}
		r := audit.Reached{Name: o.rec.Name, Kind: "factory", Granted: uint32(bound), Rights: RightsText(bound)}
		r.Via, err = reachedVia(o.sd, csid, rec, sids)
		if err != nil {
			return nil, nil, err
		}
		r.Mutable, r.Reason = mutableReach(o.rec, bound)
		if r.Mutable {
			conf.Mutable = true
			for _, v := range r.Via {
				mutableVia[v] = append(mutableVia[v], o.rec.Name)
			}
		}
		conf.Reach = append(conf.Reach, r)
	}
	var holes []audit.Hole
	for i, name := range rec.Capabilities {
		dc := audit.DeclaredCapability{Name: name, SID: sids[i].String(), Reason: "reaches nothing mutable"}
		if objs := mutableVia[name]; len(objs) > 0 {
			dc.Hole = true
			dc.Reason = "reaches mutable " + strings.Join(objs, ", ")
			holes = append(holes, audit.Hole{ID: capabilityHoleID(rec, name), Label: "capability " + name,
				Factory: rec.Name, Component: "@capability:" + name,
				Reason: "a yield handed a directory can, with this declared capability, change " + strings.Join(objs, ", ")})
		}
		conf.Capabilities = append(conf.Capabilities, dc)
	}
	if objs := append(mutableVia[viaConfinement], mutableVia[viaPackages]...); len(objs) > 0 {
		slices.Sort(objs)
		objs = slices.Compact(objs)
		holes = append(holes, audit.Hole{ID: confinementHoleID(rec), Label: "confinement SID",
			Factory: rec.Name, Component: "@confinement",
			Reason: "a yield handed a directory can, as a yield of this factory (or any confined yield), change " + strings.Join(objs, ", ")})
	}
	for _, id := range rec.Holes {
		if isReachHole(id) {
			conf.MutableAtSeal = true
		}
	}
	return conf, holes, nil
}

// reachedVia names what grants a confined yield of rec rights on sd: each declared capability
// that adds rights to those of the confinement SID and package SIDs alone, and those.
func reachedVia(sd *access.SecurityDescriptor, csid access.SID, rec *store.Factory, sids []access.SID) ([]string, error) {
	var via []string
	own, err := access.ConfinementBound(sd, factoryMapping, csid, nil, true)
	if err != nil {
		return nil, err
	}
	if own != 0 {
		via = append(via, viaConfinement)
	}
	if !rec.Strict {
		pkgs, err := access.ConfinementBound(sd, factoryMapping, csid, nil, false)
		if err != nil {
			return nil, err
		}
		if pkgs&^own != 0 {
			via = append(via, viaPackages)
		}
	}
	for i, sid := range sids {
		with, err := access.ConfinementBound(sd, factoryMapping, csid, []access.SID{sid}, true)
		if err != nil {
			return nil, err
		}
		if with&^own != 0 {
			via = append(via, rec.Capabilities[i])
		}
	}
	if len(via) == 0 {
		// Only the combination grants (a deny on one SID lifted by another's allow).
		via = append(via, "the declared capabilities together")
	}
	return via, nil
}

// mutableReach says whether rights on a factory let a yield change something, or reach a
// hole: builder or descriptor rights change the factory; creating instances of a sealed factory
// with holes reaches its holes.
func mutableReach(obj *store.Factory, rights access.AccessMask) (bool, string) {
	switch {
	case rights&writeRights != 0:
		return true, "can change it: " + RightsText(rights&writeRights)
	case rights&RightCreate != 0 && obj.Sealed && !obj.Discreet:
		return true, fmt.Sprintf("can create instances of it, and it has %d hole(s)", len(obj.Holes))
	case rights&RightCreate != 0 && obj.Sealed:
		return false, "can create instances of a sealed, discreet factory"
	}
	return false, "can only read it"
}

// reachHoles computes rec's reach holes as the namespace stands.
func (d *Daemon) reachHoles(rec *store.Factory) ([]string, error) {
	_, holes, err := confinementOf(rec, d.namespace())
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(holes))
	for i, h := range holes {
		ids[i] = h.ID
	}
	return ids, nil
}

// holesNow is f's hole set: frozen at seal, plus any reach hole a descriptor changed since.
func (d *Daemon) holesNow(f *Factory) []string {
	rec := f.Snapshot()
	holes := slices.Clone(rec.Holes)
	if !rec.Sealed {
		return holes
	}
	live, err := d.reachHoles(rec)
	if err != nil {
		d.log.Warn("reach of a factory", "factory", rec.Name, "error", err)
		return holes
	}
	for _, id := range live {
		if !slices.Contains(holes, id) {
			holes = append(holes, id)
		}
	}
	slices.Sort(holes)
	return holes
}

func (b *builder) DeclareCapabilities(ctx context.Context, call schema.Builder_declareCapabilities) error {
	if err := b.need(RightInstall); err != nil {
		return toWire(err)
	}
	list, err := call.Args().Names()
	if err != nil {
		return err
	}
	if list.Len() > maxCapabilities {
		return toWire(fmt.Errorf("%w: %d capabilities, at most %d", ErrInvalid, list.Len(), maxCapabilities))
	}
	names := make([]string, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		n, err := list.At(i)
		if err != nil {
			return err
		}
		if _, err := access.CapabilitySID(n); err != nil {
			return toWire(fmt.Errorf("%w: capability %q: %v", ErrInvalid, n, err))
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	strict := call.Args().Strict()
	if err := b.f.mutate(func(r *store.Factory) error {
		r.Capabilities, r.Strict = names, strict
		return nil
	}); err != nil {
		return toWire(err)
	}
	detail := strings.Join(names, " ")
	if strict {
		detail += " (strict)"
	}
	b.d.recordFactory(b.p, audit.CapabilitiesDeclared, b.f, store.AuditEntry{Detail: detail})
	return nil
}

// maxCapabilities bounds a factory's declared capabilities.
const maxCapabilities = 64
