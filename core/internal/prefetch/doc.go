// Package prefetch asks the CPU to start bringing cache lines into L1 before the core
// needs them (PREFETCHT0 on amd64, PRFM PLDL1KEEP on arm64), or into L2 only
// (LinesIntoL2), so that misses on storage read at random (ledger records, the matching
// engine's idempotency index) overlap with other work instead of stalling it one after
// the other.
//
// A prefetch is only a hint: the CPU may drop it, it never faults (an address need not
// even be mapped, though callers pass addresses of live storage, which the Go heap never
// moves), it retires without waiting for its line, and it changes no state the program
// can observe. Code that calls it therefore behaves bit for bit the same with or without
// it, and the core stays deterministic. Where no instruction is wired in, the functions
// do nothing.
package prefetch

// LineBytes is the cache line the prefetches bring in, and Consecutive's step (the
// assembly's).
const LineBytes = 64

// LinePairBytes is the span LinePairs prefetches from each address: two 64-byte cache
// lines (the assembly's second prefetch is 64 bytes on).
const LinePairBytes = 2 * LineBytes
