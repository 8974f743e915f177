package caps

import (
	"context"
	"fmt"

	capnp "capnproto.org/go/capnp/v3"
)

// Kind is what a capability is, as far as confinement is concerned.
type Kind int

// The kinds. A capability is a hole unless its kind says otherwise (see Hole).
const (
	KindNull         Kind = iota // the null capability: reaches nothing
	KindBlob                     // an immutable blob served by this daemon
	KindTree                     // a transitively read-only tree served by this daemon
	KindVerifier                 // a verifier facet: answers a Bool about provenance
	KindRequestor                // a requestor facet of a sealed factory: its holes count
	KindMeter                    // a billing meter: a narrow channel with a stated capacity
	KindYield                    // an instance's published capability
	KindDaemonObject             // any other object this daemon serves (builder facets, ...)
	KindForeign                  // a capability held by another connection, or unknown
	KindUnresolved               // a promise that did not resolve in time
)

var kindNames = [...]string{"null", "blob", "tree", "verifier", "requestor", "meter", "yield",
	"daemon object", "foreign", "unresolved promise"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Hole reports whether a capability of this kind could carry information out of a yield. A
// requestor facet is not a hole itself (its factory's holes are counted instead), nor is a
// meter (its capacity is reported instead).
func (k Kind) Hole() bool {
	switch k {
	case KindNull, KindBlob, KindTree, KindVerifier, KindRequestor, KindMeter:
		return false
	}
	return true
}

// Sensory reports whether a capability of this kind may be installed as sensory: it can only
// carry information into a yield, and so can everything it returns.
func (k Kind) Sensory() bool {
	switch k {
	case KindNull, KindBlob, KindTree, KindVerifier:
		return true
	}
	return false
}

// Branded is implemented by every object the daemon serves, so that Classify can tell its kind
// from its brand alone.
type Branded interface {
	// CapKind is the object's kind.
	CapKind() Kind
	// CapID is a stable identity: the same object has the same id across connections and
	// restarts (e.g. "builder:<factory id>").
	CapID() string
}

// Class is the verdict of Classify.
type Class struct {
	Kind Kind
	// Object is the daemon's own object behind the capability (nil for foreign, null or
	// unresolved capabilities).
	Object Branded
	// Key identifies a foreign capability's underlying import while it is held: the same
	// capability classified twice has the same Key. It is for use as a map key only.
	Key any
}

// Classify decides what c is by its server-side brand only: it never calls c. A promise is
// first resolved, waiting until ctx is done (callers give it a deadline); one that does not
// resolve is KindUnresolved, a hole. c is borrowed.
func Classify(ctx context.Context, c capnp.Client) Class {
	if !c.IsValid() {
		return Class{Kind: KindNull}
	}
	snap := c.Snapshot()
	defer snap.Release()
	if snap.IsPromise() {
		if snap.Resolve(ctx) != nil || (snap.IsPromise() && !snap.IsResolved()) {
			return Class{Kind: KindUnresolved}
		}
	}
	if !snap.IsValid() {
		return Class{Kind: KindNull}
	}
	if b, ok := brandObject(snap.Brand()).(Branded); ok {
		return Class{Kind: b.CapKind(), Object: b}
	}
	return Class{Kind: KindForeign, Key: snap.Brand().Value}
}

// CapKind implements Branded: a forwarder has the kind of what it stands for (an instance's
// export is a yield), or is a daemon object.
func (f *Forwarder) CapKind() Kind {
	if b, ok := f.tag.(Branded); ok {
		return b.CapKind()
	}
	return KindDaemonObject
}

// CapID implements Branded.
func (f *Forwarder) CapID() string {
	if b, ok := f.tag.(Branded); ok {
		return b.CapID()
	}
	return fmt.Sprintf("forwarder:%p", f)
}

// CapKind implements Branded.
func (b *Blob) CapKind() Kind { return KindBlob }

// CapID implements Branded: a blob is its content.
func (b *Blob) CapID() string { return "blob:" + b.info.Digest.String() }
