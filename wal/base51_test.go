package wal

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStartAfterSurvivesReopen (base51): StartAfter kept the base in memory only, so a
// log closed before its first entry reopened empty (last op 0), which a snapshot at the
// base's op could not be told from a log that lost its entries (shard recovery refused
// it). The base is now durable when StartAfter returns: the reopened log ends at the base,
// with its chain, reads nothing after it, and its next entry must continue it.
func TestStartAfterSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	chain := [32]byte{1, 2, 3}
	if err := l.StartAfter(100, chain); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	if l.LastOp() != 100 || l.Durable() != 100 || l.FirstOp() != 0 || l.LastChain() != chain {
		l.Close()
		t.Fatalf("reopened: last %d durable %d first %d, want the base at op 100",
			l.LastOp(), l.Durable(), l.FirstOp())
	}
	if got, ok := l.ChainAt(100); !ok || got != chain {
		l.Close()
		t.Fatal("ChainAt(base) after reopening")
	}
	if entries, _ := readAll(t, l, 100); entries != 0 {
		l.Close()
		t.Fatalf("read %d entries after the base of an empty log", entries)
	}
	if err := l.StartAfter(5, chain); err == nil {
		l.Close()
		t.Fatal("StartAfter on a reopened log that has a base")
	}
	if err := l.Append(Entry{Epoch: 2, FirstOp: 101, Count: 2, Timestamp: 9,
		Body: []byte("x")}); err != nil {
		l.Close()
		t.Fatal(err)
	}
	waitDurable(t, l, 102)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if l.FirstOp() != 101 || l.LastOp() != 102 {
		t.Fatalf("reopened with an entry: ops %d..%d, want 101..102", l.FirstOp(), l.LastOp())
	}
	var h entryHeader
	if err := l.scanHeadersOf(l.segments[0], func(header *entryHeader, _ int64) bool {
		h = *header
		return false
	}); err != nil || h.PreviousChain != chain {
		t.Fatalf("the first entry does not link to the base (%v)", err)
	}
}

// TestBaseSurvivesATornFirstEntry: a crash in the first entry's write after StartAfter
// leaves a torn tail, which Open cuts by rewriting the segment; the rewrite keeps the
// header's base, so this open and the next both end at the base.
func TestBaseSurvivesATornFirstEntry(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	chain := [32]byte{4}
	if err := l.StartAfter(100, chain); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Entry{Epoch: 1, FirstOp: 101, Count: 1, Timestamp: 9,
		Body: []byte("a body of some bytes")}); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, 101)
	path := l.segments[0].Path
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A byte of the body: its checksum fails, and no later entry proves it was synced.
	if _, err := file.WriteAt([]byte{0xff}, segmentHeaderSize+entryHeaderSize+3); err != nil {
		t.Fatal(err)
	}
	file.Close()
	for round := 1; round <= 2; round++ {
		l = openTest(t, dir)
		last, lastChain := l.LastOp(), l.LastChain()
		l.Close()
		if last != 100 || lastChain != chain {
			t.Fatalf("open %d after a torn first entry: last op %d, want the base 100", round, last)
		}
	}
}

// TestTruncationThatEmptiesTheLogKeepsItsBase: TruncateAfter down to the op before the
// log's first entry (a log retired up to a snapshot there) empties it; the reopened log
// used to end at op 0, below that snapshot. The cut segment now records the base.
func TestTruncationThatEmptiesTheLogKeepsItsBase(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, largeSegments)
	last := appendLargeEntries(t, l, 7)
	waitDurable(t, l, last)
	if _, err := l.Retire(last-1, ""); err != nil {
		t.Fatal(err)
	}
	first := l.FirstOp()
	if first <= 1 {
		l.Close()
		t.Fatalf("setup: nothing retired (first op %d)", first)
	}
	chain, ok := l.ChainAt(first - 1)
	if !ok {
		// The ring holds it (a retired op's chain is still there), else the entry's link.
		var h entryHeader
		if err := l.scanHeadersOf(l.segments[0], func(header *entryHeader, _ int64) bool {
			h = *header
			return false
		}); err != nil {
			l.Close()
			t.Fatal(err)
		}
		chain = h.PreviousChain
	}
	if err := l.TruncateAfter(first - 1); err != nil {
		l.Close()
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, largeSegments)
	defer l.Close()
	if l.LastOp() != first-1 || l.FirstOp() != 0 || l.LastChain() != chain {
		t.Fatalf("reopened after emptying: last op %d first %d, want the base %d",
			l.LastOp(), l.FirstOp(), first-1)
	}
	if err := l.Append(Entry{Epoch: 1, FirstOp: first, Count: 1,
		Timestamp: largeEntryTimestamp(first), Body: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, first)
}

// TestSegmentHeaderBaseFormat: a version-1 header still refuses non-zero reserved bytes,
// a base header refuses a base at op 0 and non-zero bytes after the chain, and a header
// of an unknown version is ErrVersion.
func TestSegmentHeaderBaseFormat(t *testing.T) {
	var b [segmentHeaderSize]byte
	base := segmentHeader{Number: 3, Bytes: SegmentBytesMin,
		Base: ChainPoint{LastOp: 42, Chain: [32]byte{9}}}
	base.encode(b[:])
	var s segmentHeader
	if reason, err := decodeSegmentHeader(b[:], &s); err != nil || s.Base != base.Base ||
		binary.LittleEndian.Uint32(b[segmentOffsetVersion:]) != segmentVersionBase {
		t.Fatalf("a base header: %s %v %+v", reason, err, s)
	}
	plain := segmentHeader{Number: 3, Bytes: SegmentBytesMin}
	plain.encode(b[:])
	if reason, err := decodeSegmentHeader(b[:], &s); err != nil || s.Base != (ChainPoint{}) ||
		binary.LittleEndian.Uint32(b[segmentOffsetVersion:]) != formatVersion {
		t.Fatalf("a header without a base: %s %v", reason, err)
	}
	cases := []struct {
		name    string
		version uint32
		edit    func(b []byte)
		want    error
	}{
		{"version 1 with a base's bytes", formatVersion, func(b []byte) {
			b[segmentOffsetBaseOp] = 1
		}, ErrCorrupt},
		{"a base at op 0", segmentVersionBase, func(b []byte) {}, ErrCorrupt},
		{"bytes after the base chain", segmentVersionBase, func(b []byte) {
			b[segmentOffsetBaseOp] = 1
			b[segmentHeaderSize-1] = 1
		}, ErrCorrupt},
		{"an unknown version", segmentVersionBase + 1, func(b []byte) {}, ErrVersion},
	}
	for _, c := range cases {
		plain.encode(b[:])
		binary.LittleEndian.PutUint32(b[segmentOffsetVersion:], c.version)
		c.edit(b[:])
		putHeaderCRC(b[:], segmentOffsetHeaderCRC)
		if _, err := decodeSegmentHeader(b[:], &s); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestVerifyAndInspectALogThatIsOnlyABase: Verify restores the snapshot at the recorded
// base as the state (reporting BaseOp), refuses a base with no snapshot at its op or a
// snapshot of another chain there, and Inspect reports the base as the log's last op.
func TestVerifyAndInspectALogThatIsOnlyABase(t *testing.T) {
	source, snapshots, ops := snapshotLog(t, 30, 30)
	chain, _ := source.ChainAt(ops[0])
	source.Close()
	infos, err := ListSnapshots(snapshots)
	if err != nil || len(infos) != 1 {
		t.Fatalf("setup: %d snapshots (%v)", len(infos), err)
	}
	dir := t.TempDir()
	l := openTest(t, dir)
	if err := l.StartAfter(ops[0], chain); err != nil {
		t.Fatal(err)
	}
	l.Close()
	report, err := Verify(dir, snapshots, &sumReplayer{})
	if err != nil {
		t.Fatalf("a log that is only a base beside its snapshot: %v", err)
	}
	if report.BaseOp != ops[0] || report.LastOp != ops[0] || report.LogEmptyAfterSnapshot ||
		report.ReplayStart != infos[0].Path || len(report.SnapshotsChecked) != 1 ||
		report.LastChain != hex.EncodeToString(chain[:]) ||
		!strings.Contains(report.String(), "starts after op") {
		t.Fatalf("report %+v", report)
	}
	if _, err := Verify(dir, t.TempDir(), &sumReplayer{}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("a base with no snapshot at its op: %v", err)
	}
	other := t.TempDir()
	meta := infos[0].Meta
	meta.Chain[0] ^= 1
	var state sumReplayer
	if _, err := Verify(source.options.Dir, "", &state); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSnapshot(other, meta, &state); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir, other, &sumReplayer{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a base beside a snapshot of another chain at its op: %v", err)
	}
	inspected, err := Inspect(dir, snapshots)
	if err != nil || inspected.LastOp != ops[0] || inspected.Segments[0].BaseOp != ops[0] ||
		len(inspected.Problems) != 0 {
		t.Fatalf("inspect: %+v (%v)", inspected, err)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(1))); err != nil {
		t.Fatal(err)
	}
}

// TestARecordedBaseMustMeetTheEntries: the base a segment header records is checked like
// an entry's link: a first entry that does not follow it, or a base in a later segment
// other than where the earlier segments end, is damage (Open refuses, Verify reports it).
func TestARecordedBaseMustMeetTheEntries(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, largeSegments)
	chain := [32]byte{5}
	if err := l.StartAfter(100, chain); err != nil {
		t.Fatal(err)
	}
	last := appendLargeEntries(t, l, 3)
	waitDurable(t, l, last)
	segments := append([]segmentInfo(nil), l.segments...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(segments) < 2 || segments[1].Entries == 0 {
		t.Fatalf("setup: want entries in two segments (%+v)", segments)
	}
	var filler zeroFiller
	rewrite := func(info segmentInfo, base ChainPoint) {
		t.Helper()
		if err := filler.rewriteSegment(info.Path, info.EndOffset, false, &base); err != nil {
			t.Fatal(err)
		}
	}
	// The second segment records where the first ends: sound.
	rewrite(segments[1], ChainPoint{LastOp: segments[0].LastOp, Chain: chainOfOp(t, dir, segments[0].LastOp)})
	if _, err := Verify(dir, "", &sumReplayer{}); err != nil && !errors.Is(err, ErrCompacted) {
		t.Fatalf("a later segment recording where the earlier ends: %v", err)
	}
	openTest(t, dir, largeSegments).Close()

	rewrite(segments[1], ChainPoint{LastOp: segments[0].LastOp, Chain: [32]byte{6}})
	if _, err := Open(Options{Dir: dir, Logger: discardLogger()}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a later segment recording another chain: %v", err)
	}
	rewrite(segments[1], ChainPoint{LastOp: segments[0].LastOp, Chain: chainOfOp(t, dir, segments[0].LastOp)})
	rewrite(segments[0], ChainPoint{LastOp: 99, Chain: chain})
	if _, err := Open(Options{Dir: dir, Logger: discardLogger()}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a first entry that does not follow the recorded base: %v", err)
	}
}

// chainOfOp returns the chain of the entry ending at op in the closed log in dir.
func chainOfOp(t *testing.T, dir string, op uint64) [32]byte {
	t.Helper()
	var chain [32]byte
	found := false
	_, err := scanDirectory(dir, func(_ *segmentScan, e *scannedEntry) error {
		if e.Header.LastOp() == op {
			chain, found = e.Header.Chain, true
		}
		return nil
	})
	if err != nil || !found {
		t.Fatalf("no entry ends at op %d (%v)", op, err)
	}
	return chain
}

// TestStartAfterThatCannotRecordItsBaseFails: when the base cannot be made durable (the
// directory fsync after the rewrite's rename fails), StartAfter reports it, the log sets
// no base in memory (Durable does not claim an op the disk may not know) and stops as
// after any failed write (Err).
func TestStartAfterThatCannotRecordItsBaseFails(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	defer l.Close()
	injectFault(t, &testHookSyncDirectory, dir, syscall.EIO, nil)
	if err := l.StartAfter(100, [32]byte{1}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("StartAfter with a failing directory fsync: %v", err)
	}
	if l.LastOp() != 0 || l.Durable() != 0 || !errors.Is(l.Err(), syscall.EIO) {
		t.Fatalf("after the failure: last %d durable %d err %v", l.LastOp(), l.Durable(),
			l.Err())
	}
}
