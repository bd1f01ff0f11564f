package match

import (
	"testing"

	"sequent/core/model"
)

// The tests in this file pin edges that mutation testing (tools/mutation) found
// unguarded: a condition dropped, a comparison moved by one or a status swapped there
// passed every other test.

// TestBuyIntoClosedBaseAccountIsRefused: a buy is paid from the quote account and
// receives into the base account. If the receiving base account is closed, the order is
// refused with account_closed before any hold is placed (the paying account is open, so
// the ledger would accept the hold, and the fill's payout would then fail). A sell into
// a closed quote account is the mirror case (TestMakerAccountClosed).
func TestBuyIntoClosedBaseAccountIsRefused(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	h.closeAccount(traderBase(1), testBaseLedger, bankBaseID)
	h.sink.reset()
	result := h.place(1, limitOrder(1, 1, model.SideBuy, 100, 10))[0]
	expectEqual(t, "status", result.Status, model.StatusAccountClosed)
	expectEqual(t, "open orders", h.e.OpenOrderCount(), uint32(0))
	if posted, pending := h.balance(traderQuote(1)); posted != 100_000 || pending != 0 {
		t.Fatalf("the paying account was touched: posted %d, pending %d", posted, pending)
	}
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64(nil))
}

// TestCancelOrReplaceOfAnotherAccountIsRefused: an order belongs to a trading account of
// its client (core/match/doc.go: cancel_orders ends "one open order of the caller's
// account"). Naming it by order id from another trading account of the same client finds
// nothing: order_not_found, and the order stays open and unchanged. The same command from
// the right account succeeds.
func TestCancelOrReplaceOfAnotherAccountIsRefused(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	orderID := h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 10))
	h.sink.reset()
	canceled := h.cancel(1, model.OrderCancel{ClientOrderID: 2, Account: 2, OrderID: orderID})[0]
	expectEqual(t, "cancel from account 2", canceled.Status, model.StatusOrderNotFound)
	replaced := h.replace(1, model.OrderReplace{ClientOrderID: 3, Account: 2, OrderID: orderID,
		Price: 95, Quantity: 20})[0]
	expectEqual(t, "replace from account 2", replaced.Status, model.StatusOrderNotFound)
	expectEqual(t, "canceled", h.canceled(), [][2]uint64(nil))
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{orderID, 100, 10}})
	canceled = h.cancel(1, model.OrderCancel{ClientOrderID: 4, Account: 1, OrderID: orderID})[0]
	expectEqual(t, "cancel from account 1", canceled.Status, model.StatusOK)
}

// TestReplaceHoldOnClosedPayingAccount: an order rests; then its paying account is
// closed (the place-time validation is long past). A replace that needs a larger hold
// asks the ledger for it, the ledger refuses (debit_account_already_closed), and the
// replace answers account_closed, leaving the order and its hold as they were.
func TestReplaceHoldOnClosedPayingAccount(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	orderID := h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 10))
	_, heldBefore := h.balance(traderQuote(1))
	h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
	_, pendingClosed := h.balance(traderQuote(1))
	result := h.replace(1, model.OrderReplace{ClientOrderID: 2, Account: 1, OrderID: orderID,
		Price: 100, Quantity: 20})[0]
	expectEqual(t, "status", result.Status, model.StatusAccountClosed)
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{orderID, 100, 10}})
	if _, pending := h.balance(traderQuote(1)); pending != pendingClosed || heldBefore == 0 {
		t.Fatalf("hold changed: pending %d, want %d", pending, pendingClosed)
	}
}

// TestExpiryAtTheOrderTimestamp: an order's deadline must lie after its own timestamp. A
// deadline equal to the timestamp the order gets would expire it the moment it is
// placed, so it is refused as expire_timestamp_invalid; one nanosecond later is valid.
func TestExpiryAtTheOrderTimestamp(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	order := limitOrder(1, 1, model.SideSell, 110, 10)
	order.ExpireTimestamp = h.clock + 1 // The timestamp the place command takes.
	result := h.place(1, order)[0]
	expectEqual(t, "deadline at its own timestamp", result.Status, model.StatusExpireTimestampInvalid)
	expectEqual(t, "timestamp", result.Timestamp, order.ExpireTimestamp)
	order.ClientOrderID, order.ExpireTimestamp = 2, h.clock+2
	expectEqual(t, "one nanosecond later", h.place(1, order)[0].Status, model.StatusOK)
}
