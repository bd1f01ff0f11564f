package wal

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestDeferredStress mixes Append, AppendDeferred with and without WriteDeferred, and
// waits for Durable, on a log with a two-slot pipeline and small segments (so that
// groups are written now by the writer, now by the appender, across rollovers), while
// the fdatasync hook yields to widen the window in which the writer holds the writing
// mutex. It checks, under -race: Durable never passes the last op an fdatasync was
// started for (a reply never leaves before its sync), every WriteDeferred is followed by
// the entry becoming durable (no lost wake-up: a hang is reported by the test binary's
// timeout), a written-entries tail (replication) and a durable tail (capture) each see
// every entry exactly once and in order, and the log reads back whole after Close.
func TestDeferredStress(t *testing.T) {
	const entriesCount = 250
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.PipelineDepth = 2 })
	var syncStartedOp atomic.Uint64 // Highest op an fdatasync was started for.
	syncs := 0
	injectFault(t, &testHookSync, dir, nil, func() {
		// Runs with writing held (writer goroutine or the appender in WriteDeferred).
		syncStartedOp.Store(l.writer.writtenOp)
		if syncs++; syncs%3 == 0 {
			runtime.Gosched()
		}
	})
	var lastStressOp atomic.Uint64 // The last op appended, once every append is done.
	var followers sync.WaitGroup
	follow := func(written bool) *Tail {
		tail := l.Follow(0, TailOptions{Written: written})
		followers.Add(1)
		go func() {
			defer followers.Done()
			next := uint64(1)
			for {
				_, err := tail.Drain(func(stored []byte, meta EntryMeta) error {
					if meta.FirstOp != next {
						t.Errorf("written=%v tail: op %d, want %d", written, meta.FirstOp, next)
					}
					if !written && meta.FirstOp+uint64(meta.Count)-1 > l.Durable() {
						t.Errorf("durable tail: op %d handed over before it was durable", meta.FirstOp)
					}
					next = meta.FirstOp + uint64(meta.Count)
					return nil
				})
				if err != nil {
					return // Closed at the end.
				}
				if last := lastStressOp.Load(); last > 0 && next > last {
					return
				}
				<-tail.Wake()
			}
		}()
		return tail
	}
	written, durable := follow(true), follow(false)
	random := newRand(23)
	for range entriesCount {
		e := entryFor(l.LastOp() + 1)
		switch random.IntN(4) {
		case 0:
			if err := l.Append(e); err != nil {
				t.Fatal(err)
			}
		case 1, 2:
			if err := l.AppendDeferred(e); err != nil {
				t.Fatal(err)
			}
			l.WriteDeferred()
			if random.IntN(2) == 0 {
				waitDurable(t, l, e.LastOp())
			}
		case 3: // Deferred, and the next Append (or Close) must get it written.
			if err := l.AppendDeferred(e); err != nil {
				t.Fatal(err)
			}
		}
		if durableOp := l.Durable(); durableOp > syncStartedOp.Load() {
			t.Fatalf("Durable %d above the last op synced %d", durableOp, syncStartedOp.Load())
		}
	}
	stats := l.Stats()
	t.Logf("%d groups, %d written by the appender, %d rolls", stats.Groups, stats.InlineGroups,
		stats.Rolls)
	last := l.LastOp()
	l.WriteDeferred()
	waitDurable(t, l, last)
	lastStressOp.Store(last)
	// Wake the followers once more so that they see lastStressOp.
	for _, tail := range []*Tail{written, durable} {
		select {
		case tail.wake <- struct{}{}:
		default:
		}
	}
	followers.Wait()
	written.Close()
	durable.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if _, readLast := readAll(t, l, 0); readLast != last {
		t.Fatalf("reopened log ends at op %d, want %d", readLast, last)
	}
}

// TestWriteDeferredRollsSegments: groups written by the appender itself roll to the
// prepared next segment as the writer's do (sync before the switch, chain carried over):
// with bodies near the inline bound, every group is written inline across several
// segments, each entry is durable after its WriteDeferred, and the log reads back whole
// (reopening checks each header and the chain).
func TestWriteDeferredRollsSegments(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.Compression = CodecNone })
	body := make([]byte, encodeInlineBytesMax)
	op := uint64(0)
	for l.Stats().Rolls < 2 {
		op++
		body[op%uint64(len(body))] = byte(op)
		e := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: body}
		if err := l.AppendDeferred(e); err != nil {
			t.Fatal(err)
		}
		l.WriteDeferred()
		if durable := l.Durable(); durable != op {
			t.Fatalf("after WriteDeferred of op %d Durable is %d", op, durable)
		}
	}
	if stats := l.Stats(); stats.InlineGroups != stats.Groups {
		t.Fatalf("stats %+v: every group should have been written by the appender", stats)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	next := uint64(1)
	if err := l.Read(0, func(e *Entry) error {
		if e.FirstOp != next || len(e.Body) != encodeInlineBytesMax || e.Body[next%uint64(len(body))] != byte(next) {
			t.Fatalf("entry at op %d (%d bytes), want op %d", e.FirstOp, len(e.Body), next)
		}
		next++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if next-1 != op {
		t.Fatalf("reopened log holds ops 1..%d, want 1..%d", next-1, op)
	}
}

// TestWriteDeferredFailedWrite: a failed write of a deferred entry on the appender's own
// goroutine stops the log as on the writer: nothing after it becomes durable, no tail is
// handed the entry, the failure is sticky (Append and AppendDeferred report it), and
// Close reports it too.
func TestWriteDeferredFailedWrite(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	tail := l.Follow(0, TailOptions{Written: true})
	defer tail.Close()
	first := entryFor(1)
	if err := l.AppendDeferred(first); err != nil {
		t.Fatal(err)
	}
	l.WriteDeferred()
	injectFault(t, &testHookWrite, dir, syscall.EIO, nil)
	second := entryFor(first.LastOp() + 1)
	if err := l.AppendDeferred(second); err != nil {
		t.Fatal(err)
	}
	l.WriteDeferred()
	if durable := l.Durable(); durable != first.LastOp() {
		t.Fatalf("Durable %d after a failed write, want %d", durable, first.LastOp())
	}
	if !errors.Is(l.Err(), syscall.EIO) {
		t.Fatalf("Err %v, want EIO", l.Err())
	}
	handed := uint64(0)
	if _, err := tail.Drain(func(_ []byte, meta EntryMeta) error {
		handed = meta.FirstOp + uint64(meta.Count) - 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if handed != first.LastOp() {
		t.Fatalf("tail handed over up to op %d, want %d (the failed write is not handed)", handed,
			first.LastOp())
	}
	third := entryFor(second.LastOp() + 1)
	if err := l.AppendDeferred(third); !errors.Is(err, syscall.EIO) {
		t.Fatalf("AppendDeferred after the failure: %v, want EIO", err)
	}
	if stats := l.Stats(); stats.InlineGroups != 2 || stats.Entries != 1 {
		t.Fatalf("stats %+v: two groups tried inline, one entry written", stats)
	}
	if err := l.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Close: %v, want EIO", err)
	}
}

// TestWriteDeferredWakesTheWriterWhenTheMutexIsHeld: the window of the lost wake-up.
// The writer may hold the writing mutex after it last looked for produced slots (between
// writeAvailable's final check and Unlock); an entry deferred then, whose WriteDeferred
// finds the mutex taken, is written only if WriteDeferred wakes the writer. The test
// holds the mutex itself, which from the appender's side is that same window, and
// releases it once WriteDeferred has returned: the writer must then write the entry.
// (Without the wake-up in WriteDeferred this fails; the writer's own loop, which the
// other tests exercise, never sees the entry.)
func TestWriteDeferredWakesTheWriterWhenTheMutexIsHeld(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	e := entryFor(1)
	l.writing.Lock()
	if err := l.AppendDeferred(e); err != nil {
		t.Fatal(err)
	}
	l.WriteDeferred()
	if stats := l.Stats(); stats.InlineGroups != 0 || l.Durable() != 0 {
		t.Fatalf("stats %+v, Durable %d: written while the mutex was held", stats, l.Durable())
	}
	l.writing.Unlock()
	// A hang guard, not a timing assertion: nothing else will ever wake the writer.
	for deadline := time.Now().Add(waitMax); l.Durable() < e.LastOp(); {
		if time.Now().After(deadline) {
			t.Fatal("the deferred entry was never written: the writer's wake-up was lost")
		}
		select {
		case <-l.DurableNotify():
		case <-time.After(10 * time.Millisecond):
		}
	}
}
