package core

import (
	"testing"

	"sequent/core/model"
)

// TestRefusedStepsRulesVersion: through Apply, as the server runs it, at rules versions 7
// and 8, on a machine restored from a snapshot before the crossing order (so the
// restored machine puts the version's rule back in force). Client 7 rests 600 one-unit
// sells and closes the quote account they are paid into; client 8's buy crosses them all
// and rests, each sell canceled canceled_account at both versions. What differs is the
// ledger events the buy costs, read from the timestamps (one per event submitted, refused
// chains included): client 8's next place in the same entry takes the first timestamp
// after them. At version 7 each refused sell costs a chain planned again with
// FillsPerStepMax fills (hundreds of events each: a version-7 log replays as it was
// applied); from version 8 a bounded number (package match,
// TestRefusedMakersCostLinearEvents).
func TestRefusedStepsRulesVersion(t *testing.T) {
	const sells = 600
	for _, version := range []uint32{rulesVersionRefusedSteps - 1, rulesVersionRefusedSteps} {
		h := newHarness(t, Config{})
		h.operators(9)
		h.apply(tradingAccountRequests()...)
		funds := tradingFunds()
		funds[0].Amount = model.U128(sells)
		funds[1].Amount = model.U128(50*sells + 1) // The next buy holds 1.
		h.apply(Request{Client: 9, Session: 1, Number: 2,
			Operation: model.OperationCreateTransfers,
			Body:      encodeRecords(model.TransferSize, funds...)})
		h.apply(Request{Client: 9, Session: 1, Number: 3,
			Operation: model.OperationCreateInstruments,
			Body:      encodeRecords(model.InstrumentSize, tradingInstrument())})
		h.upgradeRules(version)
		orders := make([]*model.Order, sells)
		for i := range orders {
			orders[i] = tradingOrder(model.SideSell, uint64(i+1), 50, 1)
		}
		h.apply(Request{Client: 7, Session: 1, Number: 1,
			Operation: model.OperationPlaceOrders,
			Body:      encodeRecords(model.OrderSize, orders...)})
		h.closeQuoteAccountOf7()
		h.restore(Config{})
		if got := h.machine.RulesVersion(); got != version {
			t.Fatalf("restored at version %d, want %d", got, version)
		}
		out := h.apply(Request{Client: 8, Session: 1, Number: 1,
			Operation: model.OperationPlaceOrders,
			Body:      encodeRecords(model.OrderSize, tradingOrder(model.SideBuy, 1, 50, sells))},
			Request{Client: 8, Session: 1, Number: 2, Operation: model.OperationPlaceOrders,
				Body: encodeRecords(model.OrderSize, tradingOrder(model.SideBuy, 2, 1, 1))})
		var buy, next model.OrderResult
		buy.Decode(out.Body(&out.Replies[0]))
		next.Decode(out.Body(&out.Replies[1]))
		canceled := canceledAccountReports(out, 7)
		if buy.Status != model.StatusOK || next.Status != model.StatusOK ||
			canceled != sells || h.machine.Match().OpenOrderCount() != 2 {
			t.Fatalf("version %d: buy %s, next %s, %d sells canceled_account, %d open orders",
				version, buy.Status, next.Status, canceled, h.machine.Match().OpenOrderCount())
		}
		events := next.Timestamp - buy.Timestamp - 1
		t.Logf("version %d: the buy cost %d ledger events", version, events)
		if version < rulesVersionRefusedSteps && events < 100*sells {
			t.Errorf("version %d: the buy cost %d ledger events, fewer than the %d of the "+
				"rule it applied", version, events, 100*sells)
		}
		if version >= rulesVersionRefusedSteps && events > 16*sells+5124 {
			t.Errorf("version %d: the buy cost %d ledger events, more than 16 per sell + "+
				"5,124", version, events)
		}
	}
}
