// Package wire sets up the Cap'n Proto RPC connections factoryd speaks — daemon to client over
// its unix socket, daemon to yield over fd 3 — with the limits applied to every peer, and
// defines how errors cross them.
//
// Errors: a method that fails sends an exception whose reason starts with a bracketed code,
// "[sealed] factory \"tax\" is sealed". The codes are the closed set of Code values below;
// receivers turn such a reason back into an *Error that matches the sentinel errors of this
// package with errors.Is. Anything else arrives as an ordinary error.
//
// # Hostile peers
//
// A yield controls every byte on its fd 3, a local client every byte it writes to the socket,
// and capnp-go v3.1.0-alpha.2 dies — the whole process, from one of its own goroutines — on a
// handful of well-formed messages (notes/capnp-go.md, "Hostile peers"). NewConn therefore puts
// a validator between the byte stream and the RPC layer of every connection: it decodes each
// inbound message before the RPC layer sees it and, on a message of a refused shape, ends that
// one connection (the transport's receive fails with ErrRefused; the rpc.Conn shuts down). It
// never blocks the receive loop, and it sees outbound messages too, just before they are
// written, to mirror what it needs of the RPC layer's tables. It refuses:
//
//   - a message larger than Options.MaxMessageSize, before allocating it (failure mode 4);
//   - a call, capability or Finish naming a question that is not an answer in progress — among
//     them a call pipelined on its own question (failure mode 1) — and a question id reused
//     while its answer is held;
//   - a call pipelined on a call still in progress unless that call is to factoryd's schema,
//     the call targets a field of its results declared with an interface, and the pipelined
//     call is a method of that interface — or the field is Requestor.create's instance, a
//     forwarder to the yield, which takes any method; and any call pipelined on a call that
//     itself waits in such a queue (failure mode 2 and its variants: a missing capability, a
//     method the capability lacks, a context done before delivery). Pipelining on a call that
//     has returned is always let through. The project's client pipelines only in the admitted
//     shapes (client.Upload, Requestor.Create, Requestor.CreateAndRun).
//   - a capability naming a call in progress (receiverAnswer), except as the argument of one of
//     the methods of factoryd's own objects that never call their argument (Requestor.control,
//     which client.Requestor.Create sends with create's result, Requestor.compare,
//     Verifier.verifyYield, Builder.openYield), served by a server of this process;
//   - a promise resolved to, or a Return carrying at a field where pipelining is admitted, a
//     capability hosted by the receiver: both make capnp-go embargo it, and lifting the embargo
//     delivers queued calls as in failure mode 2;
//   - a promise resolved to itself (capnp-go would follow the cycle forever on its receive
//     goroutine);
//   - a sender-loopback disembargo aimed at an answer that returned no results (a nil
//     dereference in capnp-go), and a Return for a question this side never asked;
//   - more than Options.MaxPendingCalls calls in progress (not yet returned by this side), or
//     more than Options.MaxAnswers answers not finished by the peer.
//
// The writer side has one rule too: when a peer returns a question whose call is still being
// written and then makes the write fail, the failure is not reported to capnp-go, which would
// otherwise reject a question it had fulfilled (a panic).
//
// validate.go gives, for each rule, the lines of capnp-go it guards against. The rules rely on
// invariants of the daemon: a method of the schema that succeeds fills every result field
// declared with an interface with a live server of that interface; the four methods above
// never call nor keep their capability argument; and the forwarder create returns never
// answers a call with a nil PipelineCaller (caps.Forwarder.Recv).
//
// The limits end the connection rather than slow the peer down: the only way to push back is
// to stop reading, which also stops the Returns and Finishes the peer may be waiting for before
// it can send fewer calls — a deadlock with a well-behaved peer, and no protection from a
// hostile one, which keeps its calls open anyway. A peer that stops reading cannot make this
// side queue Returns without bound either: a Return counts as in progress until it is written.
// In the other direction, LimitFlow bounds the calls this process makes to a peer.
//
// # Methods that wait
//
// Conn.Close waits for every method in progress before it fails the calls this side made to
// the peer (failure mode 3): a method waiting for the peer without watching its context would
// hang Close forever. The RPC layer cancels the context of every method in progress when the
// connection shuts down, hence the rule: a method that waits must select on ctx.Done(), and
// when ctx ends, release the answers it was waiting for asynchronously (releasing an answer
// waits for it).
package wire
