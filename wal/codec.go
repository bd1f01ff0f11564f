package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Codec names a body encoding. In Options it selects the compression; in an entry header
// it records how the stored body is encoded (CodecAuto never appears on disk, so an
// all-zero header never names a valid codec).
type Codec uint8

const (
	// CodecAuto (the default) compresses with s2 and keeps the result only when it pays
	// (see compressSavingsDivisor). s2 was chosen by measurement, see doc.go.
	CodecAuto Codec = iota
	// CodecNone stores every body raw.
	CodecNone
	// CodecS2 is s2 block compression (github.com/klauspost/compress/s2) in blocks of
	// s2BlockBytes, each prefixed by its length.
	CodecS2
	// CodecZstd is zstd at its fastest level; better ratio, ~3x the CPU of s2.
	CodecZstd
)

func (c Codec) String() string {
	switch c {
	case CodecAuto:
		return "auto"
	case CodecNone:
		return "none"
	case CodecS2:
		return "s2"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// MarshalText makes JSON reports show the codec's name.
func (c Codec) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// stored reports whether c may appear in an entry header.
func (c Codec) stored() bool { return c == CodecNone || c == CodecS2 || c == CodecZstd }

// zstd encoders and decoders are costly to build and safe for concurrent EncodeAll and
// DecodeAll, so the package builds one of each on first use.
var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(EncoderCountDefault), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err) // only invalid options fail, which is a bug
		}
		return e
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(EncoderCountDefault),
			zstd.WithDecoderMaxMemory(EntryBodyBytesMax))
		if err != nil {
			panic(err)
		}
		return d
	})
)

// compressBound is the capacity a destination needs so that compressing raw bytes never
// allocates: every s2 block at its worst plus its length prefix (which also covers
// zstd's worst case, a few bytes per 128 KiB over the raw size).
func compressBound(rawBytes int) int {
	blocks := (rawBytes + s2BlockBytes - 1) / s2BlockBytes
	return blocks * (s2BlockLengthBytes + s2.MaxEncodedLen(s2BlockBytes))
}

// s2BlockLengthBytes is the size of the length prefix of each s2 block in a stored body.
const s2BlockLengthBytes = 4

// compressS2 encodes raw as a sequence of s2 blocks of s2BlockBytes raw bytes (the last
// one shorter), each preceded by its encoded length (u32 little-endian). dst must have
// capacity compressBound(len(raw)); the result is a prefix of it.
func compressS2(dst, raw []byte) []byte {
	out := dst[:0]
	for from := 0; from < len(raw); from += s2BlockBytes {
		block := raw[from:min(from+s2BlockBytes, len(raw))]
		start := len(out) + s2BlockLengthBytes
		encoded := s2.Encode(out[start:start+s2.MaxEncodedLen(len(block))], block)
		binary.LittleEndian.PutUint32(out[start-s2BlockLengthBytes:start], uint32(len(encoded)))
		out = out[:start+len(encoded)]
	}
	return out
}

// decompressS2 decodes what compressS2 wrote into dst[:rawBytes] (dst has that
// capacity), checking every length on the way: the bytes may be hostile.
func decompressS2(dst, stored []byte, rawBytes int) ([]byte, error) {
	dst = dst[:rawBytes]
	written := 0
	for len(stored) > 0 {
		if len(stored) < s2BlockLengthBytes {
			return nil, errors.New("s2: truncated block length")
		}
		n := binary.LittleEndian.Uint32(stored)
		stored = stored[s2BlockLengthBytes:]
		if uint64(n) > uint64(len(stored)) {
			return nil, errors.New("s2: block runs past the body")
		}
		block := stored[:n]
		stored = stored[n:]
		decoded, err := s2.DecodedLen(block)
		if err != nil {
			return nil, fmt.Errorf("s2: %w", err)
		}
		if decoded > s2BlockBytes || decoded > rawBytes-written {
			return nil, fmt.Errorf("s2 block of %d bytes exceeds the block or body size", decoded)
		}
		if _, err := s2.Decode(dst[written:written+decoded], block); err != nil {
			return nil, fmt.Errorf("s2: %w", err)
		}
		written += decoded
	}
	if written != rawBytes {
		return nil, fmt.Errorf("s2 body decodes to %d bytes, header says %d", written, rawBytes)
	}
	return dst, nil
}

// compress encodes raw with the option codec into dst (capacity at least
// compressBound(len(raw))) and returns the bytes to store and their codec: raw itself and
// CodecNone when compressing does not pay.
func compress(option Codec, dst, raw []byte) ([]byte, Codec) {
	if option == CodecNone || len(raw) < compressBytesMin {
		return raw, CodecNone
	}
	var out []byte
	codec := CodecS2
	switch option {
	case CodecAuto, CodecS2:
		out = compressS2(dst, raw)
	case CodecZstd:
		out = zstdEncoder().EncodeAll(raw, dst[:0])
		codec = CodecZstd
	default:
		panic("wal: compress with invalid codec " + option.String())
	}
	if len(out) > len(raw)-len(raw)/compressSavingsDivisor {
		return raw, CodecNone
	}
	return out, codec
}

// decompress decodes a stored body into dst (grown if needed) and checks that it has
// exactly rawBytes bytes. Errors mean the body is corrupt.
func decompress(dst, stored []byte, codec Codec, rawBytes int) ([]byte, error) {
	if rawBytes > EntryBodyBytesMax {
		return nil, fmt.Errorf("raw length %d above the maximum", rawBytes)
	}
	switch codec {
	case CodecNone:
		if len(stored) != rawBytes {
			return nil, fmt.Errorf("raw body of %d bytes, header says %d", len(stored), rawBytes)
		}
		return stored, nil
	case CodecS2:
		if cap(dst) < rawBytes {
			dst = make([]byte, rawBytes, EntryBodyBytesMax)
		}
		return decompressS2(dst, stored, rawBytes)
	case CodecZstd:
		out, err := zstdDecoder().DecodeAll(stored, dst[:0])
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if len(out) != rawBytes {
			return nil, fmt.Errorf("zstd body decodes to %d bytes, header says %d", len(out), rawBytes)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown codec %d", codec)
}
