package wal

import (
	"testing"
	"time"

	"sequent/core/model"
)

// TestLastChainWaitsForTheFirstSeal: on a new log, LastChain right after the first Append
// waits for the writer to seal that entry, as it does for later ones, instead of answering
// the empty log's zero chain. AppendStored relies on it: a log that appended its own first
// entry (a primary) and then takes a replicated one continuing the same history (demoted
// to a standby) must accept it, and go on accepting the next ones. The first entry is
// large and compressible, so that its compression (on an encoder goroutine) is still
// running when Append returns. Before the fix LastChain returned zeros whenever the chain
// ring was empty, AppendStored refused the entry as coming from another log, and the
// wrong chain stayed cached in the appender.
func TestLastChainWaitsForTheFirstSeal(t *testing.T) {
	first := Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 1_000,
		Body: transfersBody(newRand(1), 1, EntryBodyBytesMax/model.TransferSize)}
	source := openTest(t, t.TempDir())
	defer source.Close()
	if err := source.Append(first); err != nil {
		t.Fatal(err)
	}
	for op := uint64(2); op <= 4; op++ {
		if err := source.Append(Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: 1_000 + op,
			Body: []byte{byte(op)}}); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, source, 4)
	stored := storedEntries(t, source)
	firstChain, _ := source.ChainAt(1)
	for round := range 5 {
		l := openTest(t, t.TempDir())
		if err := l.Append(first); err != nil {
			t.Fatal(err)
		}
		if chain := l.LastChain(); chain != firstChain {
			t.Fatalf("round %d: LastChain right after the first Append is %x, want %x", round, chain[:8], firstChain[:8])
		}
		for _, s := range stored[1:] {
			if err := l.AppendStored(s); err != nil {
				t.Fatalf("round %d: AppendStored after the first Append: %v", round, err)
			}
		}
		waitDurable(t, l, 4)
		if l.LastChain() != source.LastChain() {
			t.Fatalf("round %d: the logs' chains differ", round)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLastChainWaitsForTheFirstSealWhileTheWriterIsHeld is the deterministic form of
// TestLastChainWaitsForTheFirstSeal (which needs the first entry's compression to be
// still running, and so may miss the bug on a fast machine): the test holds the writing
// mutex, so the writer cannot seal the first entry and the chain ring stays empty.
// LastChain must wait for that seal (its goroutine is seen blocked on the condition
// variable), then answer the first entry's chain, not the empty log's zero chain.
func TestLastChainWaitsForTheFirstSealWhileTheWriterIsHeld(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	l.writing.Lock() // The writer wakes for the first entry and waits here, unsealed.
	held := true
	defer func() {
		if held {
			l.writing.Unlock()
		}
	}()
	last := appendEntries(t, l, 1) // The first entry: ops 1 and 2.
	answer := make(chan [32]byte, 1)
	go func() { answer <- l.LastChain() }()
	for !lastChainWaiting() {
		select {
		case chain := <-answer:
			t.Fatalf("LastChain answered %x before the first entry was sealed", chain[:8])
		case <-time.After(time.Millisecond): // Paces the check; not an assertion.
		}
	}
	l.writing.Unlock()
	held = false
	var chain [32]byte
	select {
	case chain = <-answer:
	case <-time.After(waitMax): // A hang guard, not a timing assertion.
		t.Fatal("LastChain still waits after the first entry was written")
	}
	waitDurable(t, l, last)
	if want, ok := l.ChainAt(last); !ok || chain != want || chain == ([32]byte{}) {
		t.Fatalf("LastChain %x, want the first entry's chain %x (found %v)", chain[:8], want[:8], ok)
	}
}

// TestAppendStoredAfterADeferredFirstEntry: a log whose first entry AppendDeferred left
// to the appender (the writer asleep, the entry unsealed) takes a replicated entry that
// continues it. AppendStored must wake the writer before LastChain waits for that seal
// (announceDeferred); otherwise the appender would wait for itself for good.
func TestAppendStoredAfterADeferredFirstEntry(t *testing.T) {
	entries := []Entry{{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 1_000, Body: []byte{1}},
		{Epoch: 1, FirstOp: 2, Count: 1, Timestamp: 1_001, Body: []byte{2}}}
	source := openTest(t, t.TempDir())
	defer source.Close()
	for _, e := range entries {
		if err := source.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, source, 2)
	stored := storedEntries(t, source)
	l := openTest(t, t.TempDir())
	defer l.Close()
	if err := l.AppendDeferred(entries[0]); err != nil {
		t.Fatal(err)
	}
	if l.FirstOp() != 0 {
		t.Fatal("the first entry was written: AppendDeferred did not defer it")
	}
	done := make(chan error, 1)
	go func() { done <- l.AppendStored(stored[1]) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("AppendStored after a deferred first entry: %v", err)
		}
	case <-time.After(waitMax): // A hang guard, not a timing assertion.
		t.Fatal("AppendStored still waits for the deferred first entry's seal")
	}
	waitDurable(t, l, 2)
	if l.LastChain() != source.LastChain() {
		t.Fatal("the logs' chains differ")
	}
}
