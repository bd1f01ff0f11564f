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

// Make returns a zeroed slice of n T advised for huge pages. When the slice spans at
// least two huge pages and T's size divides 2 MiB, its first element is placed on a
// 2 MiB boundary: Advise can only mark the aligned interior of a slice, and the Go heap
// aligns a large allocation to 8 KiB only, so an 8 MiB ledger chunk at a random offset
// kept one of its four huge pages (a quarter of its records) in 4 KiB pages, whose TLB
// misses every random access to them paid. The allocation is one huge page longer than
// asked; the unused head and tail are never touched, so the kernel backs them with
// nothing.
func Make[T any](n int) []T {
	var zero T
	size := unsafe.Sizeof(zero)
	if size == 0 || pageBytes%size != 0 || uintptr(n)*size < 2*pageBytes {
		s := make([]T, n)
		Advise(s)
		return s
	}
	padding := int(pageBytes / size)
	whole := make([]T, n+padding)
	start := uintptr(unsafe.Pointer(&whole[0]))
	gap := (start+pageBytes-1)&^(pageBytes-1) - start
	if gap%size != 0 { // Only if the heap aligned the block to less than T's size.
		s := whole[:n:n]
		Advise(s)
		return s
	}
	skip := int(gap / size)
	s := whole[skip : skip+n : skip+n]
	Advise(s)
	return s
}
