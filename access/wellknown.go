package access

import "fmt"

// Identifier authorities used by the well-known SIDs.
const (
	authorityWorld     = 1
	authorityLocal     = 2
	authorityCreator   = 3
	authorityNT        = 5
	authorityAppPkg    = 15
	authorityMandatory = 16
	authorityUnix      = 22 // Samba's "Unix User" / "Unix Group" authority
)

// Well-known SIDs.
var (
	// Everyone (S-1-1-0) is in every token built by this package.
	Everyone = mustSID(authorityWorld, 0)
	// Local (S-1-2-0) marks callers on this machine.
	Local = mustSID(authorityLocal, 0)
	// CreatorOwner (S-1-3-0) is a placeholder replaced at inheritance.
	CreatorOwner = mustSID(authorityCreator, 0)
	// CreatorGroup (S-1-3-1) is a placeholder replaced at inheritance.
	CreatorGroup = mustSID(authorityCreator, 1)
	// OwnerRights (S-1-3-4) in an ACE names the object's owner and, when
	// present, replaces the owner's implicit READ_CONTROL|WRITE_DAC.
	OwnerRights = mustSID(authorityCreator, 4)
	// Anonymous (S-1-5-7) is the user of unauthenticated callers.
	Anonymous = mustSID(authorityNT, 7)
	// PrincipalSelf (S-1-5-10) in an ACE names the principal the object
	// represents (Request.Self).
	PrincipalSelf = mustSID(authorityNT, 10)
	// AuthenticatedUsers (S-1-5-11) is in every token except anonymous ones.
	AuthenticatedUsers = mustSID(authorityNT, 11)
	// LocalSystem (S-1-5-18) is the operating system itself.
	LocalSystem = mustSID(authorityNT, 18)
	// Administrators (S-1-5-32-544) is the local administrators alias.
	Administrators = mustSID(authorityNT, 32, 544)
	// AllApplicationPackages (S-1-15-2-1) is carried by a normally confined
	// token as a capability; strict confinement omits it.
	AllApplicationPackages = mustSID(authorityAppPkg, 2, 1)
	// AllRestrictedApplicationPackages (S-1-15-2-2) is carried by every
	// token confined by ConfinedToken; it matches only when carried.
	AllRestrictedApplicationPackages = mustSID(authorityAppPkg, 2, 2)
)

// Integrity level SIDs (S-1-16-<level>).
var (
	// UntrustedIntegrity is S-1-16-0.
	UntrustedIntegrity = IntegrityUntrusted.SID()
	// LowIntegrity is S-1-16-4096.
	LowIntegrity = IntegrityLow.SID()
	// MediumIntegrity is S-1-16-8192.
	MediumIntegrity = IntegrityMedium.SID()
	// HighIntegrity is S-1-16-12288.
	HighIntegrity = IntegrityHigh.SID()
	// SystemIntegrity is S-1-16-16384.
	SystemIntegrity = IntegritySystem.SID()
)

// UnixUser returns S-1-22-1-<uid>, Samba's SID for a Unix user.
func UnixUser(uid uint32) SID { return mustSID(authorityUnix, 1, uid) }

// UnixGroup returns S-1-22-2-<gid>, Samba's SID for a Unix group.
func UnixGroup(gid uint32) SID { return mustSID(authorityUnix, 2, gid) }

var wellKnownNames = map[SID]string{
	Everyone:                         "Everyone",
	Local:                            "LOCAL",
	CreatorOwner:                     "CREATOR OWNER",
	CreatorGroup:                     "CREATOR GROUP",
	OwnerRights:                      "OWNER RIGHTS",
	Anonymous:                        "ANONYMOUS LOGON",
	PrincipalSelf:                    "SELF",
	AuthenticatedUsers:               "Authenticated Users",
	LocalSystem:                      "SYSTEM",
	Administrators:                   "Administrators",
	AllApplicationPackages:           "ALL APPLICATION PACKAGES",
	AllRestrictedApplicationPackages: "ALL RESTRICTED APPLICATION PACKAGES",
}

// WellKnownName returns a display name for s: the Windows name of a
// well-known SID, "Unix User <uid>", "Unix Group <gid>", "<level> Mandatory
// Level", "Confinement" or "Capability". It returns "" for other
// SIDs. Names are for display only, never for matching.
func WellKnownName(s SID) string {
	if name, ok := wellKnownNames[s]; ok {
		return name
	}
	switch {
	case s.hasPrefix(authorityUnix, 1) && s.SubAuthorityCount() == 2:
		return fmt.Sprintf("Unix User %d", s.SubAuthority(1))
	case s.hasPrefix(authorityUnix, 2) && s.SubAuthorityCount() == 2:
		return fmt.Sprintf("Unix Group %d", s.SubAuthority(1))
	case s.hasPrefix(authorityMandatory) && s.SubAuthorityCount() == 1:
		return IntegrityLevel(s.SubAuthority(0)).String() + " Mandatory Level"
	case s.hasPrefix(authorityAppPkg, 2):
		return "Confinement"
	case s.hasPrefix(authorityAppPkg, 3):
		return "Capability"
	}
	return ""
}
