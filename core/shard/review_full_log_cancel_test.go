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
	ts.writeRefusedLogFull(fillerClient, 1, 2001)
	ts.log.SetFull(false)
	ts.mustWrite(fillerClient, 2, model.OperationCreateAccounts, accountsBody(2002))
	if canceled := ts.replies.canceled(); len(canceled) != 1 || canceled[0] != 1 {
		t.Fatalf("orders canceled by the disconnect: %v, want [1] (client order id 1)",
			canceled)
	}
}

// TestCancelOnDisconnectWithTheLogFullKeepsItsPlace: a cancel-on-disconnect refused
// while the log is full is logged once the log has room, before anything the client
// sends later: an order of its new session refused meanwhile (log_unavailable) and one
// placed once there is room, which the cancel must not end. A cancel queued again at the
// ring's end once refused would come after the order placed once there is room, and
// cancel it too.
func TestCancelOnDisconnectWithTheLogFullKeepsItsPlace(t *testing.T) {
	ts := startTradingShard(t, nil)
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	ts.log.SetFull(true)
	ts.shard.SessionClosed(traderClient, 1, true)
	// The client's new session places order 2 while the log is full: refused, like the
	// cancel queued before it.
	if status := ts.submit(traderClient, 2, model.OperationPlaceOrders, orderBody(2)); status !=
		model.StatusOK {
		t.Fatalf("order with the log full: %s", status)
	}
	if reply := ts.replies.waitFor(t, ts.expected)[ts.expected-1]; reply.Status !=
		model.StatusLogUnavailable {
		t.Fatalf("order with the log full answered %s, want log_unavailable", reply.Status)
	}
	if canceled := ts.replies.canceled(); len(canceled) != 0 {
		t.Fatalf("canceled with the log full: %v", canceled)
	}
	opBefore := ts.log.LastOp()
	ts.log.SetFull(false)
	// A turn that found the log full just before it had room refuses the order without
	// trying the log (the cancel is still kept): the client retries, as after any
	// log_unavailable.
	ts.writeOnceTheLogHasRoom(traderClient, 2, model.OperationPlaceOrders, orderBody(3))
	if canceled := ts.replies.canceled(); len(canceled) != 1 || canceled[0] != 1 {
		t.Fatalf("orders canceled by the disconnect: %v, want [1] (order 3 placed after "+
			"it, open; order 2 refused)", canceled)
	}
	// The cancel and order 3, each once: nothing refused was logged.
	if logged := ts.log.LastOp() - opBefore; logged != 2 {
		t.Fatalf("%d ops logged once the log had room, want 2 (the cancel, order 3)", logged)
	}
}

// TestCancelOnDisconnectWithTheLogFullAndAGrantTableDue: with a grant table waiting for
// room (a keys reload while the log is full), every turn refuses what the ring holds
// before taking it into an entry (refuseQueued); a cancel-on-disconnect refused there is
// kept too, and logged once the log has room.
func TestCancelOnDisconnectWithTheLogFullAndAGrantTableDue(t *testing.T) {
	ts := startTradingShard(t, nil)
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	ts.log.SetFull(true)
	// A table that differs from the one in force (one more client), so that it is due.
	if err := ts.shard.SetGrants(model.AppendGrants(nil, []model.Grant{
		{Client: traderClient, Scopes: model.ScopeOperator},
		{Client: fillerClient + 1, Scopes: model.ScopeTransfer, Ledger: 1}})); err != nil {
		t.Fatal(err)
	}
	ts.shard.SessionClosed(traderClient, 1, true)
	ts.writeRefusedLogFull(fillerClient, 1, 2001)
	ts.log.SetFull(false)
	ts.writeOnceTheLogHasRoom(fillerClient, 1, model.OperationCreateAccounts, accountsBody(2002))
	if canceled := ts.replies.canceled(); len(canceled) != 1 || canceled[0] != 1 {
		t.Fatalf("orders canceled by the disconnect: %v, want [1] (client order id 1)",
			canceled)
	}
}
