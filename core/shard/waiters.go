package shard

import (
	"fmt"
	"sync"
	"time"

	"sequent/core/model"
)

// waiters maps internal connection ids to the callers waiting for their release. The
// shard's own requests (audit records) take ids from ConnectionIDLimit up, above every
// network connection id.
type waiters struct {
	mutex   sync.Mutex
	next    uint64
	pending map[uint64]chan model.Status
}

func (w *waiters) add() (uint64, chan model.Status) {
	w.mutex.Lock()
	defer w.mutex.Unlock()
	if w.pending == nil {
		w.pending = map[uint64]chan model.Status{}
	}
	w.next++
	id := ConnectionIDLimit + w.next
	answer := make(chan model.Status, 1)
	w.pending[id] = answer
	return id, answer
}

func (w *waiters) answer(id uint64, status model.Status) {
	w.mutex.Lock()
	answer, ok := w.pending[id]
	delete(w.pending, id)
	w.mutex.Unlock()
	if ok {
		answer <- status
	}
}

func (w *waiters) forget(id uint64) {
	w.mutex.Lock()
	delete(w.pending, id)
	w.mutex.Unlock()
}

// Audit writes an audit record (who did what, when: an administrative action) into the
// log and returns once it is durable (and acknowledged by the standby in sync mode), or
// an error: the caller must not carry out the action unless its record is in the log.
func (s *Shard) Audit(record []byte, timeout time.Duration) error {
	if len(record) == 0 || len(record) > model.AuditBytesMax {
		return fmt.Errorf("shard: audit record of %d bytes (1..%d)", len(record),
			model.AuditBytesMax)
	}
	if s.Role() != RolePrimary {
		return fmt.Errorf("shard: audit records are written by the primary; this is a %s", s.Role())
	}
	id, answer := s.waiters.add()
	status := s.ring.push(&Request{Connection: id, Operation: model.OperationAudit,
		Body: record}, true)
	if status != model.StatusOK {
		s.waiters.forget(id)
		return fmt.Errorf("shard: audit record refused: %s", status)
	}
	s.wakeUp()
	select {
	case status := <-answer:
		if status != model.StatusOK {
			return fmt.Errorf("shard: audit record: %s", status)
		}
		return nil
	case <-time.After(timeout):
		s.waiters.forget(id)
		return fmt.Errorf("shard: audit record not durable within %v", timeout)
	case <-s.done:
		return fmt.Errorf("shard: stopped before the audit record was durable")
	}
}
