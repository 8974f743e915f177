package access

import (
	"fmt"
	"slices"
)

// GroupAttributes are the attributes of a group in a token.
type GroupAttributes uint32

// Group attribute bits. Only Enabled and UseForDenyOnly affect AccessCheck.
const (
	GroupMandatory        GroupAttributes = 0x00000001 // cannot be disabled
	GroupEnabledByDefault GroupAttributes = 0x00000002 // enabled when the token is made
	// GroupEnabled lets the group match allow and deny ACEs.
	GroupEnabled GroupAttributes = 0x00000004
	GroupOwner   GroupAttributes = 0x00000008 // may be set as owner of new objects
	// GroupUseForDenyOnly lets the group match deny ACEs only.
	GroupUseForDenyOnly GroupAttributes = 0x00000010
	GroupIntegrity      GroupAttributes = 0x00000020 // the group is an integrity SID
	GroupLogonID        GroupAttributes = 0xC0000000 // the group is a logon session SID
)

// String names the attribute bits.
func (a GroupAttributes) String() string {
	return flagString(uint32(a), []flagName{
		{uint32(GroupMandatory), "MANDATORY"},
		{uint32(GroupEnabledByDefault), "ENABLED_BY_DEFAULT"},
		{uint32(GroupEnabled), "ENABLED"},
		{uint32(GroupOwner), "OWNER"},
		{uint32(GroupUseForDenyOnly), "USE_FOR_DENY_ONLY"},
		{uint32(GroupIntegrity), "INTEGRITY"},
		{uint32(GroupLogonID), "LOGON_ID"},
	})
}

// Group is a group SID of a token with its attributes.
type Group struct {
	SID        SID             // the group
	Attributes GroupAttributes // how it matches ACEs
}

// matches reports whether the group matches an ACE naming it: an allow
// ACE if the group is enabled and not deny-only, a deny ACE if it is
// enabled or deny-only.
func (g Group) matches(forAllow bool) bool {
	enabled := g.Attributes&GroupEnabled != 0
	denyOnly := g.Attributes&GroupUseForDenyOnly != 0
	if forAllow {
		return enabled && !denyOnly
	}
	return enabled || denyOnly
}

// TokenType tells a primary token from an impersonation token.
type TokenType uint8

// Token types.
const (
	TokenPrimary       TokenType = iota // the token of a process
	TokenImpersonation                  // a token taken on for a client
)

// String returns "primary" or "impersonation".
func (t TokenType) String() string {
	switch t {
	case TokenPrimary:
		return "primary"
	case TokenImpersonation:
		return "impersonation"
	}
	return fmt.Sprintf("TokenType(%d)", uint8(t))
}

// ImpersonationLevel is how far an impersonation token may act for its
// client. AccessCheck refuses impersonation tokens below Impersonation.
type ImpersonationLevel uint8

// Impersonation levels, lowest first.
const (
	LevelAnonymous      ImpersonationLevel = iota // the client is not identified; refused
	LevelIdentification                           // identify only; refused by AccessCheck
	LevelImpersonation                            // act for the client locally
	LevelDelegation                               // act for the client anywhere
)

// String returns the lower-case level name.
func (l ImpersonationLevel) String() string {
	switch l {
	case LevelAnonymous:
		return "anonymous"
	case LevelIdentification:
		return "identification"
	case LevelImpersonation:
		return "impersonation"
	case LevelDelegation:
		return "delegation"
	}
	return fmt.Sprintf("ImpersonationLevel(%d)", uint8(l))
}

// Token is the security context of a caller: who it is, what it belongs
// to, what it may do regardless of ACLs, and how it is restricted or
// confined.
//
// A token is a value: AccessCheck and the constructors never modify one
// they are given, and Clone returns an independent copy. A token must not
// be modified while another goroutine uses it.
type Token struct {
	// User is the user SID. It matches allow ACEs unless UserDenyOnly.
	User SID
	// UserDenyOnly makes the user SID match deny ACEs only.
	UserDenyOnly bool
	// Groups are the group SIDs with their attributes.
	Groups []Group
	// Privileges are the privileges held and enabled.
	Privileges PrivilegeSet
	// Integrity is the token's integrity level.
	Integrity IntegrityLevel
	// MandatoryPolicy says whether integrity is enforced (NO_WRITE_UP).
	MandatoryPolicy MandatoryPolicy
	// RestrictedSIDs, when not empty, make the token restricted: access
	// needs a second DACL pass matching only these SIDs.
	RestrictedSIDs []SID
	// WriteRestricted limits the restricted pass to map(GENERIC_WRITE).
	WriteRestricted bool
	// ConfinementSID, when set, confines the token: access is intersected
	// with what a DACL pass matching only ConfinementSID and
	// Capabilities grants.
	ConfinementSID SID
	// Capabilities are the confinement capability SIDs, matched by
	// presence in the confinement pass only.
	Capabilities []SID
	// ConfinementExempt skips the confinement pass.
	ConfinementExempt bool
	// Type tells a primary token from an impersonation token.
	Type TokenType
	// ImpersonationLevel matters for impersonation tokens only.
	ImpersonationLevel ImpersonationLevel
}

// Clone returns a deep copy of t.
func (t *Token) Clone() *Token {
	c := *t
	c.Groups = slices.Clone(t.Groups)
	c.RestrictedSIDs = slices.Clone(t.RestrictedSIDs)
	c.Capabilities = slices.Clone(t.Capabilities)
	return &c
}

// Confined reports whether AccessCheck runs the confinement pass for t.
func (t *Token) Confined() bool {
	return !t.ConfinementSID.IsZero() && !t.ConfinementExempt
}

// Validate checks that the token is well formed: a user SID, no zero SIDs
// in its lists, enabled privileges that are present, capabilities only on
// a token with a confinement SID, known type and level.
func (t *Token) Validate() error {
	if t.User.IsZero() {
		return fmt.Errorf("token has no user SID: %w", ErrInvalidToken)
	}
	for _, g := range t.Groups {
		if g.SID.IsZero() {
			return fmt.Errorf("token group without SID: %w", ErrInvalidToken)
		}
	}
	if slices.ContainsFunc(t.RestrictedSIDs, SID.IsZero) || slices.ContainsFunc(t.Capabilities, SID.IsZero) {
		return fmt.Errorf("token lists an empty SID: %w", ErrInvalidToken)
	}
	if extra := t.Privileges.Enabled &^ t.Privileges.Present; extra != 0 {
		return fmt.Errorf("privileges %v enabled but not present: %w", extra, ErrInvalidToken)
	}
	if len(t.Capabilities) > 0 && t.ConfinementSID.IsZero() {
		return fmt.Errorf("capabilities without a confinement SID: %w", ErrInvalidToken)
	}
	if t.Type > TokenImpersonation || t.ImpersonationLevel > LevelDelegation {
		return fmt.Errorf("token type %v, level %v: %w", t.Type, t.ImpersonationLevel, ErrInvalidToken)
	}
	return nil
}

// matches reports whether sid matches the token's user or groups for an
// ACE of the given polarity: the user unless it is deny-only and the ACE
// allows; a group as Group.matches says.
func (t *Token) matches(sid SID, forAllow bool) bool {
	if sid == t.User {
		return !(forAllow && t.UserDenyOnly)
	}
	for _, g := range t.Groups {
		if g.SID == sid && g.matches(forAllow) {
			return true
		}
	}
	return false
}

// owns reports whether owner is the token's user or one of its groups,
// whatever their attributes.
func (t *Token) owns(owner SID) bool {
	if owner == t.User {
		return true
	}
	return slices.ContainsFunc(t.Groups, func(g Group) bool { return g.SID == owner })
}
