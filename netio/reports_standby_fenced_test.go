package netio_test

import (
	"sync/atomic"
	"testing"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestReportStreamsOfAStandbyThatIsNotFencedStayLive (PROTOCOL.md section 8, report44):
// a fenced node closes its report subscribers, and answers a report subscribe, with the
// error frame shutting_down (TestReportSubscriberOfAFencedPrimaryIsTold); a standby,
// served with the same two words as cmd/sequent serves it (Serving false, Fenced
// false), is unchanged. Its report subscription from 0 is accepted, a resumption from
// above the client's next sequence there is refused busy (it lags, and catches up), its
// subscriber is not closed by the market-data publisher's rechecks (the test waits
// until the node's words were read twice after the subscriptions were answered, so at
// least one whole recheck ran with them in place), and once the standby applies its
// primary's entry the subscriber gets that report live, the first frame after the
// answers.
func TestReportStreamsOfAStandbyThatIsNotFencedStayLive(t *testing.T) {
	primaryServer, standby, shipped := primaryAndStandby(t)
	// Every read of either word is counted: the publisher's recheck reads Fenced (and
	// would read Serving, were it to close report subscribers of a node not serving).
	var wordReads atomic.Int64
	standbyServer, _ := startShardServerWith(t, standby, netio.MarketDataConfig{
		Serving: func() bool {
			wordReads.Add(1)
			return standby.Role() == shard.RolePrimary
		},
		Fenced: func() bool {
			wordReads.Add(1)
			return standby.Role() == shard.RoleFenced
		}})

	live := dialRaw(t, standbyServer.Address())
	live.login(clientAll, 1, secretOne, 2)
	live.subscribeReports(2, 0)
	answer := live.next()
	if answer.Kind != wire.KindSubscribed || answer.Status != 0 || answer.Aux != 1 {
		t.Fatalf("a live subscription at the standby: %s status %d next %d, want "+
			"subscribed, ok, next 1", answer.Kind, answer.Status, answer.Aux)
	}
	resumed := dialRaw(t, standbyServer.Address())
	resumed.login(clientAll, 1, secretOne, 3)
	resumed.subscribeReports(3, 5)
	answer = resumed.next()
	if answer.Kind != wire.KindSubscribed || answer.Status != uint32(model.StatusBusy) {
		t.Fatalf("a resumption from 5 at the standby (next 1): %s status %d, want "+
			"subscribed with busy (it catches up; only a fenced node closes)",
			answer.Kind, answer.Status)
	}
	readsAnswered := wordReads.Load()
	waitFor(t, "two rechecks of the standby's publisher", func() bool {
		return wordReads.Load() >= readsAnswered+2
	})

	trader := dialRaw(t, primaryServer.Address())
	trader.login(clientAll, 1, secretOne, 1)
	body := make([]byte, model.OrderSize)
	(&model.Order{ClientOrderID: 1, Account: 1, BaseAccountID: model.U128(1),
		QuoteAccountID: model.U128(2), Price: 1, Quantity: 1, Instrument: 77,
		Side: model.SideBuy, Type: model.OrderLimit,
		TimeInForce: model.GoodTillCancel}).Encode(body)
	if reply := trader.roundTrip(1, model.OperationPlaceOrders, 0, body); reply.Status != 0 {
		t.Fatalf("order: status %s", model.Status(reply.Status)) // Refused: a report.
	}
	shipToStandby(t, standby, shipped)
	for {
		frame, err := live.nextAny()
		if err != nil {
			t.Fatalf("the standby's report subscriber was closed: %v", err)
		}
		switch frame.Kind {
		case wire.KindHeartbeat:
			live.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat,
				Session: 2}, nil))
			continue
		case wire.KindReport:
			if frame.Aux != 1 {
				t.Fatalf("report %d at the standby, want 1", frame.Aux)
			}
			return
		}
		t.Fatalf("a %s frame (status %d) to the standby's report subscriber, want "+
			"report 1 as the standby applies it", frame.Kind, frame.Status)
	}
}
