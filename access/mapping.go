package access

import "fmt"

// GenericMapping gives the object-specific and standard rights that each
// generic right stands for, for one kind of object. All is also the set of
// rights valid for the object ("valid" in the access check).
type GenericMapping struct {
	Read    AccessMask // what GENERIC_READ stands for
	Write   AccessMask // what GENERIC_WRITE stands for
	Execute AccessMask // what GENERIC_EXECUTE stands for
	All     AccessMask // what GENERIC_ALL stands for: every valid right
}

// validate rejects a mapping whose entries hold generic, MAXIMUM_ALLOWED,
// ACCESS_SYSTEM_SECURITY or reserved bits: mapping must leave only
// concrete rights.
func (g GenericMapping) validate() error {
	const forbidden = genericBits | MaximumAllowed | AccessSystemSecurity | ReservedBits
	for _, m := range []AccessMask{g.Read, g.Write, g.Execute, g.All} {
		if m&forbidden != 0 {
			return fmt.Errorf("generic mapping entry %v: %w", m, ErrInvalidParameter)
		}
	}
	return nil
}

// Map replaces each generic bit of m by the rights it stands for and keeps
// every other bit. It fails if m holds reserved bits.
func (g GenericMapping) Map(m AccessMask) (AccessMask, error) {
	if m&ReservedBits != 0 {
		return 0, fmt.Errorf("access mask %#x has reserved bits %#x: %w",
			uint32(m), uint32(m&ReservedBits), ErrInvalidParameter)
	}
	return g.mapChecked(m), nil
}

// mapChecked is Map for a mask already known to be free of reserved bits.
func (g GenericMapping) mapChecked(m AccessMask) AccessMask {
	out := m &^ genericBits
	if m&GenericRead != 0 {
		out |= g.Read
	}
	if m&GenericWrite != 0 {
		out |= g.Write
	}
	if m&GenericExecute != 0 {
		out |= g.Execute
	}
	if m&GenericAll != 0 {
		out |= g.All
	}
	return out
}
