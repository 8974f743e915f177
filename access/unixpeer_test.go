package access

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func groupSIDs(t *Token) []SID {
	var sids []SID
	for _, g := range t.Groups {
		sids = append(sids, g.SID)
	}
	return sids
}

func TestTokenForUnixPeer(t *testing.T) {
	dns := MustParseSID("S-1-15-3-1024-1")
	logs := MustParseSID("S-1-15-3-1024-2")
	tests := []struct {
		name   string
		uid    uint32
		gids   []uint32
		opts   *UnixPeerOptions
		user   SID
		groups []SID
		privs  Privileges
	}{
		{name: "ordinary user", uid: 1000, gids: []uint32{1000, 27, 100},
			user:   UnixUser(1000),
			groups: []SID{Everyone, Local, AuthenticatedUsers, UnixGroup(1000), UnixGroup(27), UnixGroup(100)}},
		{name: "duplicate gids", uid: 1000, gids: []uint32{1000, 1000},
			user:   UnixUser(1000),
			groups: []SID{Everyone, Local, AuthenticatedUsers, UnixGroup(1000)}},
		{name: "root is not SYSTEM", uid: 0, gids: []uint32{0},
			user:   UnixUser(0),
			groups: []SID{Everyone, Local, AuthenticatedUsers, UnixGroup(0)}},
		{name: "overflow uid is anonymous", uid: OverflowUID, gids: []uint32{65534},
			user:   Anonymous,
			groups: []SID{Everyone, Local, UnixGroup(65534)}},
		{name: "no gids", uid: 5, user: UnixUser(5), groups: []SID{Everyone, Local, AuthenticatedUsers}},
		{name: "positive confinement by user and group", uid: 1000, gids: []uint32{1000, 53},
			opts: &UnixPeerOptions{
				ExtraGroups: []SID{logs},
				UserGroups:  map[uint32][]SID{1000: {dns}, 1001: {Administrators}},
				GroupGroups: map[uint32][]SID{53: {dns}, 54: {LocalSystem}},
			},
			user:   UnixUser(1000),
			groups: []SID{Everyone, Local, AuthenticatedUsers, UnixGroup(1000), UnixGroup(53), logs, dns}},
		{name: "privileges by policy", uid: 0, gids: []uint32{0},
			opts:   &UnixPeerOptions{Privileges: SeBackupPrivilege},
			user:   UnixUser(0),
			groups: []SID{Everyone, Local, AuthenticatedUsers, UnixGroup(0)},
			privs:  SeBackupPrivilege},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := TokenForUnixPeer(tt.uid, tt.gids, tt.opts)
			require.NoError(t, err)
			require.NoError(t, tok.Validate())
			assert.Equal(t, tt.user, tok.User)
			assert.False(t, tok.UserDenyOnly)
			assert.Equal(t, tt.groups, groupSIDs(tok))
			for _, g := range tok.Groups {
				assert.Equal(t, GroupEnabled, g.Attributes, "group %v", g.SID)
			}
			assert.Equal(t, PrivilegeSet{Present: tt.privs, Enabled: tt.privs}, tok.Privileges)
			assert.Equal(t, IntegrityMedium, tok.Integrity)
			assert.Equal(t, PolicyNoWriteUp, tok.MandatoryPolicy)
			assert.Empty(t, tok.RestrictedSIDs)
			assert.True(t, tok.ConfinementSID.IsZero())
			assert.Equal(t, TokenImpersonation, tok.Type)
			assert.Equal(t, LevelImpersonation, tok.ImpersonationLevel)
		})
	}
}

func TestTokenForUnixPeerRejectsEmptySIDs(t *testing.T) {
	_, err := TokenForUnixPeer(1000, nil, &UnixPeerOptions{GroupGroups: map[uint32][]SID{1: {{}}}})
	require.ErrorIs(t, err, ErrInvalidParameter)
}

// TestUnixPeerPositiveConfinement checks the seed's DHCP example: a
// capability granted as a group opens the DNS socket to an unconfined peer,
// and does not open it once the peer is confined without the capability.
func TestUnixPeerPositiveConfinement(t *testing.T) {
	modifyDNS, err := CapabilitySID("modifyDns")
	require.NoError(t, err)
	sd, err := ParseSDDL("O:SYD:(A;;0x2;;;" + modifyDNS.String() + ")")
	require.NoError(t, err)
	mapping := GenericMapping{Read: 0x20001, Write: 0x2, Execute: 0x20, All: 0xF0023}

	dhcp, err := TokenForUnixPeer(101, []uint32{101}, &UnixPeerOptions{UserGroups: map[uint32][]SID{101: {modifyDNS}}})
	require.NoError(t, err)
	res, err := AccessCheck(Request{Token: dhcp, Descriptor: sd, Desired: 0x2, Mapping: mapping})
	require.NoError(t, err)
	assert.True(t, res.Allowed, "the capability group grants through the normal pass")

	confined, err := ConfinedToken(dhcp, ConfinementSID([]byte("dhcp-helper")), nil, false)
	require.NoError(t, err)
	res, err = AccessCheck(Request{Token: confined, Descriptor: sd, Desired: 0x2, Mapping: mapping})
	require.NoError(t, err)
	assert.False(t, res.Allowed, "a capability in the groups does not pass the confinement pass")

	confined, err = ConfinedToken(dhcp, ConfinementSID([]byte("dhcp-helper")), []SID{modifyDNS}, true)
	require.NoError(t, err)
	res, err = AccessCheck(Request{Token: confined, Descriptor: sd, Desired: 0x2, Mapping: mapping})
	require.NoError(t, err)
	assert.True(t, res.Allowed, "both halves present")
}
