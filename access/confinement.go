package access

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Confinement identities are derived, not allocated, so that every daemon
// computes the same SIDs from the same names:
//
//	ConfinementSID(id) = S-1-15-2-w1-w2-w3-w4-w5-w6-w7-w8
//	CapabilitySID(n)   = S-1-15-3-1024-w1-w2-w3-w4-w5-w6-w7-w8
//
// where w1..w8 are the SHA-256 digest of the factory id (or of the
// capability name's UTF-8 bytes) read as eight 32-bit big-endian words, in
// order. The layout follows Windows' package and hash-based capability
// SIDs, but the hash input and word order are this package's: the SIDs are
// not the ones Windows derives for the same names.

const (
	rIDPackageBase    = 2    // S-1-15-2-...: application package (confinement) SIDs
	rIDCapabilityBase = 3    // S-1-15-3-...: capability SIDs
	rIDHashedCap      = 1024 // S-1-15-3-1024-...: capability SIDs derived from a name
	maxCapabilityName = 256
)

// ConfinementSID returns the confinement SID of the factory with the given
// id: S-1-15-2 followed by the eight big-endian 32-bit words of
// SHA-256(factoryID).
func ConfinementSID(factoryID []byte) SID {
	return mustSID(authorityAppPkg, append([]uint32{rIDPackageBase}, digestWords(factoryID)...)...)
}

// CapabilitySID returns the capability SID for a capability name:
// S-1-15-3-1024 followed by the eight big-endian 32-bit words of
// SHA-256(name). Names are compared byte for byte (case matters); they
// must be 1 to 256 bytes of printable UTF-8.
func CapabilitySID(name string) (SID, error) {
	if err := checkCapabilityName(name); err != nil {
		return SID{}, err
	}
	subs := append([]uint32{rIDCapabilityBase, rIDHashedCap}, digestWords([]byte(name))...)
	return mustSID(authorityAppPkg, subs...), nil
}

func checkCapabilityName(name string) error {
	if name == "" || len(name) > maxCapabilityName || !utf8.ValidString(name) {
		return fmt.Errorf("capability name %q: %w", name, ErrInvalidParameter)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("capability name %q has unprintable %U: %w", name, r, ErrInvalidParameter)
		}
	}
	return nil
}

// digestWords returns SHA-256(b) as eight big-endian 32-bit words.
func digestWords(b []byte) []uint32 {
	sum := sha256.Sum256(b)
	words := make([]uint32, 8)
	for i := range words {
		words[i] = binary.BigEndian.Uint32(sum[4*i:])
	}
	return words
}

// isPackageSID reports whether s can be a confinement SID: S-1-15-2-...
// other than ALL_APPLICATION_PACKAGES and ALL_RESTRICTED_APPLICATION_PACKAGES.
func isPackageSID(s SID) bool {
	return s.hasPrefix(authorityAppPkg, rIDPackageBase) && s.SubAuthorityCount() > 1 &&
		s != AllApplicationPackages && s != AllRestrictedApplicationPackages
}

// ConfinedToken returns a copy of base confined to confinementSID with the
// given capabilities. The copy carries ALL_RESTRICTED_APPLICATION_PACKAGES
// and, unless strict, ALL_APPLICATION_PACKAGES among its capabilities;
// duplicates are dropped. A strict token must not carry
// ALL_APPLICATION_PACKAGES: asking for it is an error.
//
// base is not modified. It must not be confined already (re-confining would
// replace the existing confinement with another), and confinementSID must
// be an application package SID (S-1-15-2-...). Everything else about base
// is kept, so the normal pass still sees its user and groups: confinement
// only narrows.
func ConfinedToken(base *Token, confinementSID SID, capabilities []SID, strict bool) (*Token, error) {
	if err := checkConfinement(base, confinementSID, capabilities, strict); err != nil {
		return nil, err
	}
	t := base.Clone()
	t.ConfinementSID = confinementSID
	t.ConfinementExempt = false
	t.Capabilities = confinementCapabilities(capabilities, strict)
	return t, nil
}

func checkConfinement(base *Token, csid SID, caps []SID, strict bool) error {
	switch {
	case base == nil:
		return fmt.Errorf("no base token: %w", ErrInvalidParameter)
	case !base.ConfinementSID.IsZero():
		return fmt.Errorf("token is already confined to %v: %w", base.ConfinementSID, ErrInvalidParameter)
	case !isPackageSID(csid):
		return fmt.Errorf("confinement SID %v is not an application package SID: %w", csid, ErrInvalidParameter)
	case slices.ContainsFunc(caps, SID.IsZero):
		return fmt.Errorf("empty capability SID: %w", ErrInvalidParameter)
	case strict && slices.Contains(caps, AllApplicationPackages):
		return fmt.Errorf("strict confinement with ALL_APPLICATION_PACKAGES: %w", ErrInvalidParameter)
	}
	return base.Validate()
}

// confinementCapabilities adds the package-wide SIDs to caps and drops
// duplicates, keeping the first occurrence of each.
func confinementCapabilities(caps []SID, strict bool) []SID {
	all := slices.Clone(caps)
	if !strict {
		all = append(all, AllApplicationPackages)
	}
	all = append(all, AllRestrictedApplicationPackages)
	var out []SID
	for _, s := range all {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
