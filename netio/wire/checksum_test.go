package wire

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestChecksumIsCRC32COfBothPieces: checksum (the CRC32 instruction where the processor
// has it) equals hash/crc32's Castagnoli checksum of the header prefix followed by the
// body, for every body length from 0 to 600 bytes (both sides of the one-pass bound) and
// prefixes of 0 to 60 bytes (every split of the 32/8/4/1-byte steps), random contents, and
// unaligned starts.
func TestChecksumIsCRC32COfBothPieces(t *testing.T) {
	random := rand.New(rand.NewPCG(43, 15))
	buffer := make([]byte, 700)
	for prefix := 0; prefix <= 60; prefix++ {
		for length := 0; length <= 600; length++ {
			for i := range buffer {
				buffer[i] = byte(random.Uint32())
			}
			skew := random.IntN(8)
			first := buffer[skew : skew+prefix]
			second := buffer[skew+prefix+3 : skew+prefix+3+length]
			joined := append(append([]byte(nil), first...), second...)
			want := crc32.Checksum(joined, crc32.MakeTable(crc32.Castagnoli))
			if got := checksum(first, second); got != want {
				t.Fatalf("prefix %d, body %d: checksum %08x, want %08x", prefix, length, got, want)
			}
			if got := checksumPortable(first, second); got != want {
				t.Fatalf("prefix %d, body %d: portable %08x, want %08x", prefix, length, got,
					want)
			}
		}
	}
}

// TestChecksumOfAKnownFrame pins one frame's checksum field to a value computed apart
// from this package's code (hash/crc32 over the same bytes), so that PutFrame and
// CheckChecksum agree with an independent client, not only with each other.
func TestChecksumOfAKnownFrame(t *testing.T) {
	body := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	frame := AppendFrame(nil, &Frame{Kind: KindReply, Operation: 3, Status: 0, Session: 0x1122334455667788,
		Number: 9, Aux: 10}, body)
	covered := append(append([]byte(nil), frame[:offsetChecksum]...), frame[HeaderSize:]...)
	want := crc32.Checksum(covered, crc32.MakeTable(crc32.Castagnoli))
	if got := uint32(frame[offsetChecksum]) | uint32(frame[offsetChecksum+1])<<8 |
		uint32(frame[offsetChecksum+2])<<16 | uint32(frame[offsetChecksum+3])<<24; got != want {
		t.Fatalf("checksum field %08x, want %08x", got, want)
	}
	if err := CheckChecksum(frame); err != nil {
		t.Fatal(err)
	}
	frame[HeaderSize+7] ^= 0x40
	if err := CheckChecksum(frame); err != ErrBadChecksum {
		t.Fatalf("a flipped body bit: %v, want ErrBadChecksum", err)
	}
}
