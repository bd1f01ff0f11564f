//go:build amd64 || arm64

package prefetch

// Lines prefetches the cache line at each address.
//
//go:noescape
func Lines(addresses []uintptr)

// Line prefetches the cache line at address; it spares the caller building a slice for
// a single line.
func Line(address uintptr)
