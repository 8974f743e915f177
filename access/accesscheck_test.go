package access

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testMapping = GenericMapping{Read: 0x20001, Write: 0x2, Execute: 0x20, All: 0xF0023}

func testUser() *Token {
	return &Token{
		User:            MustParseSID("S-1-5-21-1-2-3-1001"),
		Groups:          []Group{{SID: Everyone, Attributes: GroupEnabled}},
		Integrity:       IntegrityMedium,
		MandatoryPolicy: PolicyNoWriteUp,
	}
}

func mustSDDL(t *testing.T, s string) *SecurityDescriptor {
	t.Helper()
	sd, err := ParseSDDL(s)
	require.NoError(t, err)
	return sd
}

func TestAccessCheckErrors(t *testing.T) {
	sd := mustSDDL(t, "O:SYD:(A;;GA;;;WD)")
	badLabel := &SecurityDescriptor{Owner: LocalSystem, DACL: &ACL{},
		SACL: &ACL{ACEs: []ACE{{Type: ACEMandatoryLabel, SID: Everyone}}}}
	tests := []struct {
		name string
		req  Request
		want error
	}{
		{name: "no token", req: Request{Descriptor: sd, Mapping: testMapping}, want: ErrInvalidParameter},
		{name: "no descriptor", req: Request{Token: testUser(), Mapping: testMapping}, want: ErrInvalidParameter},
		{name: "no owner", req: Request{Token: testUser(), Descriptor: &SecurityDescriptor{DACL: &ACL{}}, Mapping: testMapping}, want: ErrMissingOwner},
		{name: "invalid token", req: Request{Token: &Token{}, Descriptor: sd, Mapping: testMapping}, want: ErrInvalidToken},
		{name: "reserved desired bits", req: Request{Token: testUser(), Descriptor: sd, Desired: 0x08000000, Mapping: testMapping}, want: ErrInvalidParameter},
		{name: "unknown intent", req: Request{Token: testUser(), Descriptor: sd, Intent: 4, Mapping: testMapping}, want: ErrInvalidParameter},
		{name: "mapping with generic bits", req: Request{Token: testUser(), Descriptor: sd, Mapping: GenericMapping{All: GenericAll}}, want: ErrInvalidParameter},
		{name: "mapping with ACCESS_SYSTEM_SECURITY", req: Request{Token: testUser(), Descriptor: sd, Mapping: GenericMapping{All: AccessSystemSecurity}}, want: ErrInvalidParameter},
		{name: "label without integrity SID", req: Request{Token: testUser(), Descriptor: badLabel, Mapping: testMapping}, want: ErrInvalidDescriptor},
		{name: "condition on a plain ACE", req: Request{Token: testUser(), Mapping: testMapping, Descriptor: &SecurityDescriptor{Owner: LocalSystem,
			DACL: &ACL{ACEs: []ACE{{Type: ACEAccessAllowed, SID: Everyone, Condition: []byte("artx")}}}}}, want: ErrInvalidDescriptor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AccessCheck(tt.req)
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestAccessCheckGateOrder(t *testing.T) {
	tok := testUser()
	tok.Type = TokenImpersonation
	tok.ImpersonationLevel = LevelIdentification
	_, err := AccessCheck(Request{Token: tok, Mapping: testMapping})
	require.ErrorIs(t, err, ErrAccessDenied, "the impersonation gate comes before the descriptor checks")
}

func TestAccessCheckSemantics(t *testing.T) {
	tests := []struct {
		name    string
		sddl    string
		tok     func(*Token)
		desired AccessMask
		self    SID
		granted AccessMask
		allowed bool
	}{
		{name: "a partial grant is returned but not allowed", sddl: "O:SYD:(A;;0x1;;;WD)",
			desired: 0x3, granted: 0x1, allowed: false},
		{name: "object deny applies to the whole object", sddl: "O:SYD:(OD;;0x2;;;WD)(A;;GA;;;WD)",
			desired: MaximumAllowed, granted: 0xF0021, allowed: true},
		{name: "generic desired bits are mapped", sddl: "O:SYD:(A;;GA;;;WD)",
			desired: GenericRead | GenericExecute, granted: 0x20021, allowed: true},
		{name: "MAXIMUM_ALLOWED does not stop early", sddl: "O:SYD:(A;;0x1;;;WD)(A;;0x2;;;WD)(D;;0x1;;;WD)",
			desired: MaximumAllowed | 0x1, granted: 0x3, allowed: true},
		{name: "ACCESS_SYSTEM_SECURITY is never granted by an ACE", sddl: "O:SYD:(A;;0x1000000;;;WD)",
			desired: AccessSystemSecurity, granted: 0, allowed: false},
		{name: "nothing desired is allowed", sddl: "O:SYD:", desired: 0, granted: 0, allowed: true},
		{name: "owner through a disabled group", sddl: "O:S-1-5-32-544D:",
			tok:     func(t *Token) { t.Groups = append(t.Groups, Group{SID: Administrators}) },
			desired: MaximumAllowed, granted: ReadControl | WriteDAC, allowed: true},
		{name: "PRINCIPAL_SELF with a self that is not the caller", sddl: "O:SYD:(A;;0x1;;;PS)",
			self: LocalSystem, desired: 0x1, granted: 0, allowed: false},
		{name: "primary tokens ignore the impersonation level", sddl: "O:SYD:(A;;0x1;;;WD)",
			tok: func(t *Token) { t.ImpersonationLevel = LevelAnonymous }, desired: 0x1, granted: 0x1, allowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := testUser()
			if tt.tok != nil {
				tt.tok(tok)
			}
			sd := mustSDDL(t, tt.sddl)
			res, err := AccessCheck(Request{Token: tok, Descriptor: sd, Desired: tt.desired, Mapping: testMapping, Self: tt.self})
			require.NoError(t, err)
			assert.Equal(t, tt.granted, res.Granted, "granted: got %v, want %v", res.Granted, tt.granted)
			assert.Equal(t, tt.allowed, res.Allowed)
		})
	}
}

func TestAccessCheckSkipsNonAccessACEs(t *testing.T) {
	sd := &SecurityDescriptor{Owner: LocalSystem, DACL: &ACL{ACEs: []ACE{
		{Type: ACESystemAudit, Mask: 0x1, SID: Everyone},
		{Type: ACEMandatoryLabel, Mask: 0x1, SID: HighIntegrity},
		{Type: 0x7f, Mask: 0x1, SID: Everyone},
	}}}
	res, err := AccessCheck(Request{Token: testUser(), Descriptor: sd, Desired: 0x1, Mapping: testMapping})
	require.NoError(t, err)
	assert.False(t, res.Allowed)
}

func TestAccessCheckDoesNotModifyInputs(t *testing.T) {
	tok := testUser()
	tok.RestrictedSIDs = []SID{Everyone}
	tok.ConfinementSID = MustParseSID("S-1-15-2-1-2")
	tok.Capabilities = []SID{AllRestrictedApplicationPackages}
	sd := mustSDDL(t, "O:SYD:(A;;GA;;;WD)(XA;;GA;;;S-1-15-2-1-2;(Member_of {SID(WD)}))S:(ML;;NW;;;HI)")
	tokCopy, sdCopy := tok.Clone(), sd.Clone()
	_, err := AccessCheck(Request{Token: tok, Descriptor: sd, Desired: MaximumAllowed, Mapping: testMapping})
	require.NoError(t, err)
	assert.Equal(t, tokCopy, tok)
	assert.True(t, sdCopy.Equal(sd))
}

func TestAccessCheckConcurrent(t *testing.T) {
	tok := testUser()
	sd := mustSDDL(t, "O:SYD:(A;;GA;;;WD)(XD;;0x2;;;WD;(Member_of {SID(BA)}))")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				res, err := AccessCheck(Request{Token: tok, Descriptor: sd, Desired: MaximumAllowed, Mapping: testMapping})
				assert.NoError(t, err)
				assert.Equal(t, AccessMask(0xF0023), res.Granted)
			}
		}()
	}
	wg.Wait()
}

func TestGenericMappingMap(t *testing.T) {
	got, err := testMapping.Map(GenericRead | GenericWrite | 0x100)
	require.NoError(t, err)
	assert.Equal(t, AccessMask(0x20103), got)
	_, err = testMapping.Map(0x00400000)
	require.ErrorIs(t, err, ErrInvalidParameter)
}

func TestAccessMaskString(t *testing.T) {
	assert.Equal(t, "0", AccessMask(0).String())
	assert.Equal(t, "GENERIC_READ|READ_CONTROL|0x3", (GenericRead | ReadControl | 0x3).String())
}
