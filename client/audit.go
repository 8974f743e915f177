package client

import (
	"context"
	"time"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// Report is a factory's audit: the proof of what its instances could leak through.
type Report struct {
	Root      int             `json:"root"`
	Factories []AuditFactory  `json:"factories"`
	Holes     []HoleInfo      `json:"holes"`
	Covert    []CovertChannel `json:"covert"`
	Discreet  bool            `json:"discreet"`
	Sealed    bool            `json:"sealed"`
}

// AuditFactory is one factory of the audited graph.
type AuditFactory struct {
	Name       string           `json:"name"`
	ID         string           `json:"id"`
	Sealed     bool             `json:"sealed"`
	Discreet   bool             `json:"discreet"`
	Program    *digest.Digest   `json:"program,omitempty"`
	Components []AuditComponent `json:"components"`
	Syscalls   []string         `json:"syscalls,omitempty"` // declared beyond the default allowlist
	Charges    []billing.Kind   `json:"charges,omitempty"`  // what its instances may charge for
	// Confinement is what its yields reach by name (the audited factory only).
	Confinement *Confinement `json:"confinement,omitempty"`
}

// Confinement is what a factory's yields reach by name when handed a directory: the most
// their confined token can be granted on each object, whoever the requestor.
type Confinement struct {
	SID           string               `json:"sid"`
	Strict        bool                 `json:"strict"`
	Capabilities  []DeclaredCapability `json:"capabilities"`
	Reach         []ReachedObject      `json:"reach"`
	Mutable       bool                 `json:"mutable"`
	MutableAtSeal bool                 `json:"mutable_at_seal"`
}

// DeclaredCapability is a capability SID the factory declared; Hole when it reaches
// something mutable.
type DeclaredCapability struct {
	Name   string `json:"name"`
	SID    string `json:"sid"`
	Hole   bool   `json:"hole"`
	Reason string `json:"reason"`
}

// ReachedObject is one object a confined yield can open.
type ReachedObject struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Granted uint32   `json:"granted"`
	Rights  string   `json:"rights"`
	Via     []string `json:"via"`
	Mutable bool     `json:"mutable"`
	Reason  string   `json:"reason"`
}

// AuditComponent is one component with the verdict on it.
type AuditComponent struct {
	Name    string         `json:"name"`
	Kind    string         `json:"kind"`
	Hole    bool           `json:"hole"`
	Reason  string         `json:"reason"`
	Label   string         `json:"label,omitempty"`
	Factory int            `json:"factory"` // index into Report.Factories, or -1
	HoleID  string         `json:"hole_id,omitempty"`
	Digest  *digest.Digest `json:"sha256,omitempty"`
	Size    uint64         `json:"size,omitempty"`
}

// HoleInfo is one hole of the set.
type HoleInfo struct {
	ID        string `json:"id"`
	Label     string `json:"label"`
	Factory   string `json:"factory"`
	Component string `json:"component"`
	Reason    string `json:"reason"`
}

// CovertChannel is a channel confinement cannot close, with its bound.
type CovertChannel struct {
	Name          string  `json:"name"`
	Bound         string  `json:"bound"`
	BitsPerSecond float64 `json:"bits_per_second,omitempty"`
	Unbounded     bool    `json:"unbounded"`
	Rating        string  `json:"rating"`
	Note          string  `json:"note"`
}

// Holes audits the sealed factory: its report is frozen at seal.
func (r *Requestor) Holes(ctx context.Context) (*Report, error) {
	fut, release := r.cap.Holes(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	rep, err := res.Report()
	if err != nil {
		return nil, err
	}
	return readReport(rep)
}

// Holes audits the factory as it stands, sealed or not.
func (b *Builder) Holes(ctx context.Context) (*Report, error) {
	fut, release := b.cap.Holes(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	rep, err := res.Report()
	if err != nil {
		return nil, err
	}
	return readReport(rep)
}

// Verdict is the answer of Compare.
type Verdict string

// The verdicts.
const (
	Subset      Verdict = "subset"
	ExtraHoles  Verdict = "extraHoles"
	NotAFactory Verdict = "notAFactory"
)

// Compare treats r's factory as a policy — the holes it accepts — and asks whether candidate
// is a sealed factory of this daemon whose holes are all accepted. candidate is borrowed and is
// never called by the daemon.
func (r *Requestor) Compare(ctx context.Context, candidate capnp.Client) (Verdict, error) {
	fut, release := r.cap.Compare(ctx, func(p schema.Requestor_compare_Params) error {
		return p.SetOther(candidate.AddRef())
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return "", wire.Decode(err)
	}
	return Verdict(res.Result().String()), nil
}

// VerifyInstance reports whether one of the caller's instances was created by the factory.
func (c *Client) VerifyInstance(ctx context.Context, factory, instance string) (bool, error) {
	fut, release := c.daemon.VerifyInstance(ctx, func(p schema.Daemon_verifyInstance_Params) error {
		if err := p.SetFactory(factory); err != nil {
			return err
		}
		return p.SetInstance(instance)
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return false, wire.Decode(err)
	}
	return res.Ok(), nil
}

// AuditEntry is one event of the audit log.
type AuditEntry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`
	Action    string    `json:"action"`
	Factory   string    `json:"factory,omitempty"`
	FactoryID string    `json:"factory_id,omitempty"`
	Instance  string    `json:"instance,omitempty"`
	Component string    `json:"component,omitempty"`
	Kind      string    `json:"kind,omitempty"`
	Label     string    `json:"label,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// AuditLog returns the last limit audit entries the caller may see (0: the daemon's default),
// of one factory or of all ("").
func (c *Client) AuditLog(ctx context.Context, factory string, limit int) ([]AuditEntry, error) {
	fut, release := c.daemon.AuditLog(ctx, func(p schema.Daemon_auditLog_Params) error {
		p.SetLimit(uint32(limit))
		return p.SetFactory(factory)
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	list, err := res.Entries()
	if err != nil {
		return nil, err
	}
	out := make([]AuditEntry, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		out = append(out, readAuditEntry(list.At(i)))
	}
	return out, nil
}

func readAuditEntry(e schema.AuditEntry) AuditEntry {
	out := AuditEntry{Seq: e.Seq(), Time: time.Unix(0, e.Time()).UTC()}
	out.Principal, _ = e.Principal()
	out.Action, _ = e.Action()
	out.Factory, _ = e.Factory()
	out.FactoryID, _ = e.FactoryId()
	out.Instance, _ = e.Instance()
	out.Component, _ = e.Component()
	out.Kind, _ = e.Kind()
	out.Label, _ = e.Label()
	out.Detail, _ = e.Detail()
	return out
}
