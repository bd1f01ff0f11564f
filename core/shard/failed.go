package shard

import (
	"errors"

	"sequent/core"
	"sequent/core/model"
)

// errLogFailed refuses replicated entries once the log has failed.
var errLogFailed = errors.New("shard: the log has failed; restart the node")

// failAndServe handles a fatal log error: it answers everything in flight, then keeps
// the sequencer answering until Close, so that the node stays up and says what happened
// (the operators' HTTP shows log_failed) instead of exiting. The log is never resumed in
// this process: an operator fixes the cause and restarts, and start-up recovery, the
// tested path, decides what the log holds.
//
//   - Parked requests (applied, not released) get outcome_unknown: their entries may be
//     on disk and be applied at the restart, or not. A full log's refusals parked among
//     them stay log_unavailable (never sequenced). Everything the log had made durable
//     (and the standby acknowledged) before failing was released first (release).
//   - The requests of a turn whose append failed, and everything queued or submitted
//     later, get log_unavailable: nothing of them was applied.
//   - Reads are answered from the state only if it holds nothing of unknown outcome
//     (every applied entry was released before the failure) and the read gate allows
//     reads (a primary past its witness lease may have been replaced); otherwise
//     log_unavailable.
func (s *Shard) failAndServe(err error) {
	// The failure may have been met in an append, before a release saw what the log had
	// made durable by then: those replies go out with their results. (release reports
	// the failure again, or nothing when this one is not the log's.)
	s.release()
	s.readsSafe.Store(s.releasedOp.Load() == s.opLast)
	s.fail(err)
	s.answerParked(model.StatusOutcomeUnknown, false)
	s.logDroppedCancels(s.failedTurn, "the log failed")
	s.answerRequests(s.failedTurn, model.StatusLogUnavailable)
	s.failedTurn = s.failedTurn[:0]
	s.dropRefusedCancels("the log failed")
	for {
		// A cancel-on-disconnect waiting for room cannot be logged now; waiting, it would
		// have the ring refuse the reads answered here (SessionClosed wakes this loop).
		if dropped := s.ring.dropCancels(); dropped > 0 {
			s.config.Logger.Error("shard: cancel-on-disconnect not logged: the log failed",
				"clients", dropped)
		}
		s.answerQueuedAfterFailure()
		select {
		case <-s.wake:
		case entry := <-s.stored:
			entry.done <- errLogFailed
		case <-s.stop:
			s.ring.close()
			s.answerQueued(model.StatusShuttingDown)
			return
		}
	}
}

// answerQueuedAfterFailure answers what the ring holds after a log failure: writes with
// log_unavailable, reads from the state when readsSafe (at once: the state is what was
// released) and the read gate allows them, else log_unavailable. The gate holds here as
// it holds parked reads before a failure (release): a primary whose witness lease ran out
// may have been replaced, and a read from its state could miss writes the new primary
// acknowledged. Such reads are refused rather than held: this sequencer never releases
// again, and log_unavailable is what a client resends (to the new primary after a
// failover).
func (s *Shard) answerQueuedAfterFailure() {
	for {
		s.taken, _ = s.ring.take(s.taken[:0], s.config.RingRequests, s.config.EntryBytesMax)
		if len(s.taken) == 0 {
			return
		}
		s.answers.taken(s.taken)
		s.refused = s.refused[:0]
		reads := s.readsSafe.Load() && s.readsAllowed()
		// One slot, in the order taken: a connection's read and its later write refused
		// here are answered in its requests' order (PROTOCOL.md section 6, "Order"); the
		// refusals sent first overtook the reads queued before them.
		slot := s.acquire()
		var request core.Request
		answered := uint64(0)
		for i := range s.taken {
			meta := &s.taken[i]
			if meta.write || !reads {
				s.refused = append(s.refused, *meta)
				s.parkRefusal(slot, meta, &request, model.StatusLogUnavailable)
			} else if s.answerQuery(slot, meta, &request) {
				answered++
			}
		}
		s.countQueries(answered)
		s.logDroppedCancels(s.refused, "the log failed")
		slot.op = s.opLast
		s.deliver(slot)
		s.ring.release(&s.taken[len(s.taken)-1])
	}
}
