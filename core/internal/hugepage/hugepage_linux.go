//go:build linux

package hugepage

import (
	"os"
	"syscall"
	"unsafe"
)

// pageBytes is the huge page size the kernel uses for anonymous memory on x86-64 and
// most arm64 configurations.
const pageBytes = 2 << 20

// Advise marks the 2 MiB-aligned interior of s as a huge-page candidate. Call it right
// after allocating and before touching the memory. Errors (a kernel without THP) are
// ignored: the advice is an optimisation. SEQUENT_NO_HUGEPAGE=1 in the environment turns
// it off, for operators who see compaction stalls from transparent huge pages.
func Advise[T any](s []T) {
	if len(s) == 0 || os.Getenv("SEQUENT_NO_HUGEPAGE") != "" {
		return
	}
	var zero T
	size := uintptr(len(s)) * unsafe.Sizeof(zero)
	if size < 2*pageBytes {
		return
	}
	start := uintptr(unsafe.Pointer(&s[0]))
	alignedStart := (start + pageBytes - 1) &^ (pageBytes - 1)
	alignedEnd := (start + size) &^ (pageBytes - 1)
	if alignedEnd <= alignedStart {
		return
	}
	whole := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), size)
	_ = syscall.Madvise(whole[alignedStart-start:alignedEnd-start], syscall.MADV_HUGEPAGE)
}

// AdviseCovering marks every 2 MiB page that s touches as a huge-page candidate,
// including the two at its ends that it shares with neighbouring heap memory. Advise
// marks only the aligned interior, and the Go heap aligns a large allocation to 8 KiB, so
// an 8 MiB ledger chunk kept on average one of its four huge pages in 4 KiB pages (a
// quarter of its records, each random access to them a TLB miss), and smaller chunks
// none. Storage read at random (ledger chunks, id tables) uses this instead. Advising a
// neighbour's memory changes nothing but how the kernel backs it; at most one huge page
// per end may become resident sooner than it would have.
func AdviseCovering[T any](s []T) {
	var zero T
	size := uintptr(len(s)) * unsafe.Sizeof(zero)
	if size < pageBytes || os.Getenv("SEQUENT_NO_HUGEPAGE") != "" {
		return
	}
	first := uintptr(unsafe.Pointer(&s[0]))
	coveredStart := first &^ (pageBytes - 1)
	coveredEnd := (first + size + pageBytes - 1) &^ (pageBytes - 1)
	// The covered range reaches past s, so it is passed as addresses: madvise reads and
	// writes no memory, it only changes the kernel's policy for the range.
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, coveredStart, coveredEnd-coveredStart,
		syscall.MADV_HUGEPAGE)
}

// madvisePopulateWrite is MADV_POPULATE_WRITE from Linux's uapi <asm-generic/mman-common.h>
// (Linux 5.14 and later); Go's syscall package does not name it.
const madvisePopulateWrite = 23

// smallPageBytes is the kernel's base page size, which madvise needs its range aligned
// to: 4 KiB on x86-64, 16 or 64 KiB on some arm64 and ppc64le kernels (a range aligned
// to 4 KiB only would be refused there with EINVAL, read as "unsupported").
var smallPageBytes = uintptr(os.Getpagesize())

// Populate faults in the pages under [start, start+size) for writing, as a first store to
// each would, without storing anything: the bytes keep their values, so another goroutine
// may do this to memory the owner will write later without a data race (no Go code reads
// or writes it here). The range is widened to whole base pages (smallPageBytes); the pages it then shares
// with neighbouring heap memory are only made resident, never changed. The range must lie
// inside one live allocation, which the caller keeps reachable until Populate returns.
//
// It returns ErrPopulateUnsupported where the kernel refuses the request (EINVAL: older
// than 5.14, or built without it), so that callers stop asking; any other error is
// returned as it is (the memory is then faulted in on first touch, as without Populate).
func Populate(start unsafe.Pointer, size uintptr) error {
	if size == 0 {
		return nil
	}
	first := uintptr(start) &^ (smallPageBytes - 1)
	end := (uintptr(start) + size + smallPageBytes - 1) &^ (smallPageBytes - 1)
	// Passed as addresses, not a slice: madvise reads and writes none of the memory.
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, first, end-first, madvisePopulateWrite)
	switch errno {
	case 0:
		return nil
	case syscall.EINVAL, syscall.ENOSYS:
		return ErrPopulateUnsupported
	default:
		return errno
	}
}
