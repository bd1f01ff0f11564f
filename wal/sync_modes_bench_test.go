//go:build linux

package wal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// Constants of BenchmarkSyncModes.
const (
	// syncModesFileBytes is the size of each mode's zero-filled file; appends wrap to the
	// start when they reach its end (overwriting written blocks costs what writing
	// zero-filled ones does: both are written extents). The growing and fallocated files
	// are made fresh again at a wrap, outside the timed append.
	syncModesFileBytes = 16 << 20
	// syncModesBlockOps is how many consecutive appends one mode makes before the next
	// mode takes over: modes alternate in short runs so that all see the same load.
	syncModesBlockOps = 16
	// syncModesDirectBlockBytes is the alignment of O_DIRECT writes: the file system
	// block and the device's physical sector (4096 on this VM's disk).
	syncModesDirectBlockBytes = 4096
	// syncModesSectorBytes is the device's logical sector (512 on this VM's disk), the
	// smallest O_DIRECT write ext4 takes.
	syncModesSectorBytes = 512
	// syncModesPwritev2 and syncModesFlagDsync are pwritev2(2) (amd64 number) and its
	// RWF_DSYNC flag: the write is made durable as if followed by fdatasync.
	syncModesPwritev2  = 328
	syncModesFlagDsync = 0x2
)

// The ways of making an append durable that BenchmarkSyncModes compares, in mode order.
const (
	syncModeBuffered        = iota // pwritev then fdatasync: what the writer does today
	syncModePwritev2Dsync          // one pwritev2 with RWF_DSYNC on the buffered file
	syncModeDirectDsync            // O_DIRECT|O_DSYNC, whole 4 KiB blocks (FUA if the device has it)
	syncModeDirectFdatasync        // O_DIRECT, whole 4 KiB blocks, then fdatasync
	syncModeGrowing                // pwritev at the end of a growing file, then fdatasync: Redis's AOF
	syncModeFallocated             // pwritev into fallocated (unwritten) space, then fdatasync
	syncModeDirectSectors          // O_DIRECT|O_DSYNC, whole 512 B sectors
	syncModeCount
)

// syncModeNames name the modes in the benchmark's metrics.
var syncModeNames = [syncModeCount]string{
	"buffered-fdatasync",
	"pwritev2-dsync",
	"direct-dsync",
	"direct-fdatasync",
	"growing-fdatasync",
	"fallocated-fdatasync",
	"direct-dsync-512",
}

// syncModeFile is one mode's file and its append position; direct modes keep the
// partial tail block in an aligned buffer and rewrite it whole with each append.
type syncModeFile struct {
	file   *os.File
	bytes  int64 // the file's size (a growing file's limit): appends wrap to the start there
	offset int64
	tail   []byte // aligned; tail[:offset%block] holds the partial last block
	iovecs []syscall.Iovec
}

// BenchmarkSyncModes measures the latency of one durable append of 288 B (one transfer
// request's entry), 4 KiB and 256 KiB (a large group commit) in the ways of
// syncModeNames on the test's temporary directory, alternating modes every
// syncModesBlockOps appends in a rotating order. b.N is the number of appends per mode
// (ns/op is the sum of the modes' mean latencies). Reports per mode p50 and p99 in ns.
// Run with -benchtime 2000x: calibration would zero-fill the files again per step.
func BenchmarkSyncModes(b *testing.B) {
	for _, bytes := range []int{288, 4096, 256 << 10} {
		b.Run(fmt.Sprintf("bytes=%d", bytes), func(b *testing.B) {
			dir := b.TempDir()
			data := make([]byte, bytes)
			for i := range data {
				data[i] = byte(i*7 + 1) // not zeros: every byte written must be real
			}
			var files [syncModeCount]syncModeFile
			for mode := range files {
				files[mode] = openSyncModeFile(b, dir, mode, syncModesFileBytes, bytes)
				defer files[mode].file.Close()
			}
			var latencies [syncModeCount][]time.Duration
			for mode := range latencies {
				latencies[mode] = make([]time.Duration, 0, b.N)
			}
			b.ResetTimer()
			for round := 0; len(latencies[0]) < b.N; round++ {
				for _, mode := range syncModesOrder(round) {
					for range min(syncModesBlockOps, b.N-len(latencies[mode])) {
						if err := files[mode].wrap(mode, len(data)); err != nil {
							b.Fatal(err)
						}
						start := time.Now()
						if err := files[mode].append(mode, data); err != nil {
							b.Fatal(err)
						}
						latencies[mode] = append(latencies[mode], time.Since(start))
					}
				}
			}
			b.StopTimer()
			for mode, modeLatencies := range latencies {
				slices.Sort(modeLatencies)
				b.ReportMetric(float64(modeLatencies[len(modeLatencies)/2]),
					syncModeNames[mode]+"-p50-ns")
				b.ReportMetric(float64(modeLatencies[len(modeLatencies)*99/100]),
					syncModeNames[mode]+"-p99-ns")
			}
		})
	}
}

// syncModesOrder is the order in which modes run in a block of rounds: rotated by one
// each round and reversed every other group of rounds, so no mode always follows the
// same one.
func syncModesOrder(round int) []int {
	order := make([]int, syncModeCount)
	for i := range order {
		order[i] = (i + round) % syncModeCount
	}
	if (round/syncModeCount)%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// openSyncModeFile prepares a file of fileBytes for mode as its wrap would (zero-filled
// and synced as prepareSegment does; empty for the growing file; fallocated for the
// fallocated one), then opens it with the flags of mode.
func openSyncModeFile(b testing.TB, dir string, mode int, fileBytes int64,
	appendBytes int) syncModeFile {
	b.Helper()
	name := syncModeNames[mode]
	flags := os.O_RDWR
	switch mode {
	case syncModeDirectDsync, syncModeDirectSectors:
		flags |= syscall.O_DIRECT | syscall.O_DSYNC
	case syncModeDirectFdatasync:
		flags |= syscall.O_DIRECT
	}
	var file *os.File
	var err error
	switch mode {
	case syncModeGrowing, syncModeFallocated:
		file, err = os.OpenFile(filepath.Join(dir, name), flags|os.O_CREATE|os.O_TRUNC, 0o600)
		if err == nil {
			err = freshSyncModeFile(file, mode, fileBytes)
		}
	default:
		file, _ = preallocatedFile(b, dir, name, fileBytes, false)
		file.Close()
		file, err = os.OpenFile(filepath.Join(dir, name), flags, 0)
	}
	if err != nil {
		b.Fatal(err)
	}
	// Room for the tail block plus the largest append, rounded up to whole blocks.
	tailBytes := (appendBytes + 2*syncModesDirectBlockBytes - 1) &^
		(syncModesDirectBlockBytes - 1)
	return syncModeFile{file: file, bytes: fileBytes, tail: alignedBuffer(tailBytes),
		iovecs: make([]syscall.Iovec, 0, 1)}
}

// freshSyncModeFile empties the growing file, or makes the fallocated one all unwritten
// space again (emptied, then fallocated), and syncs it, so that the appends after a wrap
// meet what the first ones met.
func freshSyncModeFile(file *os.File, mode int, fileBytes int64) error {
	err := file.Truncate(0)
	if err == nil && mode == syncModeFallocated {
		err = fallocate(file, fileBytes)
	}
	if err == nil {
		err = file.Sync()
	}
	return err
}

// alignedBuffer returns size zero bytes starting at a syncModesDirectBlockBytes boundary,
// as O_DIRECT requires.
func alignedBuffer(size int) []byte {
	raw := make([]byte, size+syncModesDirectBlockBytes)
	skip := (syncModesDirectBlockBytes -
		int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))))%syncModesDirectBlockBytes) %
		syncModesDirectBlockBytes
	return raw[skip : skip+size]
}

// wrap moves the next append of appendBytes to the file's start when it would pass the
// file's end, making the growing and fallocated files fresh again. Not timed.
func (f *syncModeFile) wrap(mode int, appendBytes int) error {
	if f.offset+int64(appendBytes) <= f.bytes {
		return nil
	}
	f.offset = 0
	clear(f.tail)
	if mode == syncModeGrowing || mode == syncModeFallocated {
		return freshSyncModeFile(f.file, mode, f.bytes)
	}
	return nil
}

// append makes data durable at the file's end in the way of mode (after wrap).
func (f *syncModeFile) append(mode int, data []byte) error {
	var err error
	switch mode {
	case syncModeBuffered, syncModeGrowing, syncModeFallocated:
		err = writeVector(f.file, [][]byte{data}, f.offset, f.iovecs)
		if err == nil {
			err = syncData(f.file)
		}
	case syncModePwritev2Dsync:
		err = writeDsync(f.file, data, f.offset)
	case syncModeDirectDsync, syncModeDirectFdatasync:
		err = f.writeDirect(data, syncModesDirectBlockBytes)
		if err == nil && mode == syncModeDirectFdatasync {
			err = syncData(f.file)
		}
	case syncModeDirectSectors:
		err = f.writeDirect(data, syncModesSectorBytes)
	}
	f.offset += int64(len(data))
	return err
}

// writeDsync is one pwritev2(RWF_DSYNC) of data at offset.
func writeDsync(file *os.File, data []byte, offset int64) error {
	iovec := syscall.Iovec{Base: unsafe.SliceData(data)}
	iovec.SetLen(len(data))
	for {
		_, _, errno := syscall.Syscall6(syncModesPwritev2, file.Fd(),
			uintptr(unsafe.Pointer(&iovec)), 1, uintptr(offset), 0, syncModesFlagDsync)
		runtime.KeepAlive(data)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return &os.PathError{Op: "pwritev2", Path: file.Name(), Err: errno}
		}
		return nil
	}
}

// writeDirect appends data after the partial tail block and writes the blocks of block
// bytes (a power of two dividing syncModesDirectBlockBytes) from the tail block's start
// to the end of data, whole, then keeps the new partial block. The tail buffer stays
// aligned to syncModesDirectBlockBytes, which every block size here divides.
func (f *syncModeFile) writeDirect(data []byte, block int) error {
	blockStart := f.offset &^ int64(block-1)
	inTail := int(f.offset - blockStart)
	end := inTail + len(data)
	copy(f.tail[inTail:], data)
	wholeBytes := (end + block - 1) &^ (block - 1)
	// A short write of whole blocks from an O_DIRECT file does not happen on a
	// preallocated file; the benchmark treats it as an error rather than resume.
	written, err := syscall.Pwrite(int(f.file.Fd()), f.tail[:wholeBytes], blockStart)
	if err == nil && written != wholeBytes {
		err = fmt.Errorf("short direct write: %d of %d bytes", written, wholeBytes)
	}
	// The new tail block moves to the front; everything after it is zero again.
	newTail := end &^ (block - 1)
	copy(f.tail, f.tail[newTail:end])
	clear(f.tail[end-newTail : wholeBytes])
	return err
}

// TestSyncModesWriteTheAppendedBytes checks the benchmark's writers: after appends that
// cross block boundaries (and for the direct modes rewrite the tail block each time), a
// buffered read of each file returns exactly the appended bytes, then zeros (the growing
// file ends with them). Rewriting a tail block must not change bytes appended before, and
// buffered reads must see direct writes. Then a wrap starts each file over: the growing
// file is empty again and the fallocated one all zeros.
func TestSyncModesWriteTheAppendedBytes(t *testing.T) {
	const appendBytes, appends = 288, 40 // 11520 bytes: three blocks, the last partial
	const fileBytes = 16 << 10
	dir := t.TempDir()
	for mode, name := range syncModeNames {
		file := openSyncModeFile(t, dir, mode, fileBytes, appendBytes)
		var want []byte
		for i := range appends {
			data := bytes.Repeat([]byte{byte(1 + i)}, appendBytes)
			if err := file.wrap(mode, len(data)); err != nil {
				t.Fatalf("%s: wrap before append %d: %v", name, i, err)
			}
			if err := file.append(mode, data); err != nil {
				t.Fatalf("%s: append %d: %v", name, i, err)
			}
			want = append(want, data...)
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		wantBytes := fileBytes
		if mode == syncModeGrowing {
			wantBytes = len(want)
		}
		if len(got) != wantBytes {
			t.Fatalf("%s: file is %d bytes, want %d", name, len(got), wantBytes)
		}
		if !bytes.Equal(got[:len(want)], want) {
			t.Errorf("%s: the appended bytes do not read back", name)
		}
		if tail := got[len(want):]; !bytes.Equal(tail, make([]byte, len(tail))) {
			t.Errorf("%s: bytes after the appends are not all zero", name)
		}
		// An append that does not fit wraps: the growing file starts empty again, the
		// fallocated one all unwritten (reading zeros), and the next append lands at 0.
		if err := file.wrap(mode, fileBytes); err != nil {
			t.Fatalf("%s: wrap: %v", name, err)
		}
		if file.offset != 0 {
			t.Errorf("%s: after a wrap the next append is at %d, want 0", name, file.offset)
		}
		got, err = os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		switch mode {
		case syncModeGrowing:
			if len(got) != 0 {
				t.Errorf("%s: %d bytes after a wrap, want 0", name, len(got))
			}
		case syncModeFallocated:
			if !bytes.Equal(got, make([]byte, fileBytes)) {
				t.Errorf("%s: after a wrap the file is not %d zeros", name, fileBytes)
			}
		}
		file.file.Close()
	}
}
