package hugepage

import (
	"runtime"
	"testing"
	"unsafe"
)

// hugePageBytes is the huge page size the alignment is checked against.
const hugePageBytes = 2 << 20

// TestMakeAlignsLargeSlices checks what Make promises: n zeroed elements, no spare
// capacity, and (on Linux) a 2 MiB-aligned start for a slice of two huge pages or more.
func TestMakeAlignsLargeSlices(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 2 * hugePageBytes / 8, 3*hugePageBytes/8 + 5} {
		s := Make[uint64](n)
		if len(s) != n || cap(s) != n {
			t.Fatalf("n=%d: len %d cap %d", n, len(s), cap(s))
		}
		for i := range s {
			if s[i] != 0 {
				t.Fatalf("n=%d: element %d is %d", n, i, s[i])
			}
		}
		if n*8 >= 2*hugePageBytes && runtime.GOOS == "linux" {
			if start := uintptr(unsafe.Pointer(&s[0])); start%hugePageBytes != 0 {
				t.Fatalf("n=%d: start %#x is not 2 MiB-aligned", n, start)
			}
		}
	}
}

// TestMakeKeepsOddSizesUnaligned checks the fallback for an element size that does not
// divide 2 MiB: a plain allocation of the right length.
func TestMakeKeepsOddSizesUnaligned(t *testing.T) {
	type odd [3]uint64
	s := Make[odd](2 * hugePageBytes / 24)
	if len(s) != 2*hugePageBytes/24 || cap(s) != len(s) {
		t.Fatalf("len %d cap %d", len(s), cap(s))
	}
}
