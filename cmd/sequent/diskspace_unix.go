//go:build unix

package main

import "syscall"

// filesystemSpace returns the space an unprivileged process may still use on the file
// system holding path, and that file system's size, in bytes (0, 0 when unknown).
func filesystemSpace(path string) (available, size uint64) {
	var stats syscall.Statfs_t
	if err := syscall.Statfs(path, &stats); err != nil {
		return 0, 0
	}
	blockBytes := uint64(stats.Bsize)
	return uint64(stats.Bavail) * blockBytes, uint64(stats.Blocks) * blockBytes
}
