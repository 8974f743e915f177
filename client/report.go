package client

import (
	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/schema"
)

func readReport(rep schema.AuditReport) (*Report, error) {
	out := &Report{Root: int(rep.Root()), Discreet: rep.Discreet(), Sealed: rep.Sealed()}
	fs, err := rep.Factories()
	if err != nil {
		return nil, err
	}
	for i := 0; i < fs.Len(); i++ {
		f, err := readAuditFactory(fs.At(i))
		if err != nil {
			return nil, err
		}
		out.Factories = append(out.Factories, f)
	}
	holes, err := rep.Holes()
	if err != nil {
		return nil, err
	}
	for i := 0; i < holes.Len(); i++ {
		out.Holes = append(out.Holes, readHole(holes.At(i)))
	}
	covert, err := rep.Covert()
	if err != nil {
		return nil, err
	}
	for i := 0; i < covert.Len(); i++ {
		out.Covert = append(out.Covert, readCovert(covert.At(i)))
	}
	return out, nil
}

func readAuditFactory(f schema.AuditFactory) (AuditFactory, error) {
	out := AuditFactory{Sealed: f.Sealed(), Discreet: f.Discreet()}
	out.Name, _ = f.Name()
	out.ID, _ = f.Id()
	if p, _ := f.Program(); len(p) > 0 {
		d, err := digest.FromBytes(p)
		if err != nil {
			return out, err
		}
		out.Program = &d
	}
	var err error
	if out.Syscalls, err = textList(f.Syscalls()); err != nil {
		return out, err
	}
	if out.Charges, err = readChargeKinds(f.Charges()); err != nil {
		return out, err
	}
	comps, err := f.Components()
	if err != nil {
		return out, err
	}
	for i := 0; i < comps.Len(); i++ {
		c, err := readAuditComponent(comps.At(i))
		if err != nil {
			return out, err
		}
		out.Components = append(out.Components, c)
	}
	return out, nil
}

func readAuditComponent(c schema.AuditComponent) (AuditComponent, error) {
	out := AuditComponent{Kind: c.Kind().String(), Hole: c.Hole(), Factory: int(c.Factory()), Size: c.Size()}
	out.Name, _ = c.Name()
	out.Reason, _ = c.Reason()
	out.Label, _ = c.Label()
	out.HoleID, _ = c.HoleId()
	if b, _ := c.Sha256(); len(b) > 0 {
		d, err := digest.FromBytes(b)
		if err != nil {
			return out, err
		}
		out.Digest = &d
	}
	return out, nil
}

func readHole(h schema.HoleInfo) HoleInfo {
	var out HoleInfo
	out.ID, _ = h.Id()
	out.Label, _ = h.Label()
	out.Factory, _ = h.Factory()
	out.Component, _ = h.Component()
	out.Reason, _ = h.Reason()
	return out
}

func readCovert(c schema.CovertChannel) CovertChannel {
	out := CovertChannel{BitsPerSecond: c.BitsPerSecond(), Unbounded: c.Unbounded()}
	out.Name, _ = c.Name()
	out.Bound, _ = c.Bound()
	out.Rating, _ = c.Rating()
	out.Note, _ = c.Note()
	return out
}
