package access

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// SID is a security identifier: a revision-1 identifier authority (48 bits)
// followed by at most 15 32-bit sub-authorities. Its zero value is "no SID"
// (an absent owner, an unset confinement SID); every other value is valid.
// SIDs are immutable and comparable with ==, so they can be map keys.
//
// The value holds the MS-DTYP binary form: revision, sub-authority count,
// the authority as 6 big-endian bytes, then each sub-authority as 4
// little-endian bytes.
type SID struct {
	raw string
}

const (
	sidRevision         = 1
	maxSubAuthorities   = 15
	maxAuthority        = 1<<48 - 1
	sidHeaderLen        = 8
	maxSIDStringLen     = 256
	hexAuthorityMinimum = 1 << 32
)

// NewSID builds a SID from its identifier authority and sub-authorities.
func NewSID(authority uint64, subAuthorities ...uint32) (SID, error) {
	if authority > maxAuthority {
		return SID{}, fmt.Errorf("authority %#x exceeds 48 bits: %w", authority, ErrInvalidSID)
	}
	if len(subAuthorities) > maxSubAuthorities {
		return SID{}, fmt.Errorf("%d sub-authorities, at most %d: %w",
			len(subAuthorities), maxSubAuthorities, ErrInvalidSID)
	}
	b := make([]byte, sidHeaderLen+4*len(subAuthorities))
	b[0] = sidRevision
	b[1] = byte(len(subAuthorities))
	for i := 0; i < 6; i++ {
		b[2+i] = byte(authority >> (8 * (5 - i)))
	}
	for i, sub := range subAuthorities {
		binary.LittleEndian.PutUint32(b[sidHeaderLen+4*i:], sub)
	}
	return SID{raw: string(b)}, nil
}

// mustSID is NewSID for constant arguments known to be valid.
func mustSID(authority uint64, subAuthorities ...uint32) SID {
	s, err := NewSID(authority, subAuthorities...)
	if err != nil {
		panic(err)
	}
	return s
}

// ParseSID parses the string form S-1-<authority>-<sub>-<sub>... strictly:
// an upper-case S, revision 1, an authority in decimal or as 0x and at most
// 12 hex digits, at most 15 decimal sub-authorities that fit in 32 bits, no
// signs, spaces or leading zeros. It does not accept SDDL aliases such as
// WD: ParseSDDL does.
func ParseSID(s string) (SID, error) {
	if len(s) > maxSIDStringLen {
		return SID{}, fmt.Errorf("SID string of %d bytes: %w", len(s), ErrInvalidSID)
	}
	rest, ok := strings.CutPrefix(s, "S-1-")
	if !ok {
		return SID{}, fmt.Errorf("%q does not start with S-1-: %w", s, ErrInvalidSID)
	}
	parts := strings.Split(rest, "-")
	authority, err := parseAuthority(parts[0])
	if err != nil {
		return SID{}, fmt.Errorf("%q: %w", s, err)
	}
	subs := make([]uint32, 0, len(parts)-1)
	for _, p := range parts[1:] {
		v, err := parseDecimal(p, 1<<32-1)
		if err != nil {
			return SID{}, fmt.Errorf("%q: sub-authority: %w", s, err)
		}
		subs = append(subs, uint32(v))
	}
	sid, err := NewSID(authority, subs...)
	if err != nil {
		return SID{}, fmt.Errorf("%q: %w", s, err)
	}
	return sid, nil
}

// MustParseSID is ParseSID for SIDs known to be valid; it panics otherwise.
func MustParseSID(s string) SID {
	sid, err := ParseSID(s)
	if err != nil {
		panic(err)
	}
	return sid
}

func parseAuthority(p string) (uint64, error) {
	hex, ok := strings.CutPrefix(p, "0x")
	if !ok {
		return parseDecimal(p, maxAuthority)
	}
	if hex == "" || len(hex) > 12 {
		return 0, fmt.Errorf("authority %q: %w", p, ErrInvalidSID)
	}
	v, err := strconv.ParseUint(hex, 16, 48)
	if err != nil {
		return 0, fmt.Errorf("authority %q: %w", p, ErrInvalidSID)
	}
	return v, nil
}

// parseDecimal accepts only canonical unsigned decimal: digits, no leading
// zero unless the number is 0, at most limit.
func parseDecimal(p string, limit uint64) (uint64, error) {
	if p == "" || (len(p) > 1 && p[0] == '0') {
		return 0, fmt.Errorf("number %q: %w", p, ErrInvalidSID)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, fmt.Errorf("number %q: %w", p, ErrInvalidSID)
		}
	}
	v, err := strconv.ParseUint(p, 10, 64)
	if err != nil || v > limit {
		return 0, fmt.Errorf("number %q out of range: %w", p, ErrInvalidSID)
	}
	return v, nil
}

// SIDFromBinary decodes the MS-DTYP binary form. The input must hold exactly
// one SID.
func SIDFromBinary(b []byte) (SID, error) {
	if len(b) < sidHeaderLen {
		return SID{}, fmt.Errorf("binary SID of %d bytes: %w", len(b), ErrInvalidSID)
	}
	if b[0] != sidRevision {
		return SID{}, fmt.Errorf("binary SID revision %d: %w", b[0], ErrInvalidSID)
	}
	n := int(b[1])
	if n > maxSubAuthorities || len(b) != sidHeaderLen+4*n {
		return SID{}, fmt.Errorf("binary SID of %d bytes with %d sub-authorities: %w",
			len(b), n, ErrInvalidSID)
	}
	return SID{raw: string(b)}, nil
}

// Binary returns the MS-DTYP binary form, nil for the zero SID.
func (s SID) Binary() []byte {
	if s.IsZero() {
		return nil
	}
	return []byte(s.raw)
}

// IsZero reports whether s is the zero value, "no SID".
func (s SID) IsZero() bool { return s.raw == "" }

// Equal reports whether s and o are the same SID.
func (s SID) Equal(o SID) bool { return s.raw == o.raw }

// Authority returns the 48-bit identifier authority.
func (s SID) Authority() uint64 {
	if s.IsZero() {
		return 0
	}
	var a uint64
	for i := 0; i < 6; i++ {
		a = a<<8 | uint64(s.raw[2+i])
	}
	return a
}

// SubAuthorityCount returns the number of sub-authorities.
func (s SID) SubAuthorityCount() int {
	if s.IsZero() {
		return 0
	}
	return int(s.raw[1])
}

// SubAuthority returns the i-th sub-authority; i must be in range.
func (s SID) SubAuthority(i int) uint32 {
	off := sidHeaderLen + 4*i
	r := s.raw
	return uint32(r[off]) | uint32(r[off+1])<<8 | uint32(r[off+2])<<16 | uint32(r[off+3])<<24
}

// SubAuthorities returns a copy of the sub-authorities.
func (s SID) SubAuthorities() []uint32 {
	subs := make([]uint32, s.SubAuthorityCount())
	for i := range subs {
		subs[i] = s.SubAuthority(i)
	}
	return subs
}

// hasPrefix reports whether s has the given authority and begins with the
// given sub-authorities.
func (s SID) hasPrefix(authority uint64, subs ...uint32) bool {
	if s.IsZero() || s.Authority() != authority || s.SubAuthorityCount() < len(subs) {
		return false
	}
	for i, sub := range subs {
		if s.SubAuthority(i) != sub {
			return false
		}
	}
	return true
}

// String returns the canonical string form, "" for the zero SID. An
// authority of 2^32 or more is written as 0x and 12 hex digits, as Windows
// does.
func (s SID) String() string {
	if s.IsZero() {
		return ""
	}
	var b strings.Builder
	b.WriteString("S-1-")
	if a := s.Authority(); a >= hexAuthorityMinimum {
		fmt.Fprintf(&b, "0x%012x", a)
	} else {
		b.WriteString(strconv.FormatUint(a, 10))
	}
	for i := 0; i < s.SubAuthorityCount(); i++ {
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(s.SubAuthority(i)), 10))
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler with the string form.
func (s SID) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; empty text is the zero
// SID.
func (s *SID) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*s = SID{}
		return nil
	}
	sid, err := ParseSID(string(text))
	if err != nil {
		return err
	}
	*s = sid
	return nil
}
