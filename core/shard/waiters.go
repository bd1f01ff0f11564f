package shard

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
)

// waiters maps internal connection ids to the callers waiting for their release. The
// shard's own requests (audit records, internal reads) take ids from ConnectionIDLimit
// up, above every network connection id.
type waiters struct {
	mutex   sync.Mutex
	next    uint64
	pending map[uint64]chan waiterAnswer
}

// waiterAnswer is what an internal request's caller receives: the request-level status
// and a copy of the reply body (nil for a write or a refusal).
type waiterAnswer struct {
	status model.Status
	body   []byte
}

func (w *waiters) add() (uint64, chan waiterAnswer) {
	w.mutex.Lock()
	defer w.mutex.Unlock()
	if w.pending == nil {
		w.pending = map[uint64]chan waiterAnswer{}
	}
	w.next++
	id := backend.ConnectionIDLimit + w.next
	answer := make(chan waiterAnswer, 1)
	w.pending[id] = answer
	return id, answer
}

// answer hands a waiter its status and a copy of body (the sequencer reuses the
// original). A waiter that gave up (forget) is skipped without copying.
func (w *waiters) answer(id uint64, status model.Status, body []byte) {
	w.mutex.Lock()
	answer, ok := w.pending[id]
	delete(w.pending, id)
	w.mutex.Unlock()
	if ok {
		answer <- waiterAnswer{status: status, body: append([]byte(nil), body...)}
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
	status := s.ring.push(&backend.Request{Connection: id, Operation: model.OperationAudit,
		Body: record}, true)
	if status != model.StatusOK {
		s.waiters.forget(id)
		return fmt.Errorf("shard: audit record refused: %s", status)
	}
	s.wakeUp()
	select {
	case answer := <-answer:
		if answer.status != model.StatusOK {
			return fmt.Errorf("shard: audit record: %s", answer.status)
		}
		return nil
	case <-time.After(timeout):
		s.waiters.forget(id)
		return fmt.Errorf("shard: audit record not durable within %v", timeout)
	case <-s.done:
		return fmt.Errorf("shard: stopped before the audit record was durable")
	}
}

// ErrQueryTimeout is returned by Query when the answer did not come within its timeout.
var ErrQueryTimeout = errors.New("shard: internal read not answered in time")

// Query runs one read (a query operation such as get_depth, with its request body; or
// an internal read of saga state, saga_outbox or saga_lookup) for the process itself —
// the operators' console, the node's reconciliation — as the system, and returns the
// reply's status and a copy of its body. It goes through the input ring like a client's read, so it sees the
// state the sequencer has applied and is answered in the same release order; a full
// ring answers busy at once, a fenced node not_primary. It waits at most timeout. It
// is not client traffic, so it is left out of Latencies (and so of the per-operation
// metrics), as audit records are. Any goroutine.
func (s *Shard) Query(operation model.Operation, body []byte, timeout time.Duration,
) (model.Status, []byte, error) {
	info, ok := operation.Info()
	if !ok || info.Write {
		return 0, nil, fmt.Errorf("shard: %s is not a read", operation)
	}
	if status := core.CheckShape(operation, 0, body, info.Internal); status != model.StatusOK {
		return status, nil, nil
	}
	if status := s.admit(false); status != model.StatusOK {
		return status, nil, nil
	}
	id, answer := s.waiters.add()
	status := s.ring.push(&backend.Request{Connection: id, Operation: operation, Body: body}, false)
	if status != model.StatusOK {
		s.waiters.forget(id)
		if status == model.StatusBusy {
			s.count(func(stats *Stats) { stats.BusyReplies++ })
		}
		return status, nil, nil
	}
	s.wakeUp()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case answer := <-answer:
		return answer.status, answer.body, nil
	case <-timer.C:
		s.waiters.forget(id)
		return 0, nil, ErrQueryTimeout
	case <-s.done:
		return model.StatusShuttingDown, nil, nil
	}
}
