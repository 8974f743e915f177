// Package schema holds the Cap'n Proto interfaces of factoryd and the Go code generated from them.
//
// The generated files (*.capnp.go) are committed so that a machine without the capnp compiler
// builds the project. To regenerate, install Debian's capnproto package and capnpc-go
// (go install capnproto.org/go/capnp/v3/capnpc-go@v3.1.0-alpha.2), then run go generate.
package schema

//go:generate sh -c "capnp compile -I$(go list -m -f '{{.Dir}}' capnproto.org/go/capnp/v3)/std -ogo factory.capnp"
