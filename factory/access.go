package factory

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/factoryd/factoryd/access"
	"github.com/factoryd/factoryd/store"
)

// Access by name (docs/access.md): every factory has a security descriptor; opening a factory
// by name — Daemon.builder, requestor and verifier, or a Directory — runs AccessCheck with the
// caller's token and returns a facet that holds the rights granted, no more. A facet already
// held is a capability: it keeps its rights whatever the descriptor says later.

// Factory rights: the object-specific bits of a factory's access mask, and the standard rights
// that apply to it.
const (
	// RightCreate: create instances (the requestor facet's create, control, capacity).
	RightCreate access.AccessMask = 0x0001
	// RightAudit: read the factory's description and audit (info, holes, compare, verifier).
	RightAudit access.AccessMask = 0x0002
	// RightInstall: set the program and install components and declarations (builder).
	RightInstall access.AccessMask = 0x0004
	// RightSeal: seal the factory (builder).
	RightSeal access.AccessMask = 0x0008
	// RightManage: the builder's other powers — its own view of the factory, its dropboxes,
	// opening yields handed to it.
	RightManage access.AccessMask = 0x0010
	// RightDestroy is the standard DELETE right: destroy the factory.
	RightDestroy = access.Delete

	// requestorRights are what a requestor facet can use; builderRights a builder facet.
	requestorRights = RightCreate | RightAudit
	builderRights   = RightInstall | RightSeal | RightManage | RightDestroy
	// writeRights change the factory or its descriptor: reaching any is reaching something
	// mutable.
	writeRights = builderRights | access.WriteDAC | access.WriteOwner
)

// factoryMapping maps the generic rights for factories: read is auditing (and reading the
// descriptor), execute is requesting, write is building, all is everything.
var factoryMapping = access.GenericMapping{
	Read:    access.ReadControl | RightAudit,
	Write:   RightInstall | RightSeal | RightManage,
	Execute: RightCreate | RightAudit,
	All: RightCreate | RightAudit | RightInstall | RightSeal | RightManage | access.Delete |
		access.ReadControl | access.WriteDAC | access.WriteOwner,
}

// rightNames name the factory rights for people (acl get, directory listings).
var rightNames = []struct {
	bit  access.AccessMask
	name string
}{
	{RightCreate, "create"}, {RightAudit, "audit"}, {RightInstall, "install"}, {RightSeal, "seal"},
	{RightManage, "manage"}, {access.Delete, "destroy"}, {access.ReadControl, "read-acl"},
	{access.WriteDAC, "write-acl"}, {access.WriteOwner, "take-ownership"},
}

// RightsText names the rights in m, e.g. "create audit".
func RightsText(m access.AccessMask) string {
	var out []string
	for _, r := range rightNames {
		if m&r.bit != 0 {
			out = append(out, r.name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

// defaultDescriptor is a new factory's: its owner has full control, everyone else may request
// and audit it. The owner changes it with `factoryctl acl set`.
func defaultDescriptor(owner store.Principal) *access.SecurityDescriptor {
	user := access.UnixUser(owner.UID)
	return &access.SecurityDescriptor{
		Owner: user,
		Group: access.UnixGroup(owner.GID),
		DACL: &access.ACL{ACEs: []access.ACE{
			{Type: access.ACEAccessAllowed, Mask: access.GenericAll, SID: user},
			{Type: access.ACEAccessAllowed, Mask: requestorRights, SID: access.Everyone},
		}},
	}
}

// descriptorOf returns the security descriptor of a factory record, shared and read-only:
// parsed descriptors are kept by their SDDL, since every open and listing checks them.
func descriptorOf(rec *store.Factory) (*access.SecurityDescriptor, error) {
	if rec.Descriptor == "" {
		return defaultDescriptor(rec.Owner), nil
	}
	parsed.mu.Lock()
	sd, ok := parsed.m[rec.Descriptor]
	parsed.mu.Unlock()
	if ok {
		return sd, nil
	}
	sd, err := access.ParseSDDL(rec.Descriptor)
	if err != nil {
		return nil, fmt.Errorf("%w: factory %q: stored descriptor: %v", store.ErrCorrupt, rec.Name, err)
	}
	parsed.mu.Lock()
	if len(parsed.m) >= maxParsed {
		clear(parsed.m)
	}
	parsed.m[rec.Descriptor] = sd
	parsed.mu.Unlock()
	return sd, nil
}

// parsed caches descriptors by SDDL; it is emptied when it reaches maxParsed.
var parsed = struct {
	mu sync.Mutex
	m  map[string]*access.SecurityDescriptor
}{m: map[string]*access.SecurityDescriptor{}}

const maxParsed = 4096

// Bounds on a descriptor an owner sets: every open and listing by anyone walks it.
const (
	maxSDDL = 64 << 10
	maxACEs = 1024
)

// accessTo runs AccessCheck for tok on rec, asking for every right it may have.
func accessTo(tok *access.Token, rec *store.Factory) (access.AccessMask, error) {
	sd, err := descriptorOf(rec)
	if err != nil {
		return 0, err
	}
	res, err := access.AccessCheck(access.Request{Token: tok, Descriptor: sd, Desired: access.MaximumAllowed,
		Mapping: factoryMapping})
	if err != nil {
		return 0, fmt.Errorf("%w: access check: %v", ErrPermission, err)
	}
	return res.Granted & factoryMapping.All, nil
}

// need fails unless rights hold r.
func need(rights, r access.AccessMask, name string) error {
	if rights&r != r {
		return fmt.Errorf("%w: this facet of factory %q lacks the %s right", ErrPermission, name, RightsText(r))
	}
	return nil
}

// SDDL aliases let administrators name principals the way they know them: uid:1000 and
// gid:100 (as owner, group or ACE trustee) stand for S-1-22-1-1000 and S-1-22-2-100, and
// cap:printers (as ACE trustee) for the capability SID of "printers".
var (
	unixAliasPattern = regexp.MustCompile(`(O:|G:|;)(uid|gid):([0-9]+)`)
	capAliasPattern  = regexp.MustCompile(`;cap:([^;()]+)\)`)
)

// expandSDDL replaces the aliases by SIDs.
func expandSDDL(s string) (string, error) {
	var errs []error
	s = unixAliasPattern.ReplaceAllStringFunc(s, func(m string) string {
		parts := unixAliasPattern.FindStringSubmatch(m)
		n, err := strconv.ParseUint(parts[3], 10, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%s is not a 32-bit id", parts[2], parts[3]))
			return m
		}
		sid := access.UnixUser(uint32(n))
		if parts[2] == "gid" {
			sid = access.UnixGroup(uint32(n))
		}
		return parts[1] + sid.String()
	})
	s = capAliasPattern.ReplaceAllStringFunc(s, func(m string) string {
		name := capAliasPattern.FindStringSubmatch(m)[1]
		sid, err := access.CapabilitySID(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("cap:%s: %v", name, err))
			return m
		}
		return ";" + sid.String() + ")"
	})
	return s, errors.Join(errs...)
}

// parseDescriptor reads an administrator's SDDL for a factory: aliases expanded, an owner
// required, rights limited to the factory's.
func parseDescriptor(text string) (*access.SecurityDescriptor, error) {
	if len(text) > maxSDDL {
		return nil, fmt.Errorf("%w: the descriptor is %d bytes, at most %d", ErrInvalid, len(text), maxSDDL)
	}
	expanded, err := expandSDDL(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	sd, err := access.ParseSDDL(expanded)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if sd.Owner.IsZero() {
		return nil, fmt.Errorf("%w: the descriptor names no owner (O:...)", ErrInvalid)
	}
	if err := sd.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	n := 0
	for _, acl := range []*access.ACL{sd.DACL, sd.SACL} {
		if acl != nil {
			n += len(acl.ACEs)
		}
	}
	if n > maxACEs {
		return nil, fmt.Errorf("%w: the descriptor has %d entries, at most %d", ErrInvalid, n, maxACEs)
	}
	return sd, nil
}

// AccessOptions is the operator's access policy.
type AccessOptions struct {
	// Grants add capability SIDs to the tokens of given unix users and groups: positive
	// confinement, e.g. a backup service that may open what grants "cap:backup". They widen
	// the normal pass only; a confined token keeps its confinement.
	Grants []CapabilityGrant
}

// CapabilityGrant gives the capability named Capability to the peers with one of Users as
// uid or one of Groups among their gids.
type CapabilityGrant struct {
	Capability string
	Users      []uint32
	Groups     []uint32
}

// CapabilityNames lists the capabilities the grants name.
func (o AccessOptions) CapabilityNames() []string {
	var out []string
	for _, g := range o.Grants {
		out = append(out, g.Capability)
	}
	return out
}

// peerOptions turns the grants into the options of access.TokenForUnixPeer.
func (o AccessOptions) peerOptions() (*access.UnixPeerOptions, error) {
	opts := &access.UnixPeerOptions{UserGroups: map[uint32][]access.SID{}, GroupGroups: map[uint32][]access.SID{}}
	for _, g := range o.Grants {
		sid, err := access.CapabilitySID(g.Capability)
		if err != nil {
			return nil, fmt.Errorf("%w: access grant %q: %v", ErrInvalid, g.Capability, err)
		}
		if len(g.Users) == 0 && len(g.Groups) == 0 {
			return nil, fmt.Errorf("%w: access grant %q names no user and no group", ErrInvalid, g.Capability)
		}
		for _, uid := range g.Users {
			opts.UserGroups[uid] = append(opts.UserGroups[uid], sid)
		}
		for _, gid := range g.Groups {
			opts.GroupGroups[gid] = append(opts.GroupGroups[gid], sid)
		}
	}
	return opts, nil
}
