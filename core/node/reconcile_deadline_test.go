package node

import (
	"errors"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/node/reconcile"
	"sequent/core/shard"
)

// slowReads is a slow fake shard read path on a fake clock: each read takes step of it
// and answers an empty shard (no ledger, no running saga); a read given less than step
// waits out its timeout and answers shard.ErrQueryTimeout, as a shard's Query does.
type slowReads struct {
	clock     time.Time
	step      time.Duration
	answered  int
	overGiven int // Reads given more time than remained until the deadline.
	askedLate int // Reads asked once the deadline had passed (given no time).
	deadline  time.Time
}

func (s *slowReads) now() time.Time { return s.clock }

func (s *slowReads) query(_ int, operation model.Operation, _ []byte,
	timeout time.Duration) (model.Status, []byte, error) {
	if timeout > s.deadline.Sub(s.clock) {
		s.overGiven++
	}
	if timeout <= 0 {
		s.askedLate++
	}
	if timeout < s.step {
		s.clock = s.clock.Add(timeout)
		return 0, nil, shard.ErrQueryTimeout
	}
	s.clock = s.clock.Add(s.step)
	s.answered++
	if operation == model.OperationSagaOutbox {
		return model.StatusOK, make([]byte, model.SagaOutboxSummarySize), nil
	}
	return model.StatusOK, nil, nil
}

// TestOpsleft52ReconcileDeadlineBoundsTheWholeRequest: /v1/reconcile's 60 s bounded each
// of the reconciliation's reads (two readings of every shard, paged), not the request, so
// slow shards kept it running 60 s times the reads. With one deadline for all the reads,
// a reconciliation whose reads take longer than it ends when it passes, with a timeout;
// one that fits finishes.
func TestOpsleft52ReconcileDeadlineBoundsTheWholeRequest(t *testing.T) {
	const shards, step = 3, time.Second // 4 reads a shard: 12 s of reads.
	start := time.Unix(1_000_000, 0)
	for _, test := range []struct {
		deadline time.Duration
		timeout  bool
	}{{5 * step, true}, {12 * step, false}} {
		slow := &slowReads{clock: start, step: step, deadline: start.Add(test.deadline)}
		_, err := reconcile.Gather(deadlineReads{shards: shards, deadline: slow.deadline,
			now: slow.now, query: slow.query})
		if test.timeout != errors.Is(err, shard.ErrQueryTimeout) || (!test.timeout && err != nil) {
			t.Errorf("deadline %v: %v after %d reads answered, want timeout %v", test.deadline,
				err, slow.answered, test.timeout)
		}
		if spent := slow.clock.Sub(start); spent > test.deadline || slow.overGiven != 0 {
			t.Errorf("deadline %v: reads ran %v, %d given more than remained", test.deadline,
				spent, slow.overGiven)
		}
		if slow.askedLate != 0 {
			t.Errorf("deadline %v: %d reads asked after it passed", test.deadline, slow.askedLate)
		}
	}
}
