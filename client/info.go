package client

import (
	"time"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/schema"
)

// FactoryInfo describes a factory.
type FactoryInfo struct {
	Name        string          `json:"name"`
	ID          string          `json:"id"`
	Owner       string          `json:"owner"`
	Sealed      bool            `json:"sealed"`
	Program     *digest.Digest  `json:"program,omitempty"`
	ProgramSize uint64          `json:"program_size"`
	Components  []ComponentInfo `json:"components"`
	Created     time.Time       `json:"created"`
	SealedAt    *time.Time      `json:"sealed_at,omitempty"`
	Discreet    bool            `json:"discreet"`
	Holes       uint32          `json:"holes"`
	Syscalls    []string        `json:"syscalls,omitempty"`
	Charges     []billing.Kind  `json:"charges,omitempty"`
	// Capabilities are the capability names its yields' confined tokens carry; Strict that
	// those tokens leave out ALL_APPLICATION_PACKAGES.
	Capabilities []string `json:"capabilities,omitempty"`
	Strict       bool     `json:"strict,omitempty"`
	// Rights are what the caller holds on it, named (listings only).
	Rights string `json:"rights,omitempty"`
}

// ComponentInfo describes one component of a factory.
type ComponentInfo struct {
	Name   string         `json:"name"`
	Kind   string         `json:"kind"`
	Digest *digest.Digest `json:"sha256,omitempty"`
	Size   uint64         `json:"size,omitempty"`
	Label  string         `json:"label,omitempty"`
}

// InstanceInfo describes an instance.
type InstanceInfo struct {
	ID        string     `json:"id"`
	Factory   string     `json:"factory"`
	State     string     `json:"state"`
	Created   time.Time  `json:"created"`
	Ended     *time.Time `json:"ended,omitempty"`
	EndReason string     `json:"end_reason,omitempty"`
	Requestor string     `json:"requestor"`
	Pid       int32      `json:"pid,omitempty"`
	// Billing is the instance's billing channel, as its requestor set it.
	Billing *Capacity `json:"billing,omitempty"`
}

func factoryInfo(fi schema.FactoryInfo) (FactoryInfo, error) {
	var out FactoryInfo
	var err error
	if out.Name, err = fi.Name(); err != nil {
		return out, err
	}
	out.ID, _ = fi.Id()
	out.Owner, _ = fi.Owner()
	out.Sealed = fi.Sealed()
	if b, _ := fi.Program(); len(b) > 0 {
		d, err := digest.FromBytes(b)
		if err != nil {
			return out, err
		}
		out.Program = &d
	}
	out.ProgramSize = fi.ProgramSize()
	out.Created = time.Unix(0, fi.CreatedAt()).UTC()
	if fi.SealedAt() != 0 {
		t := time.Unix(0, fi.SealedAt()).UTC()
		out.SealedAt = &t
	}
	out.Discreet = fi.Discreet()
	out.Holes = fi.Holes()
	if out.Syscalls, err = textList(fi.Syscalls()); err != nil {
		return out, err
	}
	if out.Capabilities, err = textList(fi.Capabilities()); err != nil {
		return out, err
	}
	out.Strict = fi.Strict()
	out.Rights, _ = fi.RightsText()
	if out.Charges, err = readChargeKinds(fi.Charges()); err != nil {
		return out, err
	}
	out.Components, err = componentInfos(fi)
	return out, err
}

func componentInfos(fi schema.FactoryInfo) ([]ComponentInfo, error) {
	list, err := fi.Components()
	if err != nil {
		return nil, err
	}
	out := make([]ComponentInfo, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		c := list.At(i)
		var ci ComponentInfo
		ci.Name, _ = c.Name()
		ci.Kind = c.Kind().String()
		if b, _ := c.Sha256(); len(b) > 0 {
			d, err := digest.FromBytes(b)
			if err != nil {
				return nil, err
			}
			ci.Digest = &d
		}
		ci.Size = c.Size()
		ci.Label, _ = c.Label()
		out = append(out, ci)
	}
	return out, nil
}

func instanceInfo(ii schema.InstanceInfo) (InstanceInfo, error) {
	var out InstanceInfo
	var err error
	if out.ID, err = ii.Id(); err != nil {
		return out, err
	}
	out.Factory, _ = ii.Factory()
	out.State = ii.State().String()
	out.Created = time.Unix(0, ii.CreatedAt()).UTC()
	if ii.EndedAt() != 0 {
		t := time.Unix(0, ii.EndedAt()).UTC()
		out.Ended = &t
	}
	out.EndReason, _ = ii.EndReason()
	out.Requestor, _ = ii.Requestor()
	out.Pid = ii.Pid()
	if ii.HasBilling() {
		b, err := ii.Billing()
		if err != nil {
			return out, err
		}
		if out.Billing, err = readCapacity(b); err != nil {
			return out, err
		}
	}
	return out, nil
}

func textList(l capnp.TextList, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	var out []string
	for i := 0; i < l.Len(); i++ {
		v, err := l.At(i)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
