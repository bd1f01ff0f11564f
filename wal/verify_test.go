package wal

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// snapshotLog builds a log and takes a sumReplayer snapshot after the entries whose
// index is in at (1-based count of entries appended), as the server does on a snapshot
// entry. It returns the log (open), the snapshot directory and the snapshot ops.
func snapshotLog(t *testing.T, entries int, at ...int) (*Log, string, []uint64) {
	t.Helper()
	l := openTest(t, t.TempDir())
	snapshots := t.TempDir()
	var state sumReplayer
	var ops []uint64
	for i := 1; i <= entries; i++ {
		e := entryFor(l.LastOp() + 1)
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
		state.Apply(&e)
		for _, a := range at {
			if a != i {
				continue
			}
			waitDurable(t, l, e.LastOp())
			chain, ok := l.ChainAt(e.LastOp())
			if !ok {
				t.Fatal("no chain at a durable entry")
			}
			meta := SnapshotMeta{Op: e.LastOp(), Epoch: e.Epoch, Timestamp: e.Timestamp,
				Digest: state.Digest(), Chain: chain}
			if _, err := WriteSnapshot(snapshots, meta, &state); err != nil {
				t.Fatal(err)
			}
			ops = append(ops, e.LastOp())
		}
	}
	waitDurable(t, l, l.LastOp())
	return l, snapshots, ops
}

// TestVerify replays a log with snapshots: from the empty state while the log starts at
// op 1 (every snapshot's digest checked), then from the oldest snapshot the log still
// continues after Retire.
func TestVerify(t *testing.T) {
	l, snapshots, ops := snapshotLog(t, 1200, 100, 700, 1100)
	dir := l.options.Dir
	report, err := Verify(dir, snapshots, &sumReplayer{})
	if err != nil {
		t.Fatal(err)
	}
	if report.ReplayStart != "empty state" || len(report.SnapshotsChecked) != 3 ||
		report.LastOp != l.LastOp() || report.EntriesApplied != 1200 {
		t.Fatalf("report:\n%s", report.String())
	}
	// The chain hash that seals the whole log, for comparing replicas by hand.
	if lastChain := l.LastChain(); report.LastChain != hex.EncodeToString(lastChain[:]) {
		t.Fatalf("report's last chain %s, the log's %x", report.LastChain, lastChain)
	}
	if _, err := l.Retire(ops[1], ""); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	report, err = Verify(dir, snapshots, &sumReplayer{})
	if err != nil {
		t.Fatal(err)
	}
	if report.ReplayStartOp == 0 || report.ReplayStartOp > ops[1] ||
		len(report.SnapshotsSkipped) == 0 || report.FirstOp == 1 {
		t.Fatalf("report after retire:\n%s", report.String())
	}
	t.Logf("\n%s", report.String())
}

// TestVerifyDetects plants problems Verify must report with their position: a snapshot
// whose digest differs from the replay, a snapshot beyond the end of the log (entries
// lost), a snapshot inside an entry, and a torn tail.
func TestVerifyDetects(t *testing.T) {
	t.Run("digest mismatch", func(t *testing.T) {
		l, snapshots, ops := snapshotLog(t, 300, 100, 200)
		l.Close()
		wrong := sumReplayer{ops: ops[1], sum: 12345}
		chain := chainOf(t, l, ops[1])
		meta := SnapshotMeta{Op: ops[1], Digest: wrong.Digest(), Chain: chain}
		if _, err := WriteSnapshot(snapshots, meta, &wrong); err != nil {
			t.Fatal(err)
		}
		_, err := Verify(l.options.Dir, snapshots, &sumReplayer{})
		atOp := fmt.Sprintf("at op %d", ops[1])
		if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), atOp) {
			t.Fatalf("planted digest mismatch: %v", err)
		}
		if !strings.Contains(err.Error(), "segment ") || !strings.Contains(err.Error(), "offset ") {
			t.Fatalf("error does not name the position: %v", err)
		}
	})
	t.Run("snapshot body flipped", func(t *testing.T) {
		// The header (digest, chain) still matches the replay; only the body is damaged,
		// which serve would refuse when loading it. Verify used to pass it.
		l, snapshots, ops := snapshotLog(t, 300, 100, 200)
		l.Close()
		infos, err := ListSnapshots(snapshots)
		if err != nil || len(infos) != 2 || infos[0].Meta.Op != ops[1] {
			t.Fatalf("snapshots: %v %+v", err, infos)
		}
		flipByte(t, infos[0].Path, snapshotHeaderSize+1)
		_, err = Verify(l.options.Dir, snapshots, &sumReplayer{})
		if !errors.Is(err, ErrSnapshotCorrupt) || !strings.Contains(err.Error(), infos[0].Path) {
			t.Fatalf("flipped snapshot body: %v", err)
		}
	})
	t.Run("snapshot beyond the log", func(t *testing.T) {
		l, snapshots, _ := snapshotLog(t, 50, 10)
		l.Close()
		ahead := sumReplayer{ops: 1}
		meta := SnapshotMeta{Op: l.LastOp() + 10, Digest: ahead.Digest()}
		if _, err := WriteSnapshot(snapshots, meta, &ahead); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(l.options.Dir, snapshots, &sumReplayer{}); !errors.Is(err, ErrCorrupt) ||
			!strings.Contains(err.Error(), "beyond the log") {
			t.Fatalf("snapshot beyond the log: %v", err)
		}
	})
	t.Run("snapshot inside an entry", func(t *testing.T) {
		l, snapshots, ops := snapshotLog(t, 50, 10)
		l.Close()
		inside := ops[0] + 2 // entryFor(ops[0]+1) has 1 + op%7 >= 3 ops when op%7 >= 2
		if entryFor(ops[0]+1).Count < 3 {
			inside = entryFor(ops[0]+1).LastOp() + 2
		}
		state := sumReplayer{}
		meta := SnapshotMeta{Op: inside, Digest: state.Digest()}
		if _, err := WriteSnapshot(snapshots, meta, &state); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(l.options.Dir, snapshots, &sumReplayer{}); !errors.Is(err, ErrCorrupt) ||
			!strings.Contains(err.Error(), "inside entry") {
			t.Fatalf("snapshot inside an entry: %v", err)
		}
	})
	t.Run("torn tail", func(t *testing.T) {
		d := buildDamageLog(t, 1)
		e := d.entries[len(d.entries)-1]
		flipByte(t, e.path, e.offset+entryHeaderSize)
		_, err := Verify(d.dir, "", &sumReplayer{})
		where := fmt.Sprintf("segment %d offset %d", e.segment, e.offset)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), where) {
			t.Fatalf("torn tail: %v", err)
		}
	})
}

func chainOf(t *testing.T, l *Log, op uint64) [32]byte {
	t.Helper()
	chain, ok := l.ChainAt(op)
	if !ok {
		t.Fatalf("no chain at op %d", op)
	}
	return chain
}

// TestInspect checks the report's totals against what was appended, and that it lists
// snapshots and problems.
func TestInspect(t *testing.T) {
	l, snapshots, _ := snapshotLog(t, 800, 400)
	dir := l.options.Dir
	stats := l.Stats()
	l.Close()
	report, err := Inspect(dir, snapshots)
	if err != nil {
		t.Fatal(err)
	}
	if report.Entries != 800 || report.FirstOp != 1 || report.LastOp != l.LastOp() ||
		uint64(report.RawBytes) != stats.RawBytes || len(report.Snapshots) != 1 ||
		report.CompressionRatio <= 1 || len(report.Problems) != 0 {
		t.Fatalf("report:\n%s", report.String())
	}
	codecs := 0
	for _, s := range report.Segments {
		codecs += s.Codecs["s2"] + s.Codecs["none"]
	}
	if codecs != 800 {
		t.Fatalf("codec counts add up to %d", codecs)
	}
	text := report.String()
	if !strings.Contains(text, "ratio") || !strings.Contains(text, "snapshots") {
		t.Fatalf("text form:\n%s", text)
	}
	t.Logf("\n%s", text)
	flipByte(t, report.Segments[0].Path, segmentHeaderSize+entryHeaderSize+3)
	if report, err = Inspect(dir, snapshots); err != nil || len(report.Problems) != 1 {
		t.Fatalf("damage not listed: %v %v", err, report.Problems)
	}
}

// TestInspectSegmentTimestamps: each segment's report carries the timestamps of its
// first and last entries.
func TestInspectSegmentTimestamps(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, largeSegments)
	last := appendLargeEntries(t, l, 7)
	waitDurable(t, l, last)
	l.Close()
	report, err := Inspect(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, s := range report.Segments {
		if s.Entries == 0 {
			continue
		}
		if s.TimestampFirst != largeEntryTimestamp(s.FirstOp) ||
			s.TimestampLast != largeEntryTimestamp(s.LastOp) {
			t.Fatalf("segment %d (ops %d..%d): timestamps %d..%d", s.Number, s.FirstOp, s.LastOp,
				s.TimestampFirst, s.TimestampLast)
		}
		checked++
	}
	if checked < 3 {
		t.Fatalf("%d segments with entries, want several", checked)
	}
}

// TestVerifyRefusesADamagedSnapshot: a snapshot whose header is damaged is reported as
// such by Verify (with its error), not left out of the check in silence.
func TestVerifyRefusesADamagedSnapshot(t *testing.T) {
	l, snapshots, _ := snapshotLog(t, 50, 20)
	defer l.Close()
	infos, err := ListSnapshots(snapshots)
	if err != nil || len(infos) != 1 {
		t.Fatalf("%d snapshots (%v)", len(infos), err)
	}
	b, err := os.ReadFile(infos[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 // The magic: the header no longer describes a snapshot.
	if err := os.WriteFile(infos[0].Path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(l.options.Dir, snapshots, &sumReplayer{}); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("Verify: %v, want ErrSnapshotCorrupt", err)
	}
}

// TestVerifyAcceptsAnEmptyLogAfterItsOneSnapshot: a standby that starts over from its
// primary's snapshot sets its own log and snapshots aside, puts the received snapshot in
// place and starts an empty log after it (Log.StartAfter, which writes nothing); a crash
// before its first entry leaves one snapshot beside an empty log, the node's state by
// design (its next start aligns with its primary from there). Verify called that corrupt
// ("the log is empty but snapshots exist"). It must restore the snapshot as serve would
// (a digest its header does not hold is still refused) and report the state it holds,
// saying that the log is empty after it. Several snapshots beside an empty log are no
// state a start over leaves, and stay an error (TestVerifyRefusesWhatItCannotReplay).
func TestVerifyAcceptsAnEmptyLogAfterItsOneSnapshot(t *testing.T) {
	source, snapshots, ops := snapshotLog(t, 30, 30)
	source.Close()
	infos, err := ListSnapshots(snapshots)
	if err != nil || len(infos) != 1 {
		t.Fatalf("setup: %d snapshots (%v)", len(infos), err)
	}
	empty := t.TempDir()
	openTest(t, empty).Close()
	report, err := Verify(empty, snapshots, &sumReplayer{})
	if err != nil {
		t.Fatalf("an empty log after its one snapshot: %v", err)
	}
	meta := infos[0].Meta
	if report.ReplayStart != infos[0].Path || report.ReplayStartOp != ops[0] ||
		report.FinalDigest != hex.EncodeToString(meta.Digest[:]) ||
		report.LastChain != hex.EncodeToString(meta.Chain[:]) || !report.LogEmptyAfterSnapshot ||
		report.Entries != 0 || len(report.SnapshotsChecked) != 1 {
		t.Fatalf("report %+v, want the snapshot at op %d restored as the state", report, ops[0])
	}
	if !strings.Contains(report.String(), "log is empty") {
		t.Fatalf("the report does not say the log is empty:\n%s", report.String())
	}

	wrong := t.TempDir()
	meta.Digest[0] ^= 1
	state := sumReplayer{}
	if _, err := Verify(source.options.Dir, "", &state); err != nil { // The state at op 30.
		t.Fatal(err)
	}
	if _, err := WriteSnapshot(wrong, meta, &state); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(empty, wrong, &sumReplayer{}); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("an empty log after a snapshot whose state is not its header's: %v", err)
	}
}
