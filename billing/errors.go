package billing

import "errors"

// The closed set of errors this package returns, wrapped with specifics.
var (
	// ErrInvalid: a kind declaration, limits or bounds that break the rules.
	ErrInvalid = errors.New("invalid billing policy")
	// ErrClosed: the meter was closed or failed before the charge was recorded.
	ErrClosed = errors.New("meter closed")
)
