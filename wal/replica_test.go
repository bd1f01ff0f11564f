package wal

import (
	"errors"
	"testing"
)

// storedCopies collects copies of the stored bytes the observer sees.
type storedCopies struct{ entries [][]byte }

func (s *storedCopies) observe(stored []byte, meta EntryMeta) {
	if len(stored) != entryHeaderSize+int(meta.StoredBytes) {
		panic("observer: stored length differs from the meta")
	}
	s.entries = append(s.entries, append([]byte(nil), stored...))
}

// TestAppendStoredChainsMatch ships a primary's entries, as its observer sees them, to a
// standby through AppendStored. The standby uses a different segment size, so the same
// entries land in different segments; the chain hashes must still be identical at every
// op, and the standby must read back the same entries.
func TestAppendStoredChainsMatch(t *testing.T) {
	primary := openTest(t, t.TempDir())
	defer primary.Close()
	var shipped storedCopies
	primary.SetObserver(shipped.observe)
	last := appendEntries(t, primary, 500)
	waitDurable(t, primary, last)

	standby := openTest(t, t.TempDir(), func(o *Options) { o.SegmentBytes = testSegmentBytes + 1<<20 })
	defer standby.Close()
	for _, stored := range shipped.entries {
		if err := standby.AppendStored(stored); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, standby, last)
	if standby.LastChain() != primary.LastChain() {
		t.Fatal("last chains differ")
	}
	for op := uint64(1); op <= last; op++ {
		a, okA := primary.ChainAt(op)
		b, okB := standby.ChainAt(op)
		if okA != okB || a != b {
			t.Fatalf("chain at op %d differs: %v/%v", op, okA, okB)
		}
	}
	if _, readLast := readAll(t, standby, 0); readLast != last {
		t.Fatalf("standby reads up to %d, want %d", readLast, last)
	}
	// The standby's log continues with its own entries after a promotion.
	last = appendEntries(t, standby, 5)
	waitDurable(t, standby, last)
	readAll(t, standby, 0)
}

// TestAppendStoredRejects feeds AppendStored what a broken or hostile peer could send:
// each must be refused with the right sentinel and leave the log unchanged.
func TestAppendStoredRejects(t *testing.T) {
	primary := openTest(t, t.TempDir())
	defer primary.Close()
	var shipped storedCopies
	primary.SetObserver(shipped.observe)
	last := appendEntries(t, primary, 4)
	waitDurable(t, primary, last)
	other := openTest(t, t.TempDir())
	defer other.Close()
	var foreign storedCopies
	other.SetObserver(foreign.observe)
	// Same ops as the primary's first two entries, different history.
	for _, e := range []Entry{{Epoch: 1, FirstOp: 1, Count: 2, Timestamp: 1, Body: []byte("x")},
		{Epoch: 1, FirstOp: 3, Count: 1, Timestamp: 2, Body: []byte("y")}} {
		if err := other.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, other, 3)

	standby := openTest(t, t.TempDir())
	defer standby.Close()
	if err := standby.AppendStored(shipped.entries[0]); err != nil {
		t.Fatal(err)
	}
	flipped := func(b []byte, i int) []byte { c := append([]byte(nil), b...); c[i] ^= 1; return c }
	cases := []struct {
		name   string
		stored []byte
		want   error
	}{
		{"short", shipped.entries[1][:100], ErrCorrupt},
		{"header flip", flipped(shipped.entries[1], entryOffsetCount), ErrCorrupt},
		{"body flip", flipped(shipped.entries[1], entryHeaderSize+3), ErrCorrupt},
		{"truncated body", shipped.entries[1][:len(shipped.entries[1])-1], ErrCorrupt},
		{"gap", shipped.entries[2], ErrDiscontinuity},
		{"repeat", shipped.entries[0], ErrDiscontinuity},
		{"foreign chain", foreign.entries[1], ErrDiscontinuity},
	}
	for _, c := range cases {
		if err := standby.AppendStored(c.stored); !errors.Is(err, c.want) {
			t.Fatalf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	if standby.LastOp() != shipped.entries0LastOp(t) {
		t.Fatal("a refused entry changed the log")
	}
	if err := standby.AppendStored(shipped.entries[1]); err != nil {
		t.Fatalf("the right entry after refusals: %v", err)
	}
}

func (s *storedCopies) entries0LastOp(t *testing.T) uint64 {
	var h entryHeader
	if kind, reason := decodeEntryHeader(s.entries[0], &h); kind != headerValid {
		t.Fatal(reason)
	}
	return h.LastOp()
}

// TestTruncateAfter discards a suffix spanning segments, as a demoted primary does: the
// log must end at the op, Durable must drop to it, non-boundaries must be refused, new
// entries must continue from the cut (with a different history than before), and the
// result must survive a reopen and verify.
func TestTruncateAfter(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	last := appendEntries(t, l, 800)
	waitDurable(t, l, last)
	// Cut after the first entry of segment 2 with several ops: the rest of segment 2 and
	// every later segment go.
	var cut uint64
	if _, err := scanDirectory(dir, func(scan *segmentScan, e *scannedEntry) error {
		if cut == 0 && scan.File.Number == 2 && e.Header.Count > 1 {
			cut = e.Header.LastOp()
		}
		return nil
	}); err != nil || cut == 0 {
		t.Fatalf("no cut point: %v", err)
	}
	if err := l.TruncateAfter(cut - 1); !errors.Is(err, ErrNotBoundary) {
		t.Fatalf("truncate inside an entry: %v", err)
	}
	if err := l.TruncateAfter(last + 1); !errors.Is(err, ErrNotBoundary) {
		t.Fatalf("truncate past the end: %v", err)
	}
	if err := l.TruncateAfter(cut); err != nil {
		t.Fatal(err)
	}
	if l.LastOp() != cut || l.Durable() != cut {
		t.Fatalf("after truncation last %d durable %d, want %d", l.LastOp(), l.Durable(), cut)
	}
	if _, readLast := readAll(t, l, 0); readLast != cut {
		t.Fatalf("reads up to %d after truncation at %d", readLast, cut)
	}
	if _, ok := l.ChainAt(entryFor(cut + 1).LastOp()); ok {
		t.Fatal("ChainAt answers for a truncated op")
	}
	last = appendEntries(t, l, 300)
	waitDurable(t, l, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if _, readLast := readAll(t, l, 0); readLast != last {
		t.Fatalf("reopened log ends at %d, want %d", readLast, last)
	}
	if _, err := Verify(dir, "", &sumReplayer{}); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateAfter(0); err != nil {
		t.Fatalf("truncate everything: %v", err)
	}
	if l.LastOp() != 0 || l.FirstOp() != 0 || l.LastChain() != [32]byte{} {
		t.Fatalf("emptied log: first %d last %d", l.FirstOp(), l.LastOp())
	}
	appendEntries(t, l, 3)
}

// TestChainAt checks ChainAt against the chains read from disk, for ops still in the
// in-memory ring and for older ones found by scanning, and refuses non-boundaries.
func TestChainAt(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	defer l.Close()
	small := make([]byte, 16)
	for op := uint64(1); op <= recentChainCountMax+500; op++ {
		e := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: small}
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
	for _, op := range []uint64{1, 2, 250, 499, 500, 501, 2000, recentChainCountMax + 500} {
		chain, ok := l.ChainAt(op)
		if !ok || chain != want[op] {
			t.Fatalf("ChainAt(%d) = %x, %v", op, chain[:4], ok)
		}
	}
	if _, ok := l.ChainAt(recentChainCountMax + 501); ok {
		t.Fatal("ChainAt beyond the end")
	}
	if l.LastChain() != want[recentChainCountMax+500] {
		t.Fatal("LastChain differs from the chain on disk")
	}
	// Cutting below the ring's range must leave LastChain and ChainAt right.
	if err := l.TruncateAfter(250); err != nil {
		t.Fatal(err)
	}
	if chain, ok := l.ChainAt(250); l.LastChain() != want[250] || !ok || chain != want[250] {
		t.Fatal("chain after truncating below the ring")
	}
}

// TestStartAfter seeds an empty log at a snapshot's op and chain, as a standby restored
// from a snapshot does: appends continue from op+1, the first entry links to the given
// chain, and appending at op 1 or any op but op+1 is refused.
func TestStartAfter(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	chain := [32]byte{1, 2, 3}
	if err := l.StartAfter(100, chain); err != nil {
		t.Fatal(err)
	}
	if l.LastOp() != 100 || l.Durable() != 100 || l.LastChain() != chain {
		t.Fatalf("base not set: last %d durable %d", l.LastOp(), l.Durable())
	}
	if err := l.StartAfter(5, chain); err == nil {
		t.Fatal("StartAfter twice")
	}
	e := Entry{Epoch: 2, FirstOp: 101, Count: 2, Timestamp: 9, Body: []byte("x")}
	if err := l.Append(e); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, 102)
	if l.FirstOp() != 101 {
		t.Fatalf("first op %d", l.FirstOp())
	}
	var h entryHeader
	if err := l.scanHeadersOf(l.segments[0], func(header *entryHeader, _ int64) bool {
		h = *header
		return false
	}); err != nil {
		t.Fatal(err)
	}
	if h.PreviousChain != chain {
		t.Fatal("first entry does not link to the base chain")
	}
}

// TestChainAtAcrossSegments: ChainAt of an op older than the in-memory ring is found by
// scanning the segment that holds it, in whichever segment that is (a demoted primary
// looks up the last op it shares with the new primary this way).
func TestChainAtAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.Compression = CodecNone })
	defer l.Close()
	body := make([]byte, 2<<10) // ~2,100 entries a segment: 8,000 fill four.
	for op := uint64(1); op <= 8000; op++ {
		if err := l.Append(Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, l, l.LastOp())
	want := map[uint64][32]byte{}
	segments := map[uint64]bool{}
	if _, err := scanDirectory(dir, func(s *segmentScan, e *scannedEntry) error {
		want[e.Header.LastOp()] = e.Header.Chain
		if e.Header.LastOp() <= 8000-recentChainCountMax {
			segments[s.File.Number] = true // Segments holding ops older than the ring.
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(segments) < 2 {
		t.Fatalf("ops older than the ring lie in %d segment(s), want at least 2", len(segments))
	}
	for op := uint64(1); op <= 8000; op += 97 {
		if chain, ok := l.ChainAt(op); !ok || chain != want[op] {
			t.Fatalf("ChainAt(%d) = %x, %v", op, chain[:4], ok)
		}
	}
}
