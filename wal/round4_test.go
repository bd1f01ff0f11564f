package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The tests in this file close gaps the fourth mutation round of wal found (seed
// 20261208, tools/mutation/RESULTS.md): paths that no test reached.

// TestPruneRemovesEveryTemporarySnapshot: every temporary file an interrupted
// WriteSnapshot left goes, not only the first one found.
func TestPruneRemovesEveryTemporarySnapshot(t *testing.T) {
	dir := t.TempDir()
	var leftovers []string
	for _, op := range []uint64{10, 20} {
		path := filepath.Join(dir, snapshotName(op)+temporarySuffix)
		if err := os.WriteFile(path, []byte("interrupted"), 0o644); err != nil {
			t.Fatal(err)
		}
		leftovers = append(leftovers, path)
	}
	if err := PruneSnapshots(dir, 1); err != nil {
		t.Fatal(err)
	}
	for _, path := range leftovers {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s after PruneSnapshots: %v, want it removed", filepath.Base(path), err)
		}
	}
}

// TestMemoryLogClosesOnce: a second Close of the fake log answers ErrClosed, and an
// Append after Close is refused, as Log does.
func TestMemoryLogClosesOnce(t *testing.T) {
	m := NewMemoryLog()
	appendEntries(t, m, 2)
	if err := m.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := m.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if err := m.Append(entryFor(m.LastOp() + 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
}

// TestWrittenTailReportsAGapAfterAnOverflow: when the queue overflowed, its first entry
// no longer continues Position; Drain must report a gap (the missed entries come from the
// log once durable) and hand nothing over, not call the queue corrupt. A Written tail
// never consults Durable here, so a tail without a log shows it.
func TestWrittenTailReportsAGapAfterAnOverflow(t *testing.T) {
	tail := &Tail{options: TailOptions{Written: true, QueueBytesMax: 100}, wake: make(chan struct{}, 1)}
	tail.push(make([]byte, 60), EntryMeta{FirstOp: 1, Count: 1})
	tail.push(make([]byte, 60), EntryMeta{FirstOp: 2, Count: 1}) // Overflows: ops 1 and 2 are dropped.
	tail.push(make([]byte, 60), EntryMeta{FirstOp: 3, Count: 1})
	handed := 0
	gap, err := tail.drainQueue(func([]byte, EntryMeta) error { handed++; return nil })
	if !gap || err != nil || handed != 0 || tail.Position() != 0 {
		t.Fatalf("drain after an overflow: gap %v, err %v, %d handed, Position %d; want a gap, nothing handed",
			gap, err, handed, tail.Position())
	}
}

// TestVerifyReportsAMissingSegment: Verify of a log with a segment missing in the
// middle reports the gap as Open would (ErrMissingSegment), before replaying past it.
func TestVerifyReportsAMissingSegment(t *testing.T) {
	d := buildDamageLog(t, 1)
	if err := os.Remove(d.segmentPath(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(d.dir, "", &sumReplayer{}); !errors.Is(err, ErrMissingSegment) {
		t.Fatalf("Verify with segment 2 missing: %v, want ErrMissingSegment", err)
	}
}

// TestInspectScansPastAMissingSegment: the segment after a gap is scanned on its own (no
// link to the entries before the gap), so the report shows its entries, not a
// discontinuity at its first entry.
func TestInspectScansPastAMissingSegment(t *testing.T) {
	d := buildDamageLog(t, 1)
	if err := os.Remove(d.segmentPath(2)); err != nil {
		t.Fatal(err)
	}
	report, err := Inspect(d.dir, "")
	if err != nil {
		t.Fatal(err)
	}
	after := d.inSegment(3)
	for _, s := range report.Segments {
		if s.Number != 3 {
			continue
		}
		if s.Entries != len(after) || s.LastOp != after[len(after)-1].header.LastOp() || s.Problem != "" {
			t.Fatalf("segment 3 after the gap: %d entries up to op %d, problem %q; want %d up to op %d",
				s.Entries, s.LastOp, s.Problem, len(after), after[len(after)-1].header.LastOp())
		}
		return
	}
	t.Fatalf("no report of segment 3: %+v", report.Segments)
}

// TestScannerChecksWhereAnEntryLies: a header with a sound checksum is still invalid
// when it names another segment, claims a synced offset outside the part of the segment
// written before it, or runs past the segment's end; one check per row.
func TestScannerChecksWhereAnEntryLies(t *testing.T) {
	s := scanner{number: 4, size: 4096}
	const offset, end = 1024, 2048
	for _, c := range []struct {
		name   string
		change func(h *entryHeader)
		end    int64
		want   string
	}{
		{"valid", func(*entryHeader) {}, end, ""},
		{"synced up to this entry", func(h *entryHeader) { h.SyncedOffset = offset }, end, ""},
		{"ends at the segment's end", func(*entryHeader) {}, 4096, ""},
		{"another segment", func(h *entryHeader) { h.Segment = 5 }, end, "entry written for segment 5"},
		{"synced offset inside the segment header", func(h *entryHeader) { h.SyncedOffset = segmentHeaderSize - 1 }, end, "synced offset"},
		{"synced offset past the entry", func(h *entryHeader) { h.SyncedOffset = offset + 1 }, end, "synced offset"},
		{"past the segment's end", func(*entryHeader) {}, 4097, "past the end"},
	} {
		h := entryHeader{Segment: 4, SyncedOffset: segmentHeaderSize}
		c.change(&h)
		reason := s.checkPosition(&h, offset, c.end)
		if (c.want == "") != (reason == "") || !strings.Contains(reason, c.want) {
			t.Fatalf("%s: %q, want %q", c.name, reason, c.want)
		}
	}
}

// TestDurableTailWaitsForTheSync: a tail in the default (durable) mode keeps a written
// entry whose fdatasync has not completed, and hands it over once it is durable. The
// second entry's sync is held so that it is written and queued, not durable, while the
// follower drains.
func TestDurableTailWaitsForTheSync(t *testing.T) {
	dir, l, tail, first := followAfterOneEntry(t, TailOptions{})
	syncing, release := holdHook(t, &testHookSync, dir)
	second := appendEntries(t, l, 1)
	<-syncing // The second entry is written (and queued), not durable.
	var handed []uint64
	drain := func() {
		t.Helper()
		if _, err := tail.Drain(func(_ []byte, meta EntryMeta) error {
			handed = append(handed, meta.FirstOp+uint64(meta.Count)-1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	drain()
	if !slices.Equal(handed, []uint64{first}) {
		t.Fatalf("handed entries ending at %v before the sync, want only %d (Durable %d)", handed, first, l.Durable())
	}
	release()
	waitDurable(t, l, second)
	drain()
	if !slices.Equal(handed, []uint64{first, second}) {
		t.Fatalf("handed entries ending at %v after the sync, want %d and %d", handed, first, second)
	}
}

// TestFailedRetireKeepsTheSegments: when the first segment cannot be retired (here its
// archive directory cannot be made), the log still lists it: FirstOp and reads from op 1
// are unchanged, and a later Retire into a usable archive retires it.
func TestFailedRetireKeepsTheSegments(t *testing.T) {
	l := openTest(t, t.TempDir(), func(o *Options) { o.SegmentBytes = SegmentBytesMin })
	defer l.Close()
	segmentCount := func() int {
		l.segmentsMutex.Lock()
		defer l.segmentsMutex.Unlock()
		return len(l.segments)
	}
	var last uint64
	for segmentCount() < 3 {
		last = appendEntries(t, l, 50)
		waitDurable(t, l, last)
	}
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if retired, err := l.Retire(last-1, filepath.Join(blocker, "archive")); retired != 0 || err == nil {
		t.Fatalf("Retire into an archive under a file: %d retired, %v; want 0 and an error", retired, err)
	}
	var read uint64
	if err := l.Read(0, func(e *Entry) error { read = e.LastOp(); return nil }); err != nil ||
		l.FirstOp() != 1 || read != last {
		t.Fatalf("after the failed Retire: FirstOp %d, read up to op %d (%v); want 1 and %d", l.FirstOp(), read, err, last)
	}
	if retired, err := l.Retire(last-1, t.TempDir()); retired == 0 || err != nil || l.FirstOp() == 1 {
		t.Fatalf("Retire into a usable archive: %d retired, %v, FirstOp %d", retired, err, l.FirstOp())
	}
}

// TestSnapshotLengthErrorQuotesBothLengths: a snapshot file longer than its header
// says is refused, and the error quotes the file's length and the one the header gives
// (header plus stored body), which is what an operator compares.
func TestSnapshotLengthErrorQuotesBothLengths(t *testing.T) {
	dir := t.TempDir()
	info, err := WriteSnapshot(dir, SnapshotMeta{Op: 7}, makeState(7, 4096))
	if err != nil {
		t.Fatal(err)
	}
	modify(t, info.Path, func(b []byte) []byte { return append(b, 0) })
	infos, err := ListSnapshots(dir)
	if err != nil || len(infos) != 1 {
		t.Fatalf("ListSnapshots: %v, %d snapshots", err, len(infos))
	}
	headerSays := snapshotHeaderSize + info.StoredBytes
	want := fmt.Sprintf("file has %d bytes, header says %d", headerSays+1, headerSays)
	if !errors.Is(infos[0].Err, ErrSnapshotCorrupt) || !strings.Contains(infos[0].Err.Error(), want) {
		t.Fatalf("snapshot one byte too long: %v, want ErrSnapshotCorrupt saying %q", infos[0].Err, want)
	}
}

// TestLockFileThatCannotBeOpenedIsReported: when the LOCK file cannot be opened (here a
// directory has its name), Open fails with that error, not as if another process held
// the lock.
func TestLockFileThatCannotBeOpenedIsReported(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "LOCK"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := Open(Options{Dir: dir, SegmentBytes: testSegmentBytes, Logger: discardLogger()})
	if err == nil {
		l.Close()
	}
	if !errors.Is(err, syscall.EISDIR) || strings.Contains(err.Error(), "in use") {
		t.Fatalf("Open with a directory named LOCK: %v, want EISDIR (not \"in use\")", err)
	}
}

// TestTruncateCorruptReportsAFailedDirectorySync: with TruncateCorrupt, Open sets the
// damaged segments aside by renaming them and must make the renames durable before it
// goes on: when the directory's fsync fails, Open fails with that error (a log that went
// on could find the damaged segments back after a crash). The fsync fails through
// testHookSyncDirectory.
func TestTruncateCorruptReportsAFailedDirectorySync(t *testing.T) {
	d := buildDamageLog(t, 1)
	flipByte(t, d.segmentPath(2), segmentOffsetCreated)
	failure := errors.New("injected directory fsync failure")
	hook := func(dir string) error {
		if dir == d.dir {
			return failure
		}
		return nil
	}
	testHookSyncDirectory.Store(&hook)
	t.Cleanup(func() { testHookSyncDirectory.Store(nil) })
	l, err := Open(Options{Dir: d.dir, SegmentBytes: testSegmentBytes, Logger: discardLogger(),
		TruncateCorrupt: true})
	if err == nil {
		l.Close()
	}
	if !errors.Is(err, failure) {
		t.Fatalf("Open with TruncateCorrupt and a failing directory fsync: %v, want the fsync's error", err)
	}
}
