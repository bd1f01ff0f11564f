package replication

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Frame header (wire format: never change), little-endian:
//
//	 0 magic u32 "SQRP"   4 version u16   6 type u8   7 flags u8 (zero)
//	 8 epoch u64 (the sender's)          16 body length u32
//	20 CRC32C u32 over the header (this field zero) and the body
//	24 reserved u64 (zero)               32 body ...
//
// Version 2 (issue 13) opens each standby link with the shard it replicates and the shard
// map's checksum (hello); version 1 peers are refused (ErrFrame: version).
const (
	frameMagic      = 0x50525153 // "SQRP"
	frameVersion    = 2
	frameHeaderSize = 32

	frameOffsetMagic    = 0
	frameOffsetVersion  = 4
	frameOffsetType     = 6
	frameOffsetFlags    = 7
	frameOffsetEpoch    = 8
	frameOffsetLength   = 16
	frameOffsetCRC      = 20
	frameOffsetReserved = 24
)

// frameType names a replication frame.
type frameType uint8

const (
	frameChallenge     frameType = 1  // primary → peer: nonce[32] | reserved u64 (zero; a witness's: feature flags, then its id: witness.go)
	frameHello         frameType = 2  // standby → primary: mac[32] | shard | map | last op | points
	frameWelcome       frameType = 3  // primary → standby: plan | op | chain | address
	frameSnapshotChunk frameType = 4  // primary → standby: offset u64 | last u8 | bytes
	frameEntry         frameType = 5  // primary → standby: one stored log entry
	frameAck           frameType = 6  // standby → primary: durable op u64
	frameHeartbeat     frameType = 7  // both: last op u64 | durable op u64
	frameDigest        frameType = 8  // primary → standby: op u64 | digest[32]
	frameFence         frameType = 9  // new primary → old: mac[32] | address
	frameError         frameType = 10 // either: text; the connection closes after it
	// frameRefused (13; 11, 12 and 14 to 17 are the witness's) is the primary's answer to a hello it
	// refuses for a reason no retry can cure: code u8 | text. The connection closes
	// after it.
	frameRefused frameType = 13
)

// Refusal codes of frameRefused.
const (
	refusedUnauthenticated = 1 // The hello's HMAC does not verify: the keys differ.
	refusedShardMap        = 2 // The hello's shard count or map checksum differs.
)

// encodeRefusal is a frameRefused body.
func encodeRefusal(code byte, text string) []byte { return append([]byte{code}, text...) }

// decodeRefusal turns a frameRefused body into the error it stands for.
func decodeRefusal(body []byte) error {
	if len(body) > 0 && body[0] == refusedUnauthenticated {
		return fmt.Errorf("%w: the primary refused this node's replication key (%s)",
			ErrUnauthenticated, body[1:])
	}
	if len(body) > 0 && body[0] == refusedShardMap {
		return fmt.Errorf("%w: %s", ErrShardMapMismatch, body[1:])
	}
	return fmt.Errorf("%w: refusal %x", ErrFrame, body)
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// sealRecord writes at crcOffset the CRC32C of a fixed-size state record (the witness's
// state file, the ratchet's marker) computed with that field zero.
func sealRecord(record []byte, crcOffset int) {
	binary.LittleEndian.PutUint32(record[crcOffset:], 0)
	binary.LittleEndian.PutUint32(record[crcOffset:], crc32.Checksum(record, crcTable))
}

// checkRecordCRC verifies a record sealed by sealRecord.
func checkRecordCRC(record []byte, crcOffset int) error {
	stored := binary.LittleEndian.Uint32(record[crcOffset:])
	zeroed := bytes.Clone(record)
	binary.LittleEndian.PutUint32(zeroed[crcOffset:], 0)
	if computed := crc32.Checksum(zeroed, crcTable); computed != stored {
		return fmt.Errorf("checksum %08x, the record's is %08x", computed, stored)
	}
	return nil
}

// frame is one decoded frame; body aliases the reader's buffer until the next read.
type frame struct {
	kind  frameType
	epoch uint64
	body  []byte
}

// Errors of the link.
var (
	// ErrFrame reports a frame that failed its checks (magic, version, length, CRC).
	ErrFrame = errors.New("replication: bad frame")
	// ErrUnauthenticated reports a peer whose HMAC does not verify.
	ErrUnauthenticated = errors.New("replication: peer failed authentication")
	// ErrDiverged reports a log that cannot continue the primary's.
	ErrDiverged = errors.New("replication: logs diverged")
	// ErrDigestMismatch reports a standby whose state digest differs from the primary's at
	// the same op: the replicas have diverged, which must never happen silently.
	ErrDigestMismatch = errors.New("replication: state digest differs from the primary's")
	// ErrShardMapMismatch reports a standby whose shard map (shard count and placement,
	// compared by checksum) differs from its primary's: it could not hold the same shards.
	// Fatal: fix the configuration (--shards and the placement flags) or the data
	// directory; no retry cures it.
	ErrShardMapMismatch = errors.New("replication: the standby's shard map differs from the primary's")
	// ErrNodeClosed refuses a promotion asked for (or still under way) when the node is
	// closing: a closed node must not persist a new epoch or start holding a lease.
	ErrNodeClosed = errors.New("replication: the node is closed")
	// ErrPromotionUnderway refuses a promotion asked for while another promotion of the
	// node (the witness watcher's, an operator's) waits for the followers to stop: that
	// one carries on, and the node's status shows its outcome.
	ErrPromotionUnderway = errors.New("replication: a promotion of this node is already under way")
)

// writeFrame writes one frame to w (the caller flushes).
func writeFrame(w *bufio.Writer, kind frameType, epoch uint64, body []byte) error {
	if len(body) > frameBodyBytesMax {
		return fmt.Errorf("replication: frame body of %d bytes", len(body))
	}
	var header [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(header[frameOffsetMagic:], frameMagic)
	binary.LittleEndian.PutUint16(header[frameOffsetVersion:], frameVersion)
	header[frameOffsetType] = byte(kind)
	binary.LittleEndian.PutUint64(header[frameOffsetEpoch:], epoch)
	binary.LittleEndian.PutUint32(header[frameOffsetLength:], uint32(len(body)))
	crc := crc32.Update(crc32.Checksum(header[:], crcTable), crcTable, body)
	binary.LittleEndian.PutUint32(header[frameOffsetCRC:], crc)
	if _, err := w.Write(header[:]); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// frameReader reads frames into one reused buffer.
type frameReader struct {
	r      *bufio.Reader
	buffer []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 1<<16)}
}

// read reads and checks one frame.
func (f *frameReader) read() (frame, error) { return f.readAtMost(frameBodyBytesMax) }

// errFrameTooLarge is readAtMost's refusal of a frame whose body is over the bound it was
// given (wrapping ErrFrame); the body is left unread.
var errFrameTooLarge = fmt.Errorf("%w: body over the bound", ErrFrame)

// readAtMost reads and checks one frame whose body is at most bodyBytesMax bytes: the
// first frame of a peer not yet authenticated is read with unauthenticatedFrameBytesMax.
func (f *frameReader) readAtMost(bodyBytesMax uint32) (frame, error) {
	var header [frameHeaderSize]byte
	if _, err := io.ReadFull(f.r, header[:]); err != nil {
		return frame{}, err
	}
	length := binary.LittleEndian.Uint32(header[frameOffsetLength:])
	switch {
	case binary.LittleEndian.Uint32(header[frameOffsetMagic:]) != frameMagic:
		return frame{}, fmt.Errorf("%w: magic", ErrFrame)
	case binary.LittleEndian.Uint16(header[frameOffsetVersion:]) != frameVersion:
		return frame{}, fmt.Errorf("%w: version %d", ErrFrame,
			binary.LittleEndian.Uint16(header[frameOffsetVersion:]))
	case header[frameOffsetFlags] != 0 || binary.LittleEndian.Uint64(header[frameOffsetReserved:]) != 0:
		return frame{}, fmt.Errorf("%w: reserved bits", ErrFrame)
	case length > bodyBytesMax:
		return frame{}, fmt.Errorf("%w: %d bytes, at most %d", errFrameTooLarge, length,
			bodyBytesMax)
	}
	if cap(f.buffer) < int(length) {
		f.buffer = make([]byte, length, max(int(length), 64<<10))
	}
	body := f.buffer[:length]
	if _, err := io.ReadFull(f.r, body); err != nil {
		return frame{}, err
	}
	want := binary.LittleEndian.Uint32(header[frameOffsetCRC:])
	binary.LittleEndian.PutUint32(header[frameOffsetCRC:], 0)
	if crc32.Update(crc32.Checksum(header[:], crcTable), crcTable, body) != want {
		return frame{}, fmt.Errorf("%w: CRC", ErrFrame)
	}
	return frame{kind: frameType(header[frameOffsetType]), epoch: binary.LittleEndian.Uint64(
		header[frameOffsetEpoch:]), body: body}, nil
}

// mac authenticates a handshake message: HMAC-SHA256 over a domain label, the frame type,
// the primary's single-use nonce, the sender's epoch and the payload.
func mac(key []byte, kind frameType, nonce []byte, epoch uint64, payload []byte) []byte {
	return labelledMAC(key, "sequent-replication-v1", kind, nonce, nil, epoch, payload)
}

// labelledMAC is HMAC-SHA256 with key over label, the frame type, the nonces (the second
// may be nil), the epoch (8 bytes, little-endian) and the payload: the one layout of every
// MAC of the replication link and the witness, which differ by label (so that one kind of
// MAC can never pass for another) and by the nonces they bind.
func labelledMAC(key []byte, label string, kind frameType, nonce, secondNonce []byte,
	epoch uint64, payload []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	h.Write([]byte{byte(kind)})
	h.Write(nonce)
	h.Write(secondNonce)
	var epochBytes [8]byte
	binary.LittleEndian.PutUint64(epochBytes[:], epoch)
	h.Write(epochBytes[:])
	h.Write(payload)
	return h.Sum(nil)
}

// verifyMAC checks a MAC in constant time.
func verifyMAC(key []byte, kind frameType, nonce []byte, epoch uint64, payload, got []byte) bool {
	return hmac.Equal(mac(key, kind, nonce, epoch, payload), got)
}
