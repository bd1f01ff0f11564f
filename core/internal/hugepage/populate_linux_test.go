//go:build linux

package hugepage

import (
	"errors"
	"syscall"
	"testing"
	"unsafe"
)

// TestPopulateFaultsInWithoutWriting maps fresh anonymous memory (no page resident, as
// mincore shows), writes a marker into its first page, populates the rest but one page
// and checks with mincore that exactly those pages became resident, that every byte
// kept its value (the marker, zeros elsewhere), and that the page left out is still not
// resident. Skipped where the kernel has no MADV_POPULATE_WRITE.
func TestPopulateFaultsInWithoutWriting(t *testing.T) {
	const pageCount = 64
	page := int(smallPageBytes)
	memory, err := syscall.Mmap(-1, 0, pageCount*page,
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(memory)
	if resident := residentPages(t, memory); resident != 0 {
		t.Fatalf("%d pages resident in a fresh mapping", resident)
	}
	memory[0] = 0x5a
	// From the middle of the first page to the middle of the next to last: widened to
	// whole pages, that is every page but the last.
	start, end := page/2, (pageCount-1)*page-page/2
	err = Populate(unsafe.Pointer(&memory[start]), uintptr(end-start))
	if errors.Is(err, ErrPopulateUnsupported) {
		t.Skip("kernel without MADV_POPULATE_WRITE")
	}
	if err != nil {
		t.Fatal(err)
	}
	if resident := residentPages(t, memory); resident != pageCount-1 {
		t.Fatalf("%d pages resident after populating %d", resident, pageCount-1)
	}
	if residentPages(t, memory[(pageCount-1)*page:]) != 0 {
		t.Fatal("the page outside the range was faulted in")
	}
	if memory[0] != 0x5a {
		t.Fatal("populating changed a byte written before")
	}
	for i, b := range memory[1:] {
		if b != 0 {
			t.Fatalf("byte %d is %#x after populating", i+1, b)
		}
	}
}

// residentPages counts the pages of memory (page-aligned) that mincore reports resident.
func residentPages(t *testing.T, memory []byte) int {
	t.Helper()
	vector := make([]byte, (len(memory)+int(smallPageBytes)-1)/int(smallPageBytes))
	_, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&memory[0])),
		uintptr(len(memory)), uintptr(unsafe.Pointer(&vector[0])))
	if errno != 0 {
		t.Fatal(errno)
	}
	resident := 0
	for _, v := range vector {
		resident += int(v & 1)
	}
	return resident
}
