package access

import (
	"bytes"
	"encoding/hex"
	"fmt"
)

// ACEType is the MS-DTYP type of an ACE.
type ACEType uint8

// ACE types. The access types (allow, deny and their object and callback
// variants) belong in a DACL; audit and mandatory label ACEs in a SACL.
const (
	ACEAccessAllowed               ACEType = 0x00 // grants; SDDL A
	ACEAccessDenied                ACEType = 0x01 // denies; SDDL D
	ACESystemAudit                 ACEType = 0x02 // audits (SACL); SDDL AU
	ACEAccessAllowedObject         ACEType = 0x05 // grants, with object GUIDs; SDDL OA
	ACEAccessDeniedObject          ACEType = 0x06 // denies, with object GUIDs; SDDL OD
	ACEAccessAllowedCallback       ACEType = 0x09 // grants if its condition is TRUE; SDDL XA
	ACEAccessDeniedCallback        ACEType = 0x0A // denies unless its condition is FALSE; SDDL XD
	ACEAccessAllowedCallbackObject ACEType = 0x0B // conditional object allow; SDDL ZA
	ACEAccessDeniedCallbackObject  ACEType = 0x0C // conditional object deny; no SDDL code
	ACEMandatoryLabel              ACEType = 0x11 // integrity label (SACL); SDDL ML
)

var aceTypeNames = map[ACEType]string{
	ACEAccessAllowed:               "ACCESS_ALLOWED",
	ACEAccessDenied:                "ACCESS_DENIED",
	ACESystemAudit:                 "SYSTEM_AUDIT",
	ACEAccessAllowedObject:         "ACCESS_ALLOWED_OBJECT",
	ACEAccessDeniedObject:          "ACCESS_DENIED_OBJECT",
	ACEAccessAllowedCallback:       "ACCESS_ALLOWED_CALLBACK",
	ACEAccessDeniedCallback:        "ACCESS_DENIED_CALLBACK",
	ACEAccessAllowedCallbackObject: "ACCESS_ALLOWED_CALLBACK_OBJECT",
	ACEAccessDeniedCallbackObject:  "ACCESS_DENIED_CALLBACK_OBJECT",
	ACEMandatoryLabel:              "SYSTEM_MANDATORY_LABEL",
}

// String returns the MS-DTYP name without the _ACE_TYPE suffix.
func (t ACEType) String() string {
	if n, ok := aceTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("ACEType(%#x)", uint8(t))
}

// IsAccess reports whether the DACL walk evaluates ACEs of this type.
func (t ACEType) IsAccess() bool {
	switch t {
	case ACEAccessAllowed, ACEAccessDenied,
		ACEAccessAllowedObject, ACEAccessDeniedObject,
		ACEAccessAllowedCallback, ACEAccessDeniedCallback,
		ACEAccessAllowedCallbackObject, ACEAccessDeniedCallbackObject:
		return true
	}
	return false
}

// IsAllow reports whether the type grants rather than denies.
func (t ACEType) IsAllow() bool {
	switch t {
	case ACEAccessAllowed, ACEAccessAllowedObject,
		ACEAccessAllowedCallback, ACEAccessAllowedCallbackObject:
		return true
	}
	return false
}

// IsCallback reports whether ACEs of this type carry a conditional
// expression that gates them.
func (t ACEType) IsCallback() bool {
	switch t {
	case ACEAccessAllowedCallback, ACEAccessDeniedCallback,
		ACEAccessAllowedCallbackObject, ACEAccessDeniedCallbackObject:
		return true
	}
	return false
}

// IsObject reports whether ACEs of this type may carry object type GUIDs.
func (t ACEType) IsObject() bool {
	switch t {
	case ACEAccessAllowedObject, ACEAccessDeniedObject,
		ACEAccessAllowedCallbackObject, ACEAccessDeniedCallbackObject:
		return true
	}
	return false
}

// ACEFlags are the inheritance and audit flags of an ACE.
type ACEFlags uint8

// ACE flags.
const (
	ObjectInherit      ACEFlags = 0x01 // inherited by child objects; SDDL OI
	ContainerInherit   ACEFlags = 0x02 // inherited by child containers; SDDL CI
	NoPropagateInherit ACEFlags = 0x04 // inherited one level only; SDDL NP
	// InheritOnly ACEs only pass to children; AccessCheck skips them.
	InheritOnly      ACEFlags = 0x08 // SDDL IO
	Inherited        ACEFlags = 0x10 // came from a parent; SDDL ID
	SuccessfulAccess ACEFlags = 0x40 // audit ACE: audit successes; SDDL SA
	FailedAccess     ACEFlags = 0x80 // audit ACE: audit failures; SDDL FA
)

// String names the flag bits.
func (f ACEFlags) String() string {
	return flagString(uint32(f), []flagName{
		{uint32(ObjectInherit), "OBJECT_INHERIT"},
		{uint32(ContainerInherit), "CONTAINER_INHERIT"},
		{uint32(NoPropagateInherit), "NO_PROPAGATE_INHERIT"},
		{uint32(InheritOnly), "INHERIT_ONLY"},
		{uint32(Inherited), "INHERITED"},
		{uint32(SuccessfulAccess), "SUCCESSFUL_ACCESS"},
		{uint32(FailedAccess), "FAILED_ACCESS"},
	})
}

// GUID identifies an object type in an object ACE. The zero GUID means
// "absent".
type GUID [16]byte

// String formats g as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, reading the
// first three fields little-endian as MS-DTYP stores them.
func (g GUID) String() string {
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%x-%x",
		g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8:10], g[10:16])
}

// ParseGUID parses the form String writes, in either case.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("GUID %q: %w", s, ErrInvalidParameter)
	}
	b, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36])
	if err != nil {
		return g, fmt.Errorf("GUID %q: %w", s, ErrInvalidParameter)
	}
	order := [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}
	for i, j := range order {
		g[j] = b[i]
	}
	return g, nil
}

// ACE is an access control entry.
type ACE struct {
	// Type is the kind of ACE; AccessCheck evaluates only access types.
	Type ACEType
	// Flags are the inheritance and audit flags.
	Flags ACEFlags
	// Mask is the rights the ACE allows or denies; for a mandatory label
	// ACE it holds LabelPolicy bits.
	Mask AccessMask
	// SID is the trustee; for a mandatory label ACE, the integrity SID.
	SID SID
	// ObjectType is the object GUID of an object ACE, zero when absent.
	// Without an object type list, AccessCheck applies object ACEs to
	// the whole object.
	ObjectType GUID
	// InheritedObjectType is the GUID of the child object type that
	// inherits an object ACE, zero when absent.
	InheritedObjectType GUID
	// Condition is the application data of a callback ACE: conditional
	// expression bytecode starting with "artx".
	Condition []byte
}

// Equal reports whether a and b are the same ACE.
func (a ACE) Equal(b ACE) bool {
	return a.Type == b.Type && a.Flags == b.Flags && a.Mask == b.Mask && a.SID == b.SID &&
		a.ObjectType == b.ObjectType && a.InheritedObjectType == b.InheritedObjectType &&
		bytes.Equal(a.Condition, b.Condition)
}

// validate checks what AccessCheck relies on: a trustee SID, a condition
// only on callback ACEs, GUIDs only on object ACEs, no reserved bits in the
// mask of an access ACE, and an integrity SID and known policy bits in a
// mandatory label. ACEs of other types are skipped by AccessCheck and not
// checked further.
func (a ACE) validate() error {
	switch {
	case a.SID.IsZero():
		return fmt.Errorf("%v ACE without SID: %w", a.Type, ErrInvalidDescriptor)
	case len(a.Condition) > 0 && !a.Type.IsCallback():
		return fmt.Errorf("%v ACE with a condition: %w", a.Type, ErrInvalidDescriptor)
	case !a.Type.IsObject() && (a.ObjectType != GUID{} || a.InheritedObjectType != GUID{}):
		return fmt.Errorf("%v ACE with object GUIDs: %w", a.Type, ErrInvalidDescriptor)
	case a.Type.IsAccess():
		return a.validateAccess()
	case a.Type == ACEMandatoryLabel:
		return a.validateLabel()
	}
	return nil
}

func (a ACE) validateAccess() error {
	if a.Mask&ReservedBits != 0 {
		return fmt.Errorf("%v ACE mask %#x has reserved bits: %w", a.Type, uint32(a.Mask), ErrInvalidDescriptor)
	}
	if len(a.Condition) > maxConditionLen {
		return fmt.Errorf("condition of %d bytes: %w", len(a.Condition), ErrInvalidDescriptor)
	}
	return nil
}

func (a ACE) validateLabel() error {
	if _, ok := integrityLevelOf(a.SID); !ok {
		return fmt.Errorf("mandatory label names %v, not an integrity level: %w", a.SID, ErrInvalidDescriptor)
	}
	if a.Mask&^AccessMask(LabelNoReadUp|LabelNoWriteUp|LabelNoExecuteUp) != 0 {
		return fmt.Errorf("mandatory label policy %#x: %w", uint32(a.Mask), ErrInvalidDescriptor)
	}
	return nil
}
