package store

import "errors"

// The closed set of errors this package returns, wrapped with specifics.
var (
	// ErrNotFound: no record under that key.
	ErrNotFound = errors.New("not found")
	// ErrExists: a record with that name exists already.
	ErrExists = errors.New("already exists")
	// ErrCorrupt: the data file or a blob does not hold what was written.
	ErrCorrupt = errors.New("corrupt store")
	// ErrLocked: another process holds the data directory.
	ErrLocked = errors.New("data directory in use")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrInvalid: the caller passed a malformed value.
	ErrInvalid = errors.New("invalid argument")
)
