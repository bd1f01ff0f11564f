package wal

// Tests of the fifth mutation round's systematic pass: each pins a refusal, error return
// or boundary that no earlier wal test executed or held exactly (tools/mutation/RESULTS.md,
// "Fifth round"). Each runs in milliseconds.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
		{"version", encode(good, func(b []byte) { binary.LittleEndian.PutUint32(b[segmentOffsetVersion:], segmentVersionBase+1) }),
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

// storedEntries returns copies of the stored form of every durable entry of l.
func storedEntries(t *testing.T, l *Log) [][]byte {
	t.Helper()
	var stored [][]byte
	if err := l.ReadStored(0, func(b []byte, _ EntryMeta) error {
		stored = append(stored, append([]byte(nil), b...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return stored
}

// TestStoredEntryRefusals: a stored entry of another format version is ErrVersion (a
// standby of an older release must say so, not call it corrupt), and one whose chain
// hash was rewritten with a sound header checksum is refused as corrupt; neither is
// appended to a MemoryLog.
func TestStoredEntryRefusals(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	waitDurable(t, l, appendEntries(t, l, 1))
	good := storedEntries(t, l)[0]
	rewrite := func(modify func(h []byte)) []byte {
		b := append([]byte(nil), good...)
		modify(b)
		putHeaderCRC(b[:entryHeaderSize], entryOffsetHeaderCRC)
		return b
	}
	for _, c := range []struct {
		name   string
		stored []byte
		err    error
		want   string
	}{
		{"version", rewrite(func(h []byte) { binary.LittleEndian.PutUint16(h[entryOffsetVersion:], formatVersion+1) }),
			ErrVersion, "version"},
		{"chain", rewrite(func(h []byte) { h[entryOffsetChain] ^= 1 }), ErrCorrupt, "chain hash does not match the entry"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := DecodeStored(c.stored, nil); !errors.Is(err, c.err) ||
				!strings.Contains(err.Error(), c.want) {
				t.Fatalf("DecodeStored: %v, want %v with %q", err, c.err, c.want)
			}
			m := NewMemoryLog()
			if err := m.AppendStored(c.stored); !errors.Is(err, c.err) || m.LastOp() != 0 {
				t.Fatalf("MemoryLog.AppendStored: %v, last op %d", err, m.LastOp())
			}
		})
	}
	m := NewMemoryLog()
	if err := m.AppendStored(good); err != nil || m.LastOp() != 2 || m.FirstOp() != 1 {
		t.Fatalf("MemoryLog.AppendStored of a sound entry: %v, ops %d..%d", err, m.FirstOp(), m.LastOp())
	}
	if err := m.Read(0, func(e *Entry) error { checkEntry(t, e); return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestMemoryLogFullAndEmpty: SetFull refuses appends with ErrLogFull and nothing else
// changes; SetFull(false) takes them again. An empty MemoryLog's FirstOp is 0, its
// chain and retirement answers are empty, and Read returns fn's error.
func TestMemoryLogFullAndEmpty(t *testing.T) {
	m := NewMemoryLog()
	if m.FirstOp() != 0 {
		t.Fatalf("empty first op %d", m.FirstOp())
	}
	if _, ok := m.ChainAt(1); ok || m.BytesAfter(0) != 0 {
		t.Fatal("a memory log answered a chain or a byte count")
	}
	if retired, err := m.Retire(100, ""); retired != 0 || err != nil {
		t.Fatalf("Retire: %d, %v", retired, err)
	}
	last := appendEntries(t, m, 2)
	m.SetFull(true)
	if err := m.Append(entryFor(last + 1)); !errors.Is(err, ErrLogFull) {
		t.Fatalf("Append while full: %v, want ErrLogFull", err)
	}
	if m.LastOp() != last || m.Durable() != last || m.Err() != nil {
		t.Fatalf("full log changed: last %d durable %d err %v", m.LastOp(), m.Durable(), m.Err())
	}
	m.SetFull(false)
	last = appendEntries(t, m, 1)
	if m.Durable() != last {
		t.Fatalf("durable %d after the log took entries again, want %d", m.Durable(), last)
	}
	stop := errors.New("stop")
	visited := 0
	if err := m.Read(0, func(*Entry) error { visited++; return stop }); err != stop || visited != 1 {
		t.Fatalf("Read: %v after %d entries, want fn's error after 1", err, visited)
	}
}

// TestReplicaCallsOnAClosedOrFailedLog: StartAfter and TruncateAfter refuse with
// ErrClosed after Close; TruncateAfter on a failed log returns the log's error and cuts
// nothing.
func TestReplicaCallsOnAClosedOrFailedLog(t *testing.T) {
	l := openTest(t, t.TempDir())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.StartAfter(5, [32]byte{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("StartAfter after Close: %v", err)
	}
	if err := l.TruncateAfter(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("TruncateAfter after Close: %v", err)
	}

	dir := t.TempDir()
	l = openTest(t, dir)
	defer l.Close()
	last := appendEntries(t, l, 3)
	waitDurable(t, l, last)
	failure := errors.New("injected EIO")
	injectFault(t, &testHookWrite, dir, failure, nil)
	l.Append(entryFor(last + 1))
	waitFailed(t, l)
	if err := l.TruncateAfter(2); !errors.Is(err, failure) {
		t.Fatalf("TruncateAfter on a failed log: %v, want %v", err, failure)
	}
	if l.LastOp() != entryFor(last+1).LastOp() || l.Durable() != last {
		t.Fatalf("a failed TruncateAfter moved the log: last %d, durable %d", l.LastOp(), l.Durable())
	}
}

// TestTruncateAfterTheLastOpKeepsEverything: a cut at the last op discards nothing and
// leaves every entry durable and readable, on this run and the next.
func TestTruncateAfterTheLastOpKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	last := appendEntries(t, l, 5)
	if err := l.TruncateAfter(last); err != nil {
		t.Fatal(err)
	}
	if l.LastOp() != last || l.Durable() != last {
		t.Fatalf("last %d durable %d, want %d", l.LastOp(), l.Durable(), last)
	}
	if entries, read := readAll(t, l, 0); entries != 5 || read != last {
		t.Fatalf("read %d entries up to %d", entries, read)
	}
	appendEntries(t, l, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if entries, _ := readAll(t, l, 0); entries != 6 {
		t.Fatalf("reopened with %d entries, want 6", entries)
	}
}

// TestTruncateAfterRetiredOpsIsCompacted: a cut below the first op still held is
// ErrCompacted, and the log is left as it was.
func TestTruncateAfterRetiredOpsIsCompacted(t *testing.T) {
	l := openTest(t, t.TempDir(), largeSegments)
	defer l.Close()
	last := appendLargeEntries(t, l, 5)
	waitDurable(t, l, last)
	if retired, err := l.Retire(3, ""); err != nil || retired == 0 {
		t.Fatalf("retired %d: %v", retired, err)
	}
	first := l.FirstOp()
	err := l.TruncateAfter(first - 2)
	if !errors.Is(err, ErrCompacted) || !strings.Contains(err.Error(), "first op "+decimal(first)) {
		t.Fatalf("TruncateAfter below the first op: %v", err)
	}
	if l.LastOp() != last || l.Err() != nil {
		t.Fatalf("last op %d (want %d), err %v", l.LastOp(), last, l.Err())
	}
}

// TestTailStartedInsideAnEntryIsRefused: a tail whose position is inside a multi-op
// entry cannot continue from it: Drain reports ErrCorrupt at that entry rather than
// handing over ops the follower already has. fn's error stops a Drain without moving
// the position, and the next Drain hands the entry again.
func TestTailStartedInsideAnEntryIsRefused(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	last := appendEntries(t, l, 3) // ops 1..2, 3..6, 7..10
	waitDurable(t, l, last)
	inside := l.Follow(1, TailOptions{})
	defer inside.Close()
	var position *PositionError
	if _, err := inside.Drain(func([]byte, EntryMeta) error { return nil }); !errors.As(err, &position) ||
		!errors.Is(err, ErrCorrupt) || position.Op != 1 || inside.Position() != 1 {
		t.Fatalf("Drain from inside an entry: %v, position %d", err, inside.Position())
	}
	tail := l.Follow(2, TailOptions{})
	defer tail.Close()
	stop := errors.New("follower busy")
	if _, err := tail.Drain(func([]byte, EntryMeta) error { return stop }); err != stop || tail.Position() != 2 {
		t.Fatalf("Drain with a failing fn: %v, position %d", err, tail.Position())
	}
	var firstOps []uint64
	if _, err := tail.Drain(func(_ []byte, meta EntryMeta) error {
		firstOps = append(firstOps, meta.FirstOp)
		return nil
	}); err != nil || len(firstOps) != 2 || firstOps[0] != 3 || tail.Position() != last {
		t.Fatalf("second Drain: %v, handed %v, position %d", err, firstOps, tail.Position())
	}
}

// TestOptionsAndPolicyNames: Open without a directory is refused; an unknown sync
// policy prints its number.
func TestOptionsAndPolicyNames(t *testing.T) {
	if _, err := Open(Options{}); err == nil || !strings.Contains(err.Error(), "Options.Dir is empty") {
		t.Fatalf("Open without Dir: %v", err)
	}
	if s := SyncPolicy(7).String(); s != "sync(7)" {
		t.Fatalf("unknown policy prints %q", s)
	}
}

// retiredLargeLog is a closed log of five one-op large entries in segments [1,2] [3,4]
// [5] with the first segment retired, and the state and chain at op 2 (its base).
func retiredLargeLog(t *testing.T) (dir string, base uint64, state sumReplayer, chains map[uint64][32]byte) {
	t.Helper()
	dir = t.TempDir()
	l := openTest(t, dir, largeSegments)
	last := appendLargeEntries(t, l, 5)
	waitDurable(t, l, last)
	base = 2
	if err := l.Read(0, func(e *Entry) error {
		if e.LastOp() <= base {
			return state.Apply(e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	chains = map[uint64][32]byte{}
	for op := uint64(1); op <= last; op++ {
		chains[op] = chainOf(t, l, op)
	}
	if retired, err := l.Retire(base, ""); err != nil || retired != 1 || l.FirstOp() != base+1 {
		t.Fatalf("retired %d (%v), first op %d", retired, err, l.FirstOp())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, base, state, chains
}

// TestVerifyRefusesWhatItCannotReplay: a log retired past op 1 with no snapshot to start
// from is ErrCompacted; a base snapshot whose body restores to a state other than its
// header's digest is ErrDigestMismatch (serve would refuse it); a later snapshot whose
// chain is not the log's is corrupt; an empty log with snapshots is corrupt.
func TestVerifyRefusesWhatItCannotReplay(t *testing.T) {
	dir, base, state, chains := retiredLargeLog(t)
	if _, err := Verify(dir, "", &sumReplayer{}); !errors.Is(err, ErrCompacted) ||
		!strings.Contains(err.Error(), "no snapshot is at or after op 2") {
		t.Fatalf("retired log without snapshots: %v", err)
	}
	writeAll := func(metas ...SnapshotMeta) string {
		snapshots := t.TempDir()
		for _, meta := range metas {
			s := state
			if _, err := WriteSnapshot(snapshots, meta, &s); err != nil {
				t.Fatal(err)
			}
		}
		return snapshots
	}
	sound := SnapshotMeta{Op: base, Epoch: 1, Digest: state.Digest(), Chain: chains[base]}
	if _, err := Verify(dir, writeAll(sound), &sumReplayer{}); err != nil {
		t.Fatalf("sound base snapshot: %v", err)
	}
	wrongDigest := sound
	wrongDigest.Digest[0] ^= 1
	if _, err := Verify(dir, writeAll(wrongDigest), &sumReplayer{}); !errors.Is(err, ErrDigestMismatch) ||
		!strings.Contains(err.Error(), "restored state digest") {
		t.Fatalf("base snapshot with a wrong digest: %v", err)
	}
	// The later snapshot's state is the base's too; the chain check comes before the
	// digest check, so the chain is what is reported.
	otherChain := SnapshotMeta{Op: 4, Epoch: 1, Digest: state.Digest(), Chain: chains[3]}
	_, err := Verify(dir, writeAll(sound, otherChain), &sumReplayer{})
	var position *PositionError
	if !errors.As(err, &position) || !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "chain differs from the log's at op 4") {
		t.Fatalf("later snapshot with another chain: %v", err)
	}
	empty := t.TempDir()
	openTest(t, empty).Close()
	if _, err := Verify(empty, writeAll(sound, otherChain), &sumReplayer{}); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "the log is empty but snapshots exist (newest at op 4)") {
		t.Fatalf("empty log with snapshots: %v", err)
	}
}

// TestVerifyChainOfAnEmptyLog: nothing retired, so the window is covered and the check
// passes without reading.
func TestVerifyChainOfAnEmptyLog(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	check, err := l.VerifyChain(5, 0, 0, time.Now().Add(time.Minute))
	if err != nil || !check.OK || !check.WindowCovered || check.Entries != 0 {
		t.Fatalf("empty log: %+v, %v", check, err)
	}
}

// TestInspectNamesDamagedSnapshotsAndTornTails: the report shows a damaged snapshot as
// DAMAGED with its error, and a bad entry in the last segment as what Open would
// truncate (not as damage that makes Open refuse).
func TestInspectNamesDamagedSnapshotsAndTornTails(t *testing.T) {
	d := buildDamageLog(t, 3)
	last := d.entries[len(d.entries)-1]
	flipByte(t, last.path, last.offset+entryHeaderSize+5)
	snapshots := t.TempDir()
	info, err := WriteSnapshot(snapshots, SnapshotMeta{Op: 7}, stateBytes("state"))
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, info.Path, snapshotOffsetEpoch)
	report, err := Inspect(d.dir, snapshots)
	if err != nil {
		t.Fatal(err)
	}
	text := report.String()
	for _, want := range []string{"op 7            DAMAGED: ", "snapshot header checksum mismatch",
		"(in the last segment: Open truncates it if it is a torn write)"} {
		if !strings.Contains(text, want) {
			t.Fatalf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Open refuses the log") {
		t.Fatalf("a torn tail reported as refused damage:\n%s", text)
	}
}

// TestSnapshotListingAndPruneRefusals: a missing directory has no snapshots; a file
// renamed to another op is listed as corrupt; files without the snapshot prefix are not
// snapshots; PruneSnapshots refuses to keep none.
func TestSnapshotListingAndPruneRefusals(t *testing.T) {
	dir := t.TempDir()
	if infos, err := ListSnapshots(filepath.Join(dir, "missing")); infos != nil || err != nil {
		t.Fatalf("missing directory: %v, %v", infos, err)
	}
	info, err := WriteSnapshot(dir, SnapshotMeta{Op: 5}, stateBytes("state"))
	if err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(dir, snapshotName(9))
	if err := os.Rename(info.Path, renamed); err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(snapshotName(3), snapshotPrefix)
	if err := os.WriteFile(filepath.Join(dir, "x"+name), []byte("not a snapshot"), 0o644); err != nil {
		t.Fatal(err)
	}
	infos, err := ListSnapshots(dir)
	if err != nil || len(infos) != 1 || infos[0].Meta.Op != 9 || !errors.Is(infos[0].Err, ErrSnapshotCorrupt) ||
		!strings.Contains(infos[0].Problem, "header says op 5") {
		t.Fatalf("listing: %+v, %v", infos, err)
	}
	if err := PruneSnapshots(dir, 0); err == nil || !strings.Contains(err.Error(), "at least one snapshot must stay") {
		t.Fatalf("prune keeping none: %v", err)
	}
	if _, err := os.Stat(renamed); err != nil {
		t.Fatalf("a refused prune removed a file: %v", err)
	}
}

// largeLogFilled is a log of five one-op 700 KiB entries whose bodies are all fill
// bytes (stored raw), in segments [1,2] [3,4] [5]; it returns the open log.
func largeLogFilled(t *testing.T, dir string, fill byte) *Log {
	t.Helper()
	l := openTest(t, dir, largeSegments)
	body := bytes.Repeat([]byte{fill}, 700<<10)
	for op := uint64(1); op <= 5; op++ {
		if err := l.Append(Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: largeEntryTimestamp(op),
			Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, l, 5)
	return l
}

// TestSegmentProblemsFoundWhileReading: a segment that changes under an open log is
// refused by Read with the matching error, and nothing past it is delivered: another
// format version (ErrVersion), a header naming another segment, a file cut inside its
// header, a file that is gone (ErrCompacted), and a segment copied from another log
// (its first entry does not continue the previous segment's chain).
func TestSegmentProblemsFoundWhileReading(t *testing.T) {
	other := t.TempDir()
	largeLogFilled(t, other, 2).Close()
	rewriteHeader := func(edit func(b []byte)) func(path string) {
		return func(path string) {
			modify(t, path, func(b []byte) []byte {
				edit(b)
				putHeaderCRC(b[:segmentHeaderSize], segmentOffsetHeaderCRC)
				return b
			})
		}
	}
	for _, c := range []struct {
		name   string
		damage func(path string)
		err    error
		want   string
	}{
		{"version", rewriteHeader(func(b []byte) {
			binary.LittleEndian.PutUint32(b[segmentOffsetVersion:], segmentVersionBase+1) // No reader knows it.
		}), ErrVersion, "segment format version"},
		{"number", rewriteHeader(func(b []byte) {
			binary.LittleEndian.PutUint64(b[segmentOffsetNumber:], 7)
		}), ErrCorrupt, "segment header says number 7"},
		{"cut inside the header", func(path string) {
			if err := os.Truncate(path, segmentHeaderSize-1); err != nil {
				t.Fatal(err)
			}
		}, ErrCorrupt, "segment file shorter than its header"},
		{"gone", func(path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, ErrCompacted, "segment 2 is gone"},
		{"from another log", func(path string) {
			b, err := os.ReadFile(filepath.Join(other, segmentName(2)))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, ErrCorrupt, "previous chain hash does not match"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			l := largeLogFilled(t, dir, 1)
			defer l.Close()
			c.damage(filepath.Join(dir, segmentName(2)))
			var delivered []uint64
			err := l.Read(0, func(e *Entry) error { delivered = append(delivered, e.FirstOp); return nil })
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Read: %v, want %v with %q", err, c.err, c.want)
			}
			if len(delivered) != 2 || delivered[1] != 2 {
				t.Fatalf("delivered ops %v, want 1 and 2 (segment 1) only", delivered)
			}
		})
	}
}

// TestDamagedHeaderOfTheLastSegmentIsRefused: a bad header on the segment holding the
// newest entries is not a torn write (those entries were synced): Open refuses the log
// rather than cutting the segment away.
func TestDamagedHeaderOfTheLastSegmentIsRefused(t *testing.T) {
	dir := t.TempDir()
	largeLogFilled(t, dir, 1).Close()
	flipByte(t, filepath.Join(dir, segmentName(3)), segmentOffsetCreated)
	_, err := Open(Options{Dir: dir, SegmentBytes: SegmentBytesMin, Logger: discardLogger()})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "segment 3") {
		t.Fatalf("Open with the last segment's header damaged: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(3))); err != nil {
		t.Fatalf("the damaged segment was touched: %v", err)
	}
}

// TestWrittenTailStopsOnTheFollowersError: fn's error for a queued entry (written, not
// durable yet) ends Drain with that error without moving the position; the entry is
// handed over by a later Drain once durable.
func TestWrittenTailStopsOnTheFollowersError(t *testing.T) {
	dir, l, tail, first := followAfterOneEntry(t, TailOptions{Written: true})
	if _, err := tail.Drain(func([]byte, EntryMeta) error { return nil }); err != nil || tail.Position() != first {
		t.Fatalf("first Drain: %v, position %d", err, tail.Position())
	}
	syncing, release := holdHook(t, &testHookSync, dir)
	second := appendEntries(t, l, 1)
	<-syncing // written and queued, not durable
	stop := errors.New("stream closed")
	if _, err := tail.Drain(func([]byte, EntryMeta) error { return stop }); err != stop || tail.Position() != first {
		t.Fatalf("Drain with fn failing on a queued entry: %v, position %d", err, tail.Position())
	}
	release()
	waitDurable(t, l, second)
	if _, err := tail.Drain(func([]byte, EntryMeta) error { return nil }); err != nil || tail.Position() != second {
		t.Fatalf("Drain after the sync: %v, position %d, want %d", err, tail.Position(), second)
	}
}

// TestOpenReportsADirectoryItCannotCreate: a Dir below a regular file is Open's error.
func TestOpenReportsADirectoryItCannotCreate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(Options{Dir: filepath.Join(file, "log"), Logger: discardLogger()}); err == nil ||
		!errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("Open below a file: %v, %v", l, err)
	}
}

// TestUnsubscribeIsANoOpForStrangers: unsubscribing a channel on a log with no
// subscription, or one it never returned, changes nothing; a real subscriber still
// hears the next sync.
func TestUnsubscribeIsANoOpForStrangers(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	l.UnsubscribeDurable(make(chan struct{}))
	subscribed := l.SubscribeDurable()
	l.UnsubscribeDurable(make(chan struct{}))
	waitDurable(t, l, appendEntries(t, l, 1))
	<-subscribed // a hang here is reported by the test binary's timeout
}

// TestMemoryLogDurableNeverGoesBackOrPastAFailure: releasing an op below Durable leaves
// Durable where it is, and after Fail no release makes anything durable (Durable stops
// for good, as after a failed fdatasync).
func TestMemoryLogDurableNeverGoesBackOrPastAFailure(t *testing.T) {
	m := NewMemoryLog()
	first := appendEntries(t, m, 1)
	m.Hold()
	last := appendEntries(t, m, 2)
	if err := m.ReleaseTo(last); err != nil || m.Durable() != last {
		t.Fatalf("ReleaseTo(%d): %v, durable %d", last, err, m.Durable())
	}
	if err := m.ReleaseTo(first); err != nil || m.Durable() != last {
		t.Fatalf("ReleaseTo(%d) below Durable: %v, durable %d, want %d", first, err, m.Durable(), last)
	}
	held := appendEntries(t, m, 1)
	failure := errors.New("injected EIO")
	m.Fail(failure)
	m.Release()
	if err := m.ReleaseTo(held); err != nil || m.Durable() != last || m.Err() != failure {
		t.Fatalf("after Fail: %v, durable %d (want %d), err %v", err, m.Durable(), last, m.Err())
	}
}

// writeRawSnapshot writes a snapshot file at op with a CodecNone body (WriteSnapshot
// always compresses; the reader accepts both), the header's lengths and checksum given.
func writeRawSnapshot(t *testing.T, dir string, op uint64, body []byte, rawBytes int64, bodyCRC uint32) string {
	t.Helper()
	info := SnapshotInfo{Meta: SnapshotMeta{Op: op}, Codec: CodecNone, RawBytes: rawBytes,
		StoredBytes: int64(len(body))}
	b := make([]byte, snapshotHeaderSize, snapshotHeaderSize+len(body))
	encodeSnapshotHeader(b, &info, bodyCRC)
	path := filepath.Join(dir, snapshotName(op))
	if err := os.WriteFile(path, append(b, body...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRawSnapshotBodyChecks: an uncompressed snapshot body is read whole when sound; a
// wrong body checksum is reported at EOF (once, not wrapped twice); a body longer than
// the recorded state is refused as soon as it passes the length.
func TestRawSnapshotBodyChecks(t *testing.T) {
	dir := t.TempDir()
	state := []byte("sixteen bytes ok")
	read := func(path string) ([]byte, error) {
		_, reader, err := OpenSnapshot(path)
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		return io.ReadAll(reader)
	}
	got, err := read(writeRawSnapshot(t, dir, 1, state, int64(len(state)), crc32c(state)))
	if err != nil || !bytes.Equal(got, state) {
		t.Fatalf("sound raw snapshot: %q, %v", got, err)
	}
	_, err = read(writeRawSnapshot(t, dir, 2, state, int64(len(state)), crc32c(state)^1))
	if !errors.Is(err, ErrSnapshotCorrupt) || !strings.HasSuffix(err.Error(), "body checksum mismatch") ||
		strings.Count(err.Error(), ErrSnapshotCorrupt.Error()) != 1 {
		t.Fatalf("raw snapshot with a wrong checksum: %v", err)
	}
	_, err = read(writeRawSnapshot(t, dir, 3, state, int64(len(state))-1, crc32c(state)))
	if !errors.Is(err, ErrSnapshotCorrupt) || !strings.Contains(err.Error(), "state longer than recorded") {
		t.Fatalf("raw snapshot longer than recorded: %v", err)
	}
}

// craftedEntry is a stored first entry (op 1) whose header and checksums are sound and
// whose s2 body does not decode: what a primary with a broken encoder could ship.
func craftedEntry() []byte {
	body := []byte("this is not an s2 block at all, but its checksums are right")
	h := entryHeader{Codec: CodecS2, Count: 1, Epoch: 1, FirstOp: 1, Timestamp: 1000,
		StoredBytes: uint32(len(body)), RawBytes: 100, BodyCRC: crc32c(body)}
	stored := make([]byte, entryHeaderSize+len(body))
	copy(stored[entryHeaderSize:], body)
	h.encode(stored)
	digest := sha256.Sum256(body)
	h.Chain = chainHash(stored, &digest)
	h.encode(stored)
	return stored
}

// TestBodyThatDoesNotDecodeIsCorrupt: an entry whose checksums and chain are sound but
// whose body does not decompress is refused by DecodeStored, and where it was stored
// anyway (AppendStored checks checksums, not decoding) Read and Verify report it as
// corrupt at its position rather than delivering it.
func TestBodyThatDoesNotDecodeIsCorrupt(t *testing.T) {
	stored := craftedEntry()
	if _, _, err := DecodeStored(stored, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "s2") {
		t.Fatalf("DecodeStored: %v", err)
	}
	dir := t.TempDir()
	l := openTest(t, dir)
	if err := l.AppendStored(stored); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, 1)
	delivered := 0
	err := l.Read(0, func(*Entry) error { delivered++; return nil })
	var position *PositionError
	if !errors.As(err, &position) || !errors.Is(err, ErrCorrupt) || position.Op != 1 ||
		position.Segment != 1 || !strings.Contains(position.Reason, "s2") || delivered != 0 {
		t.Fatalf("Read: %v after %d entries", err, delivered)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(dir, "", &sumReplayer{})
	if !errors.As(err, &position) || !errors.Is(err, ErrCorrupt) || position.Op != 1 || !strings.Contains(position.Reason, "s2") {
		t.Fatalf("Verify: %v", err)
	}
}

// TestDirectoriesThatAreFilesAreErrors: every entry point that reads or makes a
// directory reports it when the path is a regular file, instead of an empty answer.
func TestDirectoriesThatAreFilesAreErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	for name, err := range map[string]error{
		"Inspect":            func() error { _, err := Inspect(file, ""); return err }(),
		"Verify":             func() error { _, err := Verify(file, "", &sumReplayer{}); return err }(),
		"Verify's snapshots": func() error { _, err := Verify(empty, file, &sumReplayer{}); return err }(),
		"ListSnapshots":      func() error { _, err := ListSnapshots(file); return err }(),
		"PruneSnapshots":     PruneSnapshots(file, 1),
		"WriteSnapshot below it": func() error {
			_, err := WriteSnapshot(filepath.Join(file, "s"), SnapshotMeta{Op: 1}, stateBytes("x"))
			return err
		}(),
	} {
		if !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("%s of a file: %v, want ENOTDIR", name, err)
		}
	}
}

// TestTruncateAfterReportsAFailedDirectorySync: when the directory fsync that makes a
// cut across segments durable fails, TruncateAfter returns the error and the log stops
// (sticky error): the cut may not survive a crash, so nothing may be appended after it.
func TestTruncateAfterReportsAFailedDirectorySync(t *testing.T) {
	dir := t.TempDir()
	l := largeLogFilled(t, dir, 1)
	defer l.Close()
	failure := errors.New("injected directory fsync failure")
	injectFault(t, &testHookSyncDirectory, dir, failure, nil)
	if err := l.TruncateAfter(1); !errors.Is(err, failure) {
		t.Fatalf("TruncateAfter: %v, want %v", err, failure)
	}
	if err := l.Err(); !errors.Is(err, failure) {
		t.Fatalf("log error after the failed cut: %v", err)
	}
	if err := l.Append(Entry{Epoch: 1, FirstOp: 6, Count: 1, Timestamp: largeEntryTimestamp(6), Body: []byte("x")}); !errors.Is(err, failure) {
		t.Fatalf("Append after the failed cut: %v", err)
	}
}

// TestTruncateAfterIntoADamagedSegment: a cut inside a segment whose header went bad is
// refused with the damage, and the log is left as it was (not failed, nothing cut).
func TestTruncateAfterIntoADamagedSegment(t *testing.T) {
	dir := t.TempDir()
	l := largeLogFilled(t, dir, 1)
	defer l.Close()
	flipByte(t, filepath.Join(dir, segmentName(2)), segmentOffsetCreated)
	if err := l.TruncateAfter(3); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "segment 2") {
		t.Fatalf("TruncateAfter into a damaged segment: %v", err)
	}
	if l.Err() != nil || l.LastOp() != 5 || l.Durable() != 5 {
		t.Fatalf("after the refused cut: err %v, last %d, durable %d", l.Err(), l.LastOp(), l.Durable())
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(3))); err != nil {
		t.Fatalf("segment 3 removed by a refused cut: %v", err)
	}
}

// TestVerifyChainOfAVanishedSegmentIsAnError: a segment gone from under the walk is an
// error (ErrCompacted), not a finding about the chain.
func TestVerifyChainOfAVanishedSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	l := largeLogFilled(t, dir, 1)
	defer l.Close()
	if err := os.Remove(filepath.Join(dir, segmentName(1))); err != nil {
		t.Fatal(err)
	}
	check, err := l.VerifyChain(0, 0, 0, time.Now().Add(time.Minute))
	if !errors.Is(err, ErrCompacted) || check.Problem != "" {
		t.Fatalf("VerifyChain: %+v, %v", check, err)
	}
}

// TestOnlySyncEveryDefers: AppendDeferred leaves the entry to the appender's
// WriteDeferred only under SyncEvery (the bound on the body is
// TestAppendDeferredLeavesLargeBodiesToTheWriter's); under the other policies it is
// Append and the writer writes it (no inline group).
func TestOnlySyncEveryDefers(t *testing.T) {
	for _, c := range []struct {
		name   string
		sync   SyncPolicy
		body   int
		inline uint64
	}{
		{"sync every", SyncEvery, 10, 1},
		{"sync interval", SyncInterval, 10, 0},
		{"sync none", SyncNone, 10, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := openTest(t, t.TempDir(), func(o *Options) { o.Sync, o.Compression = c.sync, CodecNone })
			defer l.Close()
			e := Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 1, Body: make([]byte, c.body)}
			if err := l.AppendDeferred(e); err != nil {
				t.Fatal(err)
			}
			l.WriteDeferred()
			waitDurable(t, l, 1)
			if stats := l.Stats(); stats.InlineGroups != c.inline || stats.Entries != 1 {
				t.Fatalf("%d inline groups of %d entries, want %d of 1", stats.InlineGroups, stats.Entries, c.inline)
			}
		})
	}
}

// TestFailedSyncAtARollWritesNothingAfterIt: the fdatasync that completes a full segment
// before the next one is used (under SyncNone the only one) fails: the log stops there.
// No entry is written to the next segment or handed to the observer, which would ship it
// to a standby although the segment before it may be lost.
func TestFailedSyncAtARollWritesNothingAfterIt(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, largeSegments, func(o *Options) { o.Sync = SyncNone })
	defer l.Close()
	var observed []uint64
	var observedMutex sync.Mutex
	l.SetObserver(func(_ []byte, meta EntryMeta) {
		observedMutex.Lock()
		observed = append(observed, meta.FirstOp)
		observedMutex.Unlock()
	})
	waitDurable(t, l, appendLargeEntries(t, l, 2)) // segment 1 is full, never synced
	failure := errors.New("injected fdatasync failure")
	injectFault(t, &testHookSync, dir, failure, nil)
	if err := l.Append(Entry{Epoch: 1, FirstOp: 3, Count: 1, Timestamp: largeEntryTimestamp(3),
		Body: make([]byte, 700<<10)}); err != nil {
		t.Fatal(err)
	}
	if err := waitFailed(t, l); !errors.Is(err, failure) {
		t.Fatalf("log error %v, want %v", err, failure)
	}
	// The failure is published by the sync, before roll decides what to do next: close
	// the log (its goroutines end) so that whatever the writer would do after the failed
	// sync has been done before it is checked, however late the writer is scheduled.
	if err := l.Close(); !errors.Is(err, failure) {
		t.Fatalf("Close: %v, want %v", err, failure)
	}
	observedMutex.Lock()
	defer observedMutex.Unlock()
	if len(observed) != 2 || observed[1] != 2 || l.Stats().Rolls != 0 || l.Durable() != 2 {
		t.Fatalf("observed ops %v, %d rolls, durable %d: want 1 and 2, no roll, durable 2",
			observed, l.Stats().Rolls, l.Durable())
	}
	l.segmentsMutex.Lock()
	segments := len(l.segments)
	l.segmentsMutex.Unlock()
	if segments != 1 {
		t.Fatalf("%d segments listed after the failed roll, want 1", segments)
	}
}

// TestCompressionMustSaveAnEighth: a compressed body is kept when it saves at least
// len/compressSavingsDivisor bytes, that exact saving included, and stored raw when it
// saves one byte less. The bodies are random bytes after a run of zeros whose length is
// searched so that s2 lands on each side of the bound.
func TestCompressionMustSaveAnEighth(t *testing.T) {
	const size = 4096
	limit := size - size/compressSavingsDivisor
	random := make([]byte, size)
	r := newRand(5)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	dst := make([]byte, compressBound(size))
	found := map[int]bool{}
	for zeros := 0; zeros < size && len(found) < 2; zeros++ {
		raw := append([]byte(nil), random...)
		clear(raw[:zeros])
		n := len(compressS2(dst, raw))
		if n != limit && n != limit+1 || found[n] {
			continue
		}
		found[n] = true
		out, codec := compress(CodecS2, dst, raw)
		if n == limit && (codec != CodecS2 || len(out) != limit) {
			t.Fatalf("s2 saving exactly an eighth: stored %d bytes with %v, want %d with s2", len(out), codec, limit)
		}
		if n == limit+1 && (codec != CodecNone || len(out) != size) {
			t.Fatalf("s2 saving one byte less than an eighth: stored %d bytes with %v, want raw", len(out), codec)
		}
	}
	if len(found) != 2 {
		t.Fatalf("no body compressed to %d or %d bytes (found %v)", limit, limit+1, found)
	}
}

// TestRetireKeepsTheLastEntriesBeforeAnEmptyActiveSegment: when the write of the first
// entry of a new segment fails, the new segment stays active and empty; the segment
// before it holds the log's last entries and is never retired, whatever the covered op,
// so that the log still knows its last op and chain after a restart.
func TestRetireKeepsTheLastEntriesBeforeAnEmptyActiveSegment(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, largeSegments)
	defer l.Close()
	waitDurable(t, l, appendLargeEntries(t, l, 2)) // segment 1 is full
	chain := chainOf(t, l, 2)
	failure := errors.New("injected EIO")
	injectFault(t, &testHookWrite, dir, failure, nil)
	if err := l.Append(Entry{Epoch: 1, FirstOp: 3, Count: 1, Timestamp: largeEntryTimestamp(3),
		Body: make([]byte, 700<<10)}); err != nil {
		t.Fatal(err)
	}
	waitFailed(t, l)
	if retired, err := l.Retire(100, ""); err != nil || retired != 0 {
		t.Fatalf("retired %d segments (%v), want 0: segment 1 holds the last entries", retired, err)
	}
	l.Close()
	l = openTest(t, dir, largeSegments)
	defer l.Close()
	if l.LastOp() != 2 || l.FirstOp() != 1 || l.LastChain() != chain {
		t.Fatalf("after a restart: ops %d..%d, chain kept %v", l.FirstOp(), l.LastOp(), l.LastChain() == chain)
	}
}

// TestInspectOfAnEmptySegment: a segment without entries reports no op range (0..0),
// not the range a zero header would give (an op before the first).
func TestInspectOfAnEmptySegment(t *testing.T) {
	dir := t.TempDir()
	if err := openTest(t, dir).Close(); err != nil {
		t.Fatal(err)
	}
	report, err := Inspect(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Segments) == 0 {
		t.Fatalf("no segment reported:\n%s", report.String())
	}
	for _, s := range report.Segments {
		if s.Entries != 0 || s.FirstOp != 0 || s.LastOp != 0 || s.TimestampLast != 0 {
			t.Fatalf("empty segment %d reported as %+v", s.Number, s)
		}
	}
	if text := report.String(); !strings.Contains(text, "0..0 ") {
		t.Fatalf("report of an empty segment:\n%s", text)
	}
}

// TestVerifyChainOfASingleOp: a log whose only entry is op 1 (durable op equal to the
// first op retained) is walked, not taken for an empty one.
func TestVerifyChainOfASingleOp(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	if err := l.Append(Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 10, Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, 1)
	check, err := l.VerifyChain(0, 0, 1, time.Now().Add(time.Minute))
	if err != nil || !check.OK || check.Entries != 1 || check.VerifiedToOp != 1 || check.AnchorChain == "" {
		t.Fatalf("one-op log: %+v, %v", check, err)
	}
}

// TestTruncateAfterTheBaseOfARetiredLog: a cut at the op just before the first op still
// held (the retired log's base) empties the log; the next entry continues from there.
func TestTruncateAfterTheBaseOfARetiredLog(t *testing.T) {
	l := openTest(t, t.TempDir(), largeSegments)
	defer l.Close()
	waitDurable(t, l, appendLargeEntries(t, l, 5))
	if retired, err := l.Retire(3, ""); err != nil || retired != 1 {
		t.Fatalf("retired %d: %v", retired, err)
	}
	base := l.FirstOp() - 1
	if err := l.TruncateAfter(base); err != nil {
		t.Fatalf("TruncateAfter the base %d: %v", base, err)
	}
	if l.LastOp() != base || l.Durable() != base {
		t.Fatalf("after the cut: last %d durable %d, want %d", l.LastOp(), l.Durable(), base)
	}
	if last := appendLargeEntries(t, l, 1); last != base+1 {
		t.Fatalf("appended op %d, want %d", last, base+1)
	}
}

// TestTornTailReportsEveryByteItDiscards: the warning of a torn-tail truncation counts
// the bytes discarded up to the last non-zero one, here a stray byte that is the first
// of a page counted from the end of the segment (the edge of lastNonZero's page walk).
func TestTornTailReportsEveryByteItDiscards(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	waitDurable(t, l, appendEntries(t, l, 3))
	var offset int64
	if err := l.ReadStored(0, func(_ []byte, meta EntryMeta) error { offset = meta.Offset; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, segmentName(1))
	stray := int64(testSegmentBytes - 2*len(zeroPage))
	modify(t, path, func(b []byte) []byte {
		b[offset+entryHeaderSize] ^= 0x40 // the last entry's body: a torn write
		b[stray] = 1
		return b
	})
	logger, logged := testLogger(t)
	l, err := Open(Options{Dir: dir, SegmentBytes: testSegmentBytes, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := fmt.Sprintf("bytes=%d ", stray+1-offset)
	if text := logged.String(); !strings.Contains(text, "truncated torn tail") || !strings.Contains(text, want) {
		t.Fatalf("log lacks %q:\n%s", want, text)
	}
}

// openWithOneLargeEntry opens a log of the smallest segments without compression in dir
// and makes op 1 durable with a body of EntryBodyBytesMax less one entry header: in a
// segment of SegmentBytesMin, the entry ends one entry header's space before the end.
func openWithOneLargeEntry(t *testing.T, dir string) *Log {
	t.Helper()
	options := func(o *Options) { o.SegmentBytes, o.Compression = SegmentBytesMin, CodecNone }
	l := openTest(t, dir, options)
	if err := l.Append(Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 10,
		Body: randomBody(1, EntryBodyBytesMax-entryHeaderSize)}); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, 1)
	return l
}

// TestTornHeaderInTheLastHeaderSpace: garbage exactly in the last entry-header-sized
// space of the tail segment (after an entry that ends one header before the end) is a
// torn write: Open truncates it, and the search for evidence of a later synced entry,
// whose window is then exactly one header, ends (it must not re-read the same window
// forever).
func TestTornHeaderInTheLastHeaderSpace(t *testing.T) {
	dir := t.TempDir()
	l := openWithOneLargeEntry(t, dir)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	modify(t, filepath.Join(dir, segmentName(1)), func(b []byte) []byte {
		for i := SegmentBytesMin - entryHeaderSize; i < SegmentBytesMin; i++ {
			b[i] = 0xab
		}
		return b
	})
	logger, logged := testLogger(t)
	l, err := Open(Options{Dir: dir, SegmentBytes: SegmentBytesMin, Compression: CodecNone, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LastOp() != 1 || !strings.Contains(logged.String(), "truncated torn tail") {
		t.Fatalf("last op %d after Open; log:\n%s", l.LastOp(), logged.String())
	}
}

// TestChainAtFromTheSegmentsAtTheirEdges: for ops older than the recent-chain ring,
// ChainAt reads the segment headers; the first op of the first segment and the last op
// of a segment (both entry boundaries) are found there, with the chain the ring had.
func TestChainAtFromTheSegmentsAtTheirEdges(t *testing.T) {
	l := openTest(t, t.TempDir(), func(o *Options) { o.Compression = CodecNone })
	defer l.Close()
	body := make([]byte, 500)
	chains := map[uint64][32]byte{}
	for op := uint64(1); op <= 2*recentChainCountMax; op++ {
		if err := l.Append(Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: body}); err != nil {
			t.Fatal(err)
		}
		if op == 1 {
			waitDurable(t, l, 1)
			chains[1] = l.LastChain()
		}
	}
	waitDurable(t, l, l.LastOp())
	l.segmentsMutex.Lock()
	first := l.segments[0]
	segments := len(l.segments)
	l.segmentsMutex.Unlock()
	if segments < 2 || first.LastOp >= l.LastOp()-recentChainCountMax {
		t.Fatalf("%d segments, the first ending at op %d: the test needs it out of the ring", segments, first.LastOp)
	}
	var want [32]byte
	if err := l.ReadStored(first.LastOp-1, func(_ []byte, meta EntryMeta) error {
		if meta.FirstOp == first.LastOp {
			want = meta.Chain
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for op, chain := range map[uint64][32]byte{1: chains[1], first.LastOp: want} {
		if got, ok := l.ChainAt(op); !ok || got != chain {
			t.Fatalf("ChainAt(%d): %x, %v; want %x", op, got[:8], ok, chain[:8])
		}
	}
}

// followAfterOneEntry opens a log in a new directory, follows it from op 0 with options,
// and appends one entry, durable on return; the log and the tail close at the test's end.
func followAfterOneEntry(t *testing.T, options TailOptions) (dir string, l *Log, tail *Tail, first uint64) {
	t.Helper()
	dir = t.TempDir()
	l = openTest(t, dir)
	tail = l.Follow(0, options)
	first = appendEntries(t, l, 1)
	waitDurable(t, l, first)
	t.Cleanup(func() { tail.Close(); l.Close() })
	return dir, l, tail, first
}
