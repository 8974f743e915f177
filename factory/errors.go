package factory

import (
	"errors"
	"github.com/factoryd/factoryd/digest"

	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/vat"
	"github.com/factoryd/factoryd/wire"
)

// The closed set of errors this package returns, wrapped with specifics.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrInvalid     = errors.New("invalid argument")
	ErrPermission  = errors.New("permission denied")
	ErrSealed      = errors.New("factory is sealed")
	ErrNotSealed   = errors.New("factory is not sealed")
	ErrNotSensory  = errors.New("capability is not sensory")
	ErrInUse       = errors.New("in use")
	ErrLimit       = errors.New("limit exceeded")
	ErrUnavailable = errors.New("daemon is stopping")
)

// codes maps errors, this package's and those of the packages below it, to wire codes.
var codes = []struct {
	err  error
	code wire.Code
}{
	{ErrNotFound, wire.CodeNotFound},
	{store.ErrNotFound, wire.CodeNotFound},
	{ErrExists, wire.CodeExists},
	{store.ErrExists, wire.CodeExists},
	{ErrInvalid, wire.CodeInvalid},
	{ErrNotSensory, wire.CodeInvalid},
	{store.ErrInvalid, wire.CodeInvalid},
	{digest.ErrInvalid, wire.CodeInvalid},
	{ErrPermission, wire.CodePermission},
	{ErrSealed, wire.CodeSealed},
	{ErrNotSealed, wire.CodeNotSealed},
	{vat.ErrNotExecutable, wire.CodeNotExecutable},
	{vat.ErrStart, wire.CodeStart},
	{vat.ErrUnsupported, wire.CodeStart},
	{ErrInUse, wire.CodeInUse},
	{ErrLimit, wire.CodeLimit},
	{vat.ErrExhausted, wire.CodeLimit},
	{vat.ErrInvalidPolicy, wire.CodeInvalid},
	{ErrUnavailable, wire.CodeUnavailable},
}

// toWire maps err to an exception carrying its wire code; errors without one are internal.
func toWire(err error) error {
	if err == nil {
		return nil
	}
	if wire.CodeOf(err) != "" {
		return err
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return wire.NewError(c.code, err)
		}
	}
	return wire.NewError(wire.CodeInternal, err)
}
