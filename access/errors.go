package access

import (
	"errors"
	"fmt"
)

// The errors of this package. Every error it returns wraps exactly one of
// them, with lowercase context added by fmt.Errorf("...: %w", ...), so
// callers test with errors.Is. A denied access check is not an error: it is
// a Result with Allowed false.
var (
	// ErrAccessDenied is returned when the token may not be used for an
	// access check at all (an impersonation token below the Impersonation
	// level).
	ErrAccessDenied = errors.New("access denied")
	// ErrInvalidParameter reports a malformed request: a missing token or
	// descriptor, reserved bits in the desired mask, an unusable generic
	// mapping or intent, or a bad argument to a constructor.
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrInvalidDescriptor reports a security descriptor that cannot be
	// evaluated: reserved bits in an ACE mask, an ACE in the wrong list,
	// a mandatory label that names no integrity level.
	ErrInvalidDescriptor = errors.New("invalid security descriptor")
	// ErrMissingOwner reports a security descriptor without an owner.
	ErrMissingOwner = errors.New("security descriptor has no owner")
	// ErrInvalidToken reports a token whose fields contradict each other.
	ErrInvalidToken = errors.New("invalid token")
	// ErrInvalidSID reports a malformed SID in string or binary form.
	ErrInvalidSID = errors.New("invalid SID")
	// ErrInvalidSDDL reports SDDL text that does not parse; the wrapping
	// *SyntaxError carries the byte offset of the problem.
	ErrInvalidSDDL = errors.New("invalid SDDL")
	// ErrInvalidCondition reports conditional-ACE bytecode or expression
	// text that is malformed or cannot be expressed in SDDL.
	ErrInvalidCondition = errors.New("invalid conditional expression")
)

// SyntaxError locates a problem in SDDL or conditional-expression text.
// It unwraps to ErrInvalidSDDL or ErrInvalidCondition.
type SyntaxError struct {
	// Offset is the byte offset in the input where the problem was found.
	Offset int
	// Msg says what was expected or found there.
	Msg  string
	kind error
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%v: offset %d: %s", e.kind, e.Offset, e.Msg)
}

// Unwrap returns the package error class of the syntax error.
func (e *SyntaxError) Unwrap() error { return e.kind }
