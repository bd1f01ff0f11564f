package match

import (
	"testing"

	"sequent/core/model"
)

// TestReplaceAfterGrantWithdrawnMovesNoMoreFunds: a client that placed an order on
// another client's accounts under a trade grant keeps no right over those accounts once
// the grant is withdrawn. The resting order stays (PROTOCOL.md section 5: "A withdrawn
// grant does not cancel orders already resting; their owner (or an operator) cancels
// them"), but the former delegate must not be able to use it to spend more of the owner's
// money: a replace is a new commitment of the accounts (a larger quantity holds more, a
// new price sells at that price), which place_orders would refuse with
// base_account_not_owned / quote_account_not_owned. Method: grant, place, withdraw the
// grant, then replace (a) a buy to a larger quantity and (b) a sell down to where an
// accomplice's bid rests; the owner's funds (held and posted) must not move.
func TestReplaceAfterGrantWithdrawnMovesNoMoreFunds(t *testing.T) {
	const owner, delegate, accomplice = 2, 3, 4
	// setup places order as the delegate under the grant, then withdraws the grant.
	setup := func(t *testing.T, order model.Order) (*harness, uint64) {
		h := newHarness(t, Config{}, testInstrumentRecord())
		h.trader(owner, 10_000, 100_000)
		h.trader(accomplice, 10_000, 100_000)
		grant := []model.Grant{
			{Client: delegate, Scopes: model.ScopeTrade, First: traderBase(owner), Last: traderBase(owner)},
			{Client: delegate, Scopes: model.ScopeTrade, First: traderQuote(owner), Last: traderQuote(owner)}}
		if err := h.l.SetGrants(grant); err != nil {
			t.Fatal(err)
		}
		id := h.placeOK(delegate, order)
		if err := h.l.SetGrants(nil); err != nil { // The owner withdraws the grant.
			t.Fatal(err)
		}
		// Placing afresh is refused: the delegate may no longer trade from these accounts.
		expectEqual(t, "a new order after the withdrawal",
			h.place(delegate, limitOrder(owner, 3, model.SideBuy, 100, 10))[0].Status,
			model.StatusBaseAccountNotOwned)
		return h, id
	}

	t.Run("buy grown", func(t *testing.T) {
		h, buy := setup(t, limitOrder(owner, 1, model.SideBuy, 100, 10))
		_, heldBefore := h.balance(traderQuote(owner))
		// The resting buy grown a hundredfold would hold 100 times the quote funds.
		grown := h.replace(delegate, model.OrderReplace{ClientOrderID: 4, Account: 1,
			OrderID: buy, Price: 100, Quantity: 1_000})[0]
		if _, held := h.balance(traderQuote(owner)); grown.Status == model.StatusOK ||
			held != heldBefore {
			t.Errorf("after the grant was withdrawn, the delegate's replace of a buy on "+
				"the owner's accounts answered %s and the owner's held quote went %d → %d",
				grown.Status, heldBefore, held)
		}
	})

	t.Run("sell repriced", func(t *testing.T) {
		h, sell := setup(t, limitOrder(owner, 2, model.SideSell, 200, 1_000))
		postedBefore, _ := h.balance(traderBase(owner))
		// The resting sell repriced down to the accomplice's bid sells the owner's base
		// at 5 instead of 200.
		h.placeOK(accomplice, limitOrder(accomplice, 1, model.SideBuy, 5, 1_000))
		dumped := h.replace(delegate, model.OrderReplace{ClientOrderID: 5, Account: 1,
			OrderID: sell, Price: 5, Quantity: 1_000})[0]
		if posted, _ := h.balance(traderBase(owner)); dumped.Status == model.StatusOK ||
			posted != postedBefore {
			t.Errorf("after the grant was withdrawn, the delegate's replace of a sell on "+
				"the owner's accounts answered %s and the owner's base went %d → %d",
				dumped.Status, postedBefore, posted)
		}
	})
}
