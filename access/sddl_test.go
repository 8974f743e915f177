package access

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSDDLExample(t *testing.T) {
	sd, err := ParseSDDL("O:S-1-22-1-1000G:S-1-22-2-1000D:(A;;0x1f0003;;;S-1-22-1-1000)(A;;0x20001;;;WD)S:(ML;;NW;;;ME)")
	require.NoError(t, err)
	want := &SecurityDescriptor{
		Owner: UnixUser(1000),
		Group: UnixGroup(1000),
		DACL: &ACL{ACEs: []ACE{
			{Type: ACEAccessAllowed, Mask: 0x1f0003, SID: UnixUser(1000)},
			{Type: ACEAccessAllowed, Mask: 0x20001, SID: Everyone},
		}},
		SACL: &ACL{ACEs: []ACE{{Type: ACEMandatoryLabel, Mask: AccessMask(LabelNoWriteUp), SID: MediumIntegrity}}},
	}
	assert.True(t, want.Equal(sd), "got %+v", sd)
}

func TestParseSDDLDetails(t *testing.T) {
	guid := "bf967aba-0de6-11d0-a285-00aa003049e2"
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, sd *SecurityDescriptor)
	}{
		{name: "NULL DACL", in: "O:SYD:NO_ACCESS_CONTROL", check: func(t *testing.T, sd *SecurityDescriptor) {
			assert.Nil(t, sd.DACL)
		}},
		{name: "empty DACL", in: "O:SYD:", check: func(t *testing.T, sd *SecurityDescriptor) {
			require.NotNil(t, sd.DACL)
			assert.Empty(t, sd.DACL.ACEs)
			assert.Nil(t, sd.SACL)
		}},
		{name: "no owner", in: "D:(A;;GA;;;WD)", check: func(t *testing.T, sd *SecurityDescriptor) {
			assert.True(t, sd.Owner.IsZero())
		}},
		{name: "control flags", in: "O:BAD:PAIARS:PAI", check: func(t *testing.T, sd *SecurityDescriptor) {
			assert.Equal(t, DACLProtected|DACLAutoInherited|DACLAutoInheritReq|SACLProtected|SACLAutoInherited, sd.Control)
		}},
		{name: "letter rights", in: "O:BAD:(D;OICIIO;GAGRGWGXRCSDWDWO;;;AN)", check: func(t *testing.T, sd *SecurityDescriptor) {
			ace := sd.DACL.ACEs[0]
			assert.Equal(t, ACEAccessDenied, ace.Type)
			assert.Equal(t, ObjectInherit|ContainerInherit|InheritOnly, ace.Flags)
			assert.Equal(t, genericBits|ReadControl|Delete|WriteDAC|WriteOwner, ace.Mask)
			assert.Equal(t, Anonymous, ace.SID)
		}},
		{name: "label codes", in: "O:BAD:S:(ML;;NRNWNX;;;HI)", check: func(t *testing.T, sd *SecurityDescriptor) {
			assert.Equal(t, AccessMask(LabelNoReadUp|LabelNoWriteUp|LabelNoExecuteUp), sd.SACL.ACEs[0].Mask)
		}},
		{name: "object ACE", in: "O:BAD:(OA;;0x10;" + guid + ";;AU)", check: func(t *testing.T, sd *SecurityDescriptor) {
			ace := sd.DACL.ACEs[0]
			assert.Equal(t, ACEAccessAllowedObject, ace.Type)
			assert.Equal(t, guid, ace.ObjectType.String())
		}},
		{name: "conditional", in: "O:BAD:(XA;;0x1;;;WD;(Member_of {SID(BA)}))", check: func(t *testing.T, sd *SecurityDescriptor) {
			want, err := CompileCondition("Member_of {SID(BA)}")
			require.NoError(t, err)
			assert.Equal(t, want, sd.DACL.ACEs[0].Condition)
		}},
		{name: "spaces between parts", in: " O:BA G:SY D:(A;;GA;;;WD) (A;;GR;;;AU) ", check: func(t *testing.T, sd *SecurityDescriptor) {
			assert.Equal(t, LocalSystem, sd.Group)
			assert.Len(t, sd.DACL.ACEs, 2)
		}},
		{name: "any order", in: "D:(A;;GA;;;WD)O:BA", check: func(t *testing.T, sd *SecurityDescriptor) {
			assert.Equal(t, Administrators, sd.Owner)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd, err := ParseSDDL(tt.in)
			require.NoError(t, err)
			tt.check(t, sd)
		})
	}
}

func TestSDDLRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "canonical", in: "O:BAG:SYD:(A;;GA;;;WD)", want: "O:BAG:SYD:(A;;GA;;;WD)"},
		{name: "aliases for known SIDs", in: "O:S-1-5-32-544D:(A;;0x10000000;;;S-1-1-0)", want: "O:BAD:(A;;GA;;;WD)"},
		{name: "hex when codes do not cover", in: "O:BAD:(A;;GR0x1;;;WD)", want: ""},
		{name: "hex object rights", in: "O:BAD:(A;;0x80000003;;;WD)", want: "O:BAD:(A;;0x80000003;;;WD)"},
		{name: "zero mask", in: "O:BAD:(A;;;;;WD)", want: "O:BAD:(A;;0x0;;;WD)"},
		{name: "NULL DACL", in: "O:BAD:PNO_ACCESS_CONTROL", want: "O:BAD:PNO_ACCESS_CONTROL"},
		{name: "flags order", in: "O:BAD:AIARP(A;IOCIOI;GR;;;WD)", want: "O:BAD:PARAI(A;OICIIO;GR;;;WD)"},
		{name: "sacl", in: "O:BAD:S:(AU;SAFA;GA;;;WD)(ML;IO;NW;;;LW)", want: "O:BAD:S:(AU;SAFA;GA;;;WD)(ML;IO;NW;;;LW)"},
		{name: "conditions", in: "O:BAD:(XD;;GW;;;WD;(Member_of SID(BA) && !Not_Member_of_Any{SID(AC),SID(S-1-15-2-2)}))",
			want: "O:BAD:(XD;;GW;;;WD;((Member_of SID(BA)) && (!(Not_Member_of_Any {SID(AC), SID(S-1-15-2-2)}))))"},
		{name: "callback without condition", in: "O:BAD:(XA;;GR;;;WD)", want: "O:BAD:(XA;;GR;;;WD)"},
		{name: "unix SIDs", in: "O:S-1-22-1-0G:S-1-22-2-0D:(A;;GA;;;S-1-22-1-0)", want: "O:S-1-22-1-0G:S-1-22-2-0D:(A;;GA;;;S-1-22-1-0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd, err := ParseSDDL(tt.in)
			if tt.want == "" {
				require.ErrorIs(t, err, ErrInvalidSDDL)
				return
			}
			require.NoError(t, err)
			out, err := FormatSDDL(sd)
			require.NoError(t, err)
			assert.Equal(t, tt.want, out)
			again, err := ParseSDDL(out)
			require.NoError(t, err)
			assert.True(t, sd.Equal(again), "%q parses to a different descriptor", out)
		})
	}
}

func TestParseSDDLErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		offset int
	}{
		{name: "no DACL", in: "O:BAG:SY", offset: 8},
		{name: "unknown component", in: "O:BAX:", offset: 2},
		{name: "duplicate owner", in: "O:BAO:SYD:", offset: 6},
		{name: "empty owner", in: "O:D:", offset: 2},
		{name: "bad owner", in: "O:S-1-5-x", offset: 2},
		{name: "unknown alias", in: "O:QQD:", offset: 2},
		{name: "unknown ACE type", in: "O:BAD:(Q;;GA;;;WD)", offset: 7},
		{name: "label in DACL", in: "O:BAD:(ML;;NW;;;LW)", offset: 7},
		{name: "allow in SACL", in: "O:BAD:S:(A;;GA;;;WD)", offset: 9},
		{name: "unknown flag", in: "O:BAD:(A;XX;GA;;;WD)", offset: 9},
		{name: "odd flag", in: "O:BAD:(A;O;GA;;;WD)", offset: 9},
		{name: "unknown right", in: "O:BAD:(A;;GZ;;;WD)", offset: 10},
		{name: "label right in DACL", in: "O:BAD:(A;;NW;;;WD)", offset: 10},
		{name: "bad hex", in: "O:BAD:(A;;0x1g;;;WD)", offset: 10},
		{name: "hex over 32 bits", in: "O:BAD:(A;;0x100000000;;;WD)", offset: 10},
		{name: "reserved bits", in: "O:BAD:(A;;0x200000;;;WD)", offset: 6},
		{name: "label not an integrity SID", in: "O:BAD:S:(ML;;NW;;;WD)", offset: 8},
		{name: "GUID on a plain ACE", in: "O:BAD:(A;;GA;bf967aba-0de6-11d0-a285-00aa003049e2;;WD)", offset: 13},
		{name: "bad GUID", in: "O:BAD:(OA;;GA;nope;;WD)", offset: 14},
		{name: "missing field", in: "O:BAD:(A;;GA;;WD)", offset: 14},
		{name: "unclosed ACE", in: "O:BAD:(A;;GA;;;WD", offset: 17},
		{name: "condition on a plain ACE", in: "O:BAD:(A;;GA;;;WD;(Member_of SID(BA)))", offset: 18},
		{name: "bad condition", in: "O:BAD:(XA;;GA;;;WD;(Member_of SID(ZZ)))", offset: 34},
		{name: "condition without parentheses", in: "O:BAD:(XA;;GA;;;WD;Member_of SID(BA))", offset: 19},
		{name: "NULL SACL", in: "O:BAD:S:NO_ACCESS_CONTROL", offset: 8},
		{name: "ACE after NULL DACL", in: "O:BAD:NO_ACCESS_CONTROL(A;;GA;;;WD)", offset: 23},
		{name: "garbage", in: "hello", offset: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSDDL(tt.in)
			require.ErrorIs(t, err, ErrInvalidSDDL)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.offset, se.Offset, "error: %v", err)
		})
	}
}

func TestFormatSDDLErrors(t *testing.T) {
	tests := []struct {
		name string
		sd   *SecurityDescriptor
		want error
	}{
		{name: "type without SDDL code", want: ErrInvalidDescriptor, sd: &SecurityDescriptor{Owner: Everyone,
			DACL: &ACL{ACEs: []ACE{{Type: ACEAccessDeniedCallbackObject, SID: Everyone}}}}},
		{name: "audit ACE in DACL", want: ErrInvalidDescriptor, sd: &SecurityDescriptor{Owner: Everyone,
			DACL: &ACL{ACEs: []ACE{{Type: ACESystemAudit, SID: Everyone}}}}},
		{name: "unwritable condition", want: ErrInvalidCondition, sd: &SecurityDescriptor{Owner: Everyone,
			DACL: &ACL{ACEs: []ACE{{Type: ACEAccessAllowedCallback, SID: Everyone, Condition: []byte("artx\x87")}}}}},
		{name: "invalid descriptor", want: ErrInvalidDescriptor, sd: &SecurityDescriptor{Owner: Everyone,
			DACL: &ACL{ACEs: []ACE{{Type: ACEAccessAllowed, Mask: ReservedBits, SID: Everyone}}}}},
		{name: "unknown ACE flag", want: ErrInvalidDescriptor, sd: &SecurityDescriptor{Owner: Everyone,
			DACL: &ACL{ACEs: []ACE{{Type: ACEAccessAllowed, Flags: 0x20, SID: Everyone}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FormatSDDL(tt.sd)
			require.ErrorIs(t, err, tt.want)
		})
	}
}
