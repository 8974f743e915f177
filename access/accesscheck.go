package access

import "fmt"

// Intent says why a caller asks for access, so that backup and restore
// privileges apply only to backup and restore.
type Intent uint8

// Intent bits.
const (
	// IntentBackup lets SeBackupPrivilege grant map(GENERIC_READ).
	IntentBackup Intent = 1
	// IntentRestore lets SeRestorePrivilege grant its rights.
	IntentRestore Intent = 2
)

// Request is the input of AccessCheck.
type Request struct {
	// Token is the caller.
	Token *Token
	// Descriptor protects the object; it must have an owner.
	Descriptor *SecurityDescriptor
	// Desired is the access asked for, possibly with generic bits and
	// MaximumAllowed.
	Desired AccessMask
	// Mapping maps generic rights for the object's kind; Mapping.All is
	// the set of valid rights.
	Mapping GenericMapping
	// Self is the principal the object stands for, matched by
	// PRINCIPAL_SELF ACEs; zero if none.
	Self SID
	// Intent enables backup and restore privileges.
	Intent Intent
}

// Result is the outcome of an access check.
type Result struct {
	// Granted is the raw granted mask. It may hold rights that were not
	// asked for (owner implicit rights, privilege grants, a NULL DACL's
	// grant); a handle should record the mapped desired rights instead.
	Granted AccessMask
	// Allowed is whether every desired right is granted. It is true when
	// only MAXIMUM_ALLOWED was asked, even if nothing is granted.
	Allowed bool
}

// AccessCheck decides what tok may do to the object sd protects, following
// Kobicha v0.20 (see the package documentation for the steps). A denial is
// a Result with Allowed false, not an error; errors report an unusable
// token (ErrAccessDenied), a missing owner (ErrMissingOwner) or malformed
// input.
func AccessCheck(req Request) (Result, error) {
	c, err := newCheck(req)
	if err != nil {
		return Result{}, err
	}
	c.grantPrivileges()
	c.enforceIntegrity()
	c.state = c.walk(normalPass(c.token, c.sd.Owner, c.self), c.state)
	c.takeOwnership()
	c.restrict()
	c.confine()
	return c.result(), nil
}

// check holds one access check in progress.
type check struct {
	token   *Token
	sd      *SecurityDescriptor
	mapping GenericMapping
	self    SID

	max      bool       // MAXIMUM_ALLOWED was asked
	desired  AccessMask // mapped desired rights without MAXIMUM_ALLOWED
	valid    AccessMask // map(GENERIC_ALL)
	relevant AccessMask // what ACEs may decide: valid under max, else desired

	privs            Privileges // effective privileges for this intent
	mandatory        AccessMask // rights integrity forbids
	ownerRightsNamed bool       // the DACL names OWNER_RIGHTS

	state       decision   // the normal evaluation
	privGranted AccessMask // rights granted by privileges
}

// newCheck runs the gates and prepares the masks (steps 0 to 3).
func newCheck(req Request) (*check, error) {
	if err := checkInputs(req); err != nil {
		return nil, err
	}
	desired, err := req.Mapping.Map(req.Desired &^ MaximumAllowed)
	if err != nil {
		return nil, fmt.Errorf("desired access: %w", err)
	}
	c := &check{
		token:            req.Token,
		sd:               req.Descriptor,
		mapping:          req.Mapping,
		self:             req.Self,
		max:              req.Desired&MaximumAllowed != 0,
		desired:          desired,
		valid:            req.Mapping.All,
		privs:            effectivePrivileges(req.Token, req.Intent),
		ownerRightsNamed: namesOwnerRights(req.Descriptor.DACL),
	}
	c.relevant = c.desired
	if c.max {
		c.relevant = c.valid
	}
	return c, nil
}

// checkInputs applies the gates in order: a token, the impersonation level,
// a descriptor with an owner; then the well-formedness of everything.
func checkInputs(req Request) error {
	t, sd := req.Token, req.Descriptor
	switch {
	case t == nil:
		return fmt.Errorf("access check without a token: %w", ErrInvalidParameter)
	case t.Type == TokenImpersonation && t.ImpersonationLevel < LevelImpersonation:
		return fmt.Errorf("impersonation token at %v level: %w", t.ImpersonationLevel, ErrAccessDenied)
	case sd == nil:
		return fmt.Errorf("access check without a security descriptor: %w", ErrInvalidParameter)
	case sd.Owner.IsZero():
		return ErrMissingOwner
	case req.Intent&^(IntentBackup|IntentRestore) != 0:
		return fmt.Errorf("intent %#x: %w", uint8(req.Intent), ErrInvalidParameter)
	}
	if err := t.Validate(); err != nil {
		return err
	}
	if err := sd.Validate(); err != nil {
		return err
	}
	return req.Mapping.validate()
}

// effectivePrivileges returns the present and enabled privileges, without
// SeBackupPrivilege unless the intent is backup and without
// SeRestorePrivilege unless it is restore.
func effectivePrivileges(t *Token, intent Intent) Privileges {
	p := t.Privileges.Effective()
	if intent&IntentBackup == 0 {
		p &^= SeBackupPrivilege
	}
	if intent&IntentRestore == 0 {
		p &^= SeRestorePrivilege
	}
	return p
}

// grantPrivileges is step 4. ACCESS_SYSTEM_SECURITY is decided before any
// ACE is seen, so only a privilege grants it.
func (c *check) grantPrivileges() {
	c.state.decided = AccessSystemSecurity
	if c.privs&SeSecurityPrivilege != 0 {
		c.grantByPrivilege(AccessSystemSecurity)
	}
	if c.privs&SeBackupPrivilege != 0 {
		c.grantByPrivilege(c.mapping.Read)
	}
	if c.privs&SeRestorePrivilege != 0 {
		c.grantByPrivilege(c.mapping.Write | WriteDAC | WriteOwner | Delete | AccessSystemSecurity)
	}
}

// grantByPrivilege grants and decides m and remembers it as granted by a
// privilege.
func (c *check) grantByPrivilege(m AccessMask) {
	c.state.decided |= m
	c.state.granted |= m
	c.privGranted |= m
}

// enforceIntegrity is step 5: the rights the object's label forbids are
// decided, so no ACE grants them.
func (c *check) enforceIntegrity() {
	c.mandatory = mandatoryDenied(c.token, objectLabel(c.sd.SACL), c.privs, c.mapping)
	c.state.decided |= c.mandatory
}

// takeOwnership is step 9: SeTakeOwnershipPrivilege grants WRITE_OWNER when
// it is asked for (or MAXIMUM_ALLOWED), integrity allows it, and the DACL
// did not grant it already.
func (c *check) takeOwnership() {
	asked := c.max || c.desired&WriteOwner != 0
	if asked && c.privs&SeTakeOwnershipPrivilege != 0 &&
		c.mandatory&WriteOwner == 0 && c.state.granted&WriteOwner == 0 {
		c.grantByPrivilege(WriteOwner)
	}
}

// restrict is step 10: for a restricted token, the grant is intersected
// with a pass over the restricting SIDs (only the write bits, for a
// write-restricted token), and privilege grants are restored.
func (c *check) restrict() {
	t := c.token
	if len(t.RestrictedSIDs) == 0 {
		return
	}
	r := c.walk(restrictedPass(t, c.sd.Owner, c.self), decision{decided: AccessSystemSecurity})
	g := c.state.granted
	if t.WriteRestricted {
		w := c.mapping.Write
		g = g&^w | g&r.granted&w
	} else {
		g &= r.granted
	}
	c.state.granted = g | c.privGranted
}

// confine is step 11: for a confined token, the grant is intersected with
// a pass over the confinement SID and capabilities. Nothing is restored
// afterwards: privileges do not bypass confinement.
func (c *check) confine() {
	t := c.token
	if !t.Confined() {
		return
	}
	cp := c.walk(confinementPass(t, c.sd.Owner, c.self), decision{decided: AccessSystemSecurity})
	c.state.granted &= cp.granted
}

// result is step 15.
func (c *check) result() Result {
	g := c.state.granted
	return Result{Granted: g, Allowed: c.desired == 0 || g&c.desired == c.desired}
}
