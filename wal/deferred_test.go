package wal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"sequent/core/invariants"
)

// TestWriteDeferredWritesOnTheAppender: an entry AppendDeferred queues on an idle log is
// not written by the writer goroutine (nothing woke it); WriteDeferred writes and syncs it
// on the calling goroutine and returns with it durable, and the log reads back whole.
func TestWriteDeferredWritesOnTheAppender(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	for op := uint64(1); op <= 40; {
		e := entryFor(op)
		if err := l.AppendDeferred(e); err != nil {
			t.Fatal(err)
		}
		if durable := l.Durable(); durable >= e.LastOp() {
			t.Fatalf("op %d durable before WriteDeferred: the writer was woken", durable)
		}
		l.WriteDeferred()
		if durable := l.Durable(); durable != e.LastOp() {
			t.Fatalf("after WriteDeferred Durable is %d, want %d", durable, e.LastOp())
		}
		op = e.LastOp() + 1
	}
	stats := l.Stats()
	if stats.InlineGroups == 0 || stats.InlineGroups != stats.Groups || stats.Syncs < stats.Groups {
		t.Fatalf("stats %+v: every group should have been written and synced inline", stats)
	}
	lastOp := l.LastOp()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if entries, last := readAll(t, l, 0); entries == 0 || last != lastOp {
		t.Fatalf("reopened log ends at op %d (%d entries), want %d", last, entries, lastOp)
	}
}

// TestWriteDeferredFailedSyncPublishesNothing: when the fdatasync of a deferred entry
// fails on the appender's own goroutine, Durable does not advance (a reply waiting for it
// never leaves), the failure is sticky, and the next Append reports it.
func TestWriteDeferredFailedSyncPublishesNothing(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	defer l.Close()
	last := uint64(0)
	for range 3 { // Deferred too, so that the writer goroutine is never woken.
		e := entryFor(last + 1)
		if err := l.AppendDeferred(e); err != nil {
			t.Fatal(err)
		}
		l.WriteDeferred()
		last = e.LastOp()
	}
	injectFault(t, &testHookSync, dir, syscall.EIO, nil)
	e := entryFor(last + 1)
	if err := l.AppendDeferred(e); err != nil {
		t.Fatal(err)
	}
	l.WriteDeferred()
	if durable := l.Durable(); durable != last {
		t.Fatalf("Durable %d after a failed fdatasync, want %d", durable, last)
	}
	if !errors.Is(l.Err(), syscall.EIO) {
		t.Fatalf("Err %v, want EIO", l.Err())
	}
	if err := l.Append(entryFor(e.LastOp() + 1)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append after the failure: %v, want EIO", err)
	}
	if stats := l.Stats(); stats.InlineGroups != 4 {
		t.Fatalf("%d inline groups, want 4 (the failed one on the appender too)", stats.InlineGroups)
	}
}

// TestWriteDeferredWithTheWriterBusy: while the writer goroutine is inside an fdatasync
// (held by the hook), a deferred entry is not written by the appender (the writer owns the
// file); WriteDeferred wakes the writer instead, and nothing becomes durable before the
// fdatasync that covers it returns.
func TestWriteDeferredWithTheWriterBusy(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	defer l.Close()
	entered, proceed := make(chan struct{}, 8), make(chan struct{})
	injectFault(t, &testHookSync, dir, nil, func() {
		entered <- struct{}{}
		<-proceed
	})
	first := entryFor(1)
	if err := l.Append(first); err != nil {
		t.Fatal(err)
	}
	<-entered // The writer is syncing the first entry and holds the file.
	second := entryFor(first.LastOp() + 1)
	if err := l.AppendDeferred(second); err != nil {
		t.Fatal(err)
	}
	l.WriteDeferred()
	if durable := l.Durable(); durable != 0 {
		t.Fatalf("op %d durable while its fdatasync is held", durable)
	}
	close(proceed)
	waitDurable(t, l, second.LastOp())
	if stats := l.Stats(); stats.InlineGroups != 0 {
		t.Fatalf("%d inline groups: the appender wrote while the writer held the file", stats.InlineGroups)
	}
}

// TestDeferredEntryWithoutWriteDeferred: an appender that never calls WriteDeferred loses
// nothing and does not hang: the next Append (with a one-slot pipeline, so that it must
// wait for the deferred entry's slot), and Close, get the writer to write it.
func TestDeferredEntryWithoutWriteDeferred(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.PipelineDepth = 1 })
	first := entryFor(1)
	if err := l.AppendDeferred(first); err != nil {
		t.Fatal(err)
	}
	second := entryFor(first.LastOp() + 1)
	if err := l.Append(second); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, second.LastOp())
	third := entryFor(second.LastOp() + 1)
	if err := l.AppendDeferred(third); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if _, last := readAll(t, l, 0); last != third.LastOp() {
		t.Fatalf("reopened log ends at op %d, want %d: Close lost the deferred entry", last,
			third.LastOp())
	}
}

// TestWriteDeferredAllocatesNothing: once the slots' buffers have grown, an entry written
// by the appender itself (AppendDeferred, WriteDeferred) allocates nothing, as Append's
// path does (TestAppendAllocations).
func TestWriteDeferredAllocatesNothing(t *testing.T) {
	if invariants.Enabled {
		t.Skip("invariant checks allocate")
	}
	l := openTest(t, t.TempDir())
	defer l.Close()
	body := entryFor(4).Body
	next := uint64(1)
	appendOne := func() {
		if err := l.AppendDeferred(Entry{Epoch: 1, FirstOp: next, Count: 1, Timestamp: next,
			Body: body}); err != nil {
			t.Fatal(err)
		}
		l.WriteDeferred()
		if l.Durable() != next {
			t.Fatalf("Durable %d after WriteDeferred of op %d", l.Durable(), next)
		}
		next++
	}
	for range 3 * PipelineDepthDefault { // grow every slot's buffers
		appendOne()
	}
	if allocations := testing.AllocsPerRun(50, appendOne); allocations > 0 {
		t.Fatalf("%.1f allocations per deferred append, want 0", allocations)
	}
	if stats := l.Stats(); stats.InlineGroups != stats.Groups {
		t.Fatalf("stats %+v: every group should have been written inline", stats)
	}
}

// TestAppendDeferredInARowIsOneGroup: entries AppendDeferred queues one after another
// (the sequencer's entries of a turn cut short by an order stop) all stay with the
// appender, the writer never told, and one WriteDeferred writes them as one group, one
// fdatasync. Before, the second call's Append woke the writer for the first, which then
// went to the disk alone.
func TestAppendDeferredInARowIsOneGroup(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	const entries = 3
	op := uint64(1)
	for range entries {
		e := entryFor(op)
		if err := l.AppendDeferred(e); err != nil {
			t.Fatal(err)
		}
		if !l.appender.deferred {
			t.Fatalf("the entry at op %d was handed to the writer: the deferred ones "+
				"before it go to the disk without it", e.FirstOp)
		}
		op = e.LastOp() + 1
	}
	l.WriteDeferred()
	if durable := l.Durable(); durable != op-1 {
		t.Fatalf("after WriteDeferred Durable is %d, want %d", durable, op-1)
	}
	if stats := l.Stats(); stats.Groups != 1 || stats.InlineGroups != 1 || stats.Syncs != 1 {
		t.Fatalf("stats %+v: want the %d entries in one group, written and synced inline",
			stats, entries)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if count, last := readAll(t, l, 0); count != entries || last != op-1 {
		t.Fatalf("reopened log holds %d entries up to op %d, want %d up to %d", count, last,
			entries, op-1)
	}
}

// TestAppendDeferredWaitingForRoomTellsTheWriter: entries AppendDeferred queued in a row
// (the writer not told) can fill the active segment and the prepared one; the next
// AppendDeferred then waits for room in reserve, and only the writer writing those
// entries makes room. reserve must tell it of them before it waits (announceDeferred),
// else the appender waits for ever: nothing else wakes the writer, since the appender
// that would call WriteDeferred is the one waiting. Reachable from the shard with a small
// SegmentBytes and a deep pipeline: a chain of order stops defers up to InFlightEntriesMax
// entries of up to deferBytesMax each.
func TestAppendDeferredWaitingForRoomTellsTheWriter(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) {
		o.SegmentBytes, o.PipelineDepth = SegmentBytesMin, pipelineDepthMax
	})
	// Random bodies of deferBytesMax bytes (stored raw): 31 fit a segment, so the 63
	// slots the pipeline may hold before acquireSlot wakes the writer are more than the
	// active segment and the prepared one together hold.
	const entries = pipelineDepthMax - 1
	random := rand.New(rand.NewPCG(47, 47))
	bodies := make([][]byte, entries)
	for i := range bodies {
		bodies[i] = make([]byte, deferBytesMax)
		for j := range bodies[i] {
			bodies[i][j] = byte(random.Uint32())
		}
	}
	appended := make(chan error, 1)
	go func() {
		for i := range entries {
			op := uint64(i + 1)
			if err := l.AppendDeferred(Entry{Epoch: 1, FirstOp: op, Count: 1,
				Timestamp: 1000 + op, Body: bodies[i]}); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitMax): // A hang guard, not a timing assertion.
		t.Fatal("AppendDeferred still waits for room that only writing the entries " +
			"deferred before it makes: the writer was never told of them")
	}
	l.WriteDeferred() // The writer may still be busy with the entries before: it then writes.
	waitDurable(t, l, entries)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	next := uint64(1)
	if err := l.Read(0, func(e *Entry) error {
		if e.FirstOp != next || !bytes.Equal(e.Body, bodies[next-1]) {
			t.Fatalf("entry at op %d (want %d) differs from what was appended", e.FirstOp, next)
		}
		next++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if next != entries+1 {
		t.Fatalf("reopened log holds ops 1..%d, want 1..%d", next-1, entries)
	}
}

// TestAppendDeferredInARowLeavesTheWriterAsleep: AppendDeferred behind a deferred entry
// must not wake the writer (Append skips announceDeferred while deferring), else the
// writer writes the first entries alone, one fdatasync more. TestAppendDeferredInARowIsOneGroup
// cannot see a wake-up the writer is too slow to act on before WriteDeferred (a woken
// goroutine often runs only once the appender blocks), so here the writer is parked on
// the writing mutex first: any wake-up sent after that stays in its channel.
func TestAppendDeferredInARowLeavesTheWriterAsleep(t *testing.T) {
	l := openTest(t, t.TempDir())
	l.writing.Lock()
	l.wakeWriter()
	for len(l.pipeline.wake) > 0 {
		time.Sleep(time.Millisecond) // Paces the check; not an assertion.
	}
	// The writer took the wake-up and waits for the mutex held here: it cannot take
	// another until the mutex is released.
	op := uint64(1)
	for i := range 3 {
		e := entryFor(op)
		if err := l.AppendDeferred(e); err != nil {
			l.writing.Unlock()
			l.Close()
			t.Fatal(err)
		}
		if woken := len(l.pipeline.wake); woken != 0 {
			l.writing.Unlock()
			l.Close()
			t.Fatalf("AppendDeferred number %d woke the writer: the entries deferred before "+
				"it go to the disk without it", i+1)
		}
		op = e.LastOp() + 1
	}
	l.writing.Unlock() // The writer's pending wake-up writes the three.
	waitDurable(t, l, op-1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
