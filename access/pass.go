package access

import "slices"

// A DACL is walked up to three times per access check: the normal pass as
// the full token, the restricted pass as the token's restricting SIDs, and
// the confinement pass as the token's confinement SID and capabilities.
// A pass says whom ACE SIDs are matched against, whom conditional
// membership operators ask about, whether the caller counts as the owner,
// and whether the owner's implicit rights apply.

// identity answers whether a SID matches an ACE of the given polarity.
type identity interface {
	contains(sid SID, forAllow bool) bool
}

// tokenIdentity matches a token's user and groups with their attributes.
type tokenIdentity struct{ t *Token }

func (i tokenIdentity) contains(sid SID, forAllow bool) bool { return i.t.matches(sid, forAllow) }

// sidSet matches by presence alone, for both polarities.
type sidSet []SID

func (s sidSet) contains(sid SID, _ bool) bool { return slices.Contains(s, sid) }

// pass is one way of walking the DACL.
type pass struct {
	// trustees is matched against the SIDs of ACEs.
	trustees identity
	// conditions is asked by Member_of and its variants.
	conditions identity
	// owner is whether OWNER_RIGHTS names the caller in this pass.
	owner bool
	// self is Request.Self; PRINCIPAL_SELF matches if trustees match it.
	self SID
	// ownerImplicitRights grants the owner READ_CONTROL|WRITE_DAC unless
	// the DACL names OWNER_RIGHTS.
	ownerImplicitRights bool
	// bound makes every callback ACE apply if it is an allow ACE and not
	// if it is a deny ACE, whatever its condition: the pass then grants
	// the most any token could be granted (ConfinementBound).
	bound bool
}

// normalPass matches the full token; the owner is the user or any group,
// whatever its attributes.
func normalPass(t *Token, owner, self SID) *pass {
	id := tokenIdentity{t}
	return &pass{trustees: id, conditions: id, owner: t.owns(owner), self: self, ownerImplicitRights: true}
}

// restrictedPass matches the restricting SIDs by presence, in ACEs and in
// conditions; the caller is the owner only if the owner is one of them.
func restrictedPass(t *Token, owner, self SID) *pass {
	set := sidSet(t.RestrictedSIDs)
	return &pass{trustees: set, conditions: set, owner: set.contains(owner, true), self: self, ownerImplicitRights: true}
}

// confinementPass matches {confinement SID} ∪ capabilities by presence,
// nothing implicit; the caller is the owner only if the owner is in that
// set, and even then gets no implicit rights. Conditions see the full
// token (Kobicha v0.20).
func confinementPass(t *Token, owner, self SID) *pass {
	set := append(sidSet{t.ConfinementSID}, t.Capabilities...)
	return &pass{trustees: set, conditions: tokenIdentity{t}, owner: set.contains(owner, true), self: self}
}

// matches reports whether an ACE naming sid applies in this pass.
func (p *pass) matches(sid SID, forAllow bool) bool {
	switch sid {
	case OwnerRights:
		return p.owner
	case PrincipalSelf:
		return p.selfMatches(forAllow)
	}
	return p.trustees.contains(sid, forAllow)
}

// selfMatches reports whether PRINCIPAL_SELF stands for the caller: there
// is a self SID and this pass's trustees match it.
func (p *pass) selfMatches(forAllow bool) bool {
	return !p.self.IsZero() && p.trustees.contains(p.self, forAllow)
}

// passCondition is the conditional-expression environment of a pass for an
// ACE of one polarity. OWNER_RIGHTS and PRINCIPAL_SELF mean what they mean
// as ACE trustees in the pass; other SIDs are asked of p.conditions.
type passCondition struct {
	p        *pass
	forAllow bool
}

func (c passCondition) memberOf(sid SID) bool {
	switch sid {
	case OwnerRights:
		return c.p.owner
	case PrincipalSelf:
		return c.p.selfMatches(c.forAllow)
	}
	return c.p.conditions.contains(sid, c.forAllow)
}
