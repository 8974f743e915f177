package caps

import (
	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/server"
)

// brandObject returns the daemon-side object a brand names, or nil.
func brandObject(brand capnp.Brand) any {
	if f, ok := brand.Value.(*Forwarder); ok {
		return f
	}
	if v, ok := server.IsServer(brand); ok {
		return v
	}
	return nil
}
