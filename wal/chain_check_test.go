package wal

import (
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
)

// TestVerifyChain checks a healthy log end to end, a window inside it, an anchor, the
// time limit, and then the same log after one entry's body was edited with both
// checksums recomputed (what a tamperer with the disk would do): only the chain hash can
// tell, and VerifyChain must report it, while the log stays open and readable.
func TestVerifyChain(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	last := appendEntries(t, l, 40)
	waitDurable(t, l, last)
	future := time.Now().Add(time.Hour)

	all, err := l.VerifyChain(0, 0, 0, future)
	if err != nil || !all.OK || all.Entries != 40 || all.VerifiedFromOp != 1 ||
		all.VerifiedToOp != last || !all.WindowCovered || all.WindowEntries != 40 ||
		all.ChainBefore != strings.Repeat("00", 32) {
		t.Fatalf("whole log: %+v, %v", all, err)
	}
	if chain := l.LastChain(); all.ChainLast != hex.EncodeToString(chain[:]) {
		t.Fatalf("chain_last %s, log's last chain %x", all.ChainLast, chain)
	}

	// A window: entries 11..20 (entryFor stamps op × 1000 ns after a base).
	tenth, twentieth := entryFor(opOfEntry(t, 11)), entryFor(opOfEntry(t, 20))
	window, err := l.VerifyChain(tenth.Timestamp, twentieth.Timestamp, tenth.LastOp(), future)
	anchor, _ := l.ChainAt(tenth.LastOp())
	if err != nil || !window.OK || window.WindowEntries != 10 || window.Entries != 20 ||
		window.WindowFirstOp != tenth.FirstOp || window.WindowLastOp != twentieth.LastOp() ||
		window.AnchorChain != hex.EncodeToString(anchor[:]) {
		t.Fatalf("window: %+v, %v", window, err)
	}

	past, err := l.VerifyChain(0, 0, 0, time.Now().Add(-time.Second))
	if err != nil || !past.Truncated || past.Entries != 0 || !past.OK {
		t.Fatalf("deadline: %+v, %v", past, err)
	}

	tamper(t, l, 25)
	tampered, err := l.VerifyChain(0, 0, 0, future)
	if err != nil || tampered.OK || !strings.Contains(tampered.Problem, "chain hash") ||
		tampered.Entries != 24 {
		t.Fatalf("tampered: %+v, %v", tampered, err)
	}
}

// opOfEntry returns the first op of the n-th entry (1-based) that appendEntries wrote.
func opOfEntry(t *testing.T, n int) uint64 {
	op := uint64(1)
	for range n - 1 {
		op += uint64(entryFor(op).Count)
	}
	return op
}

// tamper flips a byte in the body of the n-th entry and recomputes its body and header
// checksums, in place in the segment file.
func tamper(t *testing.T, l *Log, n int) {
	t.Helper()
	target := opOfEntry(t, n)
	info, ok := l.segmentHolding(target)
	if !ok {
		t.Fatalf("no segment holds op %d", target)
	}
	var offset int64 = -1
	var stored uint32
	l.scanHeadersOf(info, func(h *entryHeader, at int64) bool {
		if h.FirstOp == target {
			offset, stored = at, h.StoredBytes
		}
		return h.FirstOp < target
	})
	file, err := os.OpenFile(info.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	b := make([]byte, entryHeaderSize+int(stored))
	if _, err := file.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	body := b[entryHeaderSize:]
	body[len(body)/2] ^= 1
	binary.LittleEndian.PutUint32(b[entryOffsetBodyCRC:], crc32c(body))
	binary.LittleEndian.PutUint32(b[entryOffsetHeaderCRC:], headerCRC(b[:entryHeaderSize],
		entryOffsetHeaderCRC))
	if _, err := file.WriteAt(b, offset); err != nil {
		t.Fatal(err)
	}
}

// TestChainLeavesOutTheLocalFields: the chain hash ignores the fields each log sets for
// itself (segment number, synced offset, header checksum), so a standby that numbers and
// syncs its segments differently computes the primary's chain; any other field counts.
func TestChainLeavesOutTheLocalFields(t *testing.T) {
	base := entryHeader{Magic: entryMagic, Version: 1, Count: 3, Epoch: 2, Segment: 4, FirstOp: 10,
		Timestamp: 1_700_000_000_000_000_000, StoredBytes: 64, RawBytes: 64, BodyCRC: 7,
		SyncedOffset: 4096, PreviousChain: [32]byte{9}}
	digest := [32]byte{1, 2, 3}
	chainOf := func(h entryHeader) [32]byte {
		b := make([]byte, entryHeaderSize)
		h.encode(b)
		return chainHash(b, &digest)
	}
	want := chainOf(base)
	local := []func(*entryHeader){
		func(h *entryHeader) { h.Segment = 99 },
		func(h *entryHeader) { h.SyncedOffset = 8192 },
		func(h *entryHeader) { h.SyncedOffset = 0 },
	}
	for i, change := range local {
		h := base
		change(&h)
		if chainOf(h) != want {
			t.Fatalf("local change %d changed the chain", i)
		}
	}
	h := base
	h.FirstOp++
	if chainOf(h) == want {
		t.Fatal("a changed op left the chain unchanged")
	}
}
