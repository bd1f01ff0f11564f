package wal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The tests in this file pin the exact edges of recovery and of the format: values equal
// to a bound, entries that fit exactly, and the one crash pattern where a later entry's
// synced offset equals the bad entry's offset. Each was found by mutation testing
// (tools/mutation): a comparison moved by one there passed every other test.

// resealEntry recomputes the chain hash and the header checksum of the entry at offset
// in a segment image, after a test edited chained fields of its header.
func resealEntry(segment []byte, offset int64) {
	header := segment[offset : offset+entryHeaderSize]
	stored := binary.LittleEndian.Uint32(header[entryOffsetStoredBytes:])
	body := segment[offset+entryHeaderSize : offset+entryHeaderSize+int64(stored)]
	digest := sha256.Sum256(body)
	chain := chainHash(header, &digest)
	copy(header[entryOffsetChain:], chain[:])
	putHeaderCRC(header, entryOffsetHeaderCRC)
}

// TestTornEntryFollowedByUnsyncedEntryIsTruncated builds the crash "entry k torn, entry
// k+1 landed, nothing synced since k−1": k and k+1 were written by one group commit, so
// k+1's header says the segment was synced up to k's offset, no further. That is proof
// k was never synced: recovery must truncate the tail at k as torn (losing nothing that
// was durable), not refuse the log as damaged. The damage table's "before synced entries"
// rows are the other side: a synced offset past k means k was durable, so it is damage.
func TestTornEntryFollowedByUnsyncedEntryIsTruncated(t *testing.T) {
	d := buildDamageLog(t, 1)
	entries := d.inSegment(3)
	k, next := entries[len(entries)-2], entries[len(entries)-1]
	modify(t, k.path, func(b []byte) []byte {
		restamp(b[next.offset:next.offset+entryHeaderSize], next.segment, uint32(k.offset))
		b[k.offset+entryHeaderSize+17] ^= 0x40 // k's body is torn
		return b
	})
	image, err := os.ReadFile(k.path)
	if err != nil {
		t.Fatal(err)
	}
	discarded := lastNonZeroOffset(image) + 1 - k.offset // What the truncation throws away.
	logger, output := testLogger(t)
	l, err := Open(Options{Dir: d.dir, SegmentBytes: testSegmentBytes, Logger: logger})
	if err != nil {
		t.Fatalf("Open refused a log whose bad entry was never synced: %v", err)
	}
	if want := k.header.FirstOp - 1; l.LastOp() != want {
		l.Close()
		t.Fatalf("last op %d after truncating the torn tail, want %d", l.LastOp(), want)
	}
	if !strings.Contains(output.String(), "truncated torn tail") ||
		!strings.Contains(output.String(), fmt.Sprintf("bytes=%d ", discarded)) {
		l.Close()
		t.Fatalf("truncation of %d bytes not logged:\n%s", discarded, output)
	}
	checkContinues(t, l)

	// One byte further and the same bytes are damage: k+1 says k had been synced.
	d = buildDamageLog(t, 1)
	entries = d.inSegment(3)
	k, next = entries[len(entries)-2], entries[len(entries)-1]
	modify(t, k.path, func(b []byte) []byte {
		restamp(b[next.offset:next.offset+entryHeaderSize], next.segment, uint32(k.offset)+1)
		b[k.offset+entryHeaderSize+17] ^= 0x40
		return b
	})
	requireOpenCorrupt(t, d.dir, testSegmentBytes, "Open of a log damaged before a later sync")
}

// lastNonZeroOffset is the offset of the last non-zero byte of b, -1 if none.
func lastNonZeroOffset(b []byte) int64 {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return int64(i)
		}
	}
	return -1
}

// randomBody returns n random bytes: incompressible, so stored raw and exactly n bytes on
// disk.
func randomBody(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

// TestEntryFillingTheSegmentExactly writes, in segments of SegmentBytesMin (the smallest
// allowed), an entry whose body is exactly EntryBodyBytesMax: header, entry header and
// body fill the segment to its last byte. The writer must put it there (not roll past an
// entry that fits), and recovery must see a segment that ends cleanly at an entry's end,
// not a torn or overlong entry. The next entry goes to the next segment.
func TestEntryFillingTheSegmentExactly(t *testing.T) {
	dir := t.TempDir()
	options := func(o *Options) { o.SegmentBytes, o.Compression = SegmentBytesMin, CodecNone }
	l := openTest(t, dir, options)
	full := Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 10, Body: randomBody(1, EntryBodyBytesMax)}
	small := Entry{Epoch: 1, FirstOp: 2, Count: 1, Timestamp: 11, Body: []byte("next")}
	for _, e := range []Entry{full, small} {
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, l, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	scans, err := scanDirectory(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(scans) < 2 || scans[0].Entries != 1 || scans[0].EndOffset != SegmentBytesMin ||
		scans[0].Problem != nil || scans[1].Entries != 1 {
		t.Fatalf("segment 1 should hold exactly the full entry, ending at its last byte: %+v", scans)
	}
	l = openTest(t, dir, options)
	defer l.Close()
	if l.LastOp() != 2 {
		t.Fatalf("recovered last op %d, want 2", l.LastOp())
	}
	read := 0
	err = l.Read(0, func(e *Entry) error {
		want := []Entry{full, small}[read]
		if e.FirstOp != want.FirstOp || !bytes.Equal(e.Body, want.Body) {
			t.Fatalf("entry %d read back differs", read)
		}
		read++
		return nil
	})
	if err != nil || read != 2 {
		t.Fatalf("read %d entries: %v", read, err)
	}
}

// TestEntryBodyBound: a body of exactly EntryBodyBytesMax is a valid entry (Append takes
// it, the header decoder accepts it); one byte more is refused by both.
func TestEntryBodyBound(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	tooLarge := func() (panicked bool) {
		defer func() { panicked = recover() != nil }()
		l.Append(Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 1, Body: make([]byte, EntryBodyBytesMax+1)})
		return false
	}
	if !tooLarge() {
		t.Fatal("Append took a body above EntryBodyBytesMax")
	}
	if err := l.Append(Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 1, Body: make([]byte, EntryBodyBytesMax)}); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, 1)

	header := entryHeader{Codec: CodecNone, Count: 1, FirstOp: 1, Epoch: 1, Timestamp: 1}
	var b [entryHeaderSize]byte
	for _, c := range []struct {
		rawBytes uint32
		want     headerProblem
	}{{EntryBodyBytesMax, headerValid}, {EntryBodyBytesMax + 1, headerInvalid}} {
		header.RawBytes, header.StoredBytes = c.rawBytes, c.rawBytes
		header.encode(b[:])
		var decoded entryHeader
		if kind, reason := decodeEntryHeader(b[:], &decoded); kind != c.want {
			t.Fatalf("raw body of %d bytes: header %d (%s), want %d", c.rawBytes, kind, reason, c.want)
		}
	}
}

// TestOptionBounds: every configurable bound of Options is allowed exactly at its limits
// and refused one step outside (the zero values take defaults, so 0 never reaches the
// checks); SegmentBytesMin and SegmentBytesMax are also the segment header decoder's
// limits.
func TestOptionBounds(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*Options)
		ok     bool
	}{
		{"segment below min", func(o *Options) { o.SegmentBytes = SegmentBytesMin - 1 }, false},
		{"segment min", func(o *Options) { o.SegmentBytes = SegmentBytesMin }, true},
		{"segment max", func(o *Options) { o.SegmentBytes = SegmentBytesMax }, true},
		{"segment above max", func(o *Options) { o.SegmentBytes = SegmentBytesMax + 1 }, false},
		{"sync none", func(o *Options) { o.Sync = SyncNone }, true},
		{"unknown sync", func(o *Options) { o.Sync = SyncNone + 1 }, false},
		{"negative interval", func(o *Options) { o.SyncInterval = -1 }, false},
		{"interval max", func(o *Options) { o.SyncInterval = syncIntervalMax }, true},
		{"interval above max", func(o *Options) { o.SyncInterval = syncIntervalMax + 1 }, false},
		{"zstd", func(o *Options) { o.Compression = CodecZstd }, true},
		{"unknown codec", func(o *Options) { o.Compression = CodecZstd + 1 }, false},
		{"negative depth", func(o *Options) { o.PipelineDepth = -1 }, false},
		{"depth 1", func(o *Options) { o.PipelineDepth = 1 }, true},
		{"depth max", func(o *Options) { o.PipelineDepth = pipelineDepthMax }, true},
		{"depth above max", func(o *Options) { o.PipelineDepth = pipelineDepthMax + 1 }, false},
		{"negative encoders", func(o *Options) { o.EncoderCount = -1 }, false},
		{"1 encoder", func(o *Options) { o.EncoderCount = 1 }, true},
		{"encoders max", func(o *Options) { o.EncoderCount = encoderCountMax }, true},
		{"encoders above max", func(o *Options) { o.EncoderCount = encoderCountMax + 1 }, false},
	} {
		options := Options{Dir: "x"}
		c.change(&options)
		if _, err := options.withDefaults(); (err == nil) != c.ok {
			t.Fatalf("%s: option check error %v, want allowed %v", c.name, err, c.ok)
		}
	}
	for _, c := range []struct {
		bytes int64
		ok    bool
	}{{segmentHeaderSize + entryHeaderSize - 1, false}, {segmentHeaderSize + entryHeaderSize, true},
		{SegmentBytesMax, true}, {SegmentBytesMax + 1, false}} {
		var b [segmentHeaderSize]byte
		(&segmentHeader{Number: 1, Bytes: c.bytes}).encode(b[:])
		var decoded segmentHeader
		if reason, err := decodeSegmentHeader(b[:], &decoded); (err == nil) != c.ok {
			t.Fatalf("segment header of %d bytes: %v %s, want allowed %v", c.bytes, err, reason, c.ok)
		}
	}
}

// TestSegmentOfMaximumSize recovers, writes into and reads back a segment of exactly
// SegmentBytesMax. Zero-filling 1 GiB (twice: the next segment is prepared at once) is
// too slow for the default test run, so the segment is made by growing a small log's
// active segment: its header is rewritten to say SegmentBytesMax and the file extended
// (sparse) to that size. Open must accept it (scanning all of it: the tail must be zero)
// and continue writing into it, and Read must return every entry from the file. Each
// pass over the sparse gigabyte costs ~0.7 s of kernel time, so there is one.
func TestSegmentOfMaximumSize(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	last := appendEntries(t, l, 5)
	waitDurable(t, l, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, segmentName(1))
	modify(t, first, func(b []byte) []byte {
		(&segmentHeader{Number: 1, Bytes: SegmentBytesMax}).encode(b[:segmentHeaderSize])
		return b
	})
	if err := os.Truncate(first, SegmentBytesMax); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if l.LastOp() != last {
		t.Fatalf("recovered last op %d, want %d", l.LastOp(), last)
	}
	last = appendEntries(t, l, 5)
	waitDurable(t, l, last)
	if entries, readLast := readAll(t, l, 0); entries != 10 || readLast != last {
		t.Fatalf("read %d entries up to op %d, want 10 up to %d", entries, readLast, last)
	}
	l.segmentsMutex.Lock()
	active := l.segments[0]
	l.segmentsMutex.Unlock()
	if len(l.segments) != 1 || active.Bytes != SegmentBytesMax || active.Entries != 10 {
		t.Fatalf("segment 1 should be a %d-byte segment holding all 10 entries: %+v", SegmentBytesMax, active)
	}
}

// TestEqualTimestampsAreRefused: timestamps strictly increase. An entry whose timestamp
// equals the previous one is a caller bug for Append (it panics), a discontinuity for
// AppendStored, and damage for recovery (not a torn tail: its checksums are fine).
func TestEqualTimestampsAreRefused(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	var shipped storedCopies
	l.SetObserver(shipped.observe)
	for op := uint64(1); op <= 3; op++ {
		if err := l.Append(Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: 100 + op, Body: []byte("body")}); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, l, 3)
	equal := func() (panicked bool) {
		defer func() { panicked = recover() != nil }()
		l.Append(Entry{Epoch: 1, FirstOp: 4, Count: 1, Timestamp: 103, Body: []byte("same time")})
		return false
	}
	if !equal() {
		t.Fatal("Append took an entry with the previous entry's timestamp")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// The third entry restamped with the second's timestamp, its chain hash recomputed.
	forged := append([]byte(nil), shipped.entries[2]...)
	binary.LittleEndian.PutUint64(forged[entryOffsetTimestamp:], 102)
	resealEntry(forged, 0)
	standby := openTest(t, t.TempDir())
	defer standby.Close()
	for _, stored := range shipped.entries[:2] {
		if err := standby.AppendStored(stored); err != nil {
			t.Fatal(err)
		}
	}
	if err := standby.AppendStored(forged); !errors.Is(err, ErrDiscontinuity) {
		t.Fatalf("AppendStored of an equal timestamp: %v, want ErrDiscontinuity", err)
	}

	scans, err := scanDirectory(dir, nil)
	if err != nil || scans[0].Entries != 3 {
		t.Fatalf("scan: %v", err)
	}
	offset := scans[0].EndOffset - int64(len(forged))
	modify(t, filepath.Join(dir, segmentName(1)), func(b []byte) []byte {
		copy(b[offset:], forged)
		restamp(b[offset:offset+entryHeaderSize], 1, binary.LittleEndian.Uint32(b[offset+entryOffsetSyncedOffset:]))
		return b
	})
	requireOpenCorrupt(t, dir, testSegmentBytes, "Open of a log with equal timestamps")
}

// TestTruncateCorruptDropsSegmentWithDamagedHeader: with TruncateCorrupt, a segment whose
// header is damaged cannot be cut inside (nothing in it can be trusted), so the log ends
// with the previous segment and the damaged segment and every later one are kept aside.
func TestTruncateCorruptDropsSegmentWithDamagedHeader(t *testing.T) {
	d := buildDamageLog(t, 1)
	flipByte(t, d.segmentPath(2), segmentOffsetCreated)
	segmentOne := d.inSegment(1)
	l := openTest(t, d.dir, func(o *Options) { o.TruncateCorrupt = true })
	if want := segmentOne[len(segmentOne)-1].header.FirstOp; l.LastOp() != want {
		l.Close()
		t.Fatalf("last op %d, want %d (the end of segment 1)", l.LastOp(), want)
	}
	for _, n := range []uint64{2, 3} {
		if _, err := os.Stat(d.segmentPath(n) + preservedSuffix); err != nil {
			l.Close()
			t.Fatalf("segment %d not kept aside: %v", n, err)
		}
	}
	checkContinues(t, l)
}

// TestPreparedSegmentSurvivesRestart: the empty segment prepared after the active one is
// adopted by the next Open (the same file, not deleted and made again), and entries that
// roll into it after the restart are durable: a second restart reads them all back.
func TestPreparedSegmentSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	last := appendEntries(t, l, 3)
	waitDurable(t, l, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	prepared := filepath.Join(dir, segmentName(2))
	before, err := os.Stat(prepared)
	if err != nil {
		t.Fatalf("no prepared segment after Close: %v", err)
	}
	l = openTest(t, dir)
	after, err := os.Stat(prepared)
	if err != nil || !os.SameFile(before, after) {
		l.Close()
		t.Fatalf("the prepared segment was not adopted as is: %v", err)
	}
	for l.Stats().Rolls < 2 {
		last = appendEntries(t, l, 20)
	}
	waitDurable(t, l, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if entries, readLast := readAll(t, l, 0); readLast != last || entries == 0 {
		t.Fatalf("read up to op %d after rolling through the adopted segment, want %d", readLast, last)
	}
}

// TestTruncateCorruptAtAGap: with TruncateCorrupt, damage that is not inside a segment (a
// segment missing between two others, or an empty segment followed by non-empty ones)
// cuts the log before that segment: the log ends with the last intact segment and the
// later ones are kept aside.
func TestTruncateCorruptAtAGap(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, d *damageLog)
		aside  []uint64 // segments kept as *.corrupt
	}{
		{"missing segment", func(t *testing.T, d *damageLog) {
			if err := os.Remove(d.segmentPath(2)); err != nil {
				t.Fatal(err)
			}
		}, []uint64{3}},
		{"empty segment", func(t *testing.T, d *damageLog) {
			stat, err := os.Stat(d.segmentPath(2))
			if err != nil {
				t.Fatal(err)
			}
			zeroRange(t, d.segmentPath(2), segmentHeaderSize, stat.Size())
		}, []uint64{2, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := buildDamageLog(t, 1)
			c.damage(t, d)
			segmentOne := d.inSegment(1)
			l := openTest(t, d.dir, func(o *Options) { o.TruncateCorrupt = true })
			if want := segmentOne[len(segmentOne)-1].header.FirstOp; l.LastOp() != want {
				l.Close()
				t.Fatalf("last op %d, want %d (the end of segment 1)", l.LastOp(), want)
			}
			for _, n := range c.aside {
				if _, err := os.Stat(d.segmentPath(n) + preservedSuffix); err != nil {
					l.Close()
					t.Fatalf("segment %d not kept aside: %v", n, err)
				}
			}
			checkContinues(t, l)
		})
	}
}

// TestShortSegmentFileIsDamage: a segment file shorter than its header says is a
// problem wherever the cut falls, including inside the last entry-header-sized space
// after its last entry (where a scanner could mistake "no room for another entry" for
// the clean end). In a segment followed by others, that is damage: Open refuses it.
func TestShortSegmentFileIsDamage(t *testing.T) {
	dir := t.TempDir()
	options := func(o *Options) { o.SegmentBytes, o.Compression = SegmentBytesMin, CodecNone }
	l := openTest(t, dir, options)
	// The first entry ends exactly one entry header before the end of segment 1.
	bodies := [][]byte{randomBody(1, EntryBodyBytesMax-entryHeaderSize), []byte("next")}
	for i, body := range bodies {
		if err := l.Append(Entry{Epoch: 1, FirstOp: uint64(i + 1), Count: 1, Timestamp: uint64(10 + i), Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, l, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, segmentName(1)), SegmentBytesMin-entryHeaderSize/2); err != nil {
		t.Fatal(err)
	}
	requireOpenCorrupt(t, dir, SegmentBytesMin, "Open with a short middle segment")
}

// TestMissingSegmentsAreCounted: a gap in the segment numbers is damage, and the error
// says how many segments are missing before the one after the gap.
func TestMissingSegmentsAreCounted(t *testing.T) {
	d := buildDamageLog(t, 1)
	if err := os.Remove(d.segmentPath(2)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: d.dir, SegmentBytes: testSegmentBytes, Logger: discardLogger()})
	if !errors.Is(err, ErrMissingSegment) || !strings.Contains(err.Error(), "1 segment(s) missing") {
		t.Fatalf("Open with segment 2 missing: %v", err)
	}
}

// TestVerifyNamesASnapshotItCannotRestore: when the log starts after op 1 (retired),
// Verify must start from a snapshot; one that is intact as a file but whose state the
// replayer refuses is reported as such, naming the snapshot.
func TestVerifyNamesASnapshotItCannotRestore(t *testing.T) {
	l, snapshots, ops := snapshotLog(t, 1200, 700)
	dir := l.options.Dir
	if _, err := l.Retire(ops[0], ""); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	infos, err := ListSnapshots(snapshots)
	if err != nil || len(infos) != 1 {
		t.Fatalf("snapshots %v (%v)", infos, err)
	}
	if err := os.Remove(infos[0].Path); err != nil {
		t.Fatal(err)
	}
	info, err := WriteSnapshot(snapshots, infos[0].Meta, stateBytes("short")) // sumReplayer needs 16 bytes.
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(dir, snapshots, &sumReplayer{})
	if err == nil || !strings.Contains(err.Error(), "restore") || !strings.Contains(err.Error(), info.Path) {
		t.Fatalf("Verify with an unrestorable snapshot: %v", err)
	}
}

// TestEmptySnapshot: a snapshot of an empty state (zero raw bytes) is valid: it is
// listed without error and reads back as empty.
func TestEmptySnapshot(t *testing.T) {
	dir := t.TempDir()
	info, err := WriteSnapshot(dir, SnapshotMeta{Op: 5, Epoch: 1}, stateBytes(nil))
	if err != nil {
		t.Fatal(err)
	}
	infos, err := ListSnapshots(dir)
	if err != nil || len(infos) != 1 || infos[0].Err != nil || infos[0].RawBytes != 0 {
		t.Fatalf("listing an empty snapshot: %+v (%v)", infos, err)
	}
	meta, state, err := readSnapshot(t, info.Path)
	if err != nil || meta.Op != 5 || len(state) != 0 {
		t.Fatalf("reading an empty snapshot: op %d, %d bytes (%v)", meta.Op, len(state), err)
	}
}

// TestChainsOfEntryBoundariesOnly: ChainAt answers for the last op of each entry, from
// the ring of recent chain points (which has wrapped here: more entries than it holds)
// and, for older entries, from the segment headers. An op inside an entry is not a
// boundary, wherever it lies. RecentChains lists the newest boundaries, newest first.
func TestChainsOfEntryBoundariesOnly(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.Sync = SyncNone })
	defer l.Close()
	small := make([]byte, 16)
	entries := uint64(recentChainCountMax + 300)
	for i := uint64(0); i < entries; i++ {
		e := Entry{Epoch: 1, FirstOp: 2*i + 1, Count: 2, Timestamp: i + 1, Body: small}
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, l, l.LastOp())
	want := map[uint64][32]byte{}
	if _, err := scanDirectory(dir, func(_ *segmentScan, e *scannedEntry) error {
		want[e.Header.LastOp()] = e.Header.Chain
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for op := uint64(1); op <= 2*entries; op++ {
		if op == 40 {
			op = 2 * (entries - recentChainCountMax - 20) // Older ops scan headers: a few do.
		}
		chain, ok := l.ChainAt(op)
		boundary := op%2 == 0
		if ok != boundary || (boundary && chain != want[op]) {
			t.Fatalf("ChainAt(%d) = %x, %v; a boundary: %v", op, chain[:4], ok, boundary)
		}
	}
	recent := l.RecentChains(3)
	for i, point := range recent {
		op := 2*entries - 2*uint64(i)
		if point.LastOp != op || point.Chain != want[op] {
			t.Fatalf("RecentChains[%d] = op %d, want op %d and its chain", i, point.LastOp, op)
		}
	}
	if len(recent) != 3 {
		t.Fatalf("%d recent chains, want 3", len(recent))
	}
}

// TestReadMeetsADamagedSegmentHeader: a reader that reaches a segment whose header was
// damaged after Open (nothing in it can be trusted) stops with ErrCorrupt naming that
// segment, after delivering the entries before it.
func TestReadMeetsADamagedSegmentHeader(t *testing.T) {
	d := buildDamageLog(t, 1)
	l := openTest(t, d.dir)
	defer l.Close()
	flipByte(t, d.segmentPath(2), segmentOffsetCreated)
	delivered := uint64(0)
	err := l.Read(0, func(e *Entry) error { delivered = e.LastOp(); return nil })
	segmentOne := d.inSegment(1)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "segment 2") ||
		delivered != segmentOne[len(segmentOne)-1].header.LastOp() {
		t.Fatalf("Read over a damaged segment header: %v after op %d", err, delivered)
	}
}

// TestSnapshotFileShorterThanItsHeader: a snapshot file cut inside its header is
// reported as corrupt, not read.
func TestSnapshotFileShorterThanItsHeader(t *testing.T) {
	dir := t.TempDir()
	info, err := WriteSnapshot(dir, SnapshotMeta{Op: 5, Epoch: 1}, makeState(1, 1<<10))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(info.Path, 40); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenSnapshot(info.Path); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("OpenSnapshot of a cut header: %v, want ErrSnapshotCorrupt", err)
	}
}

// TestNothingIsAppendedAfterAFailure: a write or fdatasync failure is sticky. From then
// on Append and AppendStored return it and queue nothing, and Durable never moves.
func TestNothingIsAppendedAfterAFailure(t *testing.T) {
	l := openTest(t, t.TempDir())
	var shipped storedCopies
	l.SetObserver(shipped.observe)
	last := appendEntries(t, l, 2)
	waitDurable(t, l, last)
	failure := errors.New("disk gone")
	l.fail(failure)
	if err := l.Append(entryFor(last + 1)); !errors.Is(err, failure) {
		t.Fatalf("Append after a failure: %v", err)
	}
	if err := l.AppendStored(shipped.entries[0]); !errors.Is(err, failure) {
		t.Fatalf("AppendStored after a failure: %v", err)
	}
	if l.LastOp() != last || l.Durable() != last {
		t.Fatalf("after a failure: last op %d, durable %d, want both %d", l.LastOp(), l.Durable(), last)
	}
	if err := l.Close(); !errors.Is(err, failure) {
		t.Fatalf("Close after a failure: %v", err)
	}
}

// TestLastChainWaitsForTheSeal: LastChain returns the chain of the last entry appended,
// waiting for the writer to seal it when it has not yet (the pipeline is full here, so
// it has not), rather than an older chain.
func TestLastChainWaitsForTheSeal(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.Compression = CodecNone })
	defer l.Close()
	for op := uint64(1); op <= PipelineDepthDefault; op++ {
		if err := l.Append(Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op,
			Body: randomBody(op, 1<<20)}); err != nil {
			t.Fatal(err)
		}
	}
	chain := l.LastChain()
	waitDurable(t, l, PipelineDepthDefault)
	if want, ok := l.ChainAt(PipelineDepthDefault); !ok || chain != want {
		t.Fatal("LastChain returned the chain of an earlier entry")
	}
}

// TestSnapshotStateShorterThanItsHeaderSays: a snapshot whose header (checksum intact)
// claims one raw byte more than its body holds is corrupt when read to the end.
func TestSnapshotStateShorterThanItsHeaderSays(t *testing.T) {
	dir := t.TempDir()
	info, err := WriteSnapshot(dir, SnapshotMeta{Op: 5, Epoch: 1}, makeState(1, 1<<12))
	if err != nil {
		t.Fatal(err)
	}
	modify(t, info.Path, func(b []byte) []byte {
		binary.LittleEndian.PutUint64(b[snapshotOffsetRawBytes:], uint64(info.RawBytes)+1)
		putHeaderCRC(b[:snapshotHeaderSize], snapshotOffsetHeaderCRC)
		return b
	})
	if _, _, err := readSnapshot(t, info.Path); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("reading a state shorter than its header says: %v, want ErrSnapshotCorrupt", err)
	}
}

// TestStandbyLogReopens: a standby's log holds the primary's entries with its own local
// fields (segment number, synced offset), which the chain hash leaves out. Reopened, the
// standby's log must verify against its own chain hashes and continue the primary's
// chain.
func TestStandbyLogReopens(t *testing.T) {
	primary := openTest(t, t.TempDir())
	defer primary.Close()
	var shipped storedCopies
	primary.SetObserver(shipped.observe)
	last := appendEntries(t, primary, 300)
	waitDurable(t, primary, last)
	dir := t.TempDir()
	standby := openTest(t, dir, func(o *Options) { o.SegmentBytes = testSegmentBytes + 1<<20 })
	for _, stored := range shipped.entries {
		if err := standby.AppendStored(stored); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, standby, last)
	if err := standby.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := openTest(t, dir, func(o *Options) { o.SegmentBytes = testSegmentBytes + 1<<20 })
	defer reopened.Close()
	if reopened.LastOp() != last || reopened.LastChain() != primary.LastChain() {
		t.Fatalf("reopened standby: last op %d (want %d), chain equal %v", reopened.LastOp(), last,
			reopened.LastChain() == primary.LastChain())
	}
}

// TestSecondOpenIsRefused: one log directory, one writer: a second Open of a directory
// that is open fails, and succeeds once the first is closed.
func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if second, err := Open(Options{Dir: dir, SegmentBytes: testSegmentBytes, Logger: discardLogger()}); err == nil {
		second.Close()
		l.Close()
		t.Fatal("a second Open of an open log succeeded")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	openTest(t, dir).Close()
}

// TestTruncateAfterSeveralSegmentsReopens: cutting several segments back drops the
// segment that was prepared after the old end too, so the directory has no stray later
// segment (which the next Open would take for a gap) and reopens at the cut.
func TestTruncateAfterSeveralSegmentsReopens(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	for l.Stats().Rolls < 3 {
		appendEntries(t, l, 50)
	}
	waitDurable(t, l, l.LastOp())
	l.segmentsMutex.Lock()
	cut := l.segments[0].LastOp
	l.segmentsMutex.Unlock()
	if err := l.TruncateAfter(cut); err != nil {
		t.Fatal(err)
	}
	// The live log's index follows the cut: appends continue it and read back.
	last := appendEntries(t, l, 3)
	waitDurable(t, l, last)
	if _, readLast := readAll(t, l, 0); readLast != last {
		t.Fatalf("read up to op %d after the cut and 3 appends, want %d", readLast, last)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := openTest(t, dir)
	defer reopened.Close()
	if reopened.LastOp() != last {
		t.Fatalf("reopened at op %d, want %d", reopened.LastOp(), last)
	}
}

// TestStraySegmentsAfterThePreparedOneAreRemoved: only an interrupted truncation leaves
// empty segments beyond the prepared one; Open keeps the first (the prepared segment)
// and deletes the others, so that no stale file lingers under a number the log will
// reach later.
func TestStraySegmentsAfterThePreparedOneAreRemoved(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	last := appendEntries(t, l, 3)
	waitDurable(t, l, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	prepared, err := os.ReadFile(filepath.Join(dir, segmentName(2)))
	if err != nil {
		t.Fatal(err)
	}
	// Two strays: every one is removed, not only the first.
	var strays []string
	for _, number := range []uint64{3, 4} {
		(&segmentHeader{Number: number, Bytes: int64(len(prepared))}).encode(prepared[:segmentHeaderSize])
		stray := filepath.Join(dir, segmentName(number))
		if err := os.WriteFile(stray, prepared, 0o644); err != nil {
			t.Fatal(err)
		}
		strays = append(strays, stray)
	}
	l = openTest(t, dir)
	defer l.Close()
	for _, stray := range strays {
		if _, err := os.Stat(stray); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the stray segment %s is still there after Open: %v", stray, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(2))); err != nil {
		t.Fatalf("the prepared segment 2 is gone: %v", err)
	}
	if l.LastOp() != last {
		t.Fatalf("last op %d, want %d", l.LastOp(), last)
	}
}

// TestVerifyStartsFromAnEmptyState: a log that starts at op 1 is replayed from an empty
// state whatever the replayer held before, so the snapshots check out.
func TestVerifyStartsFromAnEmptyState(t *testing.T) {
	l, snapshots, _ := snapshotLog(t, 300, 100, 250)
	dir := l.options.Dir
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	used := &sumReplayer{ops: 99, sum: 12345} // Left over from an earlier run.
	if report, err := Verify(dir, snapshots, used); err != nil || len(report.SnapshotsChecked) != 2 {
		t.Fatalf("Verify with a used replayer: %v\n%s", err, report.String())
	}
}

// TestVerifyStopsTheReplayAtDamage: Verify of a log damaged in the middle reports the
// damage and replays nothing after it, even though later segments hold valid entries.
func TestVerifyStopsTheReplayAtDamage(t *testing.T) {
	d := buildDamageLog(t, 1)
	bad := d.inSegment(2)[1]
	flipByte(t, bad.path, bad.offset+entryHeaderSize+5)
	report, err := Verify(d.dir, "", &sumReplayer{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify of a damaged log: %v", err)
	}
	if want := bad.header.FirstOp - 1; report.LastOp != want || report.EntriesApplied != int64(want) {
		t.Fatalf("replayed up to op %d (%d entries), want %d: the replay went past the damage",
			report.LastOp, report.EntriesApplied, want)
	}
}

// TestOpenFailsWhenATemporarySegmentCannotGo: Open deletes the temporary files of an
// interrupted segment preparation; when one cannot be deleted (here a non-empty
// directory has such a name), Open fails rather than go on beside it.
func TestOpenFailsWhenATemporarySegmentCannotGo(t *testing.T) {
	dir := t.TempDir()
	stuck := filepath.Join(dir, segmentName(7)+temporarySuffix)
	if err := os.MkdirAll(filepath.Join(stuck, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(Options{Dir: dir, SegmentBytes: testSegmentBytes, Logger: discardLogger()}); err == nil {
		l.Close()
		t.Fatal("Open went on beside a temporary segment it could not delete")
	}
}

// TestEntryHeaderFieldChecks: a header whose checksum is right but whose fields cannot
// describe an entry is invalid (damage, never a torn write), one check per field; the
// valid headers around each bound decode.
func TestEntryHeaderFieldChecks(t *testing.T) {
	valid := entryHeader{Codec: CodecS2, Count: 2, Epoch: 1, FirstOp: 10, Timestamp: 5,
		StoredBytes: 50, RawBytes: 100}
	for _, c := range []struct {
		name   string
		change func(h *entryHeader)
		want   headerProblem
	}{
		{"valid", func(*entryHeader) {}, headerValid},
		{"raw body stored raw", func(h *entryHeader) { h.Codec, h.StoredBytes = CodecNone, 100 }, headerValid},
		{"empty raw body", func(h *entryHeader) { h.Codec, h.StoredBytes, h.RawBytes = CodecNone, 0, 0 }, headerValid},
		{"last op is the largest", func(h *entryHeader) { h.FirstOp = ^uint64(0) - 1 }, headerValid},
		{"reserved byte", func(h *entryHeader) { h.Reserved = 1 }, headerInvalid},
		{"codec auto on disk", func(h *entryHeader) { h.Codec = CodecAuto }, headerInvalid},
		{"unknown codec", func(h *entryHeader) { h.Codec = CodecZstd + 1 }, headerInvalid},
		{"no command", func(h *entryHeader) { h.Count = 0 }, headerInvalid},
		{"op 0", func(h *entryHeader) { h.FirstOp = 0 }, headerInvalid},
		{"op range overflows", func(h *entryHeader) { h.FirstOp = ^uint64(0) }, headerInvalid},
		{"stored larger than raw", func(h *entryHeader) { h.StoredBytes = 101 }, headerInvalid},
		{"raw stored, lengths differ", func(h *entryHeader) { h.Codec = CodecNone }, headerInvalid},
		{"compressed, zero bytes", func(h *entryHeader) { h.StoredBytes = 0 }, headerInvalid},
	} {
		h := valid
		c.change(&h)
		var b [entryHeaderSize]byte
		h.encode(b[:])
		b[entryOffsetReserved] = h.Reserved // encode always writes 0 there
		putHeaderCRC(b[:], entryOffsetHeaderCRC)
		var decoded entryHeader
		if kind, reason := decodeEntryHeader(b[:], &decoded); kind != c.want {
			t.Fatalf("%s: header problem %d (%s), want %d", c.name, kind, reason, c.want)
		}
	}
	// A wrong magic in a header that is not all zeros: a partly written header (torn).
	var b [entryHeaderSize]byte
	valid.encode(b[:])
	b[entryOffsetMagic] ^= 1
	putHeaderCRC(b[:], entryOffsetHeaderCRC) // A sound checksum does not make it an entry.
	var decoded entryHeader
	if kind, _ := decodeEntryHeader(b[:], &decoded); kind != headerTorn {
		t.Fatalf("bad magic: header problem %d, want torn", kind)
	}
}

// TestDamageFoundBeyondTheFirstReadWindow: the proof that a bad entry had been synced
// (a later entry whose synced offset lies past it) may sit anywhere in the segment, also
// beyond the first window the evidence search reads (readBufferBytes). Here the entries
// of the first window prove nothing (as if written in one group after the bad one) and
// only a later one does: the bad entry is damage, and Open refuses the log rather than
// truncate synced entries as a torn tail.
func TestDamageFoundBeyondTheFirstReadWindow(t *testing.T) {
	dir := t.TempDir()
	segmentBytes := int64(3 * readBufferBytes)
	l := openTest(t, dir, func(o *Options) { o.SegmentBytes, o.Compression = segmentBytes, CodecNone })
	body := randomBody(7, 300<<10)
	for op := uint64(1); op <= 20; op++ { // 20 × 300 KiB: past the first window.
		if err := l.Append(Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: body}); err != nil {
			t.Fatal(err)
		}
		waitDurable(t, l, op)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var offsets []int64
	if _, err := scanDirectory(dir, func(_ *segmentScan, e *scannedEntry) error {
		offsets = append(offsets, e.Offset)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	bad := offsets[1]
	modify(t, filepath.Join(dir, segmentName(1)), func(b []byte) []byte {
		b[bad+entryHeaderSize+9] ^= 0x40
		for _, offset := range offsets[2:] {
			if offset+entryHeaderSize <= bad+readBufferBytes { // Inside the first window.
				restamp(b[offset:offset+entryHeaderSize], 1, uint32(bad))
			}
		}
		return b
	})
	requireOpenCorrupt(t, dir, segmentBytes, "Open of a log damaged before a sync proven past the first window")
}

// TestReopenKeepsRecentChains: Open rebuilds the ring of recent chain points from the
// log, so right after a restart RecentChains (what a rejoining standby sends) lists the
// newest boundaries, not just the last one.
func TestReopenKeepsRecentChains(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	last := appendEntries(t, l, 20)
	waitDurable(t, l, last)
	before := l.RecentChains(10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if after := l.RecentChains(10); len(before) != 10 || !slices.Equal(after, before) {
		t.Fatalf("recent chains after a reopen: %d points, want the same 10 as before", len(after))
	}
}

// TestForeignFilesAreIgnored: files that only look like segments or snapshots (segment
// number 0, a name with a non-digit, a snapshot name with too few digits) are not part of
// the log: Open and ListSnapshots ignore them.
func TestForeignFilesAreIgnored(t *testing.T) {
	dir, snapshots := t.TempDir(), t.TempDir()
	for _, name := range []string{"00000000000000000000.wal", "0000000000000000000x.wal"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not a segment"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := openTest(t, dir)
	last := appendEntries(t, l, 2)
	waitDurable(t, l, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(snapshots, "snapshot-123.snap"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if infos, err := ListSnapshots(snapshots); err != nil || len(infos) != 0 {
		t.Fatalf("ListSnapshots listed %d foreign files (%v)", len(infos), err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if l.LastOp() != last {
		t.Fatalf("last op %d, want %d", l.LastOp(), last)
	}
}

// TestRetireAtASegmentsLastOp: a segment whose last op is exactly the op covered by the
// snapshot is retired; the log then starts at the next segment.
func TestRetireAtASegmentsLastOp(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	for l.Stats().Rolls < 2 {
		appendEntries(t, l, 50)
	}
	waitDurable(t, l, l.LastOp())
	l.segmentsMutex.Lock()
	first, second := l.segments[0], l.segments[1]
	l.segmentsMutex.Unlock()
	if retired, err := l.Retire(first.LastOp, ""); err != nil || retired != 1 {
		t.Fatalf("retired %d (%v), want 1", retired, err)
	}
	if l.FirstOp() != second.FirstOp {
		t.Fatalf("first op %d after retiring, want %d", l.FirstOp(), second.FirstOp)
	}
}

// TestClosedLogRefusesAppends: after Close, Append and AppendStored return ErrClosed.
func TestClosedLogRefusesAppends(t *testing.T) {
	l := openTest(t, t.TempDir())
	var shipped storedCopies
	l.SetObserver(shipped.observe)
	last := appendEntries(t, l, 1)
	waitDurable(t, l, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(entryFor(last + 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := l.AppendStored(shipped.entries[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("AppendStored after Close: %v", err)
	}
}

// TestMemoryLogReadsAfterAnEntry: the in-memory log's Read after the last op of an entry
// starts with the next entry, as the file log's does.
func TestMemoryLogReadsAfterAnEntry(t *testing.T) {
	m := NewMemoryLog()
	appendEntries(t, m, 3)
	first := entryFor(1)
	var ops []uint64
	if err := m.Read(first.LastOp(), func(e *Entry) error { ops = append(ops, e.FirstOp); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0] != first.LastOp()+1 {
		t.Fatalf("read after op %d started at %v, want the second entry", first.LastOp(), ops)
	}
}

// TestInspectReportsProblems: the text report of a damaged log names the problem.
func TestInspectReportsProblems(t *testing.T) {
	d := buildDamageLog(t, 1)
	bad := d.inSegment(2)[1]
	flipByte(t, bad.path, bad.offset+entryHeaderSize+5)
	report, err := Inspect(d.dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if text := report.String(); len(report.Problems) == 0 || !strings.Contains(text, "PROBLEM: ") {
		t.Fatalf("inspect report without its problem:\n%s", text)
	}
}

// TestCodecNames: every codec has its name (in JSON reports and logs), an unknown one a
// number.
func TestCodecNames(t *testing.T) {
	for codec, want := range map[Codec]string{CodecAuto: "auto", CodecNone: "none", CodecS2: "s2",
		CodecZstd: "zstd", CodecZstd + 1: "codec(4)"} {
		if got := codec.String(); got != want {
			t.Fatalf("codec %d is %q, want %q", uint8(codec), got, want)
		}
	}
}

// TestZstdBodyOfTheWrongLength: a zstd body that decodes to another length than its
// header says is refused.
func TestZstdBodyOfTheWrongLength(t *testing.T) {
	raw := transfersBody(newRand(3), 1, 40)
	stored, codec := compress(CodecZstd, make([]byte, compressBound(len(raw))), raw)
	if codec != CodecZstd {
		t.Fatalf("zstd did not pay on %d bytes of transfers", len(raw))
	}
	if _, err := decompress(nil, stored, CodecZstd, len(raw)); err != nil {
		t.Fatalf("the right length: %v", err)
	}
	if _, err := decompress(nil, stored, CodecZstd, len(raw)-1); err == nil {
		t.Fatal("a zstd body one byte longer than its header says decoded")
	}
}

// TestCompressionPaysAndIsCounted: by default, a body that compresses well is stored
// compressed, and the writer's counters say how many bytes it wrote (headers included)
// for how many raw bytes; with CodecNone everything is stored raw.
func TestCompressionPaysAndIsCounted(t *testing.T) {
	for _, c := range []struct {
		codec      Codec
		compressed bool
	}{{CodecAuto, true}, {CodecS2, true}, {CodecZstd, true}, {CodecNone, false}} {
		l := openTest(t, t.TempDir(), func(o *Options) { o.Compression = c.codec })
		raw := transfersBody(newRand(5), 1, 200)
		if err := l.Append(Entry{Epoch: 1, FirstOp: 1, Count: 200, Timestamp: 1, Body: raw}); err != nil {
			t.Fatal(err)
		}
		waitDurable(t, l, 200)
		stats := l.Stats()
		stored := stats.StoredBytes - entryHeaderSize
		if stats.RawBytes != uint64(len(raw)) || (stored < stats.RawBytes) != c.compressed || stored == 0 {
			t.Fatalf("codec %v: stored %d body bytes for %d raw, want compressed %v", c.codec,
				stored, stats.RawBytes, c.compressed)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyRefusesASnapshotFromAnotherHistory: a retired log starts right after a
// snapshot; a snapshot whose chain is not the one the log's first entry continues comes
// from another history, and Verify says so.
func TestVerifyRefusesASnapshotFromAnotherHistory(t *testing.T) {
	l, snapshots, ops := snapshotLog(t, 1200, 700)
	dir := l.options.Dir
	if _, err := l.Retire(ops[0], ""); err != nil {
		t.Fatal(err)
	}
	firstOp := l.FirstOp()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	infos, err := ListSnapshots(snapshots)
	if err != nil || len(infos) != 1 {
		t.Fatalf("snapshots %v (%v)", infos, err)
	}
	// A snapshot right before the log's first entry, with a foreign chain.
	meta := infos[0].Meta
	meta.Op, meta.Chain = firstOp-1, [32]byte{1}
	if err := os.Remove(infos[0].Path); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSnapshot(snapshots, meta, &sumReplayer{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir, snapshots, &sumReplayer{}); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "chain differs") {
		t.Fatalf("Verify with a snapshot of another history: %v", err)
	}
}

// TestTruncateEverythingAndStartAgain: TruncateAfter(0) empties a log of several
// segments; the next entries start again at op 1, and the log's index says so (first op,
// reads) before and after a reopen.
func TestTruncateEverythingAndStartAgain(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	for l.Stats().Rolls < 2 {
		appendEntries(t, l, 50)
	}
	waitDurable(t, l, l.LastOp())
	if err := l.TruncateAfter(0); err != nil {
		t.Fatal(err)
	}
	if l.FirstOp() != 0 || l.LastOp() != 0 {
		t.Fatalf("after emptying: first op %d, last op %d", l.FirstOp(), l.LastOp())
	}
	last := appendEntries(t, l, 3)
	waitDurable(t, l, last)
	if entries, readLast := readAll(t, l, 0); l.FirstOp() != 1 || entries != 3 || readLast != last {
		t.Fatalf("after starting again: first op %d, read %d entries up to %d", l.FirstOp(), entries, readLast)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if l.FirstOp() != 1 || l.LastOp() != last {
		t.Fatalf("reopened: ops %d..%d, want 1..%d", l.FirstOp(), l.LastOp(), last)
	}
}

// requireOpenCorrupt fails the test unless Open refuses the log in dir as ErrCorrupt
// (what: the case, for the message); a log that opens anyway is closed.
func requireOpenCorrupt(t *testing.T, dir string, segmentBytes int64, what string) {
	t.Helper()
	l, err := Open(Options{Dir: dir, SegmentBytes: segmentBytes, Logger: discardLogger()})
	if err == nil {
		l.Close()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: %v, want ErrCorrupt", what, err)
	}
}

// TestPositionErrorSaysWhere: the message of a problem names the segment, the offset and,
// when known, the op, which is what an operator needs to find it.
func TestPositionErrorSaysWhere(t *testing.T) {
	for _, c := range []struct {
		op   uint64
		want string
	}{
		{45, "wal: corrupt log: segment 3 offset 4096 op 45 (x.wal): bad"},
		{0, "wal: corrupt log: segment 3 offset 4096 (x.wal): bad"},
	} {
		err := &PositionError{Path: "x.wal", Segment: 3, Offset: 4096, Op: c.op, Reason: "bad",
			Err: ErrCorrupt}
		if err.Error() != c.want {
			t.Fatalf("op %d: %q, want %q", c.op, err.Error(), c.want)
		}
	}
}

// TestChainBreakWithOpsGoingBackIsDamage: after a gap (segment 2 missing), segment 3's
// first entry claims to continue segment 1's last entry (its previous chain hash) while
// its op numbers go back. Recovery's ring of recent chains must start a new run there
// rather than append a point out of order: Open reports the gap as damage (and with
// TruncateCorrupt cuts there), it does not panic.
func TestChainBreakWithOpsGoingBackIsDamage(t *testing.T) {
	for _, truncate := range []bool{false, true} {
		d := buildDamageLog(t, 1)
		if err := os.Remove(d.segmentPath(2)); err != nil {
			t.Fatal(err)
		}
		one, three := d.inSegment(1), d.inSegment(3)
		last := one[len(one)-1].header
		modify(t, d.segmentPath(3), func(b []byte) []byte {
			header := b[three[0].offset:]
			binary.LittleEndian.PutUint64(header[entryOffsetFirstOp:], last.FirstOp)
			copy(header[entryOffsetPreviousChain:], last.Chain[:])
			resealEntry(b, three[0].offset)
			return b
		})
		l, err := Open(Options{Dir: d.dir, SegmentBytes: testSegmentBytes, Logger: discardLogger(),
			TruncateCorrupt: truncate})
		switch {
		case !truncate && !errors.Is(err, ErrMissingSegment):
			t.Fatalf("Open: %v, want ErrMissingSegment", err)
		case truncate && err != nil:
			t.Fatalf("Open with TruncateCorrupt: %v", err)
		case truncate && l.LastOp() != last.LastOp():
			l.Close()
			t.Fatalf("last op %d, want %d (the end of segment 1)", l.LastOp(), last.LastOp())
		case truncate:
			checkContinues(t, l)
		}
	}
}

// TestPairAssertions: the assertions that `-race` and `-tags invariants` builds run after
// sealing and compressing an entry pass on a sound result and fire on a wrong one.
func TestPairAssertions(t *testing.T) {
	panics := func(f func()) (panicked bool) {
		defer func() { panicked = recover() != nil }()
		f()
		return false
	}
	h := entryHeader{Codec: CodecNone, Count: 1, Epoch: 1, Segment: 1, FirstOp: 1, Timestamp: 10,
		StoredBytes: 4, RawBytes: 4, SyncedOffset: segmentHeaderSize}
	header := make([]byte, entryHeaderSize)
	h.encode(header)
	var decoded entryHeader // As seal has it for a stored entry: magic, version and crc set.
	if kind, reason := decodeEntryHeader(header, &decoded); kind != headerValid {
		t.Fatalf("header: %s", reason)
	}
	other := h
	other.Count++
	raw := bytes.Repeat([]byte("transfer"), 100)
	stored, codec := compress(CodecS2, make([]byte, compressBound(len(raw))), raw)
	for _, c := range []struct {
		name  string
		check func()
		fires bool
	}{
		{"sealed header", func() { assertSealed(header, &h) }, false},
		{"decoded header", func() { assertSealed(header, &decoded) }, false},
		{"header of other fields", func() { assertSealed(header, &other) }, true},
		{"header that does not decode", func() { assertSealed(make([]byte, entryHeaderSize), &entryHeader{}) }, true},
		{"compressed body", func() { assertDecompresses(stored, codec, raw) }, false},
		{"body of other bytes", func() { assertDecompresses(stored, codec, raw[1:]) }, true},
		{"body that does not decode", func() { assertDecompresses(raw, codec, raw) }, true},
	} {
		if got := panics(c.check); got != c.fires {
			t.Errorf("%s: assertion fired %v, want %v", c.name, got, c.fires)
		}
	}
	if codec != CodecS2 {
		t.Fatalf("codec %v, want s2 (the body is compressible)", codec)
	}
}
