package access

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfinementSID(t *testing.T) {
	id := []byte("factory-42")
	sid := ConfinementSID(id)
	assert.Equal(t, sid, ConfinementSID([]byte("factory-42")), "deterministic")
	assert.NotEqual(t, sid, ConfinementSID([]byte("factory-43")))

	sum := sha256.Sum256(id)
	want := "S-1-15-2"
	for i := 0; i < 8; i++ {
		want += fmt.Sprintf("-%d", binary.BigEndian.Uint32(sum[4*i:]))
	}
	assert.Equal(t, want, sid.String())
	assert.Equal(t, 9, sid.SubAuthorityCount())
	assert.True(t, isPackageSID(sid))

	// SHA-256("") = e3b0c442 98fc1c14 ...: the first words, big-endian.
	empty := ConfinementSID(nil)
	assert.True(t, strings.HasPrefix(empty.String(), "S-1-15-2-3820012610-2566659092-"), empty.String())
}

func TestCapabilitySID(t *testing.T) {
	sid, err := CapabilitySID("musicLibrary")
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("musicLibrary"))
	assert.True(t, sid.hasPrefix(authorityAppPkg, 3, 1024))
	assert.Equal(t, 10, sid.SubAuthorityCount())
	assert.Equal(t, binary.BigEndian.Uint32(sum[:4]), sid.SubAuthority(2))
	other, err := CapabilitySID("MusicLibrary")
	require.NoError(t, err)
	assert.NotEqual(t, sid, other, "names are case-sensitive")

	for _, bad := range []string{"", strings.Repeat("x", 257), "tab\there", "\xff"} {
		_, err := CapabilitySID(bad)
		require.ErrorIs(t, err, ErrInvalidParameter, "name %q", bad)
	}
}

func TestConfinedToken(t *testing.T) {
	base, err := TokenForUnixPeer(1000, []uint32{1000}, nil)
	require.NoError(t, err)
	csid := ConfinementSID([]byte("f"))
	camera, err := CapabilitySID("camera")
	require.NoError(t, err)

	tests := []struct {
		name   string
		caps   []SID
		strict bool
		want   []SID
	}{
		{name: "normal", caps: []SID{camera}, want: []SID{camera, AllApplicationPackages, AllRestrictedApplicationPackages}},
		{name: "normal, duplicates dropped", caps: []SID{camera, camera, AllApplicationPackages},
			want: []SID{camera, AllApplicationPackages, AllRestrictedApplicationPackages}},
		{name: "strict", caps: []SID{camera}, strict: true, want: []SID{camera, AllRestrictedApplicationPackages}},
		{name: "strict, no capabilities", strict: true, want: []SID{AllRestrictedApplicationPackages}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := ConfinedToken(base, csid, tt.caps, tt.strict)
			require.NoError(t, err)
			assert.Equal(t, tt.want, tok.Capabilities)
			assert.Equal(t, csid, tok.ConfinementSID)
			assert.True(t, tok.Confined())
			assert.Equal(t, base.Groups, tok.Groups, "confinement keeps the identity")
			assert.True(t, base.ConfinementSID.IsZero(), "base is not modified")
		})
	}
}

func TestConfinedTokenErrors(t *testing.T) {
	base, err := TokenForUnixPeer(1000, []uint32{1000}, nil)
	require.NoError(t, err)
	csid := ConfinementSID([]byte("f"))
	confined, err := ConfinedToken(base, csid, nil, false)
	require.NoError(t, err)
	exempt := confined.Clone()
	exempt.ConfinementExempt = true

	tests := []struct {
		name   string
		base   *Token
		csid   SID
		caps   []SID
		strict bool
	}{
		{name: "nil base", base: nil, csid: csid},
		{name: "already confined", base: confined, csid: ConfinementSID([]byte("g"))},
		{name: "already confined, exempt", base: exempt, csid: ConfinementSID([]byte("g"))},
		{name: "zero confinement SID", base: base},
		{name: "not a package SID", base: base, csid: Everyone},
		{name: "ALL_APPLICATION_PACKAGES as confinement SID", base: base, csid: AllApplicationPackages},
		{name: "strict with ALL_APPLICATION_PACKAGES", base: base, csid: csid, caps: []SID{AllApplicationPackages}, strict: true},
		{name: "empty capability", base: base, csid: csid, caps: []SID{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ConfinedToken(tt.base, tt.csid, tt.caps, tt.strict)
			require.ErrorIs(t, err, ErrInvalidParameter)
		})
	}
}
