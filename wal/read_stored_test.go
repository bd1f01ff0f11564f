package wal

import (
	"bytes"
	"testing"
	"time"
)

// TestReadStoredFeedsAppendStored copies a log through ReadStored and AppendStored (what
// replication catch-up does): the copy has the same entries and the same chain hashes,
// and reading from the middle starts at the right entry.
func TestReadStoredFeedsAppendStored(t *testing.T) {
	source := openTest(t, t.TempDir())
	defer source.Close() // Stops its goroutines before the temporary directory goes.
	last := appendEntries(t, source, 40)
	waitDurable(t, source, last)
	target := openTest(t, t.TempDir())
	defer target.Close() // Stops its goroutines before the temporary directory goes.
	err := source.ReadStored(0, func(stored []byte, meta EntryMeta) error {
		if meta.FirstOp == 0 || len(stored) != entryHeaderSize+int(meta.StoredBytes) {
			t.Fatalf("meta %+v for %d stored bytes", meta, len(stored))
		}
		return target.AppendStored(stored)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitDurable(t, target, last)
	if target.LastChain() != source.LastChain() {
		t.Fatal("chains differ after copying through ReadStored")
	}
	var sourceBodies, targetBodies [][]byte
	collect := func(into *[][]byte) func(e *Entry) error {
		return func(e *Entry) error {
			*into = append(*into, append([]byte(nil), e.Body...))
			return nil
		}
	}
	if err := source.Read(0, collect(&sourceBodies)); err != nil {
		t.Fatal(err)
	}
	if err := target.Read(0, collect(&targetBodies)); err != nil {
		t.Fatal(err)
	}
	if len(sourceBodies) != len(targetBodies) {
		t.Fatalf("%d entries copied, %d in the source", len(targetBodies), len(sourceBodies))
	}
	for i := range sourceBodies {
		if !bytes.Equal(sourceBodies[i], targetBodies[i]) {
			t.Fatalf("entry %d differs", i)
		}
	}
	middle, firstSeen := uint64(0), uint64(0)
	source.Read(0, func(e *Entry) error {
		if middle == 0 && e.FirstOp > last/2 {
			middle = e.FirstOp - 1
		}
		return nil
	})
	source.ReadStored(middle, func(stored []byte, meta EntryMeta) error {
		if firstSeen == 0 {
			firstSeen = meta.FirstOp
		}
		return nil
	})
	if firstSeen != middle+1 {
		t.Fatalf("ReadStored after op %d started at op %d", middle, firstSeen)
	}
}

func TestRecentChains(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close() // Stops its goroutines before the temporary directory goes.
	last := appendEntries(t, l, 10)
	waitDurable(t, l, last)
	points := l.RecentChains(4)
	if len(points) != 4 || points[0].LastOp != last || points[0].Chain != l.LastChain() {
		t.Fatalf("recent chains %+v", points)
	}
	for _, point := range points {
		chain, ok := l.ChainAt(point.LastOp)
		if !ok || chain != point.Chain || point.LastOp > last {
			t.Fatalf("point %+v does not match ChainAt", point)
		}
	}
	if points[1].LastOp >= points[0].LastOp {
		t.Fatal("not newest first")
	}
}

func TestSubscribeDurable(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close() // Stops its goroutines before the temporary directory goes.
	subscription := l.SubscribeDurable()
	last := appendEntries(t, l, 3)
	waitDurable(t, l, last)
	// Durable is published before the subscribers are signalled: wait for the signal
	// (bounded) rather than expecting it the moment Durable has moved (that flaked).
	select {
	case <-subscription:
	case <-time.After(waitMax):
		t.Fatal("a subscriber was not signalled when Durable advanced")
	}
}

// TestUnsubscribeDurable: an unsubscribed channel is no longer signalled and no longer
// held; the other subscriptions keep working.
func TestUnsubscribeDurable(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close() // Stops its goroutines before the temporary directory goes.
	kept := l.SubscribeDurable()
	for range 100 { // A standby link reconnecting 100 times.
		l.UnsubscribeDurable(l.SubscribeDurable())
	}
	gone := l.SubscribeDurable()
	l.UnsubscribeDurable(gone)
	if held := len(*l.durableSubscribers.Load()); held != 1 {
		t.Fatalf("%d subscriptions held, want 1", held)
	}
	last := appendEntries(t, l, 2)
	waitDurable(t, l, last)
	// Durable is published before the subscribers are signalled, so wait for the signal
	// (bounded) rather than expecting it the moment Durable has moved.
	select {
	case <-kept:
	case <-time.After(waitMax):
		t.Fatal("the remaining subscriber was not signalled")
	}
	select {
	case <-gone:
		t.Fatal("an unsubscribed channel was signalled")
	default:
	}
}
