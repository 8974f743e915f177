package access

import "fmt"

// ConfinementBound returns the most that any token confined to
// confinementSID with the given capabilities (and, unless strict,
// ALL_APPLICATION_PACKAGES) can be granted on the object sd protects,
// whatever the token's user, groups, privileges and integrity: the
// confinement pass alone, since every grant of a confined token is
// intersected with it and nothing restores what it withholds. Callback
// ACEs are taken at their widest: an allow ACE as if its condition held, a
// deny ACE as if it did not.
//
// An auditor uses it to say what a declared capability reaches without
// knowing who will hold it.
func ConfinementBound(sd *SecurityDescriptor, mapping GenericMapping, confinementSID SID, capabilities []SID, strict bool) (AccessMask, error) {
	switch {
	case sd == nil:
		return 0, fmt.Errorf("no security descriptor: %w", ErrInvalidParameter)
	case sd.Owner.IsZero():
		return 0, ErrMissingOwner
	case !isPackageSID(confinementSID):
		return 0, fmt.Errorf("confinement SID %v is not an application package SID: %w", confinementSID, ErrInvalidParameter)
	}
	if err := sd.Validate(); err != nil {
		return 0, err
	}
	if err := mapping.validate(); err != nil {
		return 0, err
	}
	set := append(sidSet{confinementSID}, confinementCapabilities(capabilities, strict)...)
	c := &check{sd: sd, mapping: mapping, max: true, valid: mapping.All, relevant: mapping.All,
		ownerRightsNamed: namesOwnerRights(sd.DACL)}
	p := &pass{trustees: set, conditions: set, owner: set.contains(sd.Owner, true), bound: true}
	d := c.walk(p, decision{decided: AccessSystemSecurity})
	return d.granted & mapping.All, nil
}
