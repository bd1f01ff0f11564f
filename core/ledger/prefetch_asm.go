//go:build amd64 || arm64

package ledger

// prefetchLines asks the CPU to bring the cache line at each address into L1 (PREFETCHT0
// on amd64, PRFM PLDL1KEEP on arm64). Unlike a load, a prefetch retires without waiting
// for its line, so the core goes on applying earlier events while the misses are
// served; it never faults and reads nothing the program can observe. The addresses are
// of live ledger storage, which the Go heap never moves.
//
//go:noescape
func prefetchLines(addresses []uintptr)
