//go:build !unix

package bench

// processCPUNanoseconds is -1 here: the process's CPU time is not read on this platform.
func processCPUNanoseconds() int64 { return -1 }
