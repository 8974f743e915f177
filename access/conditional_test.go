package access

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Bytecode builders for tests.

func prog(parts ...[]byte) []byte {
	out := append([]byte(nil), conditionMagic...)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func lenPrefixed(op byte, payload []byte) []byte {
	out := []byte{op}
	out = binary.LittleEndian.AppendUint32(out, uint32(len(payload)))
	return append(out, payload...)
}

func sidTok(s SID) []byte { return lenPrefixed(opSID, s.Binary()) }

func compositeTok(elems ...[]byte) []byte {
	var payload []byte
	for _, e := range elems {
		payload = append(payload, e...)
	}
	return lenPrefixed(opComposite, payload)
}

func utf16Bytes(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

func attrTok(op byte, name string) []byte { return lenPrefixed(op, utf16Bytes(name)) }
func strTok(s string) []byte              { return lenPrefixed(opString, utf16Bytes(s)) }
func intTok(v uint64) []byte {
	out := binary.LittleEndian.AppendUint64([]byte{opInt64}, v)
	return append(out, 3, 2) // no sign, decimal
}
func op(b byte) []byte { return []byte{b} }

// memberSet is a conditionEnv in which the listed SIDs are members.
type memberSet []SID

func (m memberSet) memberOf(s SID) bool {
	for _, x := range m {
		if x == s {
			return true
		}
	}
	return false
}

func TestEvaluateCondition(t *testing.T) {
	a, b, c := Administrators, AuthenticatedUsers, LocalSystem
	env := memberSet{a, b}
	isA := prog(sidTok(a), op(opMemberOf))
	isC := prog(sidTok(c), op(opMemberOf))
	unknown := prog(sidTok(a), op(opDevMemberOf))
	tests := []struct {
		name string
		code []byte
		want tri
	}{
		{name: "member_of sid true", code: isA, want: triTrue},
		{name: "member_of sid false", code: isC, want: triFalse},
		{name: "member_of composite all", code: prog(compositeTok(sidTok(a), sidTok(b)), op(opMemberOf)), want: triTrue},
		{name: "member_of composite one missing", code: prog(compositeTok(sidTok(a), sidTok(c)), op(opMemberOf)), want: triFalse},
		{name: "member_of_any one present", code: prog(compositeTok(sidTok(c), sidTok(b)), op(opMemberOfAny)), want: triTrue},
		{name: "member_of_any none", code: prog(compositeTok(sidTok(c)), op(opMemberOfAny)), want: triFalse},
		{name: "not_member_of all present", code: prog(compositeTok(sidTok(a), sidTok(b)), op(opNotMemberOf)), want: triFalse},
		{name: "not_member_of one missing", code: prog(compositeTok(sidTok(a), sidTok(c)), op(opNotMemberOf)), want: triTrue},
		{name: "not_member_of_any none", code: prog(compositeTok(sidTok(c)), op(opNotMemberOfAny)), want: triTrue},
		{name: "not_member_of_any one", code: prog(compositeTok(sidTok(c), sidTok(a)), op(opNotMemberOfAny)), want: triFalse},
		{name: "device_member_of unknown", code: unknown, want: triUnknown},
		{name: "not_device_member_of_any unknown", code: prog(sidTok(a), op(opNotDevMemberAny)), want: triUnknown},
		{name: "and true true", code: prog(isA[4:], isA[4:], op(opAnd)), want: triTrue},
		{name: "and true false", code: prog(isA[4:], isC[4:], op(opAnd)), want: triFalse},
		{name: "and unknown false", code: prog(unknown[4:], isC[4:], op(opAnd)), want: triFalse},
		{name: "and unknown true", code: prog(unknown[4:], isA[4:], op(opAnd)), want: triUnknown},
		{name: "or false true", code: prog(isC[4:], isA[4:], op(opOr)), want: triTrue},
		{name: "or unknown true", code: prog(unknown[4:], isA[4:], op(opOr)), want: triTrue},
		{name: "or unknown false", code: prog(unknown[4:], isC[4:], op(opOr)), want: triUnknown},
		{name: "not true", code: prog(isA[4:], op(opNot)), want: triFalse},
		{name: "not unknown", code: prog(unknown[4:], op(opNot)), want: triUnknown},
		{name: "trailing padding", code: append(prog(isA[4:]), 0, 0, 0), want: triTrue},
		{name: "absent attribute exists", code: prog(attrTok(opUserAttr, "dept"), op(opExists)), want: triFalse},
		{name: "absent attribute not_exists", code: prog(attrTok(opUserAttr, "dept"), op(opNotExists)), want: triTrue},
		{name: "absent attribute compared", code: prog(attrTok(opResourceAttr, "dept"), strTok("x"), op(opEqual)), want: triUnknown},
		{name: "absent attribute negated comparison", code: prog(attrTok(opUserAttr, "n"), intTok(1), op(opLess), op(opNot)), want: triUnknown},
		{name: "absent attribute as boolean", code: prog(attrTok(opLocalAttr, "flag")), want: triUnknown},
		{name: "absent attribute or true", code: prog(attrTok(opDeviceAttr, "x"), isA[4:], op(opOr)), want: triTrue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, evaluateCondition(tt.code, env))
			require.NoError(t, ValidateCondition(tt.code))
		})
	}
}

func TestEvaluateConditionMalformed(t *testing.T) {
	a := Administrators
	deep := sidTok(a)
	for i := 0; i < maxCompositeDepth+1; i++ {
		deep = compositeTok(deep)
	}
	tests := []struct {
		name string
		code []byte
	}{
		{name: "empty", code: nil},
		{name: "magic only", code: prog()},
		{name: "bad magic", code: append([]byte("artz"), sidTok(a)...)},
		{name: "unknown opcode", code: prog(op(0xff))},
		{name: "stack underflow", code: prog(op(opMemberOf))},
		{name: "binary underflow", code: prog(sidTok(a), op(opMemberOf), op(opAnd))},
		{name: "two results left", code: prog(sidTok(a), op(opMemberOf), sidTok(a), op(opMemberOf))},
		{name: "bare literal", code: prog(sidTok(a))},
		{name: "literal in and", code: prog(sidTok(a), sidTok(a), op(opAnd))},
		{name: "literal negated", code: prog(intTok(1), op(opNot))},
		{name: "member_of an integer", code: prog(intTok(5), op(opMemberOf))},
		{name: "member_of a result", code: prog(sidTok(a), op(opMemberOf), op(opMemberOf))},
		{name: "member_of an attribute", code: prog(attrTok(opUserAttr, "x"), op(opMemberOf))},
		{name: "member_of empty composite", code: prog(compositeTok(), op(opMemberOf))},
		{name: "member_of mixed composite", code: prog(compositeTok(sidTok(a), intTok(1)), op(opMemberOf))},
		{name: "compare two literals", code: prog(intTok(1), intTok(1), op(opEqual))},
		{name: "compare a result", code: prog(attrTok(opUserAttr, "x"), sidTok(a), op(opMemberOf), op(opEqual))},
		{name: "exists on literal", code: prog(intTok(1), op(opExists))},
		{name: "truncated length", code: prog([]byte{opSID, 12, 0})},
		{name: "length beyond data", code: prog(lenPrefixed(opSID, a.Binary())[:10])},
		{name: "huge length", code: prog([]byte{opSID, 0xff, 0xff, 0xff, 0xff})},
		{name: "bad SID payload", code: prog(lenPrefixed(opSID, []byte{2, 0, 0, 0, 0, 0, 0, 5}), op(opMemberOf))},
		{name: "odd string length", code: prog(lenPrefixed(opString, []byte{1}))},
		{name: "empty attribute name", code: prog(lenPrefixed(opUserAttr, nil), op(opExists))},
		{name: "bad integer sign", code: prog(append(binary.LittleEndian.AppendUint64([]byte{opInt8}, 1), 9, 2))},
		{name: "truncated integer", code: prog([]byte{opInt32, 1, 2})},
		{name: "padding in the middle", code: prog([]byte{0}, sidTok(a), op(opMemberOf))},
		{name: "operator in composite", code: prog(lenPrefixed(opComposite, op(opAnd)), op(opMemberOf))},
		{name: "composites nested too deep", code: prog(deep, op(opMemberOf))},
		{name: "too long", code: prog(make([]byte, maxConditionLen))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, triUnknown, evaluateCondition(tt.code, memberSet{a}))
			require.ErrorIs(t, ValidateCondition(tt.code), ErrInvalidCondition)
		})
	}
}

func TestEvaluateConditionStackBound(t *testing.T) {
	var parts [][]byte
	for i := 0; i <= maxStackDepth; i++ {
		parts = append(parts, sidTok(Everyone))
	}
	start := time.Now()
	assert.Equal(t, triUnknown, evaluateCondition(prog(parts...), memberSet{}))
	assert.Less(t, time.Since(start), time.Second)
}

func TestPassConditionSpecialSIDs(t *testing.T) {
	tok := &Token{User: MustParseSID("S-1-5-21-1-2-3-1001"), Groups: []Group{{SID: Everyone, Attributes: GroupEnabled}}}
	owner := tok.User
	self := tok.User
	normal := passCondition{p: normalPass(tok, owner, self), forAllow: true}
	assert.True(t, normal.memberOf(OwnerRights), "the owner is OWNER_RIGHTS in the normal pass")
	assert.True(t, normal.memberOf(PrincipalSelf), "self is the user")
	assert.True(t, normal.memberOf(Everyone))

	confined := tok.Clone()
	confined.ConfinementSID = MustParseSID("S-1-15-2-111-222")
	cp := passCondition{p: confinementPass(confined, owner, self), forAllow: true}
	assert.False(t, cp.memberOf(OwnerRights), "the owner is not in the confinement set")
	assert.False(t, cp.memberOf(PrincipalSelf), "self is not in the confinement set")
	assert.True(t, cp.memberOf(Everyone), "other SIDs see the full token")
	assert.False(t, cp.memberOf(confined.ConfinementSID), "the confinement SID is not a group")
}

func TestCompileCondition(t *testing.T) {
	ba, au := sidTok(Administrators), sidTok(AuthenticatedUsers)
	tests := []struct {
		name string
		text string
		want []byte
	}{
		{name: "sid literal", text: "Member_of SID(BA)", want: prog(ba, op(opMemberOf))},
		{name: "composite", text: "Member_of {SID(BA), SID(S-1-5-11)}", want: prog(compositeTok(ba, au), op(opMemberOf))},
		{name: "single composite", text: "Member_of_Any {SID(BA)}", want: prog(compositeTok(ba), op(opMemberOfAny))},
		{name: "case-insensitive operator", text: "not_member_of_any{sid(BA)}", want: prog(compositeTok(ba), op(opNotMemberOfAny))},
		{name: "and binds tighter than or", text: "Member_of SID(BA) || Member_of SID(AU) && Not_Member_of SID(BA)",
			want: prog(ba, op(opMemberOf), au, op(opMemberOf), ba, op(opNotMemberOf), op(opAnd), op(opOr))},
		{name: "parentheses", text: "(Member_of SID(BA) || Member_of SID(AU)) && !(Member_of SID(BA))",
			want: prog(ba, op(opMemberOf), au, op(opMemberOf), op(opOr), ba, op(opMemberOf), op(opNot), op(opAnd))},
		{name: "device", text: "Device_Member_of {SID(WD)}", want: prog(compositeTok(sidTok(Everyone)), op(opDevMemberOf))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CompileCondition(tt.text)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			text, err := FormatCondition(got)
			require.NoError(t, err)
			again, err := CompileCondition(text)
			require.NoError(t, err)
			assert.Equal(t, got, again, "FormatCondition output %q compiles back", text)
		})
	}
}

func TestCompileConditionErrors(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		offset int
	}{
		{name: "empty", text: "", offset: 0},
		{name: "unknown operator", text: "Member SID(BA)", offset: 0},
		{name: "missing operand", text: "Member_of", offset: 9},
		{name: "empty composite", text: "Member_of {}", offset: 11},
		{name: "bad alias", text: "Member_of SID(XX)", offset: 14},
		{name: "unclosed SID", text: "Member_of SID(BA", offset: 14},
		{name: "unclosed parenthesis", text: "(Member_of SID(BA)", offset: 18},
		{name: "trailing text", text: "Member_of SID(BA) junk", offset: 18},
		{name: "dangling and", text: "Member_of SID(BA) &&", offset: 20},
		{name: "too deep", text: strings.Repeat("(", 100) + "Member_of SID(BA)" + strings.Repeat(")", 100), offset: 65},
		{name: "attributes are not supported", text: "@User.dept == \"x\"", offset: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileCondition(tt.text)
			require.ErrorIs(t, err, ErrInvalidCondition)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.offset, se.Offset, "error %v", err)
		})
	}
}

func TestFormatConditionUnsupported(t *testing.T) {
	for name, code := range map[string][]byte{
		"attribute": prog(attrTok(opUserAttr, "x"), op(opExists)),
		"malformed": prog(op(opAnd)),
		"bare sid":  prog(sidTok(Everyone)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := FormatCondition(code)
			require.ErrorIs(t, err, ErrInvalidCondition)
		})
	}
}
