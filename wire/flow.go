package wire

import (
	"context"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/flowcontrol"
)

// DefaultFlowLimit is the flow limit LimitFlow applies for a limit of 0: the bytes of calls
// in flight through one capability. Four of the largest messages a peer accepts; a debug-sink
// write is 32 KiB.
const DefaultFlowLimit = 4 * DefaultMaxMessageSize

// LimitFlow bounds the calls this process makes through c to a peer: once the calls sent
// through c and not yet answered add up to limit bytes (0 means DefaultFlowLimit), a further
// call through c blocks in the method call (capnp.Client.SendCall) until an answer comes back
// or its context ends — give such calls a context that ends with the peer's relevance. A
// peer that never answers then costs this process a bounded amount of memory, where capnp-go
// leaves it unbounded by default (notes/capnp-go.md).
//
// The limit belongs to the reference c: a copy made with c.AddRef has none, and calls the RPC
// layer forwards through c (calls a peer makes on a capability that forwards to c) are not
// counted here — the validator of the connection they came in on bounds those (Options,
// MaxPendingCalls). Releasing c releases the limiter. c is borrowed.
//
// capnp-go counts a call after sending it (capability.go SendCall), so up to one call over
// the limit may be in flight; a single call larger than limit waits for every other call
// through c to be answered, then goes alone (flowcontrol's fixed limiter would panic instead).
func LimitFlow(c capnp.Client, limit int64) {
	if limit <= 0 {
		limit = DefaultFlowLimit
	}
	c.SetFlowLimiter(clampedLimiter{FlowLimiter: flowcontrol.NewFixedLimiter(limit), max: uint64(limit)})
}

// clampedLimiter counts a message larger than the limit as exactly the limit.
type clampedLimiter struct {
	flowcontrol.FlowLimiter
	max uint64
}

func (l clampedLimiter) StartMessage(ctx context.Context, size uint64) (func(), error) {
	return l.FlowLimiter.StartMessage(ctx, min(size, l.max))
}
