package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The tests in this file close gaps the third mutation round of wal found (seed
// 20261206, tools/mutation/RESULTS.md): refusals and error paths that no test reached.

// TestS2BodyLongerThanItsHeaderSays: an s2 body that decodes to more bytes than its
// header's raw length is refused with an error, whatever room the destination has (a
// decoder of stored bytes must never write past the length it was given).
func TestS2BodyLongerThanItsHeaderSays(t *testing.T) {
	raw := bytes.Repeat([]byte("transfer"), 200)
	stored, codec := compress(CodecS2, make([]byte, compressBound(len(raw))), raw)
	if codec != CodecS2 {
		t.Fatalf("codec %v, want s2", codec)
	}
	if _, err := decompress(make([]byte, len(raw)/2), stored, codec, len(raw)/2); err == nil {
		t.Fatal("a body decoding to twice its header's length was accepted")
	}
}

// TestStoredEntryOnAnEmptyLogMustBeOpOne: a standby's empty log takes a primary's entry
// only if it is op 1, or continues the base StartAfter set; and it knows no chain before
// that base.
func TestStoredEntryOnAnEmptyLogMustBeOpOne(t *testing.T) {
	primary := openTest(t, t.TempDir())
	defer primary.Close()
	var stored []byte
	primary.SetObserver(func(b []byte, _ EntryMeta) { stored = append([]byte(nil), b...) })
	base := [32]byte{7}
	if err := primary.StartAfter(5, base); err != nil {
		t.Fatal(err)
	}
	if err := primary.Append(Entry{Epoch: 1, FirstOp: 6, Count: 1, Timestamp: 10, Body: []byte("six")}); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, primary, 6)
	standby := openTest(t, t.TempDir())
	defer standby.Close()
	if err := standby.AppendStored(stored); !errors.Is(err, ErrDiscontinuity) {
		t.Fatalf("entry at op 6 on an empty log: %v, want ErrDiscontinuity", err)
	}
	if err := standby.StartAfter(5, base); err != nil {
		t.Fatal(err)
	}
	if err := standby.AppendStored(stored); err != nil {
		t.Fatalf("entry at op 6 after StartAfter(5): %v", err)
	}
	if _, found := standby.ChainAt(3); found {
		t.Fatal("ChainAt found op 3, before the log's base")
	}
}

// failingReplayer fails the replay at its failAt-th entry.
type failingReplayer struct {
	sumReplayer
	applied, failAt int
}

func (r *failingReplayer) Apply(e *Entry) error {
	if r.applied++; r.applied == r.failAt {
		return errors.New("refused by the state machine")
	}
	return r.sumReplayer.Apply(e)
}

// TestVerifyCountsAndStopsAtARefusedEntry: Verify reports how many entries it went
// through, and an entry the replayer refuses is reported as damage at that entry.
func TestVerifyCountsAndStopsAtARefusedEntry(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	waitDurable(t, l, appendEntries(t, l, 5))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	report, err := Verify(dir, "", &sumReplayer{})
	if err != nil || report.Entries != 5 || report.EntriesApplied != 5 {
		t.Fatalf("Verify: %d entries, %d applied, %v; want 5 and 5", report.Entries, report.EntriesApplied, err)
	}
	_, err = Verify(dir, "", &failingReplayer{failAt: 3})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "apply: refused by the state machine") {
		t.Fatalf("Verify with a replayer refusing the third entry: %v", err)
	}
}

// TestArchiveCopyAcrossFileSystems: moving a retired segment to an archive on another
// file system copies it (rename cannot) into a file the copy creates.
func TestArchiveCopyAcrossFileSystems(t *testing.T) {
	source := filepath.Join(t.TempDir(), "segment")
	content := []byte("a retired segment")
	if err := os.WriteFile(source, content, 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "segment")
	if err := copyFileSynced(source, target); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(target); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("copy holds %q (%v), want %q", got, err, content)
	}
}

// TestTornTailEndingInAMagic: the evidence search after a torn entry meets the bytes of
// an entry magic too close to the segment's end for a whole header: not a header, so the
// tail is still torn and truncated (the search must not read past the segment).
func TestTornTailEndingInAMagic(t *testing.T) {
	d := buildDamageLog(t, 1)
	entries := d.inSegment(3)
	last := entries[len(entries)-1]
	modify(t, last.path, func(b []byte) []byte {
		b[last.offset+entryHeaderSize+5] ^= 0x40 // The last entry is torn.
		binary.LittleEndian.PutUint32(b[len(b)-64:], entryMagic)
		return b
	})
	l := openTest(t, d.dir)
	defer l.Close()
	if want := last.header.FirstOp - 1; l.LastOp() != want {
		t.Fatalf("last op %d after truncating the torn tail, want %d", l.LastOp(), want)
	}
}

// TestWriteErrorIsReturned: a pwritev the kernel refuses (here a file open read-only:
// EBADF) is returned, not retried.
func TestWriteErrorIsReturned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "segment")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	err = writeVector(file, [][]byte{[]byte("entry")}, 0, make([]syscall.Iovec, 0, 1))
	if !errors.Is(err, syscall.EBADF) {
		t.Fatalf("write to a read-only file: %v, want EBADF", err)
	}
}

// TestFailAfterMakesDurableThenFails: the memory log's FailAfter publishes op durable and
// the failure together, and refuses an op that does not end an entry.
func TestFailAfterMakesDurableThenFails(t *testing.T) {
	m := NewMemoryLog()
	m.Hold()
	last := appendEntries(t, m, 3)
	failure := errors.New("disk gone")
	if err := m.FailAfter(last+1, failure); !errors.Is(err, ErrNotBoundary) {
		t.Fatalf("FailAfter beyond the last entry: %v, want ErrNotBoundary", err)
	}
	if err := m.FailAfter(last, failure); err != nil || m.Durable() != last || !errors.Is(m.Err(), failure) {
		t.Fatalf("FailAfter(%d): %v, Durable %d, Err %v", last, err, m.Durable(), m.Err())
	}
}

// TestInspectOfAnEmptyLog: the report of a log without entries says so where the time
// span would be (and not a span from the Unix epoch).
func TestInspectOfAnEmptyLog(t *testing.T) {
	dir := t.TempDir()
	if err := openTest(t, dir).Close(); err != nil {
		t.Fatal(err)
	}
	report, err := Inspect(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if text := report.String(); !strings.Contains(text, "no entries") || strings.Contains(text, "1970-") {
		t.Fatalf("report of an empty log:\n%s", text)
	}
}

// TestVerifyStartsFromASnapshotAtTheLogsBase: once the segments before a snapshot are
// retired, the log starts right after the snapshot's op: Verify restores it, counts it
// checked once, and replays the rest.
func TestVerifyStartsFromASnapshotAtTheLogsBase(t *testing.T) {
	l, snapshots, _ := snapshotLog(t, 1200)
	dir := l.options.Dir
	base := l.segments[0].LastOp
	var state sumReplayer
	if err := l.Read(0, func(e *Entry) error {
		if e.LastOp() <= base {
			return state.Apply(e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	chain, ok := l.ChainAt(base)
	if !ok {
		t.Fatalf("no chain at op %d", base)
	}
	if _, err := WriteSnapshot(snapshots, SnapshotMeta{Op: base, Epoch: 1, Digest: state.Digest(), Chain: chain}, &state); err != nil {
		t.Fatal(err)
	}
	if retired, err := l.Retire(base, ""); err != nil || retired != 1 {
		t.Fatalf("retired %d segments (%v), want 1", retired, err)
	}
	last := l.LastOp()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	report, err := Verify(dir, snapshots, &sumReplayer{})
	if err != nil {
		t.Fatal(err)
	}
	if report.ReplayStartOp != base || len(report.SnapshotsChecked) != 1 || report.LastOp != last {
		t.Fatalf("replay from op %d, %d snapshots checked, last op %d; want %d, 1, %d",
			report.ReplayStartOp, len(report.SnapshotsChecked), report.LastOp, base, last)
	}
}
