package prefetch

import (
	"testing"
	"unsafe"
)

// TestTwoLinesAnyAddressReview53 (review of match53, claim 1): TwoLines and Line never
// fault, whatever the address: nil, a page the process may not read (PROT_NONE), an
// address past the mapping, the top of the address space (the kernel's half on amd64
// and arm64) and, on 64-bit machines, a non-canonical address. A prefetch that faulted
// would crash the test.
func TestTwoLinesAnyAddressReview53(t *testing.T) {
	memory, pageBytes := readableThenGuardPage(t)
	protected := uintptr(unsafe.Pointer(&memory[pageBytes]))
	top := ^uintptr(0) &^ (LineBytes - 1)
	highBit := uintptr(1) << (8*unsafe.Sizeof(uintptr(0)) - 1) // Non-canonical on amd64.
	addresses := []uintptr{0, 1, protected, protected + uintptr(pageBytes), top, highBit,
		highBit - LineBytes}
	for _, first := range addresses {
		Line(first)
		for _, second := range addresses {
			TwoLines(first, second)
		}
	}
}
