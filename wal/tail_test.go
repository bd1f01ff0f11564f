package wal

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// followTo drains t until it has handed over every op up to last, and returns the first
// op of each entry handed over. No timing assertion: a hang is the test binary's timeout.
func followTo(t *testing.T, tail *Tail, last uint64) []uint64 {
	t.Helper()
	var firsts []uint64
	for tail.Position() < last {
		_, err := tail.Drain(func(stored []byte, meta EntryMeta) error {
			if _, _, err := DecodeStored(stored, nil); err != nil {
				t.Fatalf("entry at op %d: %v", meta.FirstOp, err)
			}
			firsts = append(firsts, meta.FirstOp)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-tail.Wake():
		case <-time.After(5 * time.Millisecond): // Re-check; not an assertion.
		}
	}
	return firsts
}

// requireContiguous checks that the entries handed over are exactly the log's entries
// after afterOp, once each, in order.
func requireContiguous(t *testing.T, l *Log, afterOp uint64, firsts []uint64) {
	t.Helper()
	var want []uint64
	if err := l.Read(afterOp, func(e *Entry) error {
		want = append(want, e.FirstOp)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(firsts) {
		t.Fatalf("handed %d entries, the log holds %d after op %d", len(firsts), len(want), afterOp)
	}
	for i := range want {
		if want[i] != firsts[i] {
			t.Fatalf("entry %d: handed op %d, want %d", i, firsts[i], want[i])
		}
	}
}

// TestTailFollowsFromDiskThenLive starts a tail in the middle of a durable log, appends
// more while it follows, and requires every entry after its start exactly once, in
// order, and in durable mode none before it is durable.
func TestTailFollowsFromDiskThenLive(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	middle := appendEntries(t, l, 30)
	waitDurable(t, l, middle)
	tail := l.Follow(middle/2, TailOptions{})
	defer tail.Close()
	last := appendEntries(t, l, 30)
	firsts := followTo(t, tail, last)
	waitDurable(t, l, last)
	requireContiguous(t, l, middle/2, firsts)
}

// TestTailStatsWhileDraining: Stats is documented safe from any goroutine (the
// replication primary's status reads it while its sender drains the tail), so reading it
// while the follower catches up from the segments must not race with the follower
// advancing its position (go test -race: Stats read the position without
// synchronisation, a data race the replication tests hit while polling a primary's
// status during a standby's catch-up).
func TestTailStatsWhileDraining(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	last := appendEntries(t, l, 30)
	waitDurable(t, l, last)
	tail := l.Follow(0, TailOptions{Written: true})
	defer tail.Close()
	done := make(chan struct{})
	read := make(chan uint64)
	go func() {
		var position uint64
		for {
			select {
			case <-done:
				read <- position
				return
			default:
				position = max(position, tail.Stats().Position)
			}
		}
	}()
	firsts := followTo(t, tail, last)
	close(done)
	if position := <-read; position > last {
		t.Fatalf("Stats read position %d past the last op %d", position, last)
	}
	requireContiguous(t, l, 0, firsts)
}

// TestTailOverflowFallsBackToTheLog gives the tail a queue too small for one entry, so
// every live entry overflows it: the follower still gets everything from the segments,
// and the overflows are counted.
func TestTailOverflowFallsBackToTheLog(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	tail := l.Follow(0, TailOptions{Written: true, QueueBytesMax: 1})
	defer tail.Close()
	last := appendEntries(t, l, 40)
	firsts := followTo(t, tail, last)
	requireContiguous(t, l, 0, firsts)
	if tail.Stats().Overflows == 0 {
		t.Fatal("no overflow counted with a 1-byte queue")
	}
}

// TestTailReportsRetiredLog asks for ops that were retired: ErrCompacted, not silence.
func TestTailReportsRetiredLog(t *testing.T) {
	l := openTest(t, t.TempDir(), func(o *Options) { o.SegmentBytes = SegmentBytesMin })
	defer l.Close()
	for l.FirstOp() <= 1 {
		last := appendEntries(t, l, 50)
		waitDurable(t, l, last)
		if _, err := l.Retire(last-1, ""); err != nil {
			t.Fatal(err)
		}
	}
	tail := l.Follow(0, TailOptions{})
	defer tail.Close()
	if _, err := tail.Drain(func([]byte, EntryMeta) error { return nil }); !errors.Is(err, ErrCompacted) {
		t.Fatalf("drain of retired ops: %v", err)
	}
	tail.Close()
	if _, err := tail.Drain(func([]byte, EntryMeta) error { return nil }); !errors.Is(err, ErrTailClosed) {
		t.Fatalf("drain after close: %v", err)
	}
}

// TestTailQueueBound: entries that fill the queue exactly stay queued; the next one
// overflows it, which empties the queue (the follower reads the log instead) and counts
// one overflow, so that later entries are queued again.
func TestTailQueueBound(t *testing.T) {
	tail := &Tail{options: TailOptions{QueueBytesMax: 100}, wake: make(chan struct{}, 1)}
	push := func(op uint64, bytes int) TailStats {
		tail.push(make([]byte, bytes), EntryMeta{FirstOp: op, Count: 1})
		return tail.Stats()
	}
	push(1, 60)
	if s := push(2, 40); s.QueuedBytes != 100 || s.Overflows != 0 {
		t.Fatalf("exactly full: %+v", s)
	}
	if s := push(3, 1); s.QueuedBytes != 0 || s.Overflows != 1 {
		t.Fatalf("one byte over: %+v", s)
	}
	if s := push(4, 50); s.QueuedBytes != 50 || s.Overflows != 1 || len(tail.queue) != 1 {
		t.Fatalf("after the overflow: %+v", s)
	}
}

// TestWrittenTailHandsOverBeforeTheSync: a Written tail hands an entry over once it is
// written, before its fdatasync; that holds right after the tail caught up from the
// segments, when its queue still starts with an entry it already read there. The second
// entry's sync is held so that it is written and not durable while the follower drains.
func TestWrittenTailHandsOverBeforeTheSync(t *testing.T) {
	dir, l, tail, first := followAfterOneEntry(t, TailOptions{Written: true})
	syncing, _ := holdHook(t, &testHookSync, dir)
	second := appendEntries(t, l, 1)
	<-syncing // The second entry is written (and queued), not durable.
	var handed []uint64
	if _, err := tail.Drain(func(_ []byte, meta EntryMeta) error {
		handed = append(handed, meta.FirstOp+uint64(meta.Count)-1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(handed, []uint64{first, second}) || l.Durable() != first {
		t.Fatalf("handed entries ending at %v with Durable %d, want %d and %d with Durable %d",
			handed, l.Durable(), first, second, first)
	}
}
