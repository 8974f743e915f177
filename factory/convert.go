package factory

import (
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
