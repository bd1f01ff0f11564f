package wal

import (
	"os"
	"sync/atomic"
	"time"
)

// A full file system shows up when the preparer cannot create the next segment: segments
// are zero-filled ahead of time, so writes into the active one never run out of space.
// Rather than fail the log at the next roll (a sticky failure that only a restart ends),
// the log refuses entries it might not have room for, and takes them again once a
// segment can be prepared:
//
//   - The preparer retries a failed preparation every prepareRetryInterval until it
//     succeeds (PrepareErr reports the failure meanwhile), and answers a truncation's
//     request to abandon the segment it is working on.
//   - Append and AppendStored give each entry a reservation: its largest stored size
//     (header plus raw body, since a body is stored compressed only when that is
//     smaller). Before queuing an entry, the appender places the reservations of every
//     queued entry and then its own as the writer would place entries (in order into the
//     active segment; the first that does not fit rolls into the prepared segment, with
//     everything after it). The entry is accepted when that needs no segment beyond a
//     prepared, ready one. Otherwise it waits while the next segment is being prepared,
//     or while entries drain to the disk, as a roll would; and it is refused with
//     ErrLogFull, without side effects, when the last preparation failed.
//   - Reservations are upper bounds and the writer publishes what the active segment has
//     left before it publishes the entries as consumed, and the appender reads in the
//     other order, so a race can only make the placement more cautious.
//
// So the writer never rolls without a prepared segment, and a full disk costs refused
// writes, not a failed log.
type room struct {
	activeFreeBytes    atomic.Int64          // Writer: bytes left in the active segment.
	preparedFreeBytes  atomic.Int64          // Bytes a prepared, ready segment holds; 0: none.
	prepareFailure     atomic.Pointer[error] // The last preparation failed (nil once one succeeds).
	changed            chan struct{}         // Capacity 1: any of the above or the queue changed.
	prepareAbandonment chan struct{}         // Capacity 1: the preparer acknowledged an abandon.
}

// prepareRetryInterval spaces the preparer's attempts after a failure (a full disk): an
// attempt costs a file creation and, on a disk with room, writing a segment of zeros, so
// once a second bounds the cost while resuming within a second of space being freed.
const prepareRetryInterval = time.Second

// signalRoom wakes an appender waiting for room.
func (l *Log) signalRoom() {
	select {
	case l.room.changed <- struct{}{}:
	default:
	}
}

// reserve waits until an entry of at most bytes stored bytes is sure to fit (see room);
// ErrLogFull when it might not and the next segment cannot be prepared; the sticky error
// if the log fails meanwhile. The caller stores bytes as the slot's reservation.
// Appending goroutine only.
func (l *Log) reserve(bytes int64) error {
	for !l.fits(bytes) {
		if err := l.Err(); err != nil {
			return err
		}
		if l.room.prepareFailure.Load() != nil {
			return ErrLogFull
		}
		// Entries AppendDeferred queued may be what fills the segment: the writer must
		// know of them to make room.
		l.announceDeferred()
		<-l.room.changed // The writer wrote, or the preparer finished an attempt.
	}
	return nil
}

// fits places the queued entries' reservations and then bytes as the writer would, and
// reports whether they need no segment beyond a prepared, ready one. Appending goroutine.
func (l *Log) fits(bytes int64) bool {
	p := &l.pipeline
	consumed := p.consumed.Load() // First: see room's comment.
	free, next := l.room.activeFreeBytes.Load(), l.room.preparedFreeBytes.Load()
	used, rolled := int64(0), false
	place := func(size int64) bool {
		switch {
		case used+size <= free:
			used += size
		case !rolled && size <= next:
			rolled, free, used = true, next, size
		default:
			return false
		}
		return true
	}
	for sequence := consumed; sequence < p.produced.Load(); sequence++ {
		if !place(p.slot(sequence).reservedBytes) {
			return false
		}
	}
	return place(bytes)
}

// publishActiveFree records what the active segment has left. Writer goroutine only.
func (l *Log) publishActiveFree() {
	l.room.activeFreeBytes.Store(l.writer.segmentBytes - l.writer.offset)
}

// PrepareErr is the error of the last attempt to prepare the next segment, while no
// attempt has succeeded since (nil otherwise): typically a full file system. Appends are
// refused with ErrLogFull once the active segment has no room left. Any goroutine.
func (l *Log) PrepareErr() error {
	if p := l.room.prepareFailure.Load(); p != nil {
		return *p
	}
	return nil
}

// runPreparer creates each requested segment ahead of time so that a roll never waits
// for zero-filling. A failed attempt is retried every prepareRetryInterval; a request for
// segment 0 (abandonPreparation) makes it drop the segment it is working on.
func (l *Log) runPreparer() {
	defer l.goroutines.Done()
	var filler zeroFiller
	number, ok := <-l.prepareRequests
	for ok {
		if number == 0 {
			l.room.prepareAbandonment <- struct{}{}
			number, ok = <-l.prepareRequests
			continue
		}
		err := l.prepareNext(&filler, number)
		if err == nil {
			number, ok = <-l.prepareRequests
			continue
		}
		select {
		case number, ok = <-l.prepareRequests: // An abandon, or Close.
		case <-time.After(prepareRetryInterval):
		}
	}
}

// prepareNext makes one attempt at segment number and publishes its outcome.
func (l *Log) prepareNext(filler *zeroFiller, number uint64) error {
	var file *os.File
	var path string
	err := errPrepareHook(number)
	if err == nil {
		file, path, err = filler.prepareSegment(l.options.Dir, number, l.options.SegmentBytes)
	}
	if err != nil {
		if l.room.prepareFailure.Swap(&err) == nil {
			l.logger.Error("wal: cannot prepare the next segment (file system full?): new "+
				"entries are refused once the active segment is full; retrying",
				"dir", l.options.Dir, "segment", number, "every", prepareRetryInterval,
				"error", err)
		}
		l.signalRoom()
		return err
	}
	if l.room.prepareFailure.Swap(nil) != nil {
		l.logger.Info("wal: the next segment is prepared again: entries are taken again",
			"dir", l.options.Dir, "segment", number)
	}
	l.room.preparedFreeBytes.Store(l.options.SegmentBytes - segmentHeaderSize)
	l.prepared <- preparedSegment{number: number, file: file, path: path,
		bytes: l.options.SegmentBytes}
	l.signalRoom()
	return nil
}

// abandonPreparation takes back the outstanding segment request: it removes the prepared
// segment if there is one (already handed over, or handed over while asking), and waits
// until the preparer has dropped the request, so that nothing prepared for it can reach
// a later roll. Writer goroutine only (TruncateAfter).
func (l *Log) abandonPreparation() error {
	l.prepareRequests <- 0 // Never blocks: the only outstanding request is being served.
	for {
		select {
		case p := <-l.prepared:
			if err := l.discardPrepared(p); err != nil {
				return err
			}
		case <-l.room.prepareAbandonment:
			// A segment handed over before the acknowledgement is in the channel already.
			select {
			case p := <-l.prepared:
				return l.discardPrepared(p)
			default:
				return nil
			}
		}
	}
}

// discardPrepared closes and removes a prepared segment that will not be used.
func (l *Log) discardPrepared(p preparedSegment) error {
	l.room.preparedFreeBytes.Store(0)
	p.file.Close()
	return os.Remove(p.path)
}

// testHookPrepare, when set by a test, runs before each segment preparation of the
// preparer; an error it returns fails that attempt as a full file system would.
var testHookPrepare atomic.Pointer[func(number uint64) error]

// testHookWrite and testHookSync, when set by a test, run before each group-commit write
// (pwritev) and each fdatasync of the writer, with the log's directory; an error they
// return fails that call as the disk would (EIO, ENOSPC). One atomic load per call.
var testHookWrite, testHookSync atomicHook

// testHookSyncDirectory, when set by a test, runs before each directory fsync
// (SyncDirectory) with the directory; an error it returns fails that fsync as the disk
// would. One atomic load per call (directory fsyncs are rare: renames, removals).
var testHookSyncDirectory atomicHook

// testHookReadSnapshotHeader, when set by a test, runs before each snapshot header read
// with the snapshot's path; an error it returns fails that read as opening the file would
// (out of file descriptors, EIO). One atomic load per read (listing, opening).
var testHookReadSnapshotHeader atomicHook

// testHookWriteBytesMax, when set by a test (> 0), caps the bytes each pwritev is asked
// to write, so that the writer meets the short writes a kernel may return (Linux only;
// elsewhere writes are whole). One atomic load per pwritev.
var testHookWriteBytesMax atomic.Int64

type atomicHook = atomic.Pointer[func(dir string) error]

func injectedFault(hook *atomicHook, dir string) error {
	if h := hook.Load(); h != nil {
		return (*h)(dir)
	}
	return nil
}

func errPrepareHook(number uint64) error {
	if hook := testHookPrepare.Load(); hook != nil {
		return (*hook)(number)
	}
	return nil
}
