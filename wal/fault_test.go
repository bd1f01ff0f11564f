package wal

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// injectFault makes every writer call hook guards (testHookWrite, testHookSync) fail with
// err in dir's log, until the end of the test; before is run first (nil: nothing).
func injectFault(t *testing.T, hook *atomicHook, dir string, err error, before func()) {
	t.Helper()
	fail := func(at string) error {
		if at != dir {
			return nil
		}
		if before != nil {
			before()
		}
		return err
	}
	hook.Store(&fail)
	t.Cleanup(func() { hook.Store(nil) })
}

// waitFailed waits until the log reports a failure. The sleep only paces the re-check;
// the deadline is a hang guard, not a timing assertion.
func waitFailed(t *testing.T, l *Log) error {
	t.Helper()
	for deadline := time.Now().Add(waitMax); l.Err() == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the log never reported the failure")
		}
		time.Sleep(time.Millisecond)
	}
	return l.Err()
}

// TestFailedWriteOrSyncStopsTheLog: when the disk refuses a write or an fdatasync (EIO),
// nothing after the last successful fdatasync is ever reported durable, the error is
// sticky (Err, and every later Append), an entry whose write failed is never handed to
// the observer (which ships written entries to a standby), and the log reopens with what
// was durable intact.
func TestFailedWriteOrSyncStopsTheLog(t *testing.T) {
	for _, c := range []struct {
		name string
		hook *atomicHook
	}{
		{"write", &testHookWrite},
		{"fdatasync", &testHookSync},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir)
			durable := appendEntries(t, l, 3)
			waitDurable(t, l, durable)
			var observedLastOp atomic.Uint64
			l.SetObserver(func(_ []byte, meta EntryMeta) { observedLastOp.Store(meta.FirstOp + uint64(meta.Count) - 1) })
			injectFault(t, c.hook, dir, syscall.EIO, nil)
			if err := l.Append(entryFor(durable + 1)); err != nil {
				t.Fatalf("append before the failure is seen: %v", err)
			}
			if err := waitFailed(t, l); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Err: %v, want EIO", err)
			}
			if err := l.Append(entryFor(l.LastOp() + 1)); !errors.Is(err, syscall.EIO) {
				t.Fatalf("append after the failure: %v, want EIO", err)
			}
			// The failure is visible before the writer has finished the group it failed
			// in: close the log (its goroutines end) before checking what that group did,
			// however late the writer is scheduled.
			l.Close()
			if got := l.Durable(); got != durable {
				t.Fatalf("Durable %d after the failed %s, want %d", got, c.name, durable)
			}
			if c.name == "write" && observedLastOp.Load() > durable {
				t.Fatalf("op %d, whose write failed, was handed to the observer", observedLastOp.Load())
			}
			c.hook.Store(nil)
			l = openTest(t, dir)
			defer l.Close()
			if _, last := readAll(t, l, 0); last < durable {
				t.Fatalf("reopened log ends at op %d, want at least the durable %d", last, durable)
			}
		})
	}
}

// lastChainWaiting reports whether a goroutine waits in LastChain for a seal.
func lastChainWaiting() bool {
	return goroutineBlocked("wal.(*Log).LastChain(", "sync.(*Cond).Wait(")
}

// goroutineBlocked reports whether a goroutine's stack holds function (a frame name such
// as "wal.(*Log).reserve(") and blocked (what it waits in, such as "[chan receive").
func goroutineBlocked(function, blocked string) bool {
	stacks := make([]byte, 1<<20)
	stacks = stacks[:runtime.Stack(stacks, true)]
	for _, stack := range bytes.Split(stacks, []byte("\n\n")) {
		if bytes.Contains(stack, []byte(function)) && bytes.Contains(stack, []byte(blocked)) {
			return true
		}
	}
	return false
}

// TestFailedLogWakesLastChainWaiters: a LastChain call waiting for entries to be sealed
// returns when the log fails instead (no more seals will come): the write of one group
// fails while the next entry waits behind it.
func TestFailedLogWakesLastChainWaiters(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	defer l.Close()
	waitDurable(t, l, appendEntries(t, l, 1))
	writing, release := make(chan struct{}), make(chan struct{})
	injectFault(t, &testHookWrite, dir, syscall.EIO, func() {
		close(writing)
		<-release // The writer is held inside the write of op 2's group.
	})
	appendEntries(t, l, 1) // Op 2: its group's write is held.
	<-writing
	appendEntries(t, l, 1) // Op 3: not sealed while the writer is held.
	returned := make(chan struct{})
	go func() {
		l.LastChain()
		close(returned)
	}()
	for !lastChainWaiting() {
		time.Sleep(time.Millisecond) // Paces the check; not an assertion.
	}
	close(release) // The write fails: the log stops.
	select {
	case <-returned:
	case <-time.After(waitMax): // A hang guard, not a timing assertion.
		t.Fatal("LastChain still waits after the log failed")
	}
	if !errors.Is(l.Err(), syscall.EIO) {
		t.Fatalf("Err: %v, want EIO", l.Err())
	}
}

// TestRemovedObserverIsNotCalled: SetObserver(nil) removes the observer; later entries
// are written without it.
func TestRemovedObserverIsNotCalled(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	var observed atomic.Int64
	l.SetObserver(func([]byte, EntryMeta) { observed.Add(1) })
	waitDurable(t, l, appendEntries(t, l, 1))
	l.SetObserver(nil)
	waitDurable(t, l, appendEntries(t, l, 1))
	if got := observed.Load(); got != 1 {
		t.Fatalf("observer called %d times, want once (before it was removed)", got)
	}
}

// TestShortWritesResume: the kernel may write fewer bytes than a pwritev asked for; the
// writer must go on from the first byte not written, with the buffers not yet written.
// Each call is capped at 1000 bytes, so group writes end inside headers and bodies.
func TestShortWritesResume(t *testing.T) {
	testHookWriteBytesMax.Store(1000)
	t.Cleanup(func() { testHookWriteBytesMax.Store(0) })
	dir := t.TempDir()
	l := openTest(t, dir)
	last := appendEntries(t, l, 40)
	waitDurable(t, l, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	testHookWriteBytesMax.Store(0)
	l = openTest(t, dir) // Recovery checks every checksum and chain hash.
	defer l.Close()
	if entries, readLast := readAll(t, l, 0); entries != 40 || readLast != last {
		t.Fatalf("read %d entries up to op %d, want 40 up to %d", entries, readLast, last)
	}
}

// failingReader serves data and fails every read that reaches failFrom with EIO.
type failingReader struct {
	data     []byte
	failFrom int64
}

func (r failingReader) ReadAt(b []byte, offset int64) (int, error) {
	if offset+int64(len(b)) > r.failFrom {
		n := copy(b, r.data[offset:max(offset, r.failFrom)])
		return n, syscall.EIO
	}
	return copy(b, r.data[offset:]), nil
}

// TestReadErrorsAreNotATornTail: a read that fails while recovery scans a segment (or
// looks for evidence after a bad entry) is an I/O error, returned as such: mistaken for
// the end of the data it would make a sound tail look torn, and recovery would cut it.
func TestReadErrorsAreNotATornTail(t *testing.T) {
	d := buildDamageLog(t, 1)
	image, err := os.ReadFile(d.segmentPath(1))
	if err != nil {
		t.Fatal(err)
	}
	var header segmentHeader
	if reason, err := decodeSegmentHeader(image, &header); err != nil {
		t.Fatalf("segment header: %s", reason)
	}
	second := d.inSegment(1)[1].offset
	reader := failingReader{data: image, failFrom: second + entryHeaderSize + 10}
	var s scanner
	s.verifyChain, s.checkTail = true, true
	s.startAt(reader, int64(len(image)), &header)
	var entry scannedEntry
	for {
		done, problem, err := s.next(&entry)
		if errors.Is(err, syscall.EIO) {
			break
		}
		if done || problem != nil || err != nil {
			t.Fatalf("scan over a failing read: done %v, problem %+v, error %v; want EIO", done, problem, err)
		}
	}
	if _, _, err := tornEvidence(reader, int64(len(image)), &header, second); !errors.Is(err, syscall.EIO) {
		t.Fatalf("torn-tail evidence over a failing read: %v, want EIO", err)
	}
}
