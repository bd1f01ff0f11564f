package wire

import (
	"hash/crc32"
	"syscall"
	"testing"
)

// checksumGuardLengthMax is the longest piece the guard-page test checksums: past the
// one-pass bound (checksumOnePassBodyBytesMax) and past every header prefix.
const checksumGuardLengthMax = 600

// TestCRC32CPairReadsOnlyItsPieces: crc32cPair reads no byte before or after either piece.
// Both pieces sit against pages that any access faults on (mapped, then protected), the
// first ending at the guard above the buffer and the second starting at the guard below
// it, for every length of each from 0 to checksumGuardLengthMax: a read past a piece's end
// or before its start crashes the test binary instead of passing unseen, as it would on
// heap memory. The value is checked against hash/crc32 as well.
func TestCRC32CPairReadsOnlyItsPieces(t *testing.T) {
	if !hasCRC32Instruction {
		t.Skip("this processor has no SSE4.2: checksum never calls crc32cPair here")
	}
	pageBytes := syscall.Getpagesize()
	mapped, err := syscall.Mmap(-1, 0, 4*pageBytes, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Munmap(mapped) })
	// Pages 0 and 3 are guards; pages 1 and 2 hold the pieces.
	for _, guard := range [][]byte{mapped[:pageBytes], mapped[3*pageBytes:]} {
		if err := syscall.Mprotect(guard, syscall.PROT_NONE); err != nil {
			t.Fatal(err)
		}
	}
	usable := mapped[pageBytes : 3*pageBytes]
	for i := range usable {
		usable[i] = byte(i*131 + i>>8)
	}
	table := crc32.MakeTable(crc32.Castagnoli)
	for firstBytes := 0; firstBytes <= checksumGuardLengthMax; firstBytes++ {
		for secondBytes := 0; secondBytes <= checksumGuardLengthMax; secondBytes += 1 + secondBytes/64 {
			first := usable[len(usable)-firstBytes:] // Ends at the upper guard.
			second := usable[:secondBytes]           // Starts at the lower guard.
			want := crc32.Update(crc32.Checksum(first, table), table, second)
			if got := crc32cPair(first, second); got != want {
				t.Fatalf("first %d bytes, second %d: %08x, want %08x", firstBytes, secondBytes,
					got, want)
			}
			// The same pieces the other way round: the second piece ends at the guard.
			want = crc32.Update(crc32.Checksum(second, table), table, first)
			if got := crc32cPair(second, first); got != want {
				t.Fatalf("first %d bytes (at the lower guard), second %d: %08x, want %08x",
					secondBytes, firstBytes, got, want)
			}
		}
	}
	if got, want := crc32cPair(nil, nil), crc32.Checksum(nil, table); got != want {
		t.Fatalf("two nil pieces: %08x, want %08x", got, want)
	}
}
