package netio_test

import (
	"testing"
	"time"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio/wire"
	"sequent/wal"
)

// TestResubscribeAheadOfTheServerGetsLiveReports (section 8: after the subscribed frame,
// live reports): a client can hold report sequences the server never gave: a failover
// lost them (async mode; or a sync primary that replayed reports of recovered entries
// its standby had not acknowledged, see shard's TestRecoveredReportsWaitForTheStandby),
// and the new primary numbers its next reports from its own last. The client
// resubscribes from its last handled + 1 (here 5: it handled 1..4 on the lost primary);
// this server has given it nothing yet. The subscription must still deliver the reports
// produced after it. On main the connection's "last sent" starts at from-1 = 4, so the
// server's reports 1..4 are dropped without a sign (subscribed said oldest_sequence 1,
// nothing missing), and the first one the client sees is 5.
func TestResubscribeAheadOfTheServerGetsLiveReports(t *testing.T) {
	machineConfig := core.Config{RulesVersion: core.RulesVersionCurrent}
	s, err := shard.New(shard.Config{PulseInterval: time.Hour, CloseTimeout: time.Second,
		Logger: testLogger()}, core.New(machineConfig), wal.NewMemoryLog())
	if err != nil {
		t.Fatal(err)
	}
	server, _ := startShardServer(t, s)

	subscriber := dialRaw(t, server.Address())
	subscriber.login(clientAll, 1, secretOne, 2)
	subscriber.subscribeReports(2, 5)
	frame := subscriber.next()
	if frame.Kind != wire.KindSubscribed || frame.Status != 0 {
		t.Fatalf("got %s status %d, want subscribed", frame.Kind, frame.Status)
	}
	var subscribed wire.Subscribed
	subscribed.Decode(frame.Body)

	trader := dialRaw(t, server.Address())
	trader.login(clientAll, 1, secretOne, 1)
	// Orders for an instrument that does not exist: each is refused with a report.
	for number := uint64(1); number <= 5; number++ {
		body := make([]byte, model.OrderSize)
		(&model.Order{ClientOrderID: number, Account: 1, BaseAccountID: model.U128(1),
			QuoteAccountID: model.U128(2), Price: 1, Quantity: 1, Instrument: 77,
			Side: model.SideBuy, Type: model.OrderLimit,
			TimeInForce: model.GoodTillCancel}).Encode(body)
		if reply := trader.roundTrip(number, model.OperationPlaceOrders, 0, body); reply.Status != 0 {
			t.Fatalf("order %d: status %s", number, model.Status(reply.Status))
		}
	}
	// The fifth report is sent in any case, so this read is bounded without a timer.
	frame = subscriber.next()
	if frame.Kind != wire.KindReport || frame.Aux != 1 {
		t.Fatalf("subscribed from 5 (oldest_sequence %d, replayed_through %d) to a server "+
			"that had given the client no report: the first frame after 5 new reports is "+
			"%s sequence %d, want report 1 (the server's 1..4 were dropped unseen)",
			subscribed.OldestSequence, subscribed.ReplayedThrough, frame.Kind, frame.Aux)
	}
}
