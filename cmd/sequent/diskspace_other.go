//go:build !unix

package main

// filesystemSpace is unknown on systems without statfs: the metrics read 0.
func filesystemSpace(string) (available, size uint64) { return 0, 0 }
