package core

import (
	"testing"

	"sequent/core/model"
)

// TestReplaceFundingRulesVersion: through Apply, as the server runs it. A client with a
// trade grant on the owner's accounts places a sell from them; the grant is withdrawn
// (a logged set_grants); the former delegate then replaces the order down to price 1.
// From rules version 6 the replace is refused base_account_not_owned, as a place would
// be, and nothing of the owner's moves; below it (a log written before the check) it is
// applied as it was, so that such a log replays bit for bit. The delegate may still
// cancel the order under either version.
func TestReplaceFundingRulesVersion(t *testing.T) {
	for _, version := range []uint32{rulesVersionReplaceFunding - 1, rulesVersionReplaceFunding} {
		h, _ := matrixMachine(t)
		h.upgradeRules(version)
		out := h.apply(Request{Client: matrixTrader, Session: 9, Number: 1,
			Operation: model.OperationPlaceOrders, Body: encodeRecords(model.OrderSize,
				matrixOrder(60))})
		var placed model.OrderResult
		placed.Decode(out.Body(&out.Replies[0]))
		if placed.Status != model.StatusOK {
			t.Fatalf("version %d: the delegate's order: %s", version, placed.Status)
		}
		h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
			[]model.Grant{{Client: matrixOperator, Scopes: model.ScopeOperator}})})
		out = h.apply(Request{Client: matrixTrader, Session: 9, Number: 2,
			Operation: model.OperationReplaceOrders, Body: encodeRecords(model.OrderReplaceSize,
				&model.OrderReplace{ClientOrderID: 61, Account: 1, OrderID: placed.OrderID,
					Price: 1, Quantity: 10})})
		var replaced model.OrderResult
		replaced.Decode(out.Body(&out.Replies[0]))
		want := model.StatusBaseAccountNotOwned
		if version < rulesVersionReplaceFunding {
			want = model.StatusOK
		}
		if replaced.Status != want {
			t.Errorf("version %d: the former delegate's replace answered %s, want %s",
				version, replaced.Status, want)
		}
		out = h.apply(Request{Client: matrixTrader, Session: 9, Number: 3,
			Operation: model.OperationCancelOrders, Body: encodeRecords(model.OrderCancelSize,
				&model.OrderCancel{ClientOrderID: 62, Account: 1, OrderID: placed.OrderID})})
		var canceled model.OrderResult
		canceled.Decode(out.Body(&out.Replies[0]))
		if canceled.Status != model.StatusOK {
			t.Errorf("version %d: the former delegate's cancel answered %s", version,
				canceled.Status)
		}
	}
}
