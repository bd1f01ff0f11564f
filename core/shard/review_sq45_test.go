package shard

import (
	"log/slog"
	"strings"
	"testing"

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
	errors := make(errorLines, 8)
	ts := startTradingShard(t, slog.New(errors))
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
	for len(errors) > 0 {
		if message := <-errors; strings.Contains(message, "cancel-on-disconnect") {
			return
		}
	}
	t.Fatal("the kept cancel dropped at Close was not logged")
}
