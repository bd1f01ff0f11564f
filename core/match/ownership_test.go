package match

import (
	"testing"

	"sequent/core/model"
)

// TestClientOrderIDFieldsCompared: a resend (same key, same kind, same fields) answers
// the original result; the same key with any other field answers
// client_order_id_exists_with_different_fields and changes nothing; another kind
// answers client_order_id_reused. For each command kind.
func TestClientOrderIDFieldsCompared(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 100_000)
	order := limitOrder(1, 1, model.SideBuy, 100, 10)
	first := h.place(1, order)[0]
	expectEqual(t, "resend", h.place(1, order)[0], first)
	for _, change := range []func(o *model.Order){
		func(o *model.Order) { o.Price = 105 },
		func(o *model.Order) { o.Quantity = 20 },
		func(o *model.Order) { o.Side = model.SideSell },
		func(o *model.Order) { o.QuoteAccountID = model.U128(bankQuoteID) },
		func(o *model.Order) { o.Reserved[14] = 1 },
	} {
		changed := order
		change(&changed)
		result := h.place(1, changed)[0]
		expectEqual(t, "changed place", result.Status, model.StatusClientOrderIDExistsWithDifferentFields)
	}
	expectEqual(t, "open orders", h.e.OpenOrderCount(), uint32(1))

	cancel := model.OrderCancel{ClientOrderID: 2, Account: 1, OrderID: first.OrderID}
	canceled := h.cancel(1, cancel)[0]
	expectEqual(t, "cancel resend", h.cancel(1, cancel)[0], canceled)
	cancel.OrderID++
	expectEqual(t, "changed cancel", h.cancel(1, cancel)[0].Status,
		model.StatusClientOrderIDExistsWithDifferentFields)

	h.placeOK(1, limitOrder(1, 3, model.SideBuy, 100, 10))
	replace := model.OrderReplace{ClientOrderID: 4, Account: 1, OriginalClientOrderID: 3,
		Price: 100, Quantity: 20}
	replaced := h.replace(1, replace)[0]
	expectEqual(t, "replace", replaced.Status, model.StatusOK)
	expectEqual(t, "replace resend", h.replace(1, replace)[0], replaced)
	replace.Quantity = 30
	expectEqual(t, "changed replace", h.replace(1, replace)[0].Status,
		model.StatusClientOrderIDExistsWithDifferentFields)

	mass := []model.MassCancel{{ClientOrderID: 5, Account: 1, Side: model.SideBuy}}
	results := make([]model.MassCancelResult, 1)
	h.e.MassCancel(&h.clock, 1, mass, results, &h.sink)
	massFirst := results[0]
	h.e.MassCancel(&h.clock, 1, mass, results, &h.sink)
	expectEqual(t, "mass resend", results[0], massFirst)
	mass[0].Side = model.SideSell
	h.e.MassCancel(&h.clock, 1, mass, results, &h.sink)
	expectEqual(t, "changed mass cancel", results[0].Status,
		model.StatusClientOrderIDExistsWithDifferentFields)
	expectEqual(t, "another kind", h.place(1, limitOrder(1, 5, model.SideBuy, 100, 10))[0].Status,
		model.StatusClientOrderIDReused)
	h.restoreRoundTrip() // The digests are state: a restored engine answers alike.
	expectEqual(t, "changed replace after restore", h.replace(1, replace)[0].Status,
		model.StatusClientOrderIDExistsWithDifferentFields)
}

// TestOrderOwnership: orders are funded only from accounts the client may trade from;
// other clients' orders are invisible and cannot be canceled, except by an operator; a
// trade grant lets a client trade from another's accounts.
func TestOrderOwnership(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 100_000)
	h.trader(2, 10_000, 100_000)
	const operator, delegate = 50, 51
	stolen := limitOrder(1, 1, model.SideSell, 100, 10) // Trader 1's accounts...
	expectEqual(t, "client 2 trades from trader 1's accounts", h.place(2, stolen)[0].Status,
		model.StatusBaseAccountNotOwned)
	stolen.Side = model.SideBuy
	stolen.ClientOrderID = 2
	expectEqual(t, "a buy from trader 1's accounts", h.place(2, stolen)[0].Status,
		model.StatusBaseAccountNotOwned)
	mixed := limitOrder(2, 3, model.SideBuy, 100, 10)
	mixed.QuoteAccountID = traderQuote(1)
	expectEqual(t, "someone else's quote account", h.place(2, mixed)[0].Status,
		model.StatusQuoteAccountNotOwned)
	if _, pending := h.balance(traderBase(1)); pending != 0 {
		t.Fatalf("a refused order held %d of trader 1's funds", pending)
	}

	id := h.placeOK(1, limitOrder(1, 10, model.SideSell, 110, 10))
	expectEqual(t, "client 2 looks trader 1's order up",
		len(h.e.LookupOrders(2, []uint64{id}, nil)), 0)
	expectEqual(t, "client 2 cancels trader 1's order",
		h.cancel(2, model.OrderCancel{ClientOrderID: 11, Account: 1, OrderID: id})[0].Status,
		model.StatusOrderNotFound)
	expectEqual(t, "still open", h.e.OpenOrderCount(), uint32(1))

	err := h.l.SetGrants([]model.Grant{{Client: operator, Scopes: model.ScopeOperator},
		{Client: delegate, Scopes: model.ScopeTrade, First: traderBase(2), Last: traderBase(2)},
		{Client: delegate, Scopes: model.ScopeTrade, First: traderQuote(2), Last: traderQuote(2)}})
	if err != nil {
		t.Fatal(err)
	}
	expectEqual(t, "the operator looks it up", len(h.e.LookupOrders(operator, []uint64{id}, nil)), 1)
	expectEqual(t, "the operator cancels it",
		h.cancel(operator, model.OrderCancel{ClientOrderID: 1, Account: 9, OrderID: id})[0].Status,
		model.StatusOK)
	expectEqual(t, "canceled", h.e.OpenOrderCount(), uint32(0))
	h.placeOK(delegate, limitOrder(2, 1, model.SideBuy, 100, 10))
	if _, pending := h.balance(traderQuote(2)); pending == 0 {
		t.Fatal("the delegate's order holds nothing on trader 2's account")
	}
	expectEqual(t, "the delegate may not trade from trader 1's accounts",
		h.place(delegate, limitOrder(1, 2, model.SideBuy, 100, 10))[0].Status,
		model.StatusBaseAccountNotOwned)
}
