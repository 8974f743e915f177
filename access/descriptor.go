package access

import (
	"fmt"
	"slices"
)

// Control holds the inheritance flags of a security descriptor. Whether a
// DACL or SACL is present is not a flag here: it is whether the field is
// nil.
type Control uint16

// Security descriptor control flags (MS-DTYP values).
const (
	DACLAutoInheritReq Control = 0x0100 // SDDL D:AR
	SACLAutoInheritReq Control = 0x0200 // SDDL S:AR
	DACLAutoInherited  Control = 0x0400 // SDDL D:AI
	SACLAutoInherited  Control = 0x0800 // SDDL S:AI
	DACLProtected      Control = 0x1000 // DACL does not inherit; SDDL D:P
	SACLProtected      Control = 0x2000 // SACL does not inherit; SDDL S:P
	validControl               = 0x3F00
)

// ACL is an ordered list of ACEs. AccessCheck evaluates it in this order
// and never sorts it.
type ACL struct {
	// ACEs are the entries, in evaluation order.
	ACEs []ACE
}

// Equal reports whether a and b hold equal ACEs in the same order; a nil
// ACL equals only a nil ACL.
func (a *ACL) Equal(b *ACL) bool {
	if a == nil || b == nil {
		return a == b
	}
	return slices.EqualFunc(a.ACEs, b.ACEs, ACE.Equal)
}

// clone returns a deep copy; nil stays nil.
func (a *ACL) clone() *ACL {
	if a == nil {
		return nil
	}
	c := &ACL{ACEs: make([]ACE, len(a.ACEs))}
	for i, ace := range a.ACEs {
		ace.Condition = slices.Clone(ace.Condition)
		c.ACEs[i] = ace
	}
	return c
}

// SecurityDescriptor is the access control information of an object.
//
// A nil DACL is a NULL DACL, which grants every valid right; an ACL with no
// ACEs grants nothing beyond the owner's implicit rights. A nil SACL means
// no SACL; the object then has the default label, Medium with NO_WRITE_UP.
type SecurityDescriptor struct {
	// Owner is the owner SID; AccessCheck refuses a descriptor without one.
	Owner SID
	// Group is the primary group; AccessCheck does not consult it.
	Group SID
	// Control holds the protection and auto-inheritance flags.
	Control Control
	// DACL grants and denies access; nil is a NULL DACL.
	DACL *ACL
	// SACL holds audit and mandatory label ACEs; nil is no SACL.
	SACL *ACL
}

// Validate checks the descriptor's ACEs (see ACE) and control flags. It
// does not require an owner: AccessCheck reports a missing owner with its
// own error.
func (sd *SecurityDescriptor) Validate() error {
	if sd.Control&^validControl != 0 {
		return fmt.Errorf("control flags %#x: %w", uint16(sd.Control), ErrInvalidDescriptor)
	}
	if err := sd.DACL.validate("DACL"); err != nil {
		return err
	}
	return sd.SACL.validate("SACL")
}

// validate checks each ACE of a, which may be nil; name says which list a
// is, for the error.
func (a *ACL) validate(name string) error {
	if a == nil {
		return nil
	}
	for i, ace := range a.ACEs {
		if err := ace.validate(); err != nil {
			return fmt.Errorf("%s ACE %d: %w", name, i, err)
		}
	}
	return nil
}

// Equal reports whether sd and o are the same descriptor.
func (sd *SecurityDescriptor) Equal(o *SecurityDescriptor) bool {
	if sd == nil || o == nil {
		return sd == o
	}
	return sd.Owner == o.Owner && sd.Group == o.Group && sd.Control == o.Control &&
		sd.DACL.Equal(o.DACL) && sd.SACL.Equal(o.SACL)
}

// Clone returns a deep copy of sd.
func (sd *SecurityDescriptor) Clone() *SecurityDescriptor {
	c := *sd
	c.DACL = sd.DACL.clone()
	c.SACL = sd.SACL.clone()
	return &c
}
