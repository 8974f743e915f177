package access

// decision is the running state of a DACL walk: the bits some step has
// decided, and which of those it granted. The first step to decide a bit
// wins.
type decision struct {
	decided AccessMask
	granted AccessMask
}

// allow grants the undecided bits of m.
func (d *decision) allow(m AccessMask) {
	m &^= d.decided
	d.decided |= m
	d.granted |= m
}

// deny decides the undecided bits of m without granting them.
func (d *decision) deny(m AccessMask) { d.decided |= m }

// walk evaluates the DACL for one pass, starting from d: the owner's
// implicit rights, then a NULL DACL's grant of every valid right, or each
// ACE in order until every relevant bit is decided (never stopping early
// under MAXIMUM_ALLOWED).
func (c *check) walk(p *pass, d decision) decision {
	if p.ownerImplicitRights && p.owner && !c.ownerRightsNamed {
		d.allow(ReadControl | WriteDAC)
	}
	if c.sd.DACL == nil {
		d.allow(c.valid)
		return d
	}
	for _, ace := range c.sd.DACL.ACEs {
		if c.settled(d) {
			break
		}
		c.applyACE(p, ace, &d)
	}
	return d
}

// settled reports whether the walk may stop: not MAXIMUM_ALLOWED and no
// relevant bit left undecided.
func (c *check) settled(d decision) bool {
	return !c.max && c.relevant&^d.decided == 0
}

// applyACE lets one ACE decide bits: it must be an access ACE that is not
// inherit-only, name a SID the pass matches for its polarity, and, for a
// callback ACE, have a condition that holds. It decides map(mask) within
// the relevant bits.
func (c *check) applyACE(p *pass, ace ACE, d *decision) {
	if ace.Flags&InheritOnly != 0 || !ace.Type.IsAccess() {
		return
	}
	allow := ace.Type.IsAllow()
	if !p.matches(ace.SID, allow) {
		return
	}
	if ace.Type.IsCallback() {
		if p.bound && !allow {
			return
		}
		if !p.bound && !conditionHolds(ace.Condition, p, allow) {
			return
		}
	}
	bits := c.mapping.mapChecked(ace.Mask) & c.relevant
	if allow {
		d.allow(bits)
	} else {
		d.deny(bits)
	}
}

// conditionHolds applies three-valued logic to a callback ACE: an allow ACE
// needs TRUE, a deny ACE applies on TRUE or UNKNOWN.
func conditionHolds(cond []byte, p *pass, allow bool) bool {
	t := evaluateCondition(cond, passCondition{p: p, forAllow: allow})
	if allow {
		return t == triTrue
	}
	return t != triFalse
}

// namesOwnerRights reports whether an access ACE that is not inherit-only
// names OWNER_RIGHTS, which takes the place of the owner's implicit rights.
func namesOwnerRights(dacl *ACL) bool {
	if dacl == nil {
		return false
	}
	for _, ace := range dacl.ACEs {
		if ace.Type.IsAccess() && ace.Flags&InheritOnly == 0 && ace.SID == OwnerRights {
			return true
		}
	}
	return false
}
