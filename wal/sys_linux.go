//go:build linux

package wal

import (
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// writeVector writes the buffers contiguously at offset with pwritev(2): one system call
// for a whole group commit without copying the bodies into one buffer. iovecs is scratch
// space owned by the caller (the writer goroutine), so the call allocates nothing.
func writeVector(file *os.File, buffers [][]byte, offset int64, iovecs []syscall.Iovec) error {
	for len(buffers) > 0 {
		iovecs = iovecs[:0]
		for _, b := range buffers {
			iovec := syscall.Iovec{Base: unsafe.SliceData(b)}
			iovec.SetLen(len(b))
			iovecs = append(iovecs, iovec)
		}
		iovecs = limitIovecs(iovecs, testHookWriteBytesMax.Load())
		written, _, errno := syscall.Syscall6(syscall.SYS_PWRITEV, file.Fd(),
			uintptr(unsafe.Pointer(unsafe.SliceData(iovecs))), uintptr(len(iovecs)),
			uintptr(offset), 0, 0)
		runtime.KeepAlive(buffers)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return &os.PathError{Op: "pwritev", Path: file.Name(), Err: errno}
		}
		// A short write (rare for regular files) resumes after the bytes written.
		offset += int64(written)
		buffers = skipBytes(buffers, int(written))
	}
	return nil
}

// limitIovecs shortens iovecs to at most bytes in total (bytes <= 0: unchanged), which
// makes the kernel write short as it may (testHookWriteBytesMax).
func limitIovecs(iovecs []syscall.Iovec, bytes int64) []syscall.Iovec {
	if bytes <= 0 {
		return iovecs
	}
	for i := range iovecs {
		if int64(iovecs[i].Len) >= bytes {
			iovecs[i].SetLen(int(bytes))
			return iovecs[:i+1]
		}
		bytes -= int64(iovecs[i].Len)
	}
	return iovecs
}

// skipBytes drops the first n bytes from the buffers, in place.
func skipBytes(buffers [][]byte, n int) [][]byte {
	for n > 0 && len(buffers) > 0 {
		if n < len(buffers[0]) {
			buffers[0] = buffers[0][n:]
			return buffers
		}
		n -= len(buffers[0])
		buffers = buffers[1:]
	}
	for len(buffers) > 0 && len(buffers[0]) == 0 {
		buffers = buffers[1:]
	}
	return buffers
}

// syncData is fdatasync(2): data plus the metadata needed to read it back. Segments are
// preallocated, so the file size never changes and fdatasync has no size or extent to
// record: the data write and the device's cache flush. (On ext4 without a journal it
// also writes the inode block when the write moved the modification time, once per
// clock tick, 4 ms at HZ=250: the file system offers no way to skip that.)
func syncData(file *os.File) error {
	for {
		err := syscall.Fdatasync(int(file.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: file.Name(), Err: err}
			}
			return nil
		}
	}
}

// fallocate reserves size bytes for file without writing them. Segments do not use it
// (see prepareSegment); BenchmarkPreallocation compares it with zero-filling.
func fallocate(file *os.File, size int64) error {
	return syscall.Fallocate(int(file.Fd()), 0, 0, size)
}
