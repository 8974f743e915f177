// Package wire sets up the Cap'n Proto RPC connections factoryd speaks — daemon to client over
// its unix socket, daemon to yield over fd 3 — with the limits applied to every peer, and
// defines how errors cross them.
//
// Errors: a method that fails sends an exception whose reason starts with a bracketed code,
// "[sealed] factory \"tax\" is sealed". The codes are the closed set of Code values below;
// receivers turn such a reason back into an *Error that matches the sentinel errors of this
// package with errors.Is. Anything else arrives as an ordinary error.
//
// Limits: a connection refuses (and closes on) any message larger than Options.MaxMessageSize,
// before allocating its segments.
package wire
