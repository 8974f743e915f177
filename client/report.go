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
	if f.HasConfinement() {
		c, err := f.Confinement()
		if err != nil {
			return out, err
		}
		if out.Confinement, err = readConfinement(c); err != nil {
			return out, err
		}
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

func readConfinement(c schema.Confinement) (*Confinement, error) {
	out := &Confinement{Strict: c.Strict(), Mutable: c.Mutable(), MutableAtSeal: c.MutableAtSeal(),
		Capabilities: []DeclaredCapability{}, Reach: []ReachedObject{}}
	out.SID, _ = c.Sid()
	caps, err := c.Capabilities()
	if err != nil {
		return nil, err
	}
	for i := 0; i < caps.Len(); i++ {
		dc := caps.At(i)
		d := DeclaredCapability{Hole: dc.Hole()}
		d.Name, _ = dc.Name()
		d.SID, _ = dc.Sid()
		d.Reason, _ = dc.Reason()
		out.Capabilities = append(out.Capabilities, d)
	}
	reach, err := c.Reach()
	if err != nil {
		return nil, err
	}
	for i := 0; i < reach.Len(); i++ {
		r := reach.At(i)
		o := ReachedObject{Granted: r.Granted(), Mutable: r.Mutable()}
		o.Name, _ = r.Name()
		o.Kind, _ = r.Kind()
		o.Rights, _ = r.Rights()
		o.Reason, _ = r.Reason()
		if o.Via, err = textList(r.Via()); err != nil {
			return nil, err
		}
		out.Reach = append(out.Reach, o)
	}
	return out, nil
}
