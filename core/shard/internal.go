package shard

import (
	"fmt"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
)

// WriteInternal writes one internal request of the server's own (an operator's change
// of the risk rules, say) into the log and returns its reply body once it is durable
// (and acknowledged by the standby in sync mode): the answer every replica also computed.
// Like Audit, it runs on the primary only, and it waits at most timeout; an error means
// the request may or may not have been applied (look the state up before retrying).
// Any goroutine.
func (s *Shard) WriteInternal(operation model.Operation, body []byte,
	timeout time.Duration) ([]byte, error) {
	if status := core.CheckShape(operation, 0, body, true); status != model.StatusOK {
		return nil, fmt.Errorf("shard: %s request: %s", operation, status)
	}
	if s.Role() != RolePrimary {
		return nil, fmt.Errorf("shard: %s is written by the primary; this is a %s", operation,
			s.Role())
	}
	id, answer := s.waiters.add()
	status := s.ring.push(&backend.Request{Connection: id, Operation: operation, Body: body}, true)
	if status != model.StatusOK {
		s.waiters.forget(id)
		return nil, fmt.Errorf("shard: %s refused: %s", operation, status)
	}
	s.wakeUp()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case answer := <-answer:
		if answer.status != model.StatusOK {
			return nil, fmt.Errorf("shard: %s: %s", operation, answer.status)
		}
		return answer.body, nil
	case <-timer.C:
		s.waiters.forget(id)
		return nil, fmt.Errorf("shard: %s not durable within %v (it may still be applied)",
			operation, timeout)
	case <-s.done:
		return nil, fmt.Errorf("shard: stopped before the %s request was durable", operation)
	}
}
