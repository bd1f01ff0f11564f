package wal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"strconv"
	"unsafe"
)

// formatVersion is the version of the segment, entry and snapshot formats written by this
// code. A reader refuses any other version with ErrVersion.
const formatVersion = 1

// Entry header offsets. Disk format: never change them (bump formatVersion instead).
const (
	entryOffsetMagic         = 0  // u32 entryMagic
	entryOffsetVersion       = 4  // u16 formatVersion
	entryOffsetCodec         = 6  // u8 Codec of the stored body
	entryOffsetReserved      = 7  // u8, zero
	entryOffsetHeaderCRC     = 8  // u32 CRC32C of the header with this field zero
	entryOffsetCount         = 12 // u32 commands in the batch
	entryOffsetEpoch         = 16 // u64
	entryOffsetSegment       = 24 // u64 segment number (local: not chained)
	entryOffsetFirstOp       = 32 // u64
	entryOffsetTimestamp     = 40 // u64 ns since the Unix epoch
	entryOffsetStoredBytes   = 48 // u32 body bytes on disk
	entryOffsetRawBytes      = 52 // u32 body bytes after decompression
	entryOffsetBodyCRC       = 56 // u32 CRC32C of the stored body
	entryOffsetSyncedOffset  = 60 // u32 segment bytes synced before this write (local)
	entryOffsetPreviousChain = 64 // [32] chain of the previous entry
	entryOffsetChain         = 96 // [32] SHA-256 chain hash of this entry
	entryHeaderSize          = 128

	// entryChainedBytes is the prefix of the header covered by the chain hash (with the
	// local fields masked): everything but the chain itself.
	entryChainedBytes = entryOffsetChain
)

// Segment header offsets. Disk format: never change them.
const (
	segmentOffsetMagic     = 0  // [8] segmentMagic
	segmentOffsetVersion   = 8  // u32 formatVersion
	segmentOffsetHeaderCRC = 12 // u32 CRC32C of the header with this field zero
	segmentOffsetNumber    = 16 // u64 segment number, equal to the file name's
	segmentOffsetBytes     = 24 // u64 file size
	segmentOffsetCreated   = 32 // u64 ns since the Unix epoch, for operators only
	segmentOffsetReserved  = 40 // [88] zero (version 1)
	segmentHeaderSize      = 128

	// A segment header of version segmentVersionBase also records the log's base: the op
	// its first entry follows and that op's chain hash (Log.StartAfter, or TruncateAfter
	// emptying the log), in bytes that version 1 keeps zero.
	segmentOffsetBaseOp       = 40 // u64, not zero
	segmentOffsetBaseChain    = 48 // [32]
	segmentOffsetBaseReserved = 80 // [48] zero
)

// segmentVersionBase is the segment header version that records a base. Only the header
// of a segment written while the log held no entry after a base carries it; every other
// segment keeps version formatVersion, so that a log without a base reads as before,
// and a reader of version 1 alone refuses a log with one (ErrVersion) rather than take
// it for an empty log starting at op 1.
const segmentVersionBase = 2

const (
	entryMagic   uint32 = 0x45575153 // "SQWE" little-endian
	segmentMagic        = "SQWALSEG"
)

// entryHeader is the decoded entry header. Its layout mirrors the disk layout field for
// field, which the pair of constants below checks.
type entryHeader struct {
	Magic         uint32
	Version       uint16
	Codec         Codec
	Reserved      uint8
	HeaderCRC     uint32
	Count         uint32
	Epoch         uint64
	Segment       uint64
	FirstOp       uint64
	Timestamp     uint64
	StoredBytes   uint32
	RawBytes      uint32
	BodyCRC       uint32
	SyncedOffset  uint32
	PreviousChain [32]byte
	Chain         [32]byte
}

const (
	_ uintptr = unsafe.Sizeof(entryHeader{}) - entryHeaderSize
	_ uintptr = entryHeaderSize - unsafe.Sizeof(entryHeader{})
)

// LastOp is the last op of the entry.
func (h *entryHeader) LastOp() uint64 { return h.FirstOp + uint64(h.Count) - 1 }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is CRC32C (Castagnoli), computed with the SSE4.2 instruction on this machine
// (~28 GB/s).
func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// headerCRC is the CRC32C of a header with its 4-byte checksum field at crcOffset taken as
// zero.
func headerCRC(b []byte, crcOffset int) uint32 {
	crc := crc32.Update(0, castagnoli, b[:crcOffset])
	crc = crc32.Update(crc, castagnoli, zeroPage[:4]) // a local array would escape
	return crc32.Update(crc, castagnoli, b[crcOffset+4:])
}

// putHeaderCRC stores a header's checksum in its field at crcOffset.
func putHeaderCRC(header []byte, crcOffset int) {
	binary.LittleEndian.PutUint32(header[crcOffset:], headerCRC(header, crcOffset))
}

// headerCRCValid reports whether a header's checksum field matches its bytes.
func headerCRCValid(header []byte, crcOffset int) bool {
	return headerCRC(header, crcOffset) == binary.LittleEndian.Uint32(header[crcOffset:])
}

// encode writes the header into b[0:128], computing the header checksum.
func (h *entryHeader) encode(b []byte) {
	_ = b[entryHeaderSize-1]
	le := binary.LittleEndian
	le.PutUint32(b[entryOffsetMagic:], entryMagic)
	le.PutUint16(b[entryOffsetVersion:], formatVersion)
	b[entryOffsetCodec] = byte(h.Codec)
	b[entryOffsetReserved] = 0
	le.PutUint32(b[entryOffsetCount:], h.Count)
	le.PutUint64(b[entryOffsetEpoch:], h.Epoch)
	le.PutUint64(b[entryOffsetSegment:], h.Segment)
	le.PutUint64(b[entryOffsetFirstOp:], h.FirstOp)
	le.PutUint64(b[entryOffsetTimestamp:], h.Timestamp)
	le.PutUint32(b[entryOffsetStoredBytes:], h.StoredBytes)
	le.PutUint32(b[entryOffsetRawBytes:], h.RawBytes)
	le.PutUint32(b[entryOffsetBodyCRC:], h.BodyCRC)
	le.PutUint32(b[entryOffsetSyncedOffset:], h.SyncedOffset)
	copy(b[entryOffsetPreviousChain:], h.PreviousChain[:])
	copy(b[entryOffsetChain:], h.Chain[:])
	putHeaderCRC(b[:entryHeaderSize], entryOffsetHeaderCRC)
}

// headerProblem classifies why a header does not decode.
type headerProblem uint8

const (
	headerValid   headerProblem = iota
	headerZero                  // all 128 bytes zero: the end of the written part
	headerTorn                  // wrong magic or checksum: garbage or a partly written header
	headerVersion               // checksum valid, unknown version
	headerInvalid               // checksum valid but impossible content
)

// decodeEntryHeader decodes and validates b[0:128]. The checks that need context (segment
// number, offsets, body) are the caller's.
func decodeEntryHeader(b []byte, h *entryHeader) (headerProblem, string) {
	_ = b[entryHeaderSize-1]
	le := binary.LittleEndian
	h.Magic = le.Uint32(b[entryOffsetMagic:])
	if h.Magic != entryMagic {
		if isZero(b[:entryHeaderSize]) {
			return headerZero, "zero header"
		}
		return headerTorn, "bad entry magic"
	}
	h.HeaderCRC = le.Uint32(b[entryOffsetHeaderCRC:])
	if !headerCRCValid(b[:entryHeaderSize], entryOffsetHeaderCRC) {
		return headerTorn, "entry header checksum mismatch"
	}
	h.Version = le.Uint16(b[entryOffsetVersion:])
	if h.Version != formatVersion {
		return headerVersion, "entry format version " + strconv.FormatUint(uint64(h.Version), 10)
	}
	h.Codec = Codec(b[entryOffsetCodec])
	h.Reserved = b[entryOffsetReserved]
	h.Count = le.Uint32(b[entryOffsetCount:])
	h.Epoch = le.Uint64(b[entryOffsetEpoch:])
	h.Segment = le.Uint64(b[entryOffsetSegment:])
	h.FirstOp = le.Uint64(b[entryOffsetFirstOp:])
	h.Timestamp = le.Uint64(b[entryOffsetTimestamp:])
	h.StoredBytes = le.Uint32(b[entryOffsetStoredBytes:])
	h.RawBytes = le.Uint32(b[entryOffsetRawBytes:])
	h.BodyCRC = le.Uint32(b[entryOffsetBodyCRC:])
	h.SyncedOffset = le.Uint32(b[entryOffsetSyncedOffset:])
	copy(h.PreviousChain[:], b[entryOffsetPreviousChain:entryOffsetChain])
	copy(h.Chain[:], b[entryOffsetChain:entryHeaderSize])
	if reason := h.validateFields(); reason != "" {
		return headerInvalid, reason
	}
	return headerValid, ""
}

// validateFields checks what a valid header's fields must satisfy on their own.
func (h *entryHeader) validateFields() string {
	switch {
	case h.Reserved != 0:
		return "reserved header byte not zero"
	case !h.Codec.stored():
		return "unknown codec " + strconv.FormatUint(uint64(h.Codec), 10)
	case h.Count == 0:
		return "entry with zero commands"
	case h.FirstOp == 0:
		return "entry with op 0"
	case h.FirstOp+uint64(h.Count)-1 < h.FirstOp:
		return "op range overflows"
	case h.RawBytes > EntryBodyBytesMax:
		return "raw body larger than EntryBodyBytesMax"
	case h.StoredBytes > h.RawBytes:
		return "stored body larger than raw body"
	case h.Codec == CodecNone && h.StoredBytes != h.RawBytes:
		return "raw-stored body with different stored and raw lengths"
	case h.Codec != CodecNone && h.StoredBytes == 0:
		return "compressed body of zero bytes"
	}
	return ""
}

// chainHash is the entry's chain hash: SHA-256 over the header's chained prefix, with
// the local fields (header checksum, segment number, synced offset) zeroed, followed by
// the SHA-256 of the stored body. The prefix includes the previous entry's chain, so the
// hash commits to the whole history; the local fields are left out so that a standby,
// which numbers its segments itself, computes the same chain as the primary. Hashing the
// body's digest rather than the body lets encoders hash bodies in parallel while the
// writer links them in order, at no loss of strength.
func chainHash(header []byte, bodyDigest *[32]byte) [32]byte {
	var block [entryChainedBytes + sha256.Size]byte
	copy(block[:], header[:entryChainedBytes])
	clear(block[entryOffsetHeaderCRC : entryOffsetHeaderCRC+4])
	clear(block[entryOffsetSegment : entryOffsetSegment+8])
	clear(block[entryOffsetSyncedOffset : entryOffsetSyncedOffset+4])
	copy(block[entryChainedBytes:], bodyDigest[:])
	return sha256.Sum256(block[:])
}

// restamp rewrites the local fields of an encoded header and its checksum.
func restamp(header []byte, segment uint64, syncedOffset uint32) {
	le := binary.LittleEndian
	le.PutUint64(header[entryOffsetSegment:], segment)
	le.PutUint32(header[entryOffsetSyncedOffset:], syncedOffset)
	putHeaderCRC(header[:entryHeaderSize], entryOffsetHeaderCRC)
}

// segmentHeader is the decoded segment header.
type segmentHeader struct {
	Number    uint64
	Bytes     int64
	CreatedNs uint64
	// Base is the op the log starts after and its chain (LastOp 0: none). Recorded when
	// the log holds no entry, so that a log that starts after a snapshot and holds
	// nothing yet is told from one that lost its entries (segmentVersionBase).
	Base ChainPoint
}

func (s *segmentHeader) encode(b []byte) {
	_ = b[segmentHeaderSize-1]
	clear(b[:segmentHeaderSize])
	le := binary.LittleEndian
	copy(b[segmentOffsetMagic:], segmentMagic)
	le.PutUint32(b[segmentOffsetVersion:], formatVersion)
	le.PutUint64(b[segmentOffsetNumber:], s.Number)
	le.PutUint64(b[segmentOffsetBytes:], uint64(s.Bytes))
	le.PutUint64(b[segmentOffsetCreated:], s.CreatedNs)
	if s.Base.LastOp != 0 {
		le.PutUint32(b[segmentOffsetVersion:], segmentVersionBase)
		le.PutUint64(b[segmentOffsetBaseOp:], s.Base.LastOp)
		copy(b[segmentOffsetBaseChain:], s.Base.Chain[:])
	}
	putHeaderCRC(b[:segmentHeaderSize], segmentOffsetHeaderCRC)
}

// decodeSegmentHeader validates b[0:128]. On failure it returns the reason and ErrCorrupt
// or ErrVersion.
func decodeSegmentHeader(b []byte, s *segmentHeader) (string, error) {
	_ = b[segmentHeaderSize-1]
	le := binary.LittleEndian
	if string(b[segmentOffsetMagic:segmentOffsetMagic+8]) != segmentMagic {
		return "bad segment magic", ErrCorrupt
	}
	if !headerCRCValid(b[:segmentHeaderSize], segmentOffsetHeaderCRC) {
		return "segment header checksum mismatch", ErrCorrupt
	}
	*s = segmentHeader{}
	switch version := le.Uint32(b[segmentOffsetVersion:]); version {
	case formatVersion:
		if !isZero(b[segmentOffsetReserved:segmentHeaderSize]) {
			return "reserved segment header bytes not zero", ErrCorrupt
		}
	case segmentVersionBase:
		if !isZero(b[segmentOffsetBaseReserved:segmentHeaderSize]) {
			return "reserved segment header bytes not zero", ErrCorrupt
		}
		s.Base.LastOp = le.Uint64(b[segmentOffsetBaseOp:])
		copy(s.Base.Chain[:], b[segmentOffsetBaseChain:segmentOffsetBaseReserved])
		if s.Base.LastOp == 0 {
			return "segment header records a base at op 0", ErrCorrupt
		}
	default:
		return "segment format version " + strconv.FormatUint(uint64(version), 10), ErrVersion
	}
	s.Number = le.Uint64(b[segmentOffsetNumber:])
	s.Bytes = int64(le.Uint64(b[segmentOffsetBytes:]))
	s.CreatedNs = le.Uint64(b[segmentOffsetCreated:])
	if s.Bytes < segmentHeaderSize+entryHeaderSize || s.Bytes > SegmentBytesMax {
		return "segment size out of range", ErrCorrupt
	}
	return "", nil
}

var zeroPage [4096]byte

// isZero reports whether b holds only zero bytes, comparing page-sized pieces with
// bytes.Equal (vectorised) rather than looping over bytes.
func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func decimal(v uint64) string { return strconv.FormatUint(v, 10) }
