package shard

import (
	"testing"

	"sequent/core/model"
)

// TestKeptCancelsOverSeveralEntriesWithAOneEntryWindow: more cancels kept than one
// entry takes (RingRequests 4) with an in-flight window of one entry: each entry of
// cancels fills the window and the turn returns early; the trader's cancel, kept last,
// must still be logged before the write that follows, and that write answered OK.
func TestKeptCancelsOverSeveralEntriesWithAOneEntryWindow(t *testing.T) {
	ts := startTradingShard(t, nil)
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	ts.log.SetFull(true)
	for client := uint64(1000); client < 1009; client++ {
		ts.shard.SessionClosed(client, 1, true)
		if status := ts.submit(fillerClient, 1, model.OperationCreateAccounts,
			accountsBody(client)); status != model.StatusOK {
			t.Fatalf("write with the log full: %s", status)
		}
		ts.replies.waitFor(t, ts.expected)
	}
	ts.shard.SessionClosed(traderClient, 1, true)
	ts.writeRefusedLogFull(fillerClient, 1, 2001)
	opBefore := ts.log.LastOp()
	ts.log.SetFull(false)
	ts.mustWrite(fillerClient, 2, model.OperationCreateAccounts, accountsBody(2002))
	if reply := ts.replies.waitFor(t, ts.expected)[ts.expected-1]; reply.Status !=
		model.StatusOK {
		t.Fatalf("write once the log has room answered %s", reply.Status)
	}
	if canceled := ts.replies.canceled(); len(canceled) != 1 || canceled[0] != 1 {
		t.Fatalf("orders canceled by the disconnect: %v, want [1]", canceled)
	}
	// Ten cancels and the write, each logged once (one op per request).
	if logged := ts.log.LastOp() - opBefore; logged != 11 {
		t.Fatalf("%d ops logged once the log had room, want 11", logged)
	}
}

// TestCancelWaitingInTheRingThenKeptIsLoggedOnce: a cancel that waited in the ring's
// list (ring full) and was then refused by the full log is kept; a second disconnect of
// the same client while it is kept adds nothing: once the log has room the cancel is
// logged once, before the write that follows.
func TestCancelWaitingInTheRingThenKeptIsLoggedOnce(t *testing.T) {
	ts := startTradingShard(t, nil)
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	ts.fillRing()
	ts.shard.SessionClosed(traderClient, 1, true) // Waits in the ring's list.
	queued := ts.expected
	ts.log.SetFull(true)
	ts.log.Release()
	ts.replies.waitFor(t, queued)
	ts.shard.SessionClosed(traderClient, 2, true)
	ts.writeRefusedLogFull(fillerClient, 2, 3001)
	if canceled := ts.replies.canceled(); len(canceled) != 0 {
		t.Fatalf("canceled with the log full: %v", canceled)
	}
	opBefore := ts.log.LastOp()
	ts.log.SetFull(false)
	ts.mustWrite(fillerClient, 3, model.OperationCreateAccounts, accountsBody(3002))
	if canceled := ts.replies.canceled(); len(canceled) != 1 || canceled[0] != 1 {
		t.Fatalf("orders canceled by the disconnect: %v, want [1]", canceled)
	}
	if logged := ts.log.LastOp() - opBefore; logged != 2 {
		t.Fatalf("%d ops logged once the log had room, want 2 (the cancel once, the write)",
			logged)
	}
	// A replay of the log, the kept cancel in its own entry, builds the same state.
	ts.shard.Close()
	replayed, _, err := Recover(testMachineConfig, ts.log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if replayed.OpLast() != ts.shard.machine.OpLast() ||
		replayed.Digest() != ts.shard.machine.Digest() {
		t.Fatalf("replay at op %d differs from the shard at op %d", replayed.OpLast(),
			ts.shard.machine.OpLast())
	}
}
