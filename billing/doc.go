// Package billing is the policy half of factoryd's billing channel: the only way a yield may
// tell its builder anything. It is pure Go with no storage; package store keeps the ledger the
// entries end up in.
//
// # The channel
//
// A factory declares a small fixed set of charge kinds ([Kind]: a name and a quantum). A
// requestor sets, per instance at create time, a period length and for each kind a ceiling per
// period and a total ceiling ([Limits]); the operator bounds the period ([Bounds]). [NewPolicy]
// checks all three together. A [Meter] (one per instance) applies the policy:
//
//   - Charge(kind, units) rounds units up to a multiple of the kind's quantum and accepts the
//     charge only if it fits under both the period ceiling and the total ceiling; otherwise it
//     refuses it and changes nothing. The yield learns accepted or refused, nothing else: not
//     how much is left, not why.
//   - Accepted charges are coalesced: what gets recorded is, per kind, the sum over one period,
//     once, after the period has ended. A period is a slot of a fixed grid (multiples of the
//     period length since the Unix epoch), so boundaries do not depend on anything the yield
//     does, nor on when the instance was created.
//   - Flush, called by the daemon at period ends, returns the entries of every period that has
//     ended: at most one per kind per period, none for a zero sum, in declaration order, each
//     stamped with its period's grid boundaries (Time is the period end), never with the time of
//     a call.
//
// # Capacity
//
// Everything a yield can make its builder see is the sequence of recorded entries. Per period
// and per kind that is one value: a multiple of the quantum q between 0 (no entry) and the
// effective ceiling C = min(per-period ceiling, total ceiling). So a kind can record at most
//
//	n = ceil(C / q) + 1
//
// distinguishable values per period (an upper bound: exactly floor(C/q)+1 values can occur),
// and the channel carries at most
//
//	bits per period = Σ over kinds of log2(ceil(C_k / q_k) + 1)
//	bits per second = bits per period / period length in seconds
//
// Timing adds nothing: entries exist only for ended grid periods, carry only grid times, and
// are emitted when the daemon flushes, not when the yield calls; the order of kinds within a
// period is fixed; the absence of an entry is the value 0, already counted in the +1. The total
// ceiling bounds how long the yield can use the channel, not its rate. [Policy.Capacity] returns
// these numbers with a breakdown per kind; the audit prints them.
//
// What this does not cover, reported elsewhere in the covert-channel inventory: CPU contention
// and memory pressure, which delay the daemon's own flushes and commits (the ledger therefore
// stores the grid time, never the commit time).
package billing
