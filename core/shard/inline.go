package shard

import (
	"fmt"

	"sequent/core/backend"
	"sequent/core/invariants"
	"sequent/core/model"
)

// Turns on a network event loop (issue 15: one client, one request at a time).
//
// A request that finds the shard idle costs two goroutine hand-offs besides the network:
// the event loop's Submit wakes the sequencer, and the sequencer's reply wakes the loop
// (gnet's AsyncWrite). When the shard is idle, the loop that has just queued requests
// can run the sequencer's turn itself instead (TurnInline, once it has submitted with
// SubmitDeferred every frame of its round of events: netio's scheduleTurn): it takes the
// ring, appends, applies, writes and syncs the entry (WriteDeferred) and releases the
// replies, whose writes it then runs itself. Nobody is woken.
//
// Exactly one goroutine does the sequencer's work at a time: whoever holds Shard.turns.
// The sequencer goroutine holds it always except while it waits in its select; a loop
// only ever tries it (TryLock) and, failing, wakes the sequencer as Submit would have.
// The loop's turn is the sequencer's body (iterate, answerFenced), so the log, the state
// and the replies are those the sequencer would have made of the same ring; the loop
// runs it only when nothing else is in progress (idleForInline), and leaves whatever
// remains (parked replies waiting for the writer or a standby, input that arrived
// meanwhile, a closed ring, a snapshot due) to the sequencer, which it wakes. A failure
// met on the loop is recorded and handed to the sequencer (failAndServe), which checks
// for one each time it takes turns back, before anything else.

var _ backend.InlineTurner = (*Shard)(nil)

// InlineTurns implements backend.InlineTurner: a loop's turns are on unless
// Config.InlineTurnsOff.
func (s *Shard) InlineTurns() bool { return !s.config.InlineTurnsOff }

// SubmitDeferred queues a request like Submit but, when the shard is idle, leaves the
// sequencer asleep: the caller (a network event loop) must call TurnInline after its
// SubmitDeferred calls of a round of events, which runs the turn or wakes the sequencer.
// With Config.InlineTurnsOff it is Submit.
func (s *Shard) SubmitDeferred(request *backend.Request) model.Status {
	status, depth := s.submitClient(request, s.config.InlineTurnsOff)
	if status == model.StatusOK && !s.config.InlineTurnsOff &&
		(!s.idle.Load() || depth > inlineTurnRequestsMax) {
		// The loop's turn would not run: wake the sequencer now rather than once the
		// loop has read every connection of its round (under load it would otherwise
		// start each entry later than it does with Submit).
		s.wakeUp()
	}
	return status
}

// TurnInline runs one sequencer turn on the caller's goroutine when the shard is idle
// (see above), else wakes the sequencer. Call it after the SubmitDeferred calls of a
// round of events, never from the Replier or a Consumer (the turn calls them).
func (s *Shard) TurnInline() {
	if s.config.InlineTurnsOff {
		return // SubmitDeferred woke the sequencer.
	}
	if !s.turns.TryLock() {
		s.wakeUp() // The sequencer is working, or about to: it takes the ring next.
		return
	}
	if !s.idleForInline() {
		s.idle.Store(false)
		s.turns.Unlock()
		s.wakeUp()
		return
	}
	drained, closed, err := s.iterate(false)
	if err != nil {
		s.inlineFailure = err // The sequencer serves the failure (run).
	} else {
		s.answerFenced()
	}
	left := err != nil || closed || len(s.parked) > 0 || s.ring.queuedBytes() > 0 ||
		s.snapshotDue()
	if drained {
		s.count(func(stats *Stats) { stats.InlineTurns++ })
	}
	s.idle.Store(!left) // The sequencer, still waiting, sets it again when it next waits.
	s.turns.Unlock()
	if left {
		s.wakeUp()
	}
}

// inlineTurnRequestsMax bounds the requests a loop's turn may find waiting: more means
// several clients at once, whose entry the sequencer applies and syncs while the loop
// reads and answers (one entry per sync either way: group commit); the loop doing it
// would leave its connections unread meanwhile. One client one request at a time, the
// case the inline turn is for, queues one.
const inlineTurnRequestsMax = 4

// idleForInline reports whether a loop may run the turn: the shard is a started primary
// with nothing parked (nothing waits for the log's writer or a standby), at most
// inlineTurnRequestsMax requests waiting, no failure, no close under way, no snapshot
// due (its capture would pause the loop) and no acknowledger that would hold the entry
// back (a standby in sync mode: the loop would sync for nothing). With turns held.
func (s *Shard) idleForInline() bool {
	if !s.started.Load() || s.inlineFailure != nil || s.err.Load() != nil ||
		s.Role() != RolePrimary || len(s.parked) > 0 || s.ring.depth() > inlineTurnRequestsMax {
		return false
	}
	select {
	case <-s.stop:
		return false
	default:
	}
	if acknowledger := s.config.Acknowledger; acknowledger != nil &&
		acknowledger.Acknowledged() <= s.opLast {
		return false
	}
	return !s.snapshotDue()
}

// iterate is one round of the sequencer's work short of waiting: a turn, a snapshot
// request when one is due, and the release. The sequencer goroutine (sequencer true) and
// TurnInline (false) both run it, with turns held. Only the sequencer requests snapshots
// (the capture would pause a loop) and leaves the entry of a turn whose take stopped for
// order unwritten (appendForOrderStop): it goes round at once and takes the rest, and
// the next turn's release, or the wait, writes both in one group. A loop's turn writes
// and releases its entry at once, as before, and leaves the rest to the sequencer.
func (s *Shard) iterate(sequencer bool) (drained bool, closed bool, err error) {
	if invariants.Enabled {
		if running := s.iterating.Add(1); running != 1 {
			panic(fmt.Sprintf("shard: %d goroutines running the sequencer's turn at once", running))
		}
		defer s.iterating.Add(-1)
	}
	drained, closed, err = s.turn()
	if err == nil && sequencer && !closed && s.snapshotDue() && len(s.parked) < s.config.InFlightEntriesMax {
		err = s.writeSnapshotRequest()
	}
	if err == nil {
		if !sequencer || !s.appendForOrderStop {
			s.writeDeferred()
		}
		err = s.releaseDurable()
	}
	return drained, closed, err
}
