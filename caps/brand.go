package caps

import (
	"context"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/server"
)

// BrandOf returns the daemon-side object behind c: the Go value a local server was created
// from, or a *Forwarder. It returns nil for anything else — a capability imported from another
// connection, a null capability, or a promise that has not resolved by the time ctx is done.
// BrandOf never calls c. It borrows c.
func BrandOf(ctx context.Context, c capnp.Client) any {
	if !c.IsValid() {
		return nil
	}
	snap := c.Snapshot()
	defer snap.Release()
	if snap.IsPromise() {
		if err := snap.Resolve(ctx); err != nil {
			return nil
		}
		if snap.IsPromise() && !snap.IsResolved() {
			return nil
		}
	}
	brand := snap.Brand()
	if f, ok := brand.Value.(*Forwarder); ok {
		return f
	}
	if v, ok := server.IsServer(brand); ok {
		return v
	}
	return nil
}
