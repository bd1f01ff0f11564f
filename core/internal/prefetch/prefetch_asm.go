//go:build amd64 || arm64

package prefetch

// Lines prefetches the cache line at each address.
//
//go:noescape
func Lines(addresses []uintptr)

// LinesIntoL2 is Lines into the second-level cache only (PREFETCHT1 on amd64, PRFM
// PLDL2KEEP on arm64), for lines wanted a while from now rather than next: on Intel a
// prefetch into L1 holds one of the core's few L1 miss buffers (about 16) until its line
// arrives, so a burst of them from memory far away stalls the core once they are all
// taken, while one into L2 is tracked by the L2's larger queue; the later load then
// finds its line in L2, a few nanoseconds away (the ledger's record prefetches: see
// Ledger.prefetchRecords).
//
//go:noescape
func LinesIntoL2(addresses []uintptr)

// Consecutive prefetches lines consecutive cache lines from address (none when lines is
// 0 or less): storage about to be written in order, such as the ledger's next transfer
// records, whose stores would otherwise each wait for their line to be read.
//
//go:noescape
func Consecutive(address uintptr, lines int)

// LinePairs prefetches the cache line at each address and the one after it (64 bytes
// on): one address per 128-byte record (a ledger account) where Lines took two, which
// spares the caller a store and the loop an iteration per record.
//
//go:noescape
func LinePairs(addresses []uintptr)

// Line prefetches the cache line at address; it spares the caller building a slice for
// a single line.
func Line(address uintptr)

// TwoLines prefetches the cache lines at first and second: two unrelated lines in one
// call, where two calls of Line cost the caller a second call of the assembly (whose
// ABI makes the caller spill and reload what it keeps in registers around each), as the
// matching engine's idempotency window does for the entry it forgets next and that
// entry's index bucket.
func TwoLines(first, second uintptr)
