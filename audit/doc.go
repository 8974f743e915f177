// Package audit proves, before a requestor hands a secret to an instance, what the instance
// could leak through: the holes of a factory as a proof tree (every component, its kind, and
// why it is or is not a hole, through nested factories), the comparison of factories as
// policies, the covert channels confinement cannot close with their bounds, and the names of the
// events of the daemon's append-only audit log.
//
// Everything here works on sealed records and never touches a capability: an audit, a
// comparison or a report can make no call that a builder's code could observe.
package audit
