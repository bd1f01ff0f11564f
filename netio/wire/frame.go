package wire

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"unsafe"

	"sequent/core/model"
)

// Frame header layout (wire format: never change). All integers are little-endian.
//
//	+--------+---------+------+-----------+-------+-------------+--------+
//	| 0 magic u32 "SQNT" | 4 version u8 | 5 kind u8 | 6 operation u8 | 7 flags u8 |
//	| 8 body_length u32  | 12 status u32                                       |
//	| 16 session u64                                                          |
//	| 24 number u64                                                           |
//	| 32 aux u64                                                              |
//	| 40 reserved u32 (zero) | 44 checksum u32                                |
//	+--------------------------------------------------------------------------+
//	| body: body_length bytes                                                 |
//
// The checksum is CRC32C (Castagnoli) over header bytes 0..43 followed by the body; the
// checksum field itself is not covered.
const (
	HeaderSize = 48 // Bytes in a frame header.

	offsetMagic      = 0
	offsetVersion    = 4
	offsetKind       = 5
	offsetOperation  = 6
	offsetFlags      = 7
	offsetBodyLength = 8
	offsetStatus     = 12
	offsetSession    = 16
	offsetNumber     = 24
	offsetAux        = 32
	offsetReserved   = 40
	offsetChecksum   = 44

	// Magic is the first four bytes of every frame: "SQNT" read as a little-endian u32.
	Magic uint32 = 0x544E5153
	// Version is the protocol version this package speaks.
	Version uint8 = 1
)

// header mirrors the wire layout so that its size can be checked at compile time.
type header struct {
	magic      uint32
	version    uint8
	kind       uint8
	operation  uint8
	flags      uint8
	bodyLength uint32
	status     uint32
	session    uint64
	number     uint64
	aux        uint64
	reserved   uint32
	checksum   uint32
}

// Each pair fails to compile if the struct and HeaderSize disagree.
const (
	_ uintptr = unsafe.Sizeof(header{}) - HeaderSize
	_ uintptr = HeaderSize - unsafe.Sizeof(header{})
	_ uint    = offsetChecksum + 4 - HeaderSize
	_ uint    = HeaderSize - (offsetChecksum + 4)
)

// Limits on bodies, by frame kind. Each is a wire-visible bound.
const (
	// BodyBytesMax is the largest body of any frame: a reply of 8189 transfer results
	// with balances. A header announcing more is rejected before any body byte is read.
	BodyBytesMax = model.ReplyBodyBytesMax
	// ReportBodyBytesMax bounds one execution report record (the matching engine's reports
	// are a few hundred bytes; 4 KiB leaves room without letting a report become a bulk
	// channel).
	ReportBodyBytesMax = 4096
	// ErrorTextBytesMax bounds the UTF-8 message of an error frame.
	ErrorTextBytesMax = 256
	// AddressBytesMax bounds the primary address carried by a not_primary reply.
	AddressBytesMax = 256
)

// Frame is a decoded frame header plus its body. Body aliases the decoder's buffer.
type Frame struct {
	Kind       Kind            // What the frame is.
	Operation  model.Operation // Request and reply frames: the operation.
	Flags      uint8           // Kind-specific flags (RequestFlag*, ReplyFlag*).
	Status     uint32          // Reply: model.Status. Error: ErrorCode. Else zero.
	Session    uint64          // The session the frame belongs to (zero before login).
	Number     uint64          // Request and reply: the request number; error: the cause.
	Aux        uint64          // Reply: log op of a write. Report: sequence. Subscribed: next_sequence (Subscribed). Error: ms to wait before reconnecting (too_many_attempts). Else zero.
	BodyLength uint32          // Bytes of body that follow the header.
	Body       []byte          // The body (may alias a read buffer: copy what you keep).
}

// Reply flags.
const (
	// ReplyFlagDuplicate marks a reply answered from the session's cache: the request
	// was a retry of one already applied.
	ReplyFlagDuplicate uint8 = 1 << 0
)

// Decoding errors. Each names the ErrorCode the server answers with (see Code).
var (
	ErrBadMagic         = errors.New("netio/wire: bad magic")
	ErrBadVersion       = errors.New("netio/wire: unsupported protocol version")
	ErrBadChecksum      = errors.New("netio/wire: checksum mismatch")
	ErrBodyTooLarge     = errors.New("netio/wire: body longer than the frame kind allows")
	ErrBadBodyLength    = errors.New("netio/wire: body length wrong for the frame kind")
	ErrUnknownKind      = errors.New("netio/wire: unknown frame kind")
	ErrReservedNotZero  = errors.New("netio/wire: reserved field not zero")
	ErrTruncated        = errors.New("netio/wire: stream ended inside a frame")
	ErrShortHeaderBytes = errors.New("netio/wire: fewer than HeaderSize bytes")
)

// CodeOf maps a decoding error to the ErrorCode the server sends for it.
func CodeOf(err error) ErrorCode {
	switch {
	case errors.Is(err, ErrBadMagic):
		return ErrorBadMagic
	case errors.Is(err, ErrBadVersion):
		return ErrorBadVersion
	case errors.Is(err, ErrBadChecksum):
		return ErrorBadChecksum
	case errors.Is(err, ErrBodyTooLarge):
		return ErrorFrameTooLarge
	case errors.Is(err, ErrBadBodyLength):
		return ErrorBadBodyLength
	case errors.Is(err, ErrUnknownKind):
		return ErrorUnknownKind
	case errors.Is(err, ErrReservedNotZero):
		return ErrorReservedNotZero
	case errors.Is(err, ErrTruncated):
		return ErrorTruncatedFrame
	}
	return ErrorInternal
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DecodeHeader parses and checks the header in b[0:HeaderSize]: magic, version, kind,
// the reserved field and the body length against the kind's bounds. It does not check
// the checksum, which covers the body too (see CheckChecksum). Body is left nil.
func DecodeHeader(b []byte) (Frame, error) {
	var f Frame
	if err := DecodeHeaderInto(b, &f); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// DecodeHeaderInto is DecodeHeader writing the header's fields into *f (its Body is not
// touched), for the server's read of every frame: returning the frame by value, then
// copying it into the caller's, cost ~30 of the ~70 instructions of a header's decode
// (callgrind, BenchmarkServerInbound). On an error *f holds whatever was decoded before
// the check that failed.
func DecodeHeaderInto(b []byte, f *Frame) error {
	if len(b) < HeaderSize {
		return ErrShortHeaderBytes
	}
	_ = b[HeaderSize-1]
	if binary.LittleEndian.Uint32(b[offsetMagic:]) != Magic {
		return ErrBadMagic
	}
	if b[offsetVersion] != Version {
		return ErrBadVersion
	}
	f.Kind = Kind(b[offsetKind])
	f.Operation = model.Operation(b[offsetOperation])
	f.Flags = b[offsetFlags]
	f.BodyLength = binary.LittleEndian.Uint32(b[offsetBodyLength:])
	f.Status = binary.LittleEndian.Uint32(b[offsetStatus:])
	f.Session = binary.LittleEndian.Uint64(b[offsetSession:])
	f.Number = binary.LittleEndian.Uint64(b[offsetNumber:])
	f.Aux = binary.LittleEndian.Uint64(b[offsetAux:])
	shape := f.Kind.shape()
	if shape == nil {
		return ErrUnknownKind
	}
	if binary.LittleEndian.Uint32(b[offsetReserved:]) != 0 {
		return ErrReservedNotZero
	}
	if f.BodyLength > shape.bodyBytesMax {
		if shape.bodyBytesFixed {
			return ErrBadBodyLength
		}
		return ErrBodyTooLarge
	}
	if shape.bodyBytesFixed && f.BodyLength != shape.bodyBytesMax {
		return ErrBadBodyLength
	}
	return nil
}

// CheckChecksum verifies the checksum of a whole frame: frame holds the header followed by
// exactly its body.
func CheckChecksum(frame []byte) error {
	if len(frame) < HeaderSize {
		return ErrShortHeaderBytes
	}
	stored := binary.LittleEndian.Uint32(frame[offsetChecksum:])
	if checksum(frame[:offsetChecksum], frame[HeaderSize:]) != stored {
		return ErrBadChecksum
	}
	return nil
}

// checksumPortable is checksum through hash/crc32: where no CRC32 instruction is wired
// in, and the reference the instruction's result is tested against.
func checksumPortable(headerPrefix []byte, body []byte) uint32 {
	sum := crc32.Update(0, castagnoli, headerPrefix)
	return crc32.Update(sum, castagnoli, body)
}

// AppendFrame appends the encoding of f's header fields followed by body to dst and
// returns the extended slice; f.Body and f.BodyLength are ignored (body is used). It
// panics if body is longer than the kind allows, which is a caller bug.
func AppendFrame(dst []byte, f *Frame, body []byte) []byte {
	return appendFrame(dst, f, body, PutFrame)
}

// AppendFrameUnchecked is AppendFrame with 0 in the checksum field, for a session that
// negotiated LoginUncheckedFrames (frames after the login only).
func AppendFrameUnchecked(dst []byte, f *Frame, body []byte) []byte {
	return appendFrame(dst, f, body, putHeader)
}

// appendFrame appends a header-sized gap and body to dst, then lets put fill the header.
func appendFrame(dst []byte, f *Frame, body []byte, put func([]byte, *Frame, int)) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = append(dst, body...)
	put(dst[start:], f, len(body))
	return dst
}

// PutFrame writes the header for a frame whose body of bodyLength bytes already sits at
// b[HeaderSize:HeaderSize+bodyLength], and seals it with the checksum. It lets callers
// encode a body in place (no copy) and then the header in front of it.
func PutFrame(b []byte, f *Frame, bodyLength int) {
	putHeader(b, f, bodyLength)
	sum := checksum(b[:offsetChecksum], b[HeaderSize:HeaderSize+bodyLength])
	binary.LittleEndian.PutUint32(b[offsetChecksum:], sum)
}

// PutFrameUnchecked is PutFrame with 0 in the checksum field (see AppendFrameUnchecked).
func PutFrameUnchecked(b []byte, f *Frame, bodyLength int) { putHeader(b, f, bodyLength) }

// putHeader writes a frame's header with 0 in the checksum field.
func putHeader(b []byte, f *Frame, bodyLength int) {
	shape := f.Kind.shape()
	if shape == nil {
		panic("netio/wire: PutFrame with unknown kind")
	}
	if bodyLength < 0 || uint64(bodyLength) > uint64(shape.bodyBytesMax) {
		panic("netio/wire: PutFrame body too long for its kind")
	}
	if shape.bodyBytesFixed && uint32(bodyLength) != shape.bodyBytesMax {
		panic("netio/wire: PutFrame body of the wrong size for its kind")
	}
	_ = b[HeaderSize+bodyLength-1]
	binary.LittleEndian.PutUint32(b[offsetMagic:], Magic)
	b[offsetVersion] = Version
	b[offsetKind] = byte(f.Kind)
	b[offsetOperation] = byte(f.Operation)
	b[offsetFlags] = f.Flags
	binary.LittleEndian.PutUint32(b[offsetBodyLength:], uint32(bodyLength))
	binary.LittleEndian.PutUint32(b[offsetStatus:], f.Status)
	binary.LittleEndian.PutUint64(b[offsetSession:], f.Session)
	binary.LittleEndian.PutUint64(b[offsetNumber:], f.Number)
	binary.LittleEndian.PutUint64(b[offsetAux:], f.Aux)
	binary.LittleEndian.PutUint32(b[offsetReserved:], 0)
	binary.LittleEndian.PutUint32(b[offsetChecksum:], 0)
}

// FrameSize returns the bytes a frame with this header occupies on the wire.
func (f *Frame) FrameSize() int { return HeaderSize + int(f.BodyLength) }
