//go:build amd64 || arm64

package prefetch

// Lines prefetches the cache line at each address.
//
//go:noescape
func Lines(addresses []uintptr)

// LinePairs prefetches the cache line at each address and the one after it (64 bytes
// on): one address per 128-byte record (a ledger account) where Lines took two, which
// spares the caller a store and the loop an iteration per record.
//
//go:noescape
func LinePairs(addresses []uintptr)

// Line prefetches the cache line at address; it spares the caller building a slice for
// a single line.
func Line(address uintptr)
