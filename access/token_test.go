package access

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleToken(t *testing.T) *Token {
	t.Helper()
	base, err := TokenForUnixPeer(1000, []uint32{1000}, &UnixPeerOptions{Privileges: SeBackupPrivilege | SeRelabelPrivilege})
	require.NoError(t, err)
	base.Privileges.Enabled &^= SeRelabelPrivilege
	base.RestrictedSIDs = []SID{UnixGroup(5)}
	base.WriteRestricted = true
	tok, err := ConfinedToken(base, MustParseSID("S-1-15-2-111-222"), nil, true)
	require.NoError(t, err)
	return tok
}

func TestTokenString(t *testing.T) {
	want := "" +
		"user          S-1-22-1-1000 (Unix User 1000)\n" +
		"groups        S-1-1-0 (Everyone) ENABLED\n" +
		"              S-1-2-0 (LOCAL) ENABLED\n" +
		"              S-1-5-11 (Authenticated Users) ENABLED\n" +
		"              S-1-22-2-1000 (Unix Group 1000) ENABLED\n" +
		"privileges    SeBackupPrivilege (enabled), SeRelabelPrivilege (disabled)\n" +
		"integrity     Medium (S-1-16-8192), policy NO_WRITE_UP\n" +
		"restricted    S-1-22-2-5 (Unix Group 5) (write-restricted)\n" +
		"confinement   S-1-15-2-111-222\n" +
		"capabilities  S-1-15-2-2 (ALL RESTRICTED APPLICATION PACKAGES)\n" +
		"type          impersonation, level impersonation\n"
	assert.Equal(t, want, sampleToken(t).String())

	plain := &Token{User: Anonymous, UserDenyOnly: true}
	assert.Contains(t, plain.String(), "user          S-1-5-7 (ANONYMOUS LOGON) USE_FOR_DENY_ONLY\n")
	assert.Contains(t, plain.String(), "groups        none\n")
	assert.Contains(t, plain.String(), "confinement   none\n")
}

func TestTokenJSONRoundTrip(t *testing.T) {
	tok := sampleToken(t)
	data, err := json.Marshal(tok)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"user":"S-1-22-1-1000"`)
	assert.Contains(t, string(data), `"privileges":{"present":["SeBackupPrivilege","SeRelabelPrivilege"],"enabled":["SeBackupPrivilege"]}`)
	var back Token
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, tok, &back)

	unconfined := &Token{User: Everyone}
	data, err = json.Marshal(unconfined)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "confinement_sid")
}

func TestTokenJSONStrict(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "unknown field", in: `{"user":"S-1-1-0","groups":[],"privileges":{"present":[],"enabled":[]},"type":"primary","impersonation_level":"anonymous","admin":true}`},
		{name: "bad SID", in: `{"user":"S-1-x","groups":[],"privileges":{"present":[],"enabled":[]},"type":"primary","impersonation_level":"anonymous"}`},
		{name: "no user", in: `{"groups":[],"privileges":{"present":[],"enabled":[]},"type":"primary","impersonation_level":"anonymous"}`},
		{name: "unknown privilege", in: `{"user":"S-1-1-0","groups":[],"privileges":{"present":["SeDebugPrivilege"],"enabled":[]},"type":"primary","impersonation_level":"anonymous"}`},
		{name: "enabled but absent", in: `{"user":"S-1-1-0","groups":[],"privileges":{"present":[],"enabled":["SeBackupPrivilege"]},"type":"primary","impersonation_level":"anonymous"}`},
		{name: "bad type", in: `{"user":"S-1-1-0","groups":[],"privileges":{"present":[],"enabled":[]},"type":"secondary","impersonation_level":"anonymous"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tok Token
			require.Error(t, json.Unmarshal([]byte(tt.in), &tok))
		})
	}
}

func TestTokenValidate(t *testing.T) {
	user := MustParseSID("S-1-5-21-1-2-3-1001")
	tests := []struct {
		name string
		tok  Token
	}{
		{name: "no user", tok: Token{}},
		{name: "empty group SID", tok: Token{User: user, Groups: []Group{{Attributes: GroupEnabled}}}},
		{name: "empty restricting SID", tok: Token{User: user, RestrictedSIDs: []SID{{}}}},
		{name: "enabled but not present", tok: Token{User: user, Privileges: PrivilegeSet{Enabled: SeBackupPrivilege}}},
		{name: "capabilities without confinement", tok: Token{User: user, Capabilities: []SID{AllApplicationPackages}}},
		{name: "unknown type", tok: Token{User: user, Type: 7}},
		{name: "unknown level", tok: Token{User: user, ImpersonationLevel: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.tok.Validate(), ErrInvalidToken)
		})
	}
}

func TestParsePrivilege(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Privileges
	}{
		{name: "full name", in: "SeRestorePrivilege", want: SeRestorePrivilege},
		{name: "short name", in: "SeTakeOwnership", want: SeTakeOwnershipPrivilege},
		{name: "relabel bit 32", in: "SeRelabel", want: 1 << 32},
		{name: "by luid", in: "Privilege20", want: 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrivilege(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	for _, bad := range []string{"", "SeDebug", "Privilege64", "Privilege07", "Privilege"} {
		_, err := ParsePrivilege(bad)
		require.ErrorIs(t, err, ErrInvalidParameter, bad)
	}
	assert.Equal(t, []string{"SeSecurityPrivilege", "Privilege20"}, (SeSecurityPrivilege | 1<<20).Names())
}
