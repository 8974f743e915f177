package wire

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"capnproto.org/go/capnp/v3/exc"
)

// Code classifies an error on the wire. The set is closed: adding one is a protocol change.
type Code string

// The error codes; docs/protocol.md describes each.
const (
	CodeNotFound      Code = "not_found"
	CodeExists        Code = "exists"
	CodeInvalid       Code = "invalid"
	CodePermission    Code = "permission"
	CodeSealed        Code = "sealed"
	CodeNotSealed     Code = "not_sealed"
	CodeNotExecutable Code = "not_executable"
	CodeStart         Code = "start_failed"
	CodeLimit         Code = "limit"
	CodeInUse         Code = "in_use"
	CodeUnavailable   Code = "unavailable"
	CodeInternal      Code = "internal"
)

var codes = []Code{CodeNotFound, CodeExists, CodeInvalid, CodePermission, CodeSealed, CodeNotSealed,
	CodeNotExecutable, CodeStart, CodeLimit, CodeInUse, CodeUnavailable, CodeInternal}

// Error is an error that carries a Code across a connection.
type Error struct {
	Code    Code
	Message string
}

// Error returns the message; the code travels separately (see Code).
func (e *Error) Error() string { return e.Message }

// wireText is how the error travels: "[code] message".
func (e *Error) wireText() string { return "[" + string(e.Code) + "] " + e.Message }

// Is matches any *Error with the same code, so errors.Is(err, wire.ErrSealed) works on what
// arrives from a peer.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Sentinels for errors.Is, one per code.
var (
	ErrNotFound      = &Error{Code: CodeNotFound}
	ErrExists        = &Error{Code: CodeExists}
	ErrInvalid       = &Error{Code: CodeInvalid}
	ErrPermission    = &Error{Code: CodePermission}
	ErrSealed        = &Error{Code: CodeSealed}
	ErrNotSealed     = &Error{Code: CodeNotSealed}
	ErrNotExecutable = &Error{Code: CodeNotExecutable}
	ErrStart         = &Error{Code: CodeStart}
	ErrLimit         = &Error{Code: CodeLimit}
	ErrInUse         = &Error{Code: CodeInUse}
	ErrUnavailable   = &Error{Code: CodeUnavailable}
	ErrInternal      = &Error{Code: CodeInternal}
)

// Errorf returns an exception carrying code, to be returned from a server method.
func Errorf(code Code, format string, args ...any) error {
	return NewError(code, fmt.Errorf(format, args...))
}

// NewError wraps err as an exception carrying code. The exception's type is Failed, except for
// CodeUnavailable (Overloaded: the caller may retry later).
func NewError(code Code, err error) error {
	typ := exc.Failed
	if code == CodeUnavailable {
		typ = exc.Overloaded
	}
	we := &Error{Code: code, Message: err.Error()}
	return &exc.Exception{Type: typ, Cause: errors.New(we.wireText())}
}

// Decode turns an error received from a peer back into an *Error when its text carries a code.
// Other errors keep their exception type but lose the method annotation the RPC layer prefixes
// ("factory.capnp:Job.run: @0x…: "), which says nothing to a person. nil stays nil.
func Decode(err error) error {
	if err == nil {
		return nil
	}
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	msg := err.Error()
	for _, c := range codes {
		tag := "[" + string(c) + "] "
		if i := strings.Index(msg, tag); i >= 0 {
			return &Error{Code: c, Message: msg[i+len(tag):]}
		}
	}
	clean := annotation.ReplaceAllString(msg, "")
	if clean == msg {
		return err
	}
	return &exc.Exception{Type: exc.TypeOf(unwrapException(err)), Cause: errors.New(clean)}
}

// annotation matches the method annotations capnp-go prefixes to a remote error at each hop:
// "factory.capnp:Job.run: " with names, "@0xbf3810f6b60d2e73.@0: " without.
var annotation = regexp.MustCompile(`(?:[\w.-]+\.capnp:[\w]+\.[\w]+: )|(?:@0x[0-9a-f]+\.@\d+: )`)

func unwrapException(err error) error {
	var ex *exc.Exception
	if errors.As(err, &ex) {
		return ex
	}
	return err
}

// CodeOf returns the code err carries, or "" if none.
func CodeOf(err error) Code {
	var we *Error
	if errors.As(Decode(err), &we) {
		return we.Code
	}
	return ""
}
