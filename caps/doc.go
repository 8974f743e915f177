// Package caps holds the capability kinds the daemon itself serves — immutable blobs and
// revocable forwarders — and the brands by which the daemon recognises its own objects.
//
// Rules:
//   - A capability's kind is decided by its server-side brand only (see Brand), never by calling
//     it: a capability from a client or another connection has a brand this package does not
//     know, so it can never pass for one of the daemon's own objects.
//   - Servers here never call back into capabilities they were given, except a Forwarder, whose
//     whole job is to pass calls on to its target.
//   - Reference ownership is stated in each constructor's doc comment.
package caps
