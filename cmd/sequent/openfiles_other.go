//go:build !unix

package main

// openFilesLimit is unknown on systems without RLIMIT_NOFILE: no warning is given.
func openFilesLimit() uint64 { return 0 }
