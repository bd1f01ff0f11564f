//go:build unix

package main

import "syscall"

// openFilesLimit returns the process's soft limit on open file descriptors
// (RLIMIT_NOFILE), or 0 when it cannot be read. Go's runtime has already raised the soft
// limit to the hard limit at start (os package, Go 1.19 and later), so this is what the
// node can use.
func openFilesLimit() uint64 {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return 0
	}
	return uint64(limit.Cur) // int64 on FreeBSD, uint64 on Linux and macOS.
}
