// Package digest names content by its SHA-256: blobs, programs and data components are
// addressed by their Digest.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrInvalid: the text or bytes are not a digest.
var ErrInvalid = errors.New("invalid digest")

// Digest is the SHA-256 of a blob's content: its name.
type Digest [sha256.Size]byte

// Parse reads a digest from its 64-character hex form.
func Parse(s string) (Digest, error) {
	var d Digest
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(d) {
		return d, fmt.Errorf("%w: %q is not 64 hex characters", ErrInvalid, s)
	}
	copy(d[:], b)
	return d, nil
}

// FromBytes reads a digest from its 32 raw bytes.
func FromBytes(b []byte) (Digest, error) {
	var d Digest
	if len(b) != len(d) {
		return d, fmt.Errorf("%w: %d bytes, want %d", ErrInvalid, len(b), len(d))
	}
	copy(d[:], b)
	return d, nil
}

// String returns the hex form.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Short returns the first 12 hex characters, for display.
func (d Digest) Short() string { return d.String()[:12] }

// IsZero reports whether d is the zero digest (no blob).
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText writes the hex form; the zero digest is written as "".
func (d Digest) MarshalText() ([]byte, error) {
	if d.IsZero() {
		return []byte{}, nil
	}
	return []byte(d.String()), nil
}

// UnmarshalText reads the hex form; "" is the zero digest.
func (d *Digest) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Digest{}
		return nil
	}
	v, err := Parse(string(b))
	*d = v
	return err
}

// Of returns the digest of b.
func Of(b []byte) Digest { return sha256.Sum256(b) }
