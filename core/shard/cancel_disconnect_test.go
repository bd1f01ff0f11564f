package shard

import (
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
)

// TestCancelOnDisconnectSurvivesALongFullRing: PROTOCOL.md section 5, the server cancels
// the client's open orders whenever its connection ends. A session that ends while the
// shard's input ring is full must have its orders canceled once the ring drains, however
// long that takes. Before, SessionClosed retried for 5 s and then only logged an error:
// the orders stayed open for good.
func TestCancelOnDisconnectSurvivesALongFullRing(t *testing.T) {
	errors := make(errorLines, 1)
	ts := startTradingShard(t, slog.New(errors))
	ts.disconnectWithTheRingFull()
	// The ring stays full longer than the 5 s the cancel used to be retried for (a disk
	// stall, a slow standby in sync mode); an error logged sooner ends the wait.
	select {
	case message := <-errors:
		t.Logf("logged: %s", message)
	case <-time.After(6 * time.Second):
	}
	ts.log.Release()
	// A later write, answered, is queued behind anything SessionClosed queued. Its reply
	// may leave in the same entry as the cancel's reports, which the release hands out
	// after that entry's replies: wait for them (bounded), as the next test does.
	ts.mustWrite(fillerClient, 2, model.OperationCreateAccounts, accountsBody(2001))
	deadline := time.Now().Add(waitMax)
	for len(ts.replies.canceled()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if canceled := ts.replies.canceled(); len(canceled) != 1 || canceled[0] != 1 {
		t.Fatalf("orders canceled by the disconnect: %v, want [1] (client order id 1)",
			canceled)
	}
}

// TestCancelOnDisconnectNeverCancelsTheNextSession: the cancel of a session that ended
// while the ring was full cancels what the client held then, never an order the client
// placed after it reconnected (in a new session). Before, the cancel was retried every
// 10 ms from a goroutine, so an order submitted as soon as the ring had room was queued
// ahead of it and canceled.
func TestCancelOnDisconnectNeverCancelsTheNextSession(t *testing.T) {
	ts := startTradingShard(t, nil)
	ts.disconnectWithTheRingFull()
	// The client reconnects in session 2 and places order 2 as soon as the shard takes it.
	if status := ts.submit(traderClient, 2, model.OperationPlaceOrders, orderBody(2)); status !=
		model.StatusBusy {
		t.Fatalf("order with the ring full: %s, want busy", status)
	}
	ts.log.Release()
	deadline := time.Now().Add(waitMax)
	for ts.submit(traderClient, 2, model.OperationPlaceOrders, orderBody(2)) != model.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the shard never took the order")
		}
	}
	// Every order the cancel ends is reported in one delivery (one entry).
	for len(ts.replies.canceled()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("session 1's orders were never canceled")
		}
		time.Sleep(time.Millisecond)
	}
	if canceled := ts.replies.canceled(); len(canceled) != 1 || canceled[0] != 1 {
		t.Fatalf("orders canceled by the disconnect: %v, want [1] (session 2's order 2 "+
			"placed after it, open)", canceled)
	}
}

// disconnectWithTheRingFull has the trader place order 1 (client order id 1) in session
// 1, fills the ring (fillRing: durability held), and ends session 1 with
// cancel-on-disconnect: the cancel waits for room in the ring.
func (ts *tradingShard) disconnectWithTheRingFull() {
	ts.t.Helper()
	ts.mustWrite(traderClient, 1, model.OperationPlaceOrders, orderBody(1))
	ts.fillRing()
	ts.shard.SessionClosed(traderClient, 1, true)
}
