package access

import (
	"fmt"
	"strings"
)

// AccessMask is a 32-bit access mask: object-specific rights in the low 16
// bits, standard rights above them, then ACCESS_SYSTEM_SECURITY,
// MAXIMUM_ALLOWED and the four generic rights.
type AccessMask uint32

// Access rights.
const (
	// Delete is the right to delete the object.
	Delete AccessMask = 0x00010000
	// ReadControl is the right to read the security descriptor, SACL aside.
	ReadControl AccessMask = 0x00020000
	// WriteDAC is the right to change the DACL.
	WriteDAC AccessMask = 0x00040000
	// WriteOwner is the right to change the owner.
	WriteOwner AccessMask = 0x00080000
	// Synchronize is the right to wait on the object.
	Synchronize AccessMask = 0x00100000
	// AccessSystemSecurity is the right to read or change the SACL. Only a
	// privilege grants it; no ACE does.
	AccessSystemSecurity AccessMask = 0x01000000
	// MaximumAllowed asks AccessCheck for every right the caller could
	// have instead of a fixed set.
	MaximumAllowed AccessMask = 0x02000000
	// GenericAll maps to GenericMapping.All.
	GenericAll AccessMask = 0x10000000
	// GenericExecute maps to GenericMapping.Execute.
	GenericExecute AccessMask = 0x20000000
	// GenericWrite maps to GenericMapping.Write.
	GenericWrite AccessMask = 0x40000000
	// GenericRead maps to GenericMapping.Read.
	GenericRead AccessMask = 0x80000000

	// SpecificRights are the object-specific rights.
	SpecificRights AccessMask = 0x0000FFFF
	// StandardRights are DELETE through SYNCHRONIZE.
	StandardRights AccessMask = 0x001F0000
	// ReservedBits may not appear in a desired mask or an ACE mask.
	ReservedBits AccessMask = 0x0CE00000
	// genericBits are the four generic rights.
	genericBits = GenericAll | GenericExecute | GenericWrite | GenericRead
)

var maskNames = []struct {
	bit  AccessMask
	name string
}{
	{GenericRead, "GENERIC_READ"},
	{GenericWrite, "GENERIC_WRITE"},
	{GenericExecute, "GENERIC_EXECUTE"},
	{GenericAll, "GENERIC_ALL"},
	{MaximumAllowed, "MAXIMUM_ALLOWED"},
	{AccessSystemSecurity, "ACCESS_SYSTEM_SECURITY"},
	{Synchronize, "SYNCHRONIZE"},
	{WriteOwner, "WRITE_OWNER"},
	{WriteDAC, "WRITE_DAC"},
	{ReadControl, "READ_CONTROL"},
	{Delete, "DELETE"},
}

// String names the standard and generic bits and prints the rest in hex,
// e.g. "READ_CONTROL|0x1".
func (m AccessMask) String() string {
	if m == 0 {
		return "0"
	}
	var parts []string
	for _, n := range maskNames {
		if m&n.bit != 0 {
			parts = append(parts, n.name)
			m &^= n.bit
		}
	}
	if m != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(m)))
	}
	return strings.Join(parts, "|")
}
