package wal

import (
	"errors"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"
)

// failPreparations makes every segment preparation fail with ENOSPC, as on a full file
// system, until the returned function is called (and at the end of the test).
func failPreparations(t *testing.T) (stop func()) {
	t.Helper()
	fail := func(uint64) error { return &pathError{"prepare", syscall.ENOSPC} }
	testHookPrepare.Store(&fail)
	stop = func() { testHookPrepare.Store(nil) }
	t.Cleanup(stop)
	return stop
}

// pathError is an *os.PathError look-alike without a path, enough for errors.Is.
type pathError struct {
	op  string
	err error
}

func (e *pathError) Error() string { return e.op + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// TestFullDiskRefusesAndResumes: no segment after the first can be prepared (ENOSPC).
// Appends fill the active segment, then are refused with ErrLogFull, without side
// effects; the log has not failed, and everything accepted is durable. Once preparation
// succeeds again (space freed), appends are accepted again; after a restart the log holds
// exactly what was accepted. (Before, the roll failed the log for good: a sticky error
// that only a restart ended, with the roll's entries of unknown outcome.)
func TestFullDiskRefusesAndResumes(t *testing.T) {
	resume := failPreparations(t)
	dir := t.TempDir()
	l := openTest(t, dir)
	random := rand.New(rand.NewPCG(1, 2))
	body := make([]byte, 200<<10) // Random: stored raw, ~10 entries per segment.
	next := func() Entry {
		for i := range body {
			body[i] = byte(random.Uint32())
		}
		op := l.LastOp() + 1
		return Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: 1000 + op, Body: body}
	}
	var refused error
	for range 100 {
		if refused = l.Append(next()); refused != nil {
			break
		}
	}
	if !errors.Is(refused, ErrLogFull) {
		t.Fatalf("appends on a full disk: %v, want ErrLogFull", refused)
	}
	accepted := l.LastOp()
	if accepted == 0 || l.Err() != nil || !errors.Is(l.PrepareErr(), syscall.ENOSPC) {
		t.Fatalf("accepted %d, log error %v, prepare error %v", accepted, l.Err(), l.PrepareErr())
	}
	waitDurable(t, l, accepted)
	if err := l.Append(next()); !errors.Is(err, ErrLogFull) || l.LastOp() != accepted {
		t.Fatalf("second refusal: %v, last op %d (want %d)", err, l.LastOp(), accepted)
	}
	resume()
	deadline := time.Now().Add(waitMax) // Preparation is retried every second.
	for {
		err := l.Append(next())
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLogFull) || time.Now().After(deadline) {
			t.Fatalf("appends after space returned: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 20 { // Several more segments' worth: rolls work again.
		if err := l.Append(next()); err != nil {
			t.Fatalf("append after resuming: %v", err)
		}
	}
	waitDurable(t, l, l.LastOp())
	if l.PrepareErr() != nil || l.Stats().Rolls == 0 {
		t.Fatalf("after resuming: prepare error %v, rolls %d", l.PrepareErr(), l.Stats().Rolls)
	}
	last := l.LastOp()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := openTest(t, dir)
	defer reopened.Close()
	count := uint64(0)
	if err := reopened.Read(0, func(e *Entry) error { count += uint64(e.Count); return nil }); err != nil {
		t.Fatal(err)
	}
	if reopened.LastOp() != last || count != last {
		t.Fatalf("reopened: last op %d, %d ops read; want %d", reopened.LastOp(), count, last)
	}
}

// TestTruncateWhilePreparationFails: a truncation abandons the segment the preparer is
// working on even while its attempts fail, instead of waiting for one to succeed.
func TestTruncateWhilePreparationFails(t *testing.T) {
	l := openTest(t, t.TempDir())
	for range 30 {
		if err := l.Append(entryFor(l.LastOp() + 1)); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, l, l.LastOp())
	failPreparations(t)
	// The preparer is idle with a prepared segment: the first truncation discards it and
	// asks for the next, whose attempts fail; the second must not wait for one to succeed.
	for _, cut := range []uint64{l.LastOp() - 20, l.LastOp() - 40} {
		done := make(chan error, 1)
		go func() { done <- l.TruncateAfter(boundaryAtOrBelow(t, l, cut)) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitMax): // The preparations never succeed: a wait is a hang.
			t.Fatal("TruncateAfter waited for a preparation that keeps failing")
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// boundaryAtOrBelow returns the last op of the last entry ending at or below op.
func boundaryAtOrBelow(t *testing.T, l *Log, op uint64) uint64 {
	t.Helper()
	boundary := uint64(0)
	if err := l.Read(0, func(e *Entry) error {
		if e.LastOp() <= op {
			boundary = e.LastOp()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return boundary
}

// TestAppenderWaitingForRoomWakesWhenEntriesAreWritten: an entry that fits only once the
// queued entries are written (their reservations are raw sizes; stored compressed they
// take far less) waits in Append, and must be taken as soon as the writer has written
// them, not at the next segment preparation, which may never come. The preparer and the
// writer are held so that the appender is surely waiting before the write.
func TestAppenderWaitingForRoomWakesWhenEntriesAreWritten(t *testing.T) {
	preparing, writing, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	releasePreparer, releaseWriter := sync.OnceFunc(func() { close(preparing) }),
		sync.OnceFunc(func() { close(release) })
	holdPrepare := func(uint64) error { <-preparing; return nil }
	testHookPrepare.Store(&holdPrepare)
	t.Cleanup(func() { testHookPrepare.Store(nil); releasePreparer() })
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.SegmentBytes, o.Compression = SegmentBytesMin, CodecS2 })
	holdWrite := sync.OnceFunc(func() { close(writing); <-release })
	writeHook := func(at string) error {
		if at == dir {
			holdWrite()
		}
		return nil
	}
	testHookWrite.Store(&writeHook)
	var appending sync.WaitGroup
	t.Cleanup(func() { // First: the log closes once its goroutines are let go and Append ended.
		testHookWrite.Store(nil)
		releaseWriter()
		releasePreparer()
		appending.Wait()
		l.Close()
	})
	body := make([]byte, EntryBodyBytesMax*6/10) // Zeros: stored in a few KiB.
	if err := l.Append(Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 10, Body: body}); err != nil {
		t.Fatal(err)
	}
	<-writing // Op 1 is being written; its reservation still counts.
	appended := make(chan error, 1)
	appending.Add(1)
	go func() {
		defer appending.Done()
		appended <- l.Append(Entry{Epoch: 1, FirstOp: 2, Count: 1, Timestamp: 11, Body: body})
	}()
	for !goroutineBlocked("wal.(*Log).reserve(", "[chan receive") {
		time.Sleep(time.Millisecond) // Paces the check; not an assertion.
	}
	releaseWriter()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitMax): // A hang guard, not a timing assertion.
		t.Fatal("Append still waits for room after the queued entry was written")
	}
	waitDurable(t, l, 2)
}
