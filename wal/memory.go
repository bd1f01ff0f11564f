package wal

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// MemoryLog is an in-memory Appender for tests of the layers above wal: entries are kept
// in memory and are durable at once, unless the test holds durability (Hold) and
// releases it later (Release, ReleaseTo), injects a failure (Fail) or a full disk
// (SetFull: Append answers ErrLogFull without failing). It checks the
// same Append invariants as Log. Read works as on Log. Safe for one appending goroutine
// plus any number of readers.
type MemoryLog struct {
	mutex   sync.Mutex
	entries []Entry   // appended entries with private copies of their bodies
	link    chainLink // the last entry, for the Append invariants
	holding bool      // durability held by the test
	failure error     // sticky error from Fail
	full    bool      // SetFull: Append refuses with ErrLogFull
	closed  bool
	lastOp  atomic.Uint64
	durable atomic.Uint64
	notify  chan struct{}
}

var _ Appender = (*MemoryLog)(nil)

// NewMemoryLog returns an empty MemoryLog.
func NewMemoryLog() *MemoryLog { return &MemoryLog{notify: make(chan struct{}, 1)} }

// Append copies e into memory; it is durable at once unless Hold is in effect.
func (m *MemoryLog) Append(e Entry) error {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	switch {
	case m.closed:
		return ErrClosed
	case m.failure != nil:
		return m.failure
	case m.full:
		return ErrLogFull
	}
	assertContinues(&m.link, &e)
	e.Body = append([]byte(nil), e.Body...)
	m.entries = append(m.entries, e)
	m.link = chainLink{Known: true, LastOp: e.LastOp(), Epoch: e.Epoch, Timestamp: e.Timestamp}
	m.lastOp.Store(e.LastOp())
	if !m.holding {
		m.advance(e.LastOp())
	}
	return nil
}

// advance publishes op as durable. Called with the mutex held.
func (m *MemoryLog) advance(op uint64) {
	if op <= m.durable.Load() || m.failure != nil {
		return
	}
	m.durable.Store(op)
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// Hold stops Durable from advancing until Release or ReleaseTo.
func (m *MemoryLog) Hold() {
	m.mutex.Lock()
	m.holding = true
	m.mutex.Unlock()
}

// Release makes every appended entry durable and ends Hold.
func (m *MemoryLog) Release() {
	m.mutex.Lock()
	m.holding = false
	m.advance(m.lastOp.Load())
	m.mutex.Unlock()
}

// ReleaseTo makes entries up to op durable and keeps holding the rest. op must be the
// last op of an appended entry.
func (m *MemoryLog) ReleaseTo(op uint64) error {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	for i := range m.entries {
		if m.entries[i].LastOp() == op {
			m.advance(op)
			return nil
		}
	}
	return fmt.Errorf("%w: op %d", ErrNotBoundary, op)
}

// Fail makes err the sticky error, as a failed fdatasync would: Durable stops for good.
func (m *MemoryLog) Fail(err error) {
	m.mutex.Lock()
	if m.failure == nil {
		m.failure = err
	}
	m.mutex.Unlock()
}

// FailAfter makes entries up to op durable and then err the sticky error, in one step
// (as a writer whose last fdatasync covered op and whose next write failed): a reader
// never sees op durable without the failure. op must be the last op of an appended entry.
func (m *MemoryLog) FailAfter(op uint64, err error) error {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	for i := range m.entries {
		if m.entries[i].LastOp() == op {
			m.advance(op)
			if m.failure == nil {
				m.failure = err
			}
			return nil
		}
	}
	return fmt.Errorf("%w: op %d", ErrNotBoundary, op)
}

// SetFull makes Append refuse every entry with ErrLogFull (true), as Log does when its
// disk is full, or take entries again (false). Nothing else changes.
func (m *MemoryLog) SetFull(full bool) {
	m.mutex.Lock()
	m.full = full
	m.mutex.Unlock()
}

// Durable is the highest durable op.
func (m *MemoryLog) Durable() uint64 { return m.durable.Load() }

// DurableNotify receives a value whenever Durable advances.
func (m *MemoryLog) DurableNotify() <-chan struct{} { return m.notify }

// Err is the error injected by Fail.
func (m *MemoryLog) Err() error {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	return m.failure
}

// LastOp is the last op appended.
func (m *MemoryLog) LastOp() uint64 { return m.lastOp.Load() }

// FirstOp is the first op held, 0 if empty.
func (m *MemoryLog) FirstOp() uint64 {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	if len(m.entries) == 0 {
		return 0
	}
	return m.entries[0].FirstOp
}

// Close marks the log closed; entries stay readable.
func (m *MemoryLog) Close() error {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	return m.failure
}

// Read calls fn with every durable entry whose LastOp > afterOp, in order, as Log.Read
// does. fn runs without the lock held, so it may call Append.
func (m *MemoryLog) Read(afterOp uint64, fn func(e *Entry) error) error {
	durable := m.durable.Load()
	m.mutex.Lock()
	entries := m.entries // entries are never modified, only appended
	m.mutex.Unlock()
	for i := range entries {
		e := entries[i]
		if e.LastOp() <= afterOp {
			continue
		}
		if e.FirstOp > durable {
			return nil
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return nil
}

// AppendStored appends an entry in its stored form (as a primary's log observer saw it:
// a standby's replicated entries), decoding it first; like Log.AppendStored it keeps the
// entry's epoch.
func (m *MemoryLog) AppendStored(stored []byte) error {
	entry, _, err := DecodeStored(stored, nil)
	if err != nil {
		return err
	}
	return m.Append(entry)
}

// ChainAt reports no chain hash: a MemoryLog keeps none (snapshots taken over it carry a
// zero chain).
func (m *MemoryLog) ChainAt(op uint64) ([32]byte, bool) { return [32]byte{}, false }

// Retire retires nothing: a MemoryLog has no segments.
func (m *MemoryLog) Retire(coveredOp uint64, archiveDir string) (int, error) { return 0, nil }

// BytesAfter returns 0: a memory log is never retired, so no hold can outgrow it.
func (m *MemoryLog) BytesAfter(op uint64) int64 { return 0 }
