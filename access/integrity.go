package access

import (
	"fmt"
	"strings"
)

// IntegrityLevel is a mandatory integrity level: the last sub-authority of
// an S-1-16-<level> SID.
type IntegrityLevel uint32

// The usual integrity levels.
const (
	IntegrityUntrusted IntegrityLevel = 0x0000 // S-1-16-0
	IntegrityLow       IntegrityLevel = 0x1000 // S-1-16-4096, SDDL LW
	IntegrityMedium    IntegrityLevel = 0x2000 // S-1-16-8192, SDDL ME; the default label
	IntegrityHigh      IntegrityLevel = 0x3000 // S-1-16-12288, SDDL HI
	IntegritySystem    IntegrityLevel = 0x4000 // S-1-16-16384, SDDL SI
)

// SID returns S-1-16-<level>.
func (l IntegrityLevel) SID() SID { return mustSID(authorityMandatory, uint32(l)) }

// String names the usual levels and prints others in hex.
func (l IntegrityLevel) String() string {
	switch l {
	case IntegrityUntrusted:
		return "Untrusted"
	case IntegrityLow:
		return "Low"
	case IntegrityMedium:
		return "Medium"
	case IntegrityHigh:
		return "High"
	case IntegritySystem:
		return "System"
	}
	return fmt.Sprintf("%#x", uint32(l))
}

// integrityLevelOf returns the level named by an integrity SID
// (S-1-16-<level>).
func integrityLevelOf(s SID) (IntegrityLevel, bool) {
	if !s.hasPrefix(authorityMandatory) || s.SubAuthorityCount() != 1 {
		return 0, false
	}
	return IntegrityLevel(s.SubAuthority(0)), true
}

// MandatoryPolicy is a token's mandatory integrity policy.
type MandatoryPolicy uint32

// Token mandatory policy bits.
const (
	// PolicyNoWriteUp turns integrity checking on for the token.
	PolicyNoWriteUp MandatoryPolicy = 0x1
	// PolicyNewProcessMin is carried for completeness; AccessCheck does
	// not consult it.
	PolicyNewProcessMin MandatoryPolicy = 0x2
)

// String names the policy bits.
func (p MandatoryPolicy) String() string {
	return flagString(uint32(p), []flagName{
		{uint32(PolicyNoWriteUp), "NO_WRITE_UP"},
		{uint32(PolicyNewProcessMin), "NEW_PROCESS_MIN"},
	})
}

// LabelPolicy is the mask of a mandatory label ACE: what a caller below the
// label's level may not do. The bits use Kobicha's numbering, in which
// NO_READ_UP and NO_WRITE_UP are swapped relative to MS-DTYP.
type LabelPolicy uint32

// Mandatory label policy bits (Kobicha numbering).
const (
	LabelNoReadUp    LabelPolicy = 0x1 // lower callers lose map(GENERIC_READ); SDDL NR
	LabelNoWriteUp   LabelPolicy = 0x2 // lower callers lose map(GENERIC_WRITE); SDDL NW
	LabelNoExecuteUp LabelPolicy = 0x4 // lower callers lose map(GENERIC_EXECUTE); SDDL NX
)

// String names the label policy bits.
func (p LabelPolicy) String() string {
	return flagString(uint32(p), []flagName{
		{uint32(LabelNoReadUp), "NO_READ_UP"},
		{uint32(LabelNoWriteUp), "NO_WRITE_UP"},
		{uint32(LabelNoExecuteUp), "NO_EXECUTE_UP"},
	})
}

// label is the mandatory label that governs an object.
type label struct {
	level  IntegrityLevel
	policy LabelPolicy
}

// defaultLabel applies to objects whose SACL has no usable label.
var defaultLabel = label{level: IntegrityMedium, policy: LabelNoWriteUp}

// objectLabel returns the first mandatory label ACE of the SACL that is not
// inherit-only, or the default label.
func objectLabel(sacl *ACL) label {
	if sacl == nil {
		return defaultLabel
	}
	for _, ace := range sacl.ACEs {
		if ace.Type != ACEMandatoryLabel || ace.Flags&InheritOnly != 0 {
			continue
		}
		level, _ := integrityLevelOf(ace.SID) // checked by validate
		return label{level: level, policy: LabelPolicy(ace.Mask)}
	}
	return defaultLabel
}

// mandatoryDenied returns the rights integrity forbids to the token on an
// object with label l: none if the token's policy lacks NO_WRITE_UP or the
// token dominates the label; otherwise every valid right except
// map(GR)|map(GX), less what the label's NO_*_UP bits forbid, plus
// WRITE_OWNER for a holder of SeRelabelPrivilege.
func mandatoryDenied(t *Token, l label, privs Privileges, m GenericMapping) AccessMask {
	if t.MandatoryPolicy&PolicyNoWriteUp == 0 || t.Integrity >= l.level {
		return 0
	}
	allow := m.Read | m.Execute
	if l.policy&LabelNoReadUp != 0 {
		allow &^= m.Read
	}
	if l.policy&LabelNoWriteUp != 0 {
		allow &^= m.Write
	}
	if l.policy&LabelNoExecuteUp != 0 {
		allow &^= m.Execute
	}
	if privs&SeRelabelPrivilege != 0 {
		allow |= WriteOwner
	}
	return m.All &^ allow
}

type flagName struct {
	bit  uint32
	name string
}

// flagString joins the names of the set bits with "|", unknown bits in hex.
func flagString(v uint32, names []flagName) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	for _, n := range names {
		if v&n.bit != 0 {
			parts = append(parts, n.name)
			v &^= n.bit
		}
	}
	if v != 0 {
		parts = append(parts, fmt.Sprintf("%#x", v))
	}
	return strings.Join(parts, "|")
}
