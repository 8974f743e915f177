package access

import (
	"fmt"
	"slices"
)

// OverflowUID is the kernel's overflow uid (nobody), which TokenForUnixPeer
// maps to the Anonymous SID.
const OverflowUID = 65534

// UnixPeerOptions adjusts the token TokenForUnixPeer builds. The zero value
// (or a nil pointer) gives the default token.
type UnixPeerOptions struct {
	// ExtraGroups are added as enabled groups for every peer.
	ExtraGroups []SID
	// UserGroups and GroupGroups add enabled groups to peers with a given
	// uid or with a given gid among their gids: positive confinement puts
	// capability SIDs here. Added groups only widen the normal pass; they
	// never bypass confinement of a token later confined.
	UserGroups map[uint32][]SID
	// GroupGroups: see UserGroups.
	GroupGroups map[uint32][]SID
	// Privileges are granted present and enabled. None by default: uid 0
	// is not SYSTEM and holds no privilege unless policy says so.
	Privileges Privileges
}

// TokenForUnixPeer builds the token of a unix-socket peer from the
// credentials the kernel reports (SO_PEERCRED, SO_PEERGROUPS): gids lists
// the primary gid and the supplementary ones, in any order.
//
// The user is S-1-22-1-<uid>, or Anonymous (S-1-5-7) for OverflowUID. The
// groups are Everyone, LOCAL, Authenticated Users (not for the anonymous
// peer), S-1-22-2-<gid> for each gid, then the groups of opts; all are
// enabled and each appears once. The token has no privileges unless opts
// grants them, Medium integrity with NO_WRITE_UP, and is an impersonation
// token at Impersonation level: the daemon acts for the peer.
func TokenForUnixPeer(uid uint32, gids []uint32, opts *UnixPeerOptions) (*Token, error) {
	if opts == nil {
		opts = &UnixPeerOptions{}
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	t := &Token{
		User:               UnixUser(uid),
		Privileges:         PrivilegeSet{Present: opts.Privileges, Enabled: opts.Privileges},
		Integrity:          IntegrityMedium,
		MandatoryPolicy:    PolicyNoWriteUp,
		Type:               TokenImpersonation,
		ImpersonationLevel: LevelImpersonation,
	}
	anonymous := uid == OverflowUID
	if anonymous {
		t.User = Anonymous
	}
	t.Groups = peerGroups(anonymous, gids)
	t.Groups = addGroups(t.Groups, opts.ExtraGroups)
	t.Groups = addGroups(t.Groups, opts.UserGroups[uid])
	for _, gid := range gids {
		t.Groups = addGroups(t.Groups, opts.GroupGroups[gid])
	}
	return t, nil
}

// peerGroups returns the standard groups of a peer.
func peerGroups(anonymous bool, gids []uint32) []Group {
	sids := []SID{Everyone, Local}
	if !anonymous {
		sids = append(sids, AuthenticatedUsers)
	}
	for _, gid := range gids {
		sids = append(sids, UnixGroup(gid))
	}
	return addGroups(nil, sids)
}

// addGroups appends each SID not already in groups as an enabled group.
func addGroups(groups []Group, sids []SID) []Group {
	for _, s := range sids {
		if !slices.ContainsFunc(groups, func(g Group) bool { return g.SID == s }) {
			groups = append(groups, Group{SID: s, Attributes: GroupEnabled})
		}
	}
	return groups
}

func (o *UnixPeerOptions) validate() error {
	lists := [][]SID{o.ExtraGroups}
	for _, sids := range o.UserGroups {
		lists = append(lists, sids)
	}
	for _, sids := range o.GroupGroups {
		lists = append(lists, sids)
	}
	for _, sids := range lists {
		if slices.ContainsFunc(sids, SID.IsZero) {
			return fmt.Errorf("unix peer options list an empty SID: %w", ErrInvalidParameter)
		}
	}
	return nil
}
