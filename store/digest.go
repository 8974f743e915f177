package store

import "github.com/factoryd/factoryd/digest"

// Digest names a blob by the SHA-256 of its content.
type Digest = digest.Digest
