//go:build !linux

package wal

import (
	"errors"
	"os"
	"syscall"
)

// writeVector writes the buffers contiguously at offset. Outside Linux it issues one
// pwrite per buffer: correct, not tuned.
func writeVector(file *os.File, buffers [][]byte, offset int64, _ []syscall.Iovec) error {
	for _, b := range buffers {
		if _, err := file.WriteAt(b, offset); err != nil {
			return err
		}
		offset += int64(len(b))
	}
	return nil
}

// syncData falls back to fsync where fdatasync is not available.
func syncData(file *os.File) error { return file.Sync() }

// fallocate is not available here; only BenchmarkPreallocation uses it.
func fallocate(*os.File, int64) error { return errors.ErrUnsupported }
