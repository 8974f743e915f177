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
//   - billing and holes audit: placeholders, measured by later issues.
//
// Rules: the daemon under test is the real factoryd binary in a temporary directory, driven
// through package client; warm-up runs are excluded and every figure reports its sample count;
// nothing here asserts a time. Every process the benchmark starts is ended by its pid and
// waited for, and its temporary directory is removed, on success, error or cancellation.
package bench
