//go:build !linux

package threadcpu

// Supported reports whether Now reads a real thread clock on this platform.
const Supported = false

// Now returns 0: no thread clock here (benchmarks then skip their CPU-time metric).
func Now() int64 { return 0 }
