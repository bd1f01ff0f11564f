package wal

import (
	"errors"
	"sync"
	"sync/atomic"
)

// TailOptions configure Follow.
type TailOptions struct {
	// Written hands an entry over as soon as the writer has written it, before its
	// fdatasync completes, so that shipping it overlaps the local sync (replication). By
	// default an entry is handed over only once it is durable.
	Written bool
	// QueueBytesMax bounds the copies of freshly written entries waiting for the
	// follower; 0 means TailQueueBytesMaxDefault. Past it the queue empties itself and the
	// follower reads what it missed from the log: a slow follower never slows the writer.
	QueueBytesMax int
}

// Tail follows the log from a position: the public tail reader behind replication (the
// primary's stream to its standby) and the outbound streams' catch-up (change capture
// rebuilding events it missed). A follower reads the entries it is behind on from the
// segments (ReadStored), then takes the entries the writer goroutine copies into the
// tail's bounded queue as it writes them, falling back to the segments whenever the queue
// overflowed or started after its position. It sees every entry exactly once, in order.
//
// Goroutines: the log's writer feeds the queue (never blocking); one follower goroutine
// calls Drain, Position and Close; Wake and Stats are safe anywhere.
type Tail struct {
	log      *Log
	options  TailOptions
	position atomic.Uint64 // Last op handed to the follower (written by the follower).
	wake     chan struct{} // Capacity 1: an entry was queued or Durable advanced.

	mutex     sync.Mutex
	queue     []tailEntry
	bytes     int
	overflows atomic.Uint64
	closed    atomic.Bool
}

// tailEntry is a copy of an entry as written.
type tailEntry struct {
	stored []byte
	meta   EntryMeta
}

func (e *tailEntry) lastOp() uint64 { return e.meta.FirstOp + uint64(e.meta.Count) - 1 }

// TailStats are a tail's counters.
type TailStats struct {
	Position    uint64 // Last op handed to the follower.
	QueuedBytes int    // Bytes of entries waiting in the queue.
	Overflows   uint64 // Times the queue overflowed (the follower then read the log).
}

// ErrTailClosed is returned by Drain after Close.
var ErrTailClosed = errors.New("wal: tail closed")

// Follow returns a tail that hands over every entry after afterOp. The caller must
// Close it (each open tail costs the writer one copy of every entry it writes).
func (l *Log) Follow(afterOp uint64, options TailOptions) *Tail {
	if options.QueueBytesMax <= 0 {
		options.QueueBytesMax = TailQueueBytesMaxDefault
	}
	t := &Tail{log: l, options: options, wake: make(chan struct{}, 1)}
	t.position.Store(afterOp)
	addToList(&l.tails, t)
	addToList(&l.durableSubscribers, t.wake)
	return t
}

// Close detaches the tail from the log. Follower goroutine.
func (t *Tail) Close() {
	if t.closed.CompareAndSwap(false, true) {
		removeFromList(&t.log.tails, t)
		removeFromList(&t.log.durableSubscribers, t.wake)
	}
}

// Position returns the last op handed to the follower. Any goroutine (the follower
// moves it).
func (t *Tail) Position() uint64 { return t.position.Load() }

// Wake is signalled when there may be more to drain: an entry was written or Durable
// advanced.
func (t *Tail) Wake() <-chan struct{} { return t.wake }

// Stats returns the tail's counters. Any goroutine: the position is atomic (it used to be
// read without synchronisation, a data race with a follower advancing it).
func (t *Tail) Stats() TailStats {
	t.mutex.Lock()
	defer t.mutex.Unlock()
	return TailStats{Position: t.position.Load(), QueuedBytes: t.bytes,
		Overflows: t.overflows.Load()}
}

// push runs on the writer goroutine for every entry written: it queues a copy, or on
// overflow empties the queue (the follower reads the log instead).
func (t *Tail) push(stored []byte, meta EntryMeta) {
	t.mutex.Lock()
	if t.bytes+len(stored) > t.options.QueueBytesMax {
		t.queue, t.bytes = nil, 0
		t.overflows.Add(1)
	} else {
		t.queue = append(t.queue, tailEntry{stored: append([]byte(nil), stored...), meta: meta})
		t.bytes += len(stored)
	}
	t.mutex.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Drain hands fn, in order, every entry after Position that is available now: first
// what the segments hold durably, then what the writer queued. stored is valid only
// during fn. It returns gap = true when entries were missed by the queue and are not
// durable yet (they will be read from the log once they are: call Drain again after Wake
// or shortly), fn's error, ErrCompacted when the entries after Position were retired, or
// ErrTailClosed. Follower goroutine.
func (t *Tail) Drain(fn func(stored []byte, meta EntryMeta) error) (gap bool, err error) {
	if t.closed.Load() {
		return false, ErrTailClosed
	}
	err = t.log.ReadStored(t.position.Load(), func(stored []byte, meta EntryMeta) error {
		return t.hand(stored, meta, fn)
	})
	if err != nil {
		return false, err
	}
	return t.drainQueue(fn)
}

// drainQueue hands over the queued entries that continue Position.
func (t *Tail) drainQueue(fn func(stored []byte, meta EntryMeta) error) (bool, error) {
	t.mutex.Lock()
	queued := t.queue
	t.queue, t.bytes = nil, 0
	t.mutex.Unlock()
	for i := range queued {
		entry := &queued[i]
		position := t.position.Load() // hand may have moved it.
		if entry.lastOp() <= position {
			continue
		}
		if entry.meta.FirstOp != position+1 {
			return true, nil // Missed: the rest comes from the log once durable.
		}
		if !t.options.Written && entry.lastOp() > t.log.Durable() {
			t.requeue(queued[i:]) // Not durable yet: keep them for the next Drain.
			return false, nil
		}
		if err := t.hand(entry.stored, entry.meta, fn); err != nil {
			return false, err
		}
	}
	return false, nil
}

// requeue puts entries back at the head of the queue.
func (t *Tail) requeue(entries []tailEntry) {
	t.mutex.Lock()
	defer t.mutex.Unlock()
	for i := range entries {
		t.bytes += len(entries[i].stored)
	}
	t.queue = append(entries, t.queue...)
}

// hand passes one entry to fn if it continues Position, and advances Position.
func (t *Tail) hand(stored []byte, meta EntryMeta, fn func([]byte, EntryMeta) error) error {
	entry := tailEntry{meta: meta}
	position := t.position.Load()
	if entry.lastOp() <= position {
		return nil
	}
	if meta.FirstOp != position+1 {
		return &PositionError{Segment: meta.Segment, Offset: meta.Offset, Op: meta.FirstOp,
			Reason: "tail: entry does not follow the last one handed over", Err: ErrCorrupt}
	}
	if err := fn(stored, meta); err != nil {
		return err
	}
	t.position.Store(entry.lastOp())
	return nil
}
