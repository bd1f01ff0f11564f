//go:build amd64

package wire

import "golang.org/x/sys/cpu"

// crc32cPair is the CRC-32C of first followed by second (checksum_amd64.s). It needs
// SSE4.2.
//
//go:noescape
func crc32cPair(first, second []byte) uint32

// hasCRC32Instruction is whether this processor has SSE4.2's CRC32 instruction.
var hasCRC32Instruction = cpu.X86.HasSSE42

// checksumOnePassBodyBytesMax is the longest body checksum runs through crc32cPair.
// crc32cPair is one chain of dependent CRC32 instructions (8 bytes per ~3 cycles);
// hash/crc32 runs three chains side by side from 3 x 168 bytes on, which is faster for
// long bodies (a full batch's 1 MiB) whatever its overhead. Below that length it runs
// one chain like crc32cPair, after the overhead of its general path.
const checksumOnePassBodyBytesMax = 3*168 - 1

// checksum is a frame's CRC-32C: the header before the checksum field, then the body.
// Through hash/crc32 it took two calls of its general path (~210 instructions for a
// 56-byte reply frame, callgrind, BenchmarkDeliverOneTransferReplies), which every
// frame in and out pays; a short frame's two pieces in one pass of the instruction take
// about a third of that.
func checksum(headerPrefix []byte, body []byte) uint32 {
	if hasCRC32Instruction && len(body) <= checksumOnePassBodyBytesMax {
		return crc32cPair(headerPrefix, body)
	}
	return checksumPortable(headerPrefix, body)
}
