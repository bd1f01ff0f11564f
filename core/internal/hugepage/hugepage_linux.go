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
