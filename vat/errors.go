package vat

import "errors"

// The closed set of errors this package returns, wrapped with specifics.
var (
	// ErrNotExecutable: the program cannot run in a vat (not a static ELF executable for this
	// machine).
	ErrNotExecutable = errors.New("program is not executable")
	// ErrStart: the vat could not be started; the message names the failed step.
	ErrStart = errors.New("vat failed to start")
	// ErrUnsupported: this machine lacks a kernel feature vats need.
	ErrUnsupported = errors.New("unsupported on this machine")
	// ErrInvalidPolicy: a confinement policy (e.g. declared syscalls, limits) is malformed.
	ErrInvalidPolicy = errors.New("invalid confinement policy")
	// ErrExhausted: no free host uid is left in the configured range.
	ErrExhausted = errors.New("vat limit reached")
)
