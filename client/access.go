package client

import (
	"context"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// ACL is a factory's security descriptor, explained.
type ACL struct {
	Name    string     `json:"name"`
	SDDL    string     `json:"sddl"`
	Owner   string     `json:"owner"`
	Granted uint32     `json:"granted"` // what the caller holds on the factory
	Rights  string     `json:"rights"`
	Entries []ACLEntry `json:"entries"`
}

// ACLEntry is one access control entry of an ACL.
type ACLEntry struct {
	Type        string `json:"type"`
	SID         string `json:"sid"`
	Trustee     string `json:"trustee"`
	Mask        uint32 `json:"mask"`
	Rights      string `json:"rights"`
	InheritOnly bool   `json:"inherit_only,omitempty"`
	Condition   string `json:"condition,omitempty"`
}

// GetACL returns the named factory's descriptor; the caller needs the read-acl right.
func (c *Client) GetACL(ctx context.Context, name string) (*ACL, error) {
	fut, release := c.daemon.GetAcl(ctx, func(p schema.Daemon_getAcl_Params) error { return p.SetName(name) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	acl, err := res.Acl()
	if err != nil {
		return nil, err
	}
	return readACL(acl)
}

// SetACL replaces the named factory's descriptor with sddl and returns it as stored. The
// caller needs the write-acl right, and take-ownership to change the owner. SDDL may name
// unix users and groups and capabilities as uid:N, gid:N and cap:NAME.
func (c *Client) SetACL(ctx context.Context, name, sddl string) (*ACL, error) {
	fut, release := c.daemon.SetAcl(ctx, func(p schema.Daemon_setAcl_Params) error {
		if err := p.SetName(name); err != nil {
			return err
		}
		return p.SetSddl(sddl)
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	acl, err := res.Acl()
	if err != nil {
		return nil, err
	}
	return readACL(acl)
}

func readACL(a schema.Acl) (*ACL, error) {
	out := &ACL{Granted: a.Granted(), Entries: []ACLEntry{}}
	out.Name, _ = a.Name()
	out.SDDL, _ = a.Sddl()
	out.Owner, _ = a.Owner()
	out.Rights, _ = a.Rights()
	list, err := a.Entries()
	if err != nil {
		return nil, err
	}
	for i := 0; i < list.Len(); i++ {
		e := list.At(i)
		x := ACLEntry{Mask: e.Mask(), InheritOnly: e.InheritOnly()}
		x.Type, _ = e.Type()
		x.SID, _ = e.Sid()
		x.Trustee, _ = e.Trustee()
		x.Rights, _ = e.Rights()
		x.Condition, _ = e.Condition()
		out.Entries = append(out.Entries, x)
	}
	return out, nil
}

// Directory is the daemon's namespace seen with one token. Pass its Cap() to a create as a
// capability argument and the yield receives the namespace seen with its confined token.
type Directory struct{ cap schema.Directory }

// Directory returns the namespace seen with the caller's token.
func (c *Client) Directory(ctx context.Context) *Directory {
	fut, release := c.daemon.Directory(ctx, nil)
	defer release()
	return &Directory{cap: fut.Directory().AddRef()}
}

// NewDirectory wraps a Directory capability (for example one a yield received), taking
// ownership of the reference.
func NewDirectory(cap schema.Directory) *Directory { return &Directory{cap: cap} }

// Cap lends the directory's capability.
func (d *Directory) Cap() schema.Directory { return d.cap }

// Release drops the directory.
func (d *Directory) Release() { d.cap.Release() }

// DirectoryEntry is one object of the namespace the token holds any right on.
type DirectoryEntry struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Granted uint32 `json:"granted"`
	Rights  string `json:"rights"`
	Sealed  bool   `json:"sealed"`
}

// List lists the objects on which the directory's token holds any right.
func (d *Directory) List(ctx context.Context) ([]DirectoryEntry, error) {
	fut, release := d.cap.List(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	list, err := res.Entries()
	if err != nil {
		return nil, err
	}
	out := make([]DirectoryEntry, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		e := list.At(i)
		x := DirectoryEntry{Granted: e.Granted(), Sealed: e.Sealed()}
		x.Name, _ = e.Name()
		x.Kind, _ = e.Kind()
		x.Rights, _ = e.Rights()
		out = append(out, x)
	}
	return out, nil
}

// Requestor opens the named factory's requestor facet with the directory's token.
func (d *Directory) Requestor(ctx context.Context, name string) (*Requestor, error) {
	fut, release := d.cap.Requestor(ctx, func(p schema.Directory_requestor_Params) error { return p.SetName(name) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	return &Requestor{cap: res.Requestor().AddRef()}, nil
}

// Builder opens the named factory's builder facet with the directory's token.
func (d *Directory) Builder(ctx context.Context, name string) (*Builder, error) {
	fut, release := d.cap.Builder(ctx, func(p schema.Directory_builder_Params) error { return p.SetName(name) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	return &Builder{cap: res.Builder().AddRef()}, nil
}

// Access returns what the directory's token is granted on the named object, and its names.
func (d *Directory) Access(ctx context.Context, name string) (uint32, string, error) {
	fut, release := d.cap.Access(ctx, func(p schema.Directory_access_Params) error { return p.SetName(name) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return 0, "", wire.Decode(err)
	}
	rights, _ := res.Rights()
	return res.Granted(), rights, nil
}

// Token returns the directory's token, printed readably.
func (d *Directory) Token(ctx context.Context) (string, error) {
	fut, release := d.cap.Token(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return "", wire.Decode(err)
	}
	return res.Token()
}

// DeclareCapabilities declares the capability names a yield's confined token carries when
// it looks names up in a directory (replacing an earlier declaration); strict leaves out
// ALL_APPLICATION_PACKAGES.
func (b *Builder) DeclareCapabilities(ctx context.Context, strict bool, names ...string) error {
	return call(b.cap.DeclareCapabilities(ctx, func(p schema.Builder_declareCapabilities_Params) error {
		p.SetStrict(strict)
		list, err := p.NewNames(int32(len(names)))
		if err != nil {
			return err
		}
		for i, n := range names {
			if err := list.Set(i, n); err != nil {
				return err
			}
		}
		return nil
	}))
}
