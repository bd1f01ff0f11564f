package wal

import "testing"

// TestChainAtBaseSurvivesReopenWithEntries (review-base51): StartAfter makes ChainAt(op)
// answer the base's chain, and a log reopened before its first entry still does
// (the header's record). Once an entry follows the base, a reopen lost it: ChainAt(base)
// answered "not found" although the header records it and the first entry links to it.
// A primary restarted after its promotion then takes a standby at exactly its base for
// one with nothing in common (a start over instead of a stream), and shard recovery can
// no longer tell a snapshot of another history at the base (OfAnotherHistory).
func TestChainAtBaseSurvivesReopenWithEntries(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	chain := [32]byte{4, 5, 6}
	if err := l.StartAfter(100, chain); err != nil {
		l.Close()
		t.Fatal(err)
	}
	if err := l.Append(Entry{Epoch: 2, FirstOp: 101, Count: 1, Timestamp: 9,
		Body: []byte("x")}); err != nil {
		l.Close()
		t.Fatal(err)
	}
	waitDurable(t, l, 101)
	if got, ok := l.ChainAt(100); !ok || got != chain {
		l.Close()
		t.Fatalf("before reopening: ChainAt(base) = %x, %v", got[:4], ok)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if got, ok := l.ChainAt(100); !ok || got != chain {
		t.Fatalf("after reopening with an entry after the base: ChainAt(base) = %x, %v; "+
			"want the recorded base's chain, as before the reopen", got[:4], ok)
	}
}
