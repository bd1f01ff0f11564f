package shard

import (
	"testing"

	"sequent/core/model"
)

// TestCancelOnDisconnectWithTheLogFull: PROTOCOL.md section 5 says a busy server still
// applies a cancel-on-disconnect, in its place, and lists when it is not applied (the
// server stops, its log fails, a failover): a full log (disk full, writes answered
// log_unavailable, the shard serving on) is not among them. The cancel_session entry is
// refused like a client's write, but nobody is answered for it and nothing retries it:
// the client's orders stay open for good once the log has room again, and no line is
// logged. This test fails on main: either the shard keeps the cancel until it can log
// it, or section 5 says that a full log loses it (and the test changes with it).
func TestCancelOnDisconnectWithTheLogFull(t *testing.T) {
	ts := startTradingShard(t, nil)
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	ts.log.SetFull(true)
	ts.shard.SessionClosed(traderClient, 1, true)
	// A write queued after the cancel, answered: the turn that took the cancel has run.
	if status := ts.submit(fillerClient, 1, model.OperationCreateAccounts,
		accountsBody(2001)); status != model.StatusOK {
		t.Fatalf("write with the log full: %s", status)
	}
	if reply := ts.replies.waitFor(t, ts.expected)[ts.expected-1]; reply.Status !=
		model.StatusLogUnavailable {
		t.Fatalf("write with the log full answered %s, want log_unavailable", reply.Status)
	}
	ts.log.SetFull(false)
	ts.mustWrite(fillerClient, 2, model.OperationCreateAccounts, accountsBody(2002))
	if canceled := ts.replies.canceled(); len(canceled) != 1 || canceled[0] != 1 {
		t.Fatalf("orders canceled by the disconnect: %v, want [1] (client order id 1)",
			canceled)
	}
}
