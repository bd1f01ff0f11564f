package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRetire retires segments covered by a snapshot op: only whole segments at or below
// it go, oldest first, moved to the archive when one is given; the last segment holding
// entries always stays; reads of retired ops fail with ErrCompacted; the log reopens with
// its first segment numbered above 1 and continues.
func TestRetire(t *testing.T) {
	dir, archive := t.TempDir(), t.TempDir()
	l := openTest(t, dir)
	last := appendEntries(t, l, 1600)
	waitDurable(t, l, last)
	segments := append([]segmentInfo(nil), l.segments...)
	if len(segments) < 4 {
		t.Fatalf("%d segments, need 4", len(segments))
	}
	covered := segments[1].LastOp + 1 // inside segment 3: segments 1 and 2 are covered
	retired, err := l.Retire(covered, archive)
	if err != nil || retired != 2 {
		t.Fatalf("retired %d (%v), want 2", retired, err)
	}
	if l.FirstOp() != segments[2].FirstOp {
		t.Fatalf("first op %d, want %d", l.FirstOp(), segments[2].FirstOp)
	}
	for _, s := range segments[:2] {
		if _, err := os.Stat(filepath.Join(archive, filepath.Base(s.Path))); err != nil {
			t.Fatalf("segment %d not archived: %v", s.Number, err)
		}
	}
	if err := l.Read(0, func(*Entry) error { return nil }); !errors.Is(err, ErrCompacted) {
		t.Fatalf("read of retired ops: %v", err)
	}
	readAll(t, l, segments[2].FirstOp-1)
	if retired, err = l.Retire(last+1000, ""); err != nil || retired != len(segments)-3 {
		t.Fatalf("retire everything: %d (%v), want %d: all but the last", retired, err, len(segments)-3)
	}
	if l.FirstOp() != segments[len(segments)-1].FirstOp {
		t.Fatal("the last segment with entries was retired")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if l.LastOp() != last || l.LastChain() == [32]byte{} {
		t.Fatalf("reopened after retire: last op %d", l.LastOp())
	}
	last = appendEntries(t, l, 5)
	waitDurable(t, l, last)
	readAll(t, l, l.FirstOp()-1)
}

// TestBytesAfter: the bytes a retirement up to op would keep are those of the segments
// holding later ops, and of the active segment while it is still empty, as the segment
// files on disk show them (the prepared next segment is not part of the log yet).
func TestBytesAfter(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, largeSegments)
	defer l.Close()
	report, err := Inspect(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if fresh := l.BytesAfter(0); fresh != report.Segments[0].FileBytes || fresh <= 0 {
		t.Fatalf("a fresh log: BytesAfter(0) = %d, its empty segment has %d bytes", fresh,
			report.Segments[0].FileBytes)
	}
	last := appendLargeEntries(t, l, 7)
	waitDurable(t, l, last)
	if report, err = Inspect(dir, ""); err != nil {
		t.Fatal(err)
	}
	if len(report.Segments) < 4 {
		t.Fatalf("%d segments, want several", len(report.Segments))
	}
	for _, op := range []uint64{0, report.Segments[0].LastOp, report.Segments[1].LastOp, last - 1} {
		var want int64
		for _, s := range report.Segments {
			if s.Entries > 0 && s.LastOp > op {
				want += s.FileBytes
			}
		}
		if got := l.BytesAfter(op); got != want || got <= 0 {
			t.Fatalf("BytesAfter(%d) = %d, the segment files say %d", op, got, want)
		}
	}
}
