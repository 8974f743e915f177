package access

import (
	"fmt"
	"strconv"
	"strings"
)

// SDDL is the text form of a security descriptor that administrators
// write, for example
//
//	O:S-1-22-1-1000G:S-1-22-2-1000D:P(A;;0x1f0003;;;S-1-22-1-1000)(A;;GR;;;WD)S:(ML;;NW;;;ME)
//
// Supported:
//   - components O: (owner), G: (group), D: (DACL) and S: (SACL), each at
//     most once, in any order, separated by optional spaces;
//   - ACL flags P (protected), AI (auto-inherited), AR (auto-inherit
//     required), and D:NO_ACCESS_CONTROL for a NULL DACL;
//   - ACEs (type;flags;rights;object-guid;inherited-object-guid;sid[;(condition)])
//     with types A, D, OA, OD, XA, XD, ZA in a DACL and AU, ML in a SACL;
//     flags OI CI NP IO ID SA FA; rights as 0x hex or letter codes GA GR
//     GW GX RC SD WD WO (NR NW NX in a mandatory label, Kobicha bit
//     numbering); object-specific rights in hex;
//   - SIDs as S-1-... or the aliases in sddlAliases;
//   - conditions in callback ACEs in the subset CompileCondition accepts.
//
// A descriptor must state its DACL: an omitted D: is an error rather than
// the NULL DACL it means on Windows, so that forgetting it cannot grant
// everyone every right. Write D:NO_ACCESS_CONTROL to mean a NULL DACL.

// maxSDDLLen bounds the input of ParseSDDL.
const maxSDDLLen = 1 << 18

var sddlAliases = []struct {
	alias string
	sid   SID
}{
	{"WD", Everyone},
	{"AN", Anonymous},
	{"AU", AuthenticatedUsers},
	{"SY", LocalSystem},
	{"BA", Administrators},
	{"BU", mustSID(authorityNT, 32, 545)},
	{"BG", mustSID(authorityNT, 32, 546)},
	{"NU", mustSID(authorityNT, 2)},
	{"IU", mustSID(authorityNT, 4)},
	{"RC", mustSID(authorityNT, 12)},
	{"LS", mustSID(authorityNT, 19)},
	{"NS", mustSID(authorityNT, 20)},
	{"WR", mustSID(authorityNT, 33)},
	{"CO", CreatorOwner},
	{"CG", CreatorGroup},
	{"OW", OwnerRights},
	{"PS", PrincipalSelf},
	{"AC", AllApplicationPackages},
	{"LW", LowIntegrity},
	{"ME", MediumIntegrity},
	{"MP", mustSID(authorityMandatory, 0x2100)},
	{"HI", HighIntegrity},
	{"SI", SystemIntegrity},
}

var sddlACETypes = []struct {
	code string
	typ  ACEType
}{
	{"A", ACEAccessAllowed},
	{"D", ACEAccessDenied},
	{"OA", ACEAccessAllowedObject},
	{"OD", ACEAccessDeniedObject},
	{"XA", ACEAccessAllowedCallback},
	{"XD", ACEAccessDeniedCallback},
	{"ZA", ACEAccessAllowedCallbackObject},
	{"AU", ACESystemAudit},
	{"ML", ACEMandatoryLabel},
}

var sddlACEFlags = []struct {
	code string
	flag ACEFlags
}{
	{"OI", ObjectInherit},
	{"CI", ContainerInherit},
	{"NP", NoPropagateInherit},
	{"IO", InheritOnly},
	{"ID", Inherited},
	{"SA", SuccessfulAccess},
	{"FA", FailedAccess},
}

const allSDDLACEFlags = ObjectInherit | ContainerInherit | NoPropagateInherit | InheritOnly |
	Inherited | SuccessfulAccess | FailedAccess

type rightCode struct {
	code string
	bits AccessMask
}

var sddlAccessRights = []rightCode{
	{"GA", GenericAll},
	{"GR", GenericRead},
	{"GW", GenericWrite},
	{"GX", GenericExecute},
	{"RC", ReadControl},
	{"SD", Delete},
	{"WD", WriteDAC},
	{"WO", WriteOwner},
}

var sddlLabelRights = []rightCode{
	{"NR", AccessMask(LabelNoReadUp)},
	{"NW", AccessMask(LabelNoWriteUp)},
	{"NX", AccessMask(LabelNoExecuteUp)},
}

const sddlNullDACL = "NO_ACCESS_CONTROL"

// aclKind is which ACL of a descriptor is being read or written: its name,
// its control flags, and the ACE types SDDL lets it hold.
type aclKind struct {
	name                           string
	protected, inherited, required Control
	allows                         func(ACEType) bool
}

var (
	daclKind = aclKind{"DACL", DACLProtected, DACLAutoInherited, DACLAutoInheritReq, ACEType.IsAccess}
	saclKind = aclKind{"SACL", SACLProtected, SACLAutoInherited, SACLAutoInheritReq, isSACLType}
)

func isSACLType(t ACEType) bool { return t == ACESystemAudit || t == ACEMandatoryLabel }

// parseSDDLSID parses an alias or an S-1-... string.
func parseSDDLSID(s string) (SID, error) {
	if strings.HasPrefix(s, "S-") {
		return ParseSID(s)
	}
	for _, a := range sddlAliases {
		if a.alias == s {
			return a.sid, nil
		}
	}
	return SID{}, fmt.Errorf("unknown SID alias %q: %w", s, ErrInvalidSID)
}

// formatSDDLSID writes the alias of s if it has one, else its string form.
func formatSDDLSID(s SID) string {
	for _, a := range sddlAliases {
		if a.sid == s {
			return a.alias
		}
	}
	return s.String()
}

// formatRights writes m with letter codes when they cover it exactly, else
// in hex.
func formatRights(m AccessMask, codes []rightCode) string {
	var b strings.Builder
	rest := m
	for _, c := range codes {
		if rest&c.bits != 0 {
			b.WriteString(c.code)
			rest &^= c.bits
		}
	}
	if m == 0 || rest != 0 {
		return "0x" + strconv.FormatUint(uint64(m), 16)
	}
	return b.String()
}

// FormatSDDL writes sd as SDDL that ParseSDDL reads back to an equal
// descriptor. It fails with ErrInvalidDescriptor if sd does not validate,
// holds an ACE that SDDL cannot express (such as an ACE type without a
// code or in the wrong list), or with ErrInvalidCondition for a condition
// outside the supported subset.
func FormatSDDL(sd *SecurityDescriptor) (string, error) {
	if err := sd.Validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	if !sd.Owner.IsZero() {
		b.WriteString("O:" + formatSDDLSID(sd.Owner))
	}
	if !sd.Group.IsZero() {
		b.WriteString("G:" + formatSDDLSID(sd.Group))
	}
	b.WriteString("D:")
	if err := formatACL(&b, sd.DACL, sd.Control, daclKind); err != nil {
		return "", err
	}
	if sd.SACL != nil {
		b.WriteString("S:")
		if err := formatACL(&b, sd.SACL, sd.Control, saclKind); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func formatACL(b *strings.Builder, acl *ACL, ctl Control, k aclKind) error {
	for _, f := range []struct {
		bit  Control
		code string
	}{{k.protected, "P"}, {k.required, "AR"}, {k.inherited, "AI"}} {
		if ctl&f.bit != 0 {
			b.WriteString(f.code)
		}
	}
	if acl == nil {
		b.WriteString(sddlNullDACL)
		return nil
	}
	for i, ace := range acl.ACEs {
		if err := formatACE(b, ace, k); err != nil {
			return fmt.Errorf("%s ACE %d: %w", k.name, i, err)
		}
	}
	return nil
}

func formatACE(b *strings.Builder, ace ACE, k aclKind) error {
	code := ""
	for _, t := range sddlACETypes {
		if t.typ == ace.Type {
			code = t.code
		}
	}
	if code == "" || !k.allows(ace.Type) {
		return fmt.Errorf("%v ACE cannot be written in an SDDL %s: %w", ace.Type, k.name, ErrInvalidDescriptor)
	}
	if ace.Flags&^allSDDLACEFlags != 0 {
		return fmt.Errorf("ACE flags %v cannot be written in SDDL: %w", ace.Flags, ErrInvalidDescriptor)
	}
	rights := sddlAccessRights
	if ace.Type == ACEMandatoryLabel {
		rights = sddlLabelRights
	}
	fmt.Fprintf(b, "(%s;%s;%s;%s;%s;%s", code, formatACEFlags(ace.Flags), formatRights(ace.Mask, rights),
		formatGUID(ace.ObjectType), formatGUID(ace.InheritedObjectType), formatSDDLSID(ace.SID))
	if len(ace.Condition) > 0 {
		text, err := FormatCondition(ace.Condition)
		if err != nil {
			return err
		}
		b.WriteString(";(" + text + ")")
	}
	b.WriteByte(')')
	return nil
}

func formatACEFlags(f ACEFlags) string {
	var b strings.Builder
	for _, c := range sddlACEFlags {
		if f&c.flag != 0 {
			b.WriteString(c.code)
		}
	}
	return b.String()
}

func formatGUID(g GUID) string {
	if g == (GUID{}) {
		return ""
	}
	return g.String()
}
