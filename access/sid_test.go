package access

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSIDValid(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		authority uint64
		subs      []uint32
		out       string // canonical form, if different from in
	}{
		{name: "everyone", in: "S-1-1-0", authority: 1, subs: []uint32{0}},
		{name: "no sub-authorities", in: "S-1-5", authority: 5, subs: []uint32{}},
		{name: "administrators", in: "S-1-5-32-544", authority: 5, subs: []uint32{32, 544}},
		{name: "max sub-authority", in: "S-1-5-4294967295", authority: 5, subs: []uint32{4294967295}},
		{name: "zero authority", in: "S-1-0-0", authority: 0, subs: []uint32{0}},
		{name: "fifteen sub-authorities", in: "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15", authority: 5,
			subs: []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
		{name: "hex authority", in: "S-1-0x123456789abc-1", authority: 0x123456789abc, subs: []uint32{1}, out: "S-1-0x123456789abc-1"},
		{name: "upper-case hex authority", in: "S-1-0x123456789ABC-1", authority: 0x123456789abc, subs: []uint32{1}, out: "S-1-0x123456789abc-1"},
		{name: "small hex authority", in: "S-1-0x5-18", authority: 5, subs: []uint32{18}, out: "S-1-5-18"},
		{name: "decimal 48-bit authority", in: "S-1-281474976710655-1", authority: 1<<48 - 1, subs: []uint32{1}, out: "S-1-0xffffffffffff-1"},
		{name: "authority 2^32 prints in hex", in: "S-1-4294967296", authority: 1 << 32, subs: []uint32{}, out: "S-1-0x000100000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid, err := ParseSID(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.authority, sid.Authority())
			assert.Equal(t, tt.subs, sid.SubAuthorities())
			want := tt.out
			if want == "" {
				want = tt.in
			}
			assert.Equal(t, want, sid.String())
			again, err := ParseSID(sid.String())
			require.NoError(t, err)
			assert.Equal(t, sid, again, "String must parse back to the same SID")
		})
	}
}

func TestParseSIDInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "empty", in: ""},
		{name: "lower-case s", in: "s-1-5-18"},
		{name: "revision 2", in: "S-2-5-18"},
		{name: "no authority", in: "S-1-"},
		{name: "only revision", in: "S-1"},
		{name: "trailing dash", in: "S-1-5-"},
		{name: "double dash", in: "S-1-5--18"},
		{name: "sixteen sub-authorities", in: "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16"},
		{name: "sub-authority over 32 bits", in: "S-1-5-4294967296"},
		{name: "authority over 48 bits", in: "S-1-281474976710656-1"},
		{name: "hex authority over 48 bits", in: "S-1-0x1000000000000-1"},
		{name: "empty hex authority", in: "S-1-0x-1"},
		{name: "leading zero", in: "S-1-5-018"},
		{name: "leading zero authority", in: "S-1-05-18"},
		{name: "sign", in: "S-1-5-+18"},
		{name: "negative", in: "S-1-5--1"},
		{name: "space", in: "S-1-5- 18"},
		{name: "trailing space", in: "S-1-5-18 "},
		{name: "letters", in: "S-1-5-1a"},
		{name: "alias", in: "WD"},
		{name: "too long", in: "S-1-5-" + string(make([]byte, 300))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSID(tt.in)
			require.ErrorIs(t, err, ErrInvalidSID)
		})
	}
}

func TestSIDBinary(t *testing.T) {
	sid := MustParseSID("S-1-5-21-1-2-3-513")
	b := sid.Binary()
	assert.Equal(t, []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1, 2, 0, 0}, b)
	back, err := SIDFromBinary(b)
	require.NoError(t, err)
	assert.True(t, back.Equal(sid))

	bad := []struct {
		name string
		in   []byte
	}{
		{name: "short", in: []byte{1, 0, 0}},
		{name: "revision", in: []byte{2, 0, 0, 0, 0, 0, 0, 5}},
		{name: "count beyond data", in: []byte{1, 1, 0, 0, 0, 0, 0, 5}},
		{name: "trailing bytes", in: []byte{1, 0, 0, 0, 0, 0, 0, 5, 0}},
		{name: "sixteen sub-authorities", in: append([]byte{1, 16, 0, 0, 0, 0, 0, 5}, make([]byte, 64)...)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SIDFromBinary(tt.in)
			require.ErrorIs(t, err, ErrInvalidSID)
		})
	}
}

func TestSIDZeroAndText(t *testing.T) {
	var zero SID
	assert.True(t, zero.IsZero())
	assert.Equal(t, "", zero.String())
	assert.Nil(t, zero.Binary())

	type doc struct {
		S SID `json:"s"`
	}
	out, err := json.Marshal(doc{S: Everyone})
	require.NoError(t, err)
	assert.JSONEq(t, `{"s":"S-1-1-0"}`, string(out))
	var in doc
	require.NoError(t, json.Unmarshal([]byte(`{"s":"S-1-5-32-544"}`), &in))
	assert.Equal(t, Administrators, in.S)
	require.ErrorIs(t, json.Unmarshal([]byte(`{"s":"S-1-5-x"}`), &in), ErrInvalidSID)
}

func TestNewSIDLimits(t *testing.T) {
	_, err := NewSID(1<<48, 1)
	require.ErrorIs(t, err, ErrInvalidSID)
	_, err = NewSID(5, make([]uint32, 16)...)
	require.ErrorIs(t, err, ErrInvalidSID)
}

func TestWellKnownSIDs(t *testing.T) {
	tests := []struct {
		name string
		sid  SID
		want string
	}{
		{name: "Everyone", sid: Everyone, want: "S-1-1-0"},
		{name: "Local", sid: Local, want: "S-1-2-0"},
		{name: "CreatorOwner", sid: CreatorOwner, want: "S-1-3-0"},
		{name: "OwnerRights", sid: OwnerRights, want: "S-1-3-4"},
		{name: "Anonymous", sid: Anonymous, want: "S-1-5-7"},
		{name: "PrincipalSelf", sid: PrincipalSelf, want: "S-1-5-10"},
		{name: "AuthenticatedUsers", sid: AuthenticatedUsers, want: "S-1-5-11"},
		{name: "LocalSystem", sid: LocalSystem, want: "S-1-5-18"},
		{name: "Administrators", sid: Administrators, want: "S-1-5-32-544"},
		{name: "AllApplicationPackages", sid: AllApplicationPackages, want: "S-1-15-2-1"},
		{name: "AllRestrictedApplicationPackages", sid: AllRestrictedApplicationPackages, want: "S-1-15-2-2"},
		{name: "UntrustedIntegrity", sid: UntrustedIntegrity, want: "S-1-16-0"},
		{name: "LowIntegrity", sid: LowIntegrity, want: "S-1-16-4096"},
		{name: "MediumIntegrity", sid: MediumIntegrity, want: "S-1-16-8192"},
		{name: "HighIntegrity", sid: HighIntegrity, want: "S-1-16-12288"},
		{name: "SystemIntegrity", sid: SystemIntegrity, want: "S-1-16-16384"},
		{name: "UnixUser", sid: UnixUser(1000), want: "S-1-22-1-1000"},
		{name: "UnixGroup", sid: UnixGroup(4294967295), want: "S-1-22-2-4294967295"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.sid.String())
		})
	}
	assert.Equal(t, "Unix User 1000", WellKnownName(UnixUser(1000)))
	assert.Equal(t, "Medium Mandatory Level", WellKnownName(MediumIntegrity))
	assert.Equal(t, "", WellKnownName(MustParseSID("S-1-5-21-1-2-3-1001")))
}
