package access

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var boundMapping = GenericMapping{Read: 0x20001, Write: 0x2, Execute: 0x20, All: 0x1F003F}

func TestConfinementBound(t *testing.T) {
	csid := ConfinementSID([]byte("tax"))
	printers, err := CapabilitySID("printers")
	require.NoError(t, err)
	tests := []struct {
		name   string
		sddl   string
		caps   []SID
		strict bool
		want   AccessMask
	}{
		{"everyone is not a capability", "O:S-1-22-1-7D:(A;;GA;;;WD)", []SID{printers}, false, 0},
		{"a granted capability", fmt.Sprintf("O:S-1-22-1-7D:(A;;0x3;;;%v)", printers), []SID{printers}, false, 0x3},
		{"an undeclared capability", fmt.Sprintf("O:S-1-22-1-7D:(A;;0x3;;;%v)", printers), nil, false, 0},
		{"all packages, not strict", "O:S-1-22-1-7D:(A;;0x1;;;AC)", nil, false, 0x1},
		{"all packages, strict", "O:S-1-22-1-7D:(A;;0x1;;;AC)", nil, true, 0},
		{"the confinement SID itself", fmt.Sprintf("O:S-1-22-1-7D:(A;;0x4;;;%v)", csid), nil, true, 0x4},
		{"deny first", fmt.Sprintf("O:S-1-22-1-7D:(D;;0x1;;;%v)(A;;0x3;;;%v)", printers, printers), []SID{printers}, false, 0x2},
		{"NULL DACL", "O:S-1-22-1-7D:NO_ACCESS_CONTROL", nil, false, 0x1F003F},
		{"no implicit owner rights", fmt.Sprintf("O:%vD:", printers), []SID{printers}, false, 0},
		{"callback allow taken as holding", fmt.Sprintf("O:S-1-22-1-7D:(XA;;0x8;;;%v;(Member_of {SID(BA)}))", printers), []SID{printers}, false, 0x8},
		{"callback deny taken as not", fmt.Sprintf("O:S-1-22-1-7D:(XD;;0x8;;;%v;(Member_of {SID(WD)}))(A;;0x8;;;%v)", printers, printers), []SID{printers}, false, 0x8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := mustSDDL(t, tt.sddl)
			got, err := ConfinementBound(sd, boundMapping, csid, tt.caps, tt.strict)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err = ConfinementBound(nil, boundMapping, csid, nil, false)
	assert.ErrorIs(t, err, ErrInvalidParameter)
	_, err = ConfinementBound(mustSDDL(t, "O:WDD:"), boundMapping, printers, nil, false)
	assert.ErrorIs(t, err, ErrInvalidParameter, "a capability SID is not a confinement SID")
}

// Whatever the token a yield's confinement is applied to, AccessCheck never grants it more
// than ConfinementBound says.
func TestConfinementBoundHoldsForEveryToken(t *testing.T) {
	csid := ConfinementSID([]byte("f"))
	a, _ := CapabilitySID("a")
	b, _ := CapabilitySID("b")
	pool := []SID{Everyone, UnixUser(7), UnixGroup(7), a, b, csid, AllApplicationPackages, OwnerRights}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		sd := &SecurityDescriptor{Owner: pool[rng.IntN(len(pool))], DACL: &ACL{}}
		for n := rng.IntN(5); n > 0; n-- {
			typ := ACEAccessAllowed
			if rng.IntN(3) == 0 {
				typ = ACEAccessDenied
			}
			sd.DACL.ACEs = append(sd.DACL.ACEs, ACE{Type: typ, Mask: AccessMask(rng.Uint32()) & 0x1F003F,
				SID: pool[rng.IntN(len(pool))]})
		}
		caps := []SID{a, b}[:rng.IntN(3)]
		strict := rng.IntN(2) == 0
		bound, err := ConfinementBound(sd, boundMapping, csid, caps, strict)
		require.NoError(t, err)
		base, err := TokenForUnixPeer(7, []uint32{7}, &UnixPeerOptions{ExtraGroups: []SID{a, b}[:rng.IntN(3)]})
		require.NoError(t, err)
		tok, err := ConfinedToken(base, csid, caps, strict)
		require.NoError(t, err)
		res, err := AccessCheck(Request{Token: tok, Descriptor: sd, Desired: MaximumAllowed, Mapping: boundMapping})
		require.NoError(t, err)
		require.Zero(t, res.Granted&^bound, "descriptor %+v caps %v strict %v", sd, caps, strict)
	}
}
