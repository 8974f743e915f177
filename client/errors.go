package client

import (
	"errors"

	"github.com/factoryd/factoryd/wire"
)

// Errors the daemon returns, for errors.Is.
var (
	ErrNotFound      = wire.ErrNotFound
	ErrExists        = wire.ErrExists
	ErrInvalid       = wire.ErrInvalid
	ErrPermission    = wire.ErrPermission
	ErrSealed        = wire.ErrSealed
	ErrNotSealed     = wire.ErrNotSealed
	ErrNotExecutable = wire.ErrNotExecutable
	ErrStart         = wire.ErrStart
	ErrLimit         = wire.ErrLimit
	ErrInUse         = wire.ErrInUse
	ErrUnavailable   = wire.ErrUnavailable
	ErrInternal      = wire.ErrInternal
)

// ErrEnded: a call failed because its instance had ended; the error says why.
var ErrEnded = errors.New("instance ended")
