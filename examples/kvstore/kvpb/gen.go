// Package kvpb is the Cap'n Proto interface of the kvstore example and its generated Go code.
package kvpb

//go:generate sh -c "capnp compile -I$(go list -m -f '{{.Dir}}' capnproto.org/go/capnp/v3)/std -ogo kv.capnp"
