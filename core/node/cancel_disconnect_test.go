package node

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/core/shardmap"
)

// TestCancelOnDisconnectOnEveryShard: a session's end cancels the client's orders on
// every shard that holds some, each shard on its own: shard 0 at once, shard 1, whose
// input ring is full, once it has room, and there before the order the client placed on
// shard 1 from its next session, which stays open (PROTOCOL.md section 5).
func TestCancelOnDisconnectOnEveryShard(t *testing.T) {
	placement := shardmap.ByRange(model.U128(0), model.U128(100))
	placement.Instruments = []shardmap.InstrumentEntry{{Instrument: 6, Shard: 1}}
	parts, logs := freshParts(placement)
	// Shard 1's ring can be held full: one entry in flight, four requests queued.
	node := buildNodeOf(t, placement, shard.Config{CloseTimeout: 300 * time.Millisecond,
		RingBytes: 2 * shard.EntryBytesMaxDefault, RingRequests: 4, InFlightEntriesMax: 1},
		parts, Config{TickInterval: time.Millisecond})
	replies := newReportReplies()
	tn := &testNode{t: t, node: node, replies: replies.clientReplies}
	node.Start(replies)
	defer node.Close()

	createTwoShardMarket(tn)
	order := func(clientOrderID uint64, instrument uint32, base, quote uint64) []byte {
		body := make([]byte, model.OrderSize)
		(&model.Order{ClientOrderID: clientOrderID, Account: 1, BaseAccountID: model.U128(base),
			QuoteAccountID: model.U128(quote), Price: 50, Quantity: 10, Instrument: instrument,
			Side: model.SideSell, Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}).Encode(body)
		return body
	}
	both := append(order(1, 5, 10, 20), order(2, 6, 110, 120)...)
	results := tn.call(3, 3, model.OperationPlaceOrders, 0, both).Body
	for i := 0; i < 2; i++ {
		var result model.OrderResult
		result.Decode(results[i*model.OrderResultSize:])
		if result.Status != model.StatusOK {
			t.Fatalf("order %d: %s", i+1, result.Status)
		}
	}

	// Shard 1's log holds durability; its ring fills with client 2's writes.
	before := logs[1].LastOp()
	logs[1].Hold()
	for id, connection := uint64(200), uint64(100); ; id, connection = id+1, connection+1 {
		status := node.Submit(&backend.Request{Connection: connection, Client: 2, Session: 1,
			Number: connection, Operation: model.OperationCreateAccounts,
			Body: accountsBody(id)})
		if status == model.StatusBusy {
			break
		}
		if status != model.StatusOK {
			t.Fatalf("filler: %s", status)
		}
		for id == 200 && logs[1].LastOp() == before {
			time.Sleep(time.Millisecond) // The first parks: the only entry in flight.
		}
	}
	node.SessionClosed(1, 1, true)
	if canceled := replies.waitForReport(t, model.ReportCanceled); canceled.ClientOrderID != 1 {
		t.Fatalf("first canceled: order %d, want 1 (shard 0's, at once)", canceled.ClientOrderID)
	}
	// Client 1 reconnects (session 2) and places order 3 on shard 1 once it is taken.
	logs[1].Release()
	deadline := time.Now().Add(waitBound)
	for node.Submit(&backend.Request{Connection: 4, Client: 1, Session: 2, Number: 1,
		Operation: model.OperationPlaceOrders, Body: order(3, 6, 110, 120)}) != model.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("shard 1 never took the order")
		}
	}
	var placed model.OrderResult
	placed.Decode(tn.replies.waitFor(t, 4).Body)
	if placed.Status != model.StatusOK {
		t.Fatalf("order 3: %s", placed.Status)
	}
	for len(replies.canceledOrders()) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// A write on shard 1 answered after it: a cancel queued late would show by then.
	for node.Submit(&backend.Request{Connection: 5, Client: 2, Session: 2, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(300)}) != model.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("shard 1 never took the write")
		}
	}
	tn.replies.waitFor(t, 5)
	if canceled := replies.canceledOrders(); len(canceled) != 2 || canceled[0] != 1 ||
		canceled[1] != 2 {
		t.Fatalf("orders canceled by the disconnect: %v, want [1 2] (order 3, placed after "+
			"by session 2, open)", canceled)
	}
}

// canceledOrders returns the client order ids of the orders canceled by a disconnect, in
// the order their reports arrived.
func (r *reportReplies) canceledOrders() []uint64 {
	r.reportsMutex.Lock()
	defer r.reportsMutex.Unlock()
	var ids []uint64
	for _, report := range r.reports {
		if report.Kind == model.ReportCanceled && report.Status == model.StatusCanceledDisconnect {
			ids = append(ids, report.ClientOrderID)
		}
	}
	return ids
}
