package wal

import "testing"

// TestStoredBytesAfter: the bytes stored after an entry boundary are the stored entries
// that follow it, summed from the log itself (ReadStored), over several segments; given
// the boundary's position the figure is exact everywhere, without it exact at the
// boundaries the segment index knows (op 0, a segment's last op, the end) and, inside a
// segment, never short and never more than that segment's entries too many.
func TestStoredBytesAfter(t *testing.T) {
	l := openTest(t, t.TempDir(), largeSegments)
	defer l.Close()
	for range 4 { // Two 700 KiB entries fill a segment: small entries sit between them.
		appendEntries(t, l, 3)
		appendLargeEntries(t, l, 1)
	}
	last := appendEntries(t, l, 2)
	waitDurable(t, l, last)
	type boundary struct {
		op      uint64
		at      Position
		segment uint64
	}
	var boundaries []boundary
	var storedSizes []int64
	err := l.ReadStored(0, func(stored []byte, meta EntryMeta) error {
		boundaries = append(boundaries, boundary{op: meta.FirstOp + uint64(meta.Count) - 1,
			at: EndOf(&meta), segment: meta.Segment})
		storedSizes = append(storedSizes, int64(len(stored)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if boundaries[len(boundaries)-1].op != last || boundaries[0].segment == boundaries[len(boundaries)-1].segment {
		t.Fatalf("the log ends at op %d in segment %d, want op %d beyond segment %d",
			boundaries[len(boundaries)-1].op, boundaries[len(boundaries)-1].segment, last,
			boundaries[0].segment)
	}
	segmentEntryBytes := map[uint64]int64{}
	lastOfSegment := map[uint64]uint64{}
	for i, b := range boundaries {
		segmentEntryBytes[b.segment] += storedSizes[i]
		lastOfSegment[b.segment] = b.op
	}
	var after int64
	inside := 0
	for _, size := range storedSizes {
		after += size
	}
	if got, exact := l.StoredBytesAfter(0, Position{}); got != after || !exact {
		t.Fatalf("StoredBytesAfter(0) = %d (exact %v), the log stores %d", got, exact, after)
	}
	for i, b := range boundaries {
		after -= storedSizes[i]
		if got, exact := l.StoredBytesAfter(b.op, b.at); got != after || !exact {
			t.Fatalf("StoredBytesAfter(%d, %+v) = %d (exact %v), %d stored after it", b.op,
				b.at, got, exact, after)
		}
		got, exact := l.StoredBytesAfter(b.op, Position{})
		known := lastOfSegment[b.segment] == b.op
		if !known {
			inside++
		}
		switch {
		case exact != known:
			t.Fatalf("op %d (last of its segment: %v) without a position: exact %v", b.op,
				known, exact)
		case known && got != after:
			t.Fatalf("op %d ends segment %d: StoredBytesAfter = %d, %d stored after it", b.op,
				b.segment, got, after)
		case !known && (got < after || got > after+segmentEntryBytes[b.segment]):
			t.Fatalf("op %d inside segment %d (%d bytes): StoredBytesAfter = %d, outside "+
				"[%d, %d]", b.op, b.segment, segmentEntryBytes[b.segment], got, after,
				after+segmentEntryBytes[b.segment])
		}
	}
	if inside == 0 || inside == len(boundaries) {
		t.Fatalf("%d of %d boundaries inside a segment: the test covers both kinds", inside,
			len(boundaries))
	}
	if got, exact := l.StoredBytesAfter(last+5, Position{}); got != 0 || !exact {
		t.Fatalf("past the end: %d (exact %v)", got, exact)
	}
}
