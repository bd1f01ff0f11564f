package wal

// Tests of the fifth mutation round's systematic pass: each pins a refusal, error return
// or boundary that no earlier wal test executed or held exactly (tools/mutation/RESULTS.md,
// "Fifth round"). Each runs in milliseconds.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
)

// TestDecompressRefusesMalformedBodies: every check of decompress on hostile bytes
// refuses with its own reason, and the exact bounds pass.
func TestDecompressRefusesMalformedBodies(t *testing.T) {
	raw := bytes.Repeat([]byte("sequent "), 100)
	validS2 := compressS2(make([]byte, compressBound(len(raw))), raw)
	block := s2.Encode(nil, raw)
	corruptBlock := append([]byte(nil), block...)
	corruptBlock[len(corruptBlock)-1] ^= 0xff
	corruptBlock = corruptBlock[:len(corruptBlock)-3]
	withLength := func(b []byte) []byte {
		return binary.LittleEndian.AppendUint32(nil, uint32(len(b))) // then the block
	}
	zstdBody, codec := compress(CodecZstd, make([]byte, compressBound(len(raw))), raw)
	if codec != CodecZstd {
		t.Fatalf("zstd compress chose %v", codec)
	}
	for _, c := range []struct {
		name     string
		stored   []byte
		codec    Codec
		rawBytes int
		want     string // "" for success
	}{
		{"raw at the maximum", make([]byte, EntryBodyBytesMax), CodecNone, EntryBodyBytesMax, ""},
		{"raw above the maximum", make([]byte, EntryBodyBytesMax+1), CodecNone, EntryBodyBytesMax + 1, "above the maximum"},
		{"raw of the recorded length", raw, CodecNone, len(raw), ""},
		{"raw longer than recorded", raw, CodecNone, len(raw) - 1, "raw body of 800 bytes, header says 799"},
		{"raw shorter than recorded", raw, CodecNone, len(raw) + 1, "raw body of 800 bytes, header says 801"},
		{"s2 valid", validS2, CodecS2, len(raw), ""},
		{"s2 truncated block length", validS2[:3], CodecS2, len(raw), "s2: truncated block length"},
		{"s2 bad decoded length", append(withLength([]byte{0xff, 0xff}), 0xff, 0xff), CodecS2, len(raw), "s2: "},
		{"s2 corrupt block", append(withLength(corruptBlock), corruptBlock...), CodecS2, len(raw), "s2: "},
		{"s2 body shorter than recorded", validS2, CodecS2, len(raw) + 5, "s2 body decodes to 800 bytes, header says 805"},
		{"s2 empty body", nil, CodecS2, 5, "s2 body decodes to 0 bytes, header says 5"},
		{"zstd valid", zstdBody, CodecZstd, len(raw), ""},
		{"zstd garbage", []byte("not a zstd frame at all"), CodecZstd, 10, "zstd: "},
		{"unknown codec", raw, Codec(9), len(raw), "unknown codec 9"},
		{"auto never stored", raw, CodecAuto, len(raw), "unknown codec 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := decompress(nil, c.stored, c.codec, c.rawBytes)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(out) != c.rawBytes || (c.rawBytes == len(raw) && !bytes.Equal(out, raw)) {
					t.Fatalf("decoded %d bytes, want %d equal to the raw body", len(out), c.rawBytes)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if out != nil {
				t.Fatalf("a refused body returned %d bytes", len(out))
			}
		})
	}
}

// TestCompressBounds: bodies below compressBytesMin and every body under CodecNone are
// stored raw; a body of exactly compressBytesMin is compressed; an invalid codec panics.
func TestCompressBounds(t *testing.T) {
	zeros := make([]byte, compressBytesMin)
	dst := make([]byte, compressBound(len(zeros)))
	if out, codec := compress(CodecS2, dst, zeros[:compressBytesMin-1]); codec != CodecNone ||
		len(out) != compressBytesMin-1 {
		t.Fatalf("a body below the minimum: codec %v, %d bytes", codec, len(out))
	}
	if out, codec := compress(CodecAuto, dst, zeros); codec != CodecS2 || len(out) >= len(zeros) {
		t.Fatalf("a body of exactly the minimum: codec %v, %d bytes", codec, len(out))
	}
	if out, codec := compress(CodecNone, dst, zeros); codec != CodecNone || &out[0] != &zeros[0] {
		t.Fatalf("CodecNone: codec %v", codec)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "invalid codec codec(9)") {
			t.Fatalf("compress with an invalid codec: recovered %v", r)
		}
	}()
	compress(Codec(9), dst, zeros)
}

// TestCodecNamesInJSON: reports show a codec by name and snapshot hashes in hex.
func TestCodecNamesInJSON(t *testing.T) {
	text, err := CodecZstd.MarshalText()
	if err != nil || string(text) != "zstd" {
		t.Fatalf("MarshalText %q, %v", text, err)
	}
	meta := SnapshotMeta{Op: 7, Epoch: 2, Timestamp: 99}
	meta.Digest[0], meta.Chain[31] = 0xab, 0xcd
	j, err := meta.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"op":7`, `"epoch":2`, `"timestamp_ns":99`,
		`"digest":"ab` + strings.Repeat("00", 31) + `"`, `"chain":"` + strings.Repeat("00", 31) + `cd"`} {
		if !strings.Contains(string(j), want) {
			t.Fatalf("JSON %s lacks %s", j, want)
		}
	}
}

// TestSegmentHeaderChecks: one row per check of decodeSegmentHeader, with the size bounds
// held at their exact values.
func TestSegmentHeaderChecks(t *testing.T) {
	encode := func(h segmentHeader, modify func(b []byte)) []byte {
		b := make([]byte, segmentHeaderSize)
		h.encode(b)
		if modify != nil {
			modify(b)
			putHeaderCRC(b, segmentOffsetHeaderCRC)
		}
		return b
	}
	good := segmentHeader{Number: 3, Bytes: testSegmentBytes, CreatedNs: 5}
	sized := func(n int64) []byte { h := good; h.Bytes = n; return encode(h, nil) }
	for _, c := range []struct {
		name   string
		b      []byte
		reason string
		err    error
	}{
		{"valid", encode(good, nil), "", nil},
		{"bad magic", encode(good, func(b []byte) { b[segmentOffsetMagic+3] ^= 1 }), "bad segment magic", ErrCorrupt},
		{"checksum", func() []byte { b := encode(good, nil); b[segmentOffsetNumber] ^= 1; return b }(),
			"segment header checksum mismatch", ErrCorrupt},
		{"version", encode(good, func(b []byte) { binary.LittleEndian.PutUint32(b[segmentOffsetVersion:], formatVersion+1) }),
			"segment format version", ErrVersion},
		{"reserved byte", encode(good, func(b []byte) { b[segmentHeaderSize-1] = 1 }), "reserved segment header bytes not zero", ErrCorrupt},
		{"smallest size", sized(segmentHeaderSize + entryHeaderSize), "", nil},
		{"below the smallest size", sized(segmentHeaderSize + entryHeaderSize - 1), "segment size out of range", ErrCorrupt},
		{"largest size", sized(SegmentBytesMax), "", nil},
		{"above the largest size", sized(SegmentBytesMax + 1), "segment size out of range", ErrCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			var h segmentHeader
			reason, err := decodeSegmentHeader(c.b, &h)
			if err != c.err || !strings.HasPrefix(reason, c.reason) || (c.reason == "" && reason != "") {
				t.Fatalf("got %q, %v; want %q, %v", reason, err, c.reason, c.err)
			}
			if err == nil && (h.Number != good.Number || h.CreatedNs != good.CreatedNs) {
				t.Fatalf("decoded %+v", h)
			}
		})
	}
}

// TestSnapshotHeaderChecks: one row per check of decodeSnapshotHeader after the
// checksum (the reserved bytes, the codec, negative lengths, the file size).
func TestSnapshotHeaderChecks(t *testing.T) {
	good := SnapshotInfo{Meta: SnapshotMeta{Op: 12, Epoch: 1}, Codec: CodecS2, RawBytes: 40, StoredBytes: 30}
	encode := func(info SnapshotInfo, modify func(b []byte)) []byte {
		b := make([]byte, snapshotHeaderSize)
		encodeSnapshotHeader(b, &info, 0x1234)
		if modify != nil {
			modify(b)
			putHeaderCRC(b, snapshotOffsetHeaderCRC)
		}
		return b
	}
	with := func(modify func(i *SnapshotInfo)) []byte { i := good; modify(&i); return encode(i, nil) }
	fileBytes := int64(snapshotHeaderSize + 30)
	for _, c := range []struct {
		name      string
		b         []byte
		fileBytes int64
		want      string
		err       error
	}{
		{"valid s2", encode(good, nil), fileBytes, "", nil},
		{"valid raw", with(func(i *SnapshotInfo) { i.Codec = CodecNone }), fileBytes, "", nil},
		{"reserved byte", encode(good, func(b []byte) { b[snapshotOffsetReserved+2] = 1 }), fileBytes,
			"reserved snapshot header bytes not zero", ErrSnapshotCorrupt},
		{"zstd codec", with(func(i *SnapshotInfo) { i.Codec = CodecZstd }), fileBytes, "snapshot codec zstd", ErrSnapshotCorrupt},
		{"auto codec", with(func(i *SnapshotInfo) { i.Codec = CodecAuto }), fileBytes, "snapshot codec auto", ErrSnapshotCorrupt},
		{"negative stored", with(func(i *SnapshotInfo) { i.StoredBytes = -1 }), snapshotHeaderSize - 1,
			"negative snapshot length", ErrSnapshotCorrupt},
		{"negative raw", with(func(i *SnapshotInfo) { i.RawBytes = -1 }), fileBytes, "negative snapshot length", ErrSnapshotCorrupt},
		{"empty state", with(func(i *SnapshotInfo) { i.RawBytes, i.StoredBytes = 0, 0 }), snapshotHeaderSize, "", nil},
		{"file longer", encode(good, nil), fileBytes + 1, "file has 159 bytes, header says 158", ErrSnapshotCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			var info SnapshotInfo
			crc, err := decodeSnapshotHeader(c.b, c.fileBytes, &info)
			if c.err == nil {
				if err != nil || crc != 0x1234 || info.Meta.Op != 12 {
					t.Fatalf("crc %x, op %d, %v", crc, info.Meta.Op, err)
				}
				return
			}
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %v with %q", err, c.err, c.want)
			}
		})
	}
}

// TestChainLinkChecks: one row per refusal of chainLink.check, and the equal values
// that continue (same epoch) or do not (same timestamp).
func TestChainLinkChecks(t *testing.T) {
	link := chainLink{Known: true, LastOp: 10, Epoch: 3, Timestamp: 1000, Chain: [32]byte{7}}
	next := func(modify func(h *entryHeader)) *entryHeader {
		h := &entryHeader{FirstOp: 11, Count: 1, Epoch: 3, Timestamp: 1001, PreviousChain: [32]byte{7}}
		if modify != nil {
			modify(h)
		}
		return h
	}
	for _, c := range []struct {
		name string
		link chainLink
		h    *entryHeader
		want string
	}{
		{"continues at the same epoch", link, next(nil), ""},
		{"a later epoch", link, next(func(h *entryHeader) { h.Epoch = 4 }), ""},
		{"nothing to link to", chainLink{}, next(func(h *entryHeader) { h.FirstOp, h.Epoch = 99, 0 }), ""},
		{"op repeated", link, next(func(h *entryHeader) { h.FirstOp = 10 }), "entry starts at op 10, expected 11"},
		{"op skipped", link, next(func(h *entryHeader) { h.FirstOp = 12 }), "entry starts at op 12, expected 11"},
		{"foreign chain", link, next(func(h *entryHeader) { h.PreviousChain[0] = 8 }), "previous chain hash"},
		{"epoch backwards", link, next(func(h *entryHeader) { h.Epoch = 2 }), "epoch goes backwards"},
		{"same timestamp", link, next(func(h *entryHeader) { h.Timestamp = 1000 }), "timestamp does not increase"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.link.check(c.h); !strings.HasPrefix(got, c.want) || (c.want == "" && got != "") {
				t.Fatalf("check: %q, want %q", got, c.want)
			}
		})
	}
}

// TestAppendPanicsOnABrokenSequencer: each invariant assertContinues holds panics with
// its own message, and the equal values allowed pass.
func TestAppendPanicsOnABrokenSequencer(t *testing.T) {
	link := chainLink{Known: true, LastOp: 10, Epoch: 3, Timestamp: 1000}
	entry := func(modify func(e *Entry)) *Entry {
		e := &Entry{Epoch: 3, FirstOp: 11, Count: 2, Timestamp: 1001, Body: []byte("x")}
		if modify != nil {
			modify(e)
		}
		return e
	}
	for _, c := range []struct {
		name string
		link chainLink
		e    *Entry
		want string
	}{
		{"continues", link, entry(nil), ""},
		{"largest body", link, entry(func(e *Entry) { e.Body = make([]byte, EntryBodyBytesMax) }), ""},
		{"first entry at op 1", chainLink{}, entry(func(e *Entry) { e.FirstOp, e.Epoch, e.Timestamp = 1, 0, 0 }), ""},
		{"no commands", link, entry(func(e *Entry) { e.Count = 0 }), "zero commands"},
		{"body too large", link, entry(func(e *Entry) { e.Body = make([]byte, EntryBodyBytesMax+1) }), "above EntryBodyBytesMax"},
		{"first entry not at op 1", chainLink{}, entry(nil), "first Append to an empty log at op 11"},
		{"gap", link, entry(func(e *Entry) { e.FirstOp = 12 }), "Append at op 12 after op 10"},
		{"op range overflows", chainLink{Known: true, LastOp: 1<<64 - 2, Epoch: 3, Timestamp: 1000},
			entry(func(e *Entry) { e.FirstOp = 1<<64 - 1 }), "op range overflows"},
		{"epoch backwards", link, entry(func(e *Entry) { e.Epoch = 2 }), "Append epoch 2 after epoch 3"},
		{"same timestamp", link, entry(func(e *Entry) { e.Timestamp = 1000 }), "Append timestamp 1000 not after 1000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				assertContinues(&c.link, c.e)
			}()
			if c.want == "" {
				if recovered != nil {
					t.Fatalf("panicked: %v", recovered)
				}
				return
			}
			if message, _ := recovered.(string); !strings.Contains(message, c.want) {
				t.Fatalf("recovered %v, want a panic with %q", recovered, c.want)
			}
		})
	}
}

// TestSecondDamagedFileKeptAsideIsNumbered: keeping a file aside never overwrites an
// earlier one, and the names count up from .corrupt.1 (an operator looks for them).
func TestSecondDamagedFileKeptAsideIsNumbered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000000000000000001.wal")
	for i, want := range []string{".corrupt", ".corrupt.1", ".corrupt.2"} {
		name := preservedName(path)
		if name != path+want {
			t.Fatalf("name %d: %s, want %s", i, filepath.Base(name), filepath.Base(path+want))
		}
		if err := os.WriteFile(name, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
