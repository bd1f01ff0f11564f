package prefetch

import (
	"syscall"
	"testing"
	"unsafe"
)

// TestLinesReadNoAddressPastTheList gives Lines, LinesIntoL2 and LinePairs lists of
// every length from 0 to 13 (the four-at-a-time loop, its tail of one to three, both,
// and neither) that end exactly where a page the process may not read begins: a loop
// that read one address past its list's end would fault there and crash the test. (Which lines are
// prefetched cannot be observed: a prefetch changes nothing a program can see.)
func TestLinesReadNoAddressPastTheList(t *testing.T) {
	memory, pageBytes := readableThenGuardPage(t)
	target := make([]uint64, 32)
	const addressBytes = int(unsafe.Sizeof(uintptr(0)))
	for length := range 14 {
		start := pageBytes - length*addressBytes
		addresses := unsafe.Slice((*uintptr)(unsafe.Pointer(&memory[start])), length)
		for i := range addresses {
			addresses[i] = uintptr(unsafe.Pointer(&target[2*i]))
		}
		Lines(addresses)
		LinesIntoL2(addresses)
		LinePairs(addresses)
	}
}

// readableThenGuardPage maps two pages, the second one the process may not read
// (PROT_NONE), for the test's life; it skips the test where they cannot be mapped.
func readableThenGuardPage(t *testing.T) (memory []byte, pageBytes int) {
	t.Helper()
	pageBytes = syscall.Getpagesize()
	memory, err := syscall.Mmap(-1, 0, 2*pageBytes, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(memory) })
	if err := syscall.Mprotect(memory[pageBytes:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	return memory, pageBytes
}
