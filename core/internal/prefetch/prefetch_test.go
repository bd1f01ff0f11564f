package prefetch

import (
	"testing"
	"unsafe"
)

// TestPrefetchChangesNothing prefetches lines (and pairs of lines, and records' first
// lines, and lines and records' first lines into L2, and consecutive lines) of live
// memory, an empty list and a nil one: the calls must return, leave the memory as it
// was and allocate nothing.
func TestPrefetchChangesNothing(t *testing.T) {
	// On the heap (heapWords), not the test's stack: the addresses are uintptrs, which
	// the runtime does not update when it moves a growing stack (AllocsPerRun's calls
	// can grow it), so a prefetch that wrote through them would write the old stack and
	// the check below would not see it.
	memory := heapWords(64)
	for i := range memory {
		memory[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	addresses := make([]uintptr, 0, len(memory)/8)
	for i := 0; i < len(memory); i += 8 { // One address per 64-byte line.
		addresses = append(addresses, uintptr(unsafe.Pointer(&memory[i])))
	}
	records := []*[16]uint64{(*[16]uint64)(memory[0:16]), nil, (*[16]uint64)(memory[32:48])}
	allocs := testing.AllocsPerRun(100, func() {
		Lines(addresses)
		Lines(addresses[:0])
		Lines(nil)
		Line(addresses[len(addresses)-1])
		TwoLines(addresses[0], addresses[len(addresses)-1])
		LinePairs(addresses[:len(addresses)-1]) // Each address and the line after it.
		LinePairs(nil)
		RecordPairs(records) // Two lines each, and a nil pointer.
		RecordPairs[[16]uint64](nil)
		RecordLines(records) // The first line of each, and a nil pointer.
		RecordLines[[16]uint64](nil)
		LinesIntoL2(addresses)
		LinesIntoL2(nil)
		RecordLinesIntoL2(records) // The first line of each into L2, and a nil pointer.
		RecordLinesIntoL2[[16]uint64](nil)
		Consecutive(addresses[0], len(addresses)) // The whole of memory, line by line.
		Consecutive(addresses[0], 5)              // Four at once, then one.
		Consecutive(addresses[0], 0)
		Consecutive(addresses[0], -1)
	})
	if allocs != 0 {
		t.Fatalf("prefetching allocated %v times per run", allocs)
	}
	for i := range memory {
		if memory[i] != uint64(i)*0x9e3779b97f4a7c15 {
			t.Fatalf("word %d changed to %#x", i, memory[i])
		}
	}
}

// heapWords returns n zero words on the heap: a slice returned from a function that is
// not inlined escapes, so its backing array never moves.
//
//go:noinline
func heapWords(n int) []uint64 { return make([]uint64, n) }
