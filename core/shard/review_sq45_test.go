package shard

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
)

// TestKeptCancelDroppedAtCloseIsLogged: a cancel-on-disconnect the full log refused is
// kept (Shard.cancelsRefused) until the log has room; when the shard closes first, it is
// dropped (PROTOCOL.md section 5: not applied when the server stops), and the operators
// must be told, as they are for a cancel dropped while waiting in the ring at Close
// (TestCancelDroppedAtCloseIsLogged) and for kept cancels dropped when the log fails or
// the shard becomes a standby: the client's orders stay open and nothing else records
// it. On main the sequencer stops with the kept cancel and logs nothing.
func TestKeptCancelDroppedAtCloseIsLogged(t *testing.T) {
	lines := make(errorLines, 8)
	ts := startTradingShard(t, slog.New(lines))
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	ts.log.SetFull(true)
	ts.shard.SessionClosed(traderClient, 1, true)
	// A write queued after the cancel, answered: the turn that refused and kept the
	// cancel has run.
	ts.writeRefusedLogFull(fillerClient, 1, 2001)
	ts.shard.Close() // The log is still full: the kept cancel is never logged.
	if canceled := ts.replies.canceled(); len(canceled) != 0 {
		t.Fatalf("canceled with the log full: %v", canceled)
	}
	if !lines.saw("cancel-on-disconnect") {
		t.Fatal("the kept cancel dropped at Close was not logged")
	}
}

// TestCancelRefusedByAFailedLogIsLogged: a cancel-on-disconnect taken into a turn whose
// append meets a log failure is never applied (PROTOCOL.md section 5 allows it: the log
// failed), and the operators must be told which client's orders stay open, as they are
// when the cancel was still waiting for room in the ring at that moment (failAndServe:
// "cancel-on-disconnect not logged: the log failed"). Whether a line is logged must not
// depend on whether the ring had room. On main the turn's requests are answered
// log_unavailable, the cancel to nobody, and nothing is logged for it.
func TestCancelRefusedByAFailedLogIsLogged(t *testing.T) {
	lines := make(errorLines, 8)
	ts := startTradingShard(t, slog.New(lines))
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	ts.log.Fail(errors.New("fdatasync: EIO"))
	ts.shard.SessionClosed(traderClient, 1, true) // Its turn's append fails.
	waitUntil(t, "the log failure", func() bool { return ts.shard.Err() != nil })
	// A read queued now is answered by the failure loop, after the failed turn's requests.
	if status := ts.submit(traderClient, 2, model.OperationLookupAccounts,
		model.U128(110).Append(nil)); status != model.StatusOK {
		t.Fatalf("read after the failure: %s", status)
	}
	ts.replies.waitFor(t, ts.expected)
	if !lines.saw("cancel-on-disconnect") {
		t.Fatal("the cancel a failed log refused was not logged")
	}
}

// TestCancelQueuedAtAbandonedCloseIsLogged: a cancel-on-disconnect that found room in the
// ring but was never taken (the in-flight window stays full of an entry that never
// becomes durable) is answered shutting_down to nobody when Close gives up
// (CloseTimeout, abandonWith). The operators must be told, as they are for a cancel still
// waiting for room at Close (TestCancelDroppedAtCloseIsLogged). On main nothing is logged.
func TestCancelQueuedAtAbandonedCloseIsLogged(t *testing.T) {
	lines := make(errorLines, 8)
	ts := startTradingShard(t, slog.New(lines))
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	before := ts.log.LastOp()
	ts.log.Hold()
	// One write parks (the only entry allowed in flight) and is never durable.
	if status := ts.submit(fillerClient, 1, model.OperationCreateAccounts,
		accountsBody(2001)); status != model.StatusOK {
		t.Fatalf("write: %s", status)
	}
	waitUntil(t, "the write logged", func() bool { return ts.log.LastOp() != before })
	ts.shard.SessionClosed(traderClient, 1, true)
	if waiting := ts.shard.ring.cancelsWaiting(); waiting != 0 {
		t.Fatalf("%d cancels waiting for room, want the cancel queued", waiting)
	}
	ts.shard.config.CloseTimeout = time.Millisecond // Durability stays held: abandon.
	ts.shard.Close()
	if canceled := ts.replies.canceled(); len(canceled) != 0 {
		t.Fatalf("canceled: %v", canceled)
	}
	if !lines.saw("cancel-on-disconnect") {
		t.Fatal("the queued cancel dropped at Close was not logged")
	}
}
