package shard

import (
	"log/slog"
	"testing"

	"sequent/core/model"
)

// A primary that is fenced (a standby was promoted, or its witness lease ran out) holds
// cancel-on-disconnects it has not logged yet: queued in its ring, waiting in the ring for
// room, or kept after a full log refused them. None of them can reach the new primary,
// which cancels nothing for connections it never had (PROTOCOL.md section 5: a cancel not
// logged when the server stops being primary is not applied). The fenced shard must
// therefore log nothing more of its own (README, "Fencing": it stops accepting writes),
// answer the writes still queued as the document says for a fenced server
// (outcome_unknown, section 6: resend, follow not_primary), and say at error level which
// cancels it dropped, since nothing else records that those clients' orders stay open.
// Before, its sequencer went on taking the ring's writes (a fenced shard is not a standby,
// whose turn stops before writes) and appended and applied them to its own log under the
// old epoch, the cancels among them, with no line; a kept cancel was passed over, so the
// writes queued after it were logged ahead of it, and it was reported only at Close, as
// dropped because "the shard closed".

// fenceWithTurnsHeld runs queue, then fences the shard, while the test holds the
// sequencer's turns: no turn can take what queue put in the ring before the fence.
func (ts *tradingShard) fenceWithTurnsHeld(queue func()) {
	ts.t.Helper()
	waitUntilParked(ts.t, ts.shard)
	ts.shard.turns.Lock()
	queue()
	ts.shard.Fence(ts.shard.Epoch()+1, "127.0.0.1:9999")
	ts.shard.turns.Unlock()
}

// checkNothingLoggedAfterTheFence closes the shard (so that every turn has run) and checks
// that its log ends at opFenced and that a dropped cancel-on-disconnect was logged at error
// level (with errors, the shard's logger, as it was before Close when beforeClose).
func (ts *tradingShard) checkNothingLoggedAfterTheFence(opFenced uint64, errors errorLines,
	beforeClose bool) {
	ts.t.Helper()
	sawBeforeClose := false
	if beforeClose {
		sawBeforeClose = errors.saw("no longer primary")
	}
	ts.shard.Close()
	if op := ts.log.LastOp(); op != opFenced {
		ts.t.Errorf("the fenced shard logged ops %d to %d of its own after the fence", opFenced+1,
			op)
	}
	if beforeClose && !sawBeforeClose {
		ts.t.Error("the cancel dropped by the fence was not logged when fenced")
	} else if !beforeClose && !errors.saw("cancel-on-disconnect") {
		ts.t.Error("the cancel dropped by the fence was never logged")
	}
}

// TestFencedShardDropsTheCancelQueuedInItsRing: a cancel-on-disconnect queued in the ring
// when the shard is fenced, and an order the client's new session sent after it, are not
// logged by the fenced shard; the order is answered outcome_unknown, the cancel's drop is
// logged.
func TestFencedShardDropsTheCancelQueuedInItsRing(t *testing.T) {
	errors := make(errorLines, 8)
	ts := startTradingShard(t, slog.New(errors))
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	opFenced := ts.log.LastOp()
	ts.fenceWithTurnsHeld(func() {
		ts.shard.SessionClosed(traderClient, 1, true)
		if status := ts.submit(traderClient, 2, model.OperationPlaceOrders, orderBody(2)); status !=
			model.StatusOK {
			t.Fatalf("order queued before the fence: %s", status)
		}
	})
	if reply := ts.replies.waitFor(t, ts.expected)[ts.expected-1]; reply.Status !=
		model.StatusOutcomeUnknown {
		t.Fatalf("order queued at a fenced shard answered %s, want outcome_unknown",
			reply.Status)
	}
	ts.checkNothingLoggedAfterTheFence(opFenced, errors, false)
}

// TestFencedShardDropsTheCancelWaitingForRoom: a cancel-on-disconnect waiting for room in
// a full ring when the shard is fenced is dropped and logged, and none of the writes
// queued ahead of it is logged by the fenced shard; each is answered outcome_unknown.
func TestFencedShardDropsTheCancelWaitingForRoom(t *testing.T) {
	errors := make(errorLines, 8)
	ts := startTradingShard(t, slog.New(errors))
	ts.disconnectWithTheRingFull()
	opFenced := ts.log.LastOp()
	ts.fenceWithTurnsHeld(func() {})
	replies := ts.replies.waitFor(t, ts.expected)
	for _, reply := range replies[len(replies)-2:] {
		if reply.Status != model.StatusOutcomeUnknown {
			t.Fatalf("write at a fenced shard answered %s, want outcome_unknown", reply.Status)
		}
	}
	waitUntil(t, "the ring empty", func() bool {
		return ts.shard.ring.depth() == 0 && ts.shard.ring.cancelsWaiting() == 0
	})
	ts.checkNothingLoggedAfterTheFence(opFenced, errors, false)
}

// TestFencedShardDropsTheCancelAFullLogRefused: a cancel-on-disconnect kept after a full
// log refused it is dropped when the shard is fenced, logged then (not only at Close, as
// dropped because the shard closed), and the order the client's new session queued after
// it is not logged ahead of it once the log has room.
func TestFencedShardDropsTheCancelAFullLogRefused(t *testing.T) {
	errors := make(errorLines, 8)
	ts := startTradingShard(t, slog.New(errors))
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	ts.log.SetFull(true)
	ts.shard.SessionClosed(traderClient, 1, true)
	ts.writeRefusedLogFull(fillerClient, 1, 2001) // The turn that kept the cancel has run.
	opFenced := ts.log.LastOp()
	ts.fenceWithTurnsHeld(func() {
		if status := ts.submit(traderClient, 2, model.OperationPlaceOrders, orderBody(2)); status !=
			model.StatusOK {
			t.Fatalf("order queued before the fence: %s", status)
		}
		ts.log.SetFull(false)
	})
	if reply := ts.replies.waitFor(t, ts.expected)[ts.expected-1]; reply.Status !=
		model.StatusOutcomeUnknown {
		t.Fatalf("order queued at a fenced shard answered %s, want outcome_unknown",
			reply.Status)
	}
	ts.checkNothingLoggedAfterTheFence(opFenced, errors, true)
}

// TestSessionEndedOnAFencedShardLogsTheCancelNotLogged: a session with
// cancel-on-disconnect that ends after its shard was fenced cannot have its orders
// cancelled by anyone (the new primary never had the connection), like the cancels the
// fence dropped; the shard says so at error level. It returned silently.
func TestSessionEndedOnAFencedShardLogsTheCancelNotLogged(t *testing.T) {
	errors := make(errorLines, 8)
	ts := startTradingShard(t, slog.New(errors))
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	opFenced := ts.log.LastOp()
	ts.shard.Fence(ts.shard.Epoch()+1, "127.0.0.1:9999")
	ts.shard.SessionClosed(traderClient, 1, true)
	if !errors.saw("no longer primary") {
		t.Error("the session's cancel-on-disconnect was dropped without a line")
	}
	ts.shard.Close()
	if op := ts.log.LastOp(); op != opFenced {
		t.Errorf("the fenced shard logged ops %d to %d of its own after the fence", opFenced+1, op)
	}
}
