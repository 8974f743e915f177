package factory

import (
	capnp "capnproto.org/go/capnp/v3"
	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

var componentKinds = map[store.ComponentKind]schema.ComponentKind{
	store.KindData:    schema.ComponentKind_data,
	store.KindSensory: schema.ComponentKind_sensory,
	store.KindFactory: schema.ComponentKind_factory,
	store.KindHole:    schema.ComponentKind_hole,
}

func fillFactoryInfo(info schema.FactoryInfo, rec *store.Factory) error {
	if err := info.SetName(rec.Name); err != nil {
		return err
	}
	if err := info.SetId(rec.ID.String()); err != nil {
		return err
	}
	if err := info.SetOwner(rec.Owner.String()); err != nil {
		return err
	}
	info.SetSealed(rec.Sealed)
	if !rec.Program.IsZero() {
		if err := info.SetProgram(rec.Program[:]); err != nil {
			return err
		}
	}
	info.SetProgramSize(uint64(rec.ProgramSize))
	info.SetCreatedAt(rec.Created.UnixNano())
	if rec.Sealed {
		info.SetSealedAt(rec.SealedAt.UnixNano())
	}
	info.SetDiscreet(rec.Discreet)
	info.SetHoles(uint32(len(rec.Holes)))
	if err := setTextList(info.NewSyscalls, rec.Syscalls); err != nil {
		return err
	}
	if err := fillChargeKinds(info.NewCharges, rec.Charges); err != nil {
		return err
	}
	if err := setTextList(info.NewCapabilities, rec.Capabilities); err != nil {
		return err
	}
	info.SetStrict(rec.Strict)
	return fillComponents(info, rec.Components)
}

func fillComponents(info schema.FactoryInfo, comps []store.Component) error {
	list, err := info.NewComponents(int32(len(comps)))
	if err != nil {
		return err
	}
	for i, c := range comps {
		if err := fillComponentInfo(list.At(i), c); err != nil {
			return err
		}
	}
	return nil
}

func fillComponentInfo(ci schema.ComponentInfo, c store.Component) error {
	if err := ci.SetName(c.Name); err != nil {
		return err
	}
	ci.SetKind(componentKinds[c.Kind])
	if !c.Digest.IsZero() {
		if err := ci.SetSha256(c.Digest[:]); err != nil {
			return err
		}
	}
	ci.SetSize(uint64(c.Size))
	return ci.SetLabel(c.Label)
}

func fillAuditReport(out schema.AuditReport, r *audit.Report) error {
	out.SetRoot(uint32(r.Root))
	out.SetDiscreet(r.Discreet)
	out.SetSealed(r.Sealed)
	fs, err := out.NewFactories(int32(len(r.Factories)))
	if err != nil {
		return err
	}
	for i, f := range r.Factories {
		if err := fillAuditFactory(fs.At(i), f); err != nil {
			return err
		}
	}
	if err := fillHoles(out, r.Holes); err != nil {
		return err
	}
	return fillCovert(out, r.Covert)
}

func fillAuditFactory(out schema.AuditFactory, f audit.Factory) error {
	if err := out.SetName(f.Name); err != nil {
		return err
	}
	if err := out.SetId(f.ID); err != nil {
		return err
	}
	out.SetSealed(f.Sealed)
	out.SetDiscreet(f.Discreet)
	if f.Program != "" {
		d, err := digest.Parse(f.Program)
		if err != nil {
			return err
		}
		if err := out.SetProgram(d[:]); err != nil {
			return err
		}
	}
	list, err := out.NewComponents(int32(len(f.Components)))
	if err != nil {
		return err
	}
	for i, c := range f.Components {
		if err := fillAuditComponent(list.At(i), c); err != nil {
			return err
		}
	}
	if err := fillChargeKinds(out.NewCharges, f.Charges); err != nil {
		return err
	}
	if f.Confinement != nil {
		c, err := out.NewConfinement()
		if err != nil {
			return err
		}
		if err := fillConfinement(c, f.Confinement); err != nil {
			return err
		}
	}
	return setTextList(out.NewSyscalls, f.Syscalls)
}

// setTextList fills a new text list with values.
func setTextList(newList func(int32) (capnp.TextList, error), values []string) error {
	if len(values) == 0 {
		return nil
	}
	list, err := newList(int32(len(values)))
	if err != nil {
		return err
	}
	for i, v := range values {
		if err := list.Set(i, v); err != nil {
			return err
		}
	}
	return nil
}

func fillAuditComponent(out schema.AuditComponent, c audit.Component) error {
	out.SetKind(componentKinds[c.Kind])
	out.SetHole(c.Hole)
	out.SetFactory(int32(c.Factory))
	out.SetSize(uint64(c.Size))
	// An unset text reads as empty: leaving empty ones unset saves their allocations, which
	// matter in a report of thousands of components.
	if err := out.SetName(c.Name); err != nil {
		return err
	}
	if err := out.SetReason(c.Reason); err != nil {
		return err
	}
	if c.Label != "" {
		if err := out.SetLabel(c.Label); err != nil {
			return err
		}
	}
	if c.HoleID != "" {
		if err := out.SetHoleId(c.HoleID); err != nil {
			return err
		}
	}
	if !c.Digest.IsZero() {
		return out.SetSha256(c.Digest[:])
	}
	return nil
}

func fillHoles(out schema.AuditReport, holes []audit.Hole) error {
	list, err := out.NewHoles(int32(len(holes)))
	if err != nil {
		return err
	}
	for i, h := range holes {
		hi := list.At(i)
		for _, set := range []struct {
			f func(string) error
			v string
		}{{hi.SetId, h.ID}, {hi.SetLabel, h.Label}, {hi.SetFactory, h.Factory}, {hi.SetComponent, h.Component},
			{hi.SetReason, h.Reason}} {
			if err := set.f(set.v); err != nil {
				return err
			}
		}
	}
	return nil
}

func fillCovert(out schema.AuditReport, chans []audit.Channel) error {
	list, err := out.NewCovert(int32(len(chans)))
	if err != nil {
		return err
	}
	for i, ch := range chans {
		c := list.At(i)
		c.SetBitsPerSecond(ch.BitsPerSecond)
		c.SetUnbounded(ch.Unbounded)
		for _, set := range []struct {
			f func(string) error
			v string
		}{{c.SetName, ch.Name}, {c.SetBound, ch.Bound}, {c.SetRating, ch.Rating}, {c.SetNote, ch.Note}} {
			if err := set.f(set.v); err != nil {
				return err
			}
		}
	}
	return nil
}

func fillAuditEntries(res schema.Daemon_auditLog_Results, entries []store.AuditEntry) error {
	list, err := res.NewEntries(int32(len(entries)))
	if err != nil {
		return err
	}
	for i, e := range entries {
		out := list.At(i)
		out.SetSeq(e.Seq)
		out.SetTime(e.Time.UnixNano())
		for _, set := range []struct {
			f func(string) error
			v string
		}{{out.SetPrincipal, e.Principal}, {out.SetAction, e.Action}, {out.SetFactory, e.Factory},
			{out.SetFactoryId, e.FactoryID}, {out.SetInstance, e.Instance}, {out.SetComponent, e.Component},
			{out.SetKind, e.Kind}, {out.SetLabel, e.Label}, {out.SetDetail, e.Detail}} {
			if err := set.f(set.v); err != nil {
				return err
			}
		}
	}
	return nil
}

func fillConfinement(out schema.Confinement, c *audit.Confinement) error {
	if err := out.SetSid(c.SID); err != nil {
		return err
	}
	out.SetStrict(c.Strict)
	out.SetMutable(c.Mutable)
	out.SetMutableAtSeal(c.MutableAtSeal)
	caps, err := out.NewCapabilities(int32(len(c.Capabilities)))
	if err != nil {
		return err
	}
	for i, dc := range c.Capabilities {
		e := caps.At(i)
		if err := e.SetName(dc.Name); err != nil {
			return err
		}
		if err := e.SetSid(dc.SID); err != nil {
			return err
		}
		e.SetHole(dc.Hole)
		if err := e.SetReason(dc.Reason); err != nil {
			return err
		}
	}
	reach, err := out.NewReach(int32(len(c.Reach)))
	if err != nil {
		return err
	}
	for i, r := range c.Reach {
		e := reach.At(i)
		if err := e.SetName(r.Name); err != nil {
			return err
		}
		if err := e.SetKind(r.Kind); err != nil {
			return err
		}
		e.SetGranted(r.Granted)
		if err := e.SetRights(r.Rights); err != nil {
			return err
		}
		if err := setTextList(e.NewVia, r.Via); err != nil {
			return err
		}
		e.SetMutable(r.Mutable)
		if err := e.SetReason(r.Reason); err != nil {
			return err
		}
	}
	return nil
}
