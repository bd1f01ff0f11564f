package wal

// Tests for the real survivors of the fifth round's fresh sample (seed 20261210,
// tools/mutation/RESULTS.md): each fails on its mutant.

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRefusedOpenReleasesTheLock: an Open refused for damage releases the directory's
// lock at once, so that the operator's next Open (here with TruncateCorrupt) is not
// refused as "in use by another process" until a garbage collection closes the file.
func TestRefusedOpenReleasesTheLock(t *testing.T) {
	d := buildDamageLog(t, 1)
	bad := d.inSegment(2)[1]
	flipByte(t, bad.path, bad.offset+entryHeaderSize+5)
	options := Options{Dir: d.dir, SegmentBytes: testSegmentBytes, Logger: discardLogger()}
	if _, err := Open(options); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of a damaged log: %v, want ErrCorrupt", err)
	}
	options.TruncateCorrupt = true
	l, err := Open(options)
	if err != nil {
		t.Fatalf("second Open after a refused one: %v", err)
	}
	l.Close()
}

// TestSyncPolicyNames: each policy prints its name (the serve log and reports show it).
func TestSyncPolicyNames(t *testing.T) {
	for policy, want := range map[SyncPolicy]string{SyncEvery: "every", SyncInterval: "interval",
		SyncNone: "none", SyncNone + 1: "sync(3)"} {
		if got := policy.String(); got != want {
			t.Errorf("policy %d prints %q, want %q", uint8(policy), got, want)
		}
	}
}

// TestBodyOfExactlyTheCompressionMinimumIsCompressed: the writer tries to compress a
// body of exactly compressBytesMin bytes (compress's own bound), so a compressible one is
// stored compressed.
func TestBodyOfExactlyTheCompressionMinimumIsCompressed(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	if err := l.Append(Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 1,
		Body: make([]byte, compressBytesMin)}); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, 1)
	var codec Codec
	if err := l.ReadStored(0, func(_ []byte, meta EntryMeta) error { codec = meta.Codec; return nil }); err != nil {
		t.Fatal(err)
	}
	if codec != CodecS2 {
		t.Fatalf("a %d-byte body of zeros stored with %v, want s2", compressBytesMin, codec)
	}
}

// TestFirstStoredEntryMustStartTheChain: on an empty log, a stored entry at op 1 whose
// previous chain is not zero (a log that started after a base) does not start this log's
// chain: ErrDiscontinuity, nothing appended (StartAfter must give the base first).
func TestFirstStoredEntryMustStartTheChain(t *testing.T) {
	primary := openTest(t, t.TempDir())
	defer primary.Close()
	if err := primary.StartAfter(0, [32]byte{7}); err != nil {
		t.Fatal(err)
	}
	if err := primary.Append(Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 10, Body: []byte("one")}); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, primary, 1)
	stored := storedEntries(t, primary)[0]
	standby := openTest(t, t.TempDir())
	defer standby.Close()
	if err := standby.AppendStored(stored); !errors.Is(err, ErrDiscontinuity) || standby.LastOp() != 0 {
		t.Fatalf("op 1 with a non-zero previous chain on an empty log: %v, last op %d", err, standby.LastOp())
	}
	if err := standby.StartAfter(0, [32]byte{7}); err != nil {
		t.Fatal(err)
	}
	if err := standby.AppendStored(stored); err != nil {
		t.Fatalf("after StartAfter(0, base): %v", err)
	}
}

// TestStartAfterOnALogThatIsNotEmpty: the refusal names the log's last op.
func TestStartAfterOnALogThatIsNotEmpty(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	last := appendEntries(t, l, 2)
	err := l.StartAfter(100, [32]byte{})
	if !errors.Is(err, ErrNotBoundary) || !strings.Contains(err.Error(), "not empty (last op "+decimal(last)+")") {
		t.Fatalf("StartAfter on a log at op %d: %v", last, err)
	}
	if l.LastOp() != last {
		t.Fatalf("last op %d after the refusal, want %d", l.LastOp(), last)
	}
}

// TestSyncedEntryEndingTheSegmentProvesDamage: a damaged entry followed by an entry
// that ends exactly at the segment's last byte, written after the damaged one was synced
// (its synced offset says so), is damage, not a torn write: Open refuses rather than
// truncate two synced entries. The later entry has an empty body, so that its header is
// the last entry-header-sized space of the segment (the end of tornEvidence's window).
func TestSyncedEntryEndingTheSegmentProvesDamage(t *testing.T) {
	dir := t.TempDir()
	l := openWithOneLargeEntry(t, dir)
	if err := l.Append(Entry{Epoch: 1, FirstOp: 2, Count: 1, Timestamp: 11}); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, 2)
	l.segmentsMutex.Lock()
	end, segments := l.segments[0].EndOffset, len(l.segments)
	l.segmentsMutex.Unlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if end != SegmentBytesMin || segments != 1 {
		t.Fatalf("layout: segment 1 ends at %d of %d, %d segments", end, SegmentBytesMin, segments)
	}
	flipByte(t, filepath.Join(dir, segmentName(1)), segmentHeaderSize+entryHeaderSize+10)
	_, err := Open(Options{Dir: dir, SegmentBytes: SegmentBytesMin, Logger: discardLogger()})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a synced entry after the damage: %v, want ErrCorrupt", err)
	}
}

// TestNamesWithoutTheSnapshotSuffixAreIgnored: a file named like a snapshot but without
// its suffix (an operator's copy, say) is not listed, even when it holds a snapshot.
func TestNamesWithoutTheSnapshotSuffixAreIgnored(t *testing.T) {
	dir := t.TempDir()
	info, err := WriteSnapshot(dir, SnapshotMeta{Op: 5}, stateBytes("state"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(info.Path, strings.TrimSuffix(info.Path, snapshotSuffix)); err != nil {
		t.Fatal(err)
	}
	if infos, err := ListSnapshots(dir); err != nil || len(infos) != 0 {
		t.Fatalf("listed %+v, %v; want nothing", infos, err)
	}
}

// TestPreparedRoomIsTheSegmentLessItsHeader: an entry is accepted only if the queued
// entries and it fit the active segment and the prepared one, whose room is its size
// less its header. Here the writer is held on a small entry, the next one (A) must go to
// the prepared segment, and the one after (B) would fit there only if the header took no
// room: B waits, and once A's roll asks for a segment the full disk cannot give, B is
// refused with ErrLogFull (it is never accepted, which would leave the writer waiting
// for a third segment).
func TestPreparedRoomIsTheSegmentLessItsHeader(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.SegmentBytes, o.Compression = SegmentBytesMin, CodecNone })
	defer l.Close()
	entry := func(op uint64, body int) Entry {
		return Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: make([]byte, body)}
	}
	if err := l.Append(entry(1, EntryBodyBytesMax/2)); err != nil { // leaves EntryBodyBytesMax/2 free
		t.Fatal(err)
	}
	waitDurable(t, l, 1)
	for l.room.preparedFreeBytes.Load() == 0 { // segment 2 is being prepared
		time.Sleep(time.Millisecond)
	}
	failPreparations(t) // from segment 3 on
	writing, release := holdHook(t, &testHookWrite, dir)
	if err := l.Append(entry(2, 10)); err != nil {
		t.Fatal(err)
	}
	<-writing
	if err := l.Append(entry(3, EntryBodyBytesMax/2-entryHeaderSize)); err != nil { // A
		t.Fatal(err)
	}
	refused := make(chan error, 1)
	go func() { refused <- l.Append(entry(4, EntryBodyBytesMax/2+entryHeaderSize)) }() // B
	time.Sleep(20 * time.Millisecond)                                                  // lets B reach its wait first; not an assertion
	release()
	if err := <-refused; !errors.Is(err, ErrLogFull) {
		t.Fatalf("B, which fits the prepared segment only without its header: %v, want ErrLogFull", err)
	}
	waitDurable(t, l, 3)
}
