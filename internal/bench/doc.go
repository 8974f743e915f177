// Package bench measures factoryd against the targets of DESIGN.md, each figure together with
// its physical baseline in the same run: cmd/factory-bench is its command line, and
// docs/BENCHMARKS.md explains the method and holds the latest results.
//
// Figures:
//
//   - create: a confined create → first reply (Job.run answered by the new yield) through the
//     real factoryd, against a plain fork/exec of the same program binary whose bootstrap the
//     benchmark serves itself on a socketpair (fd 3), followed by the same first call. The
//     two modes alternate run by run. A breakdown times the parts a confined start adds.
//   - call: Job.run with 16 bytes, client → factoryd → yield, against raw 16-byte messages
//     over the same two hops (client ↔ relay over a unix socket, relay ↔ echo process over a
//     socketpair; see rawhop): latency with one caller, throughput with several.
//   - memory: idle memory per live yield at several population sizes: each vat's RSS and PSS,
//     the system's MemAvailable, and the daemon's own growth.
//   - billing: durable billing charges per second with 1, 16 and 256 yields running the
//     charger program (internal/testprogs/charger), each keeping many charges in flight on its
//     meter, against a plain bbolt group-commit loop in the benchmark process (one writer
//     committing every pending record in one transaction) with as many submitters as there
//     are charges in flight. The two alternate round by round.
//   - audit: Requestor.holes on sealed factory graphs of 10, 1,000 and 10,000 components (a
//     root holding data components and sealed sub-factories that hold data components),
//     against the same call on a 1-component factory, alternating call by call. When package
//     client cannot receive the report, it is timed over a connection accepting larger
//     messages, and the failure is reported.
//
// Rules: the daemon under test is the real factoryd binary in a temporary directory, driven
// through package client; warm-up runs are excluded and every figure reports its sample count;
// nothing here asserts a time. Every process the benchmark starts is ended by its pid and
// waited for, and its temporary directory is removed, on success, error or cancellation.
package bench
