package match

import (
	"testing"

	"sequent/core/model"
)

// TestIdempotency: a resend answers the original result and changes nothing; a key reused
// by another kind of command is refused; a refused command stays refused on resend.
func TestIdempotency(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 1000)
	first := h.place(1, limitOrder(1, 1, model.SideBuy, 100, 30))[0]
	reports := len(h.sink.reports)
	transfers := h.l.TransferCount()
	again := h.place(1, limitOrder(1, 1, model.SideBuy, 100, 30))[0]
	expectEqual(t, "resend", again, first)
	expectEqual(t, "reports after resend", len(h.sink.reports), reports)
	expectEqual(t, "transfers after resend", h.l.TransferCount(), transfers)
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{1, 100, 30}})
	// The same key from another client or account is another command.
	other := limitOrder(1, 1, model.SideBuy, 100, 10)
	other.Account = 2
	expectEqual(t, "other account", h.place(1, other)[0].OrderID, uint64(2))
	// A cancel reusing a place's key.
	result := h.cancel(1, model.OrderCancel{ClientOrderID: 1, Account: 1, OrderID: 1})[0]
	expectEqual(t, "reused key", result.Status, model.StatusClientOrderIDReused)
	// A refused place stays refused, even once it could succeed.
	refused := h.place(1, limitOrder(1, 2, model.SideBuy, 100, 900))[0]
	expectEqual(t, "refused", refused.Status, model.StatusInsufficientFunds)
	h.deposit(1, 0, 100_000)
	expectEqual(t, "refused resend", h.place(1, limitOrder(1, 2, model.SideBuy, 100, 900))[0],
		refused)
	// A cancel resent after it succeeded answers ok again, not order_not_found.
	cancel := model.OrderCancel{ClientOrderID: 3, Account: 1, OrderID: 1}
	canceled := h.cancel(1, cancel)[0]
	expectEqual(t, "cancel", canceled.Status, model.StatusOK)
	expectEqual(t, "cancel resend", h.cancel(1, cancel)[0], canceled)
	// A zero key is refused and not remembered.
	zero := h.place(1, limitOrder(1, 0, model.SideBuy, 100, 10))[0]
	expectEqual(t, "zero key", zero.Status, model.StatusClientOrderIDMustNotBeZero)
}

// TestIdempotencyWindow: the window remembers the most recent ClientOrderIDsMax commands;
// a key older than that is new again.
func TestIdempotencyWindow(t *testing.T) {
	h := newHarness(t, Config{ClientOrderIDsMax: 3}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	for key := uint64(1); key <= 4; key++ {
		h.placeOK(1, limitOrder(1, key, model.SideBuy, 100, 10))
	}
	expectEqual(t, "key 2 remembered", h.place(1, limitOrder(1, 2, model.SideBuy, 100, 10))[0].OrderID,
		uint64(2))
	expectEqual(t, "key 1 forgotten", h.place(1, limitOrder(1, 1, model.SideBuy, 100, 10))[0].OrderID,
		uint64(5))
}

// TestCancel cancels by order id and by the original client order id (of the place, or of
// the latest replace), and refuses someone else's order.
func TestCancel(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	h.trader(2, 1000, 100_000)
	h.placeOK(1, limitOrder(1, 10, model.SideBuy, 100, 10))
	h.placeOK(1, limitOrder(1, 11, model.SideBuy, 95, 10))
	h.placeOK(1, limitOrder(1, 12, model.SideSell, 200, 10))
	h.replace(1, model.OrderReplace{ClientOrderID: 13, Account: 1, OrderID: 3, Price: 205,
		Quantity: 10})
	h.sink.reset()
	results := h.cancel(1,
		model.OrderCancel{ClientOrderID: 20, Account: 1, OrderID: 1},
		model.OrderCancel{ClientOrderID: 21, Account: 1, OriginalClientOrderID: 11},
		model.OrderCancel{ClientOrderID: 22, Account: 1, OriginalClientOrderID: 12},
		model.OrderCancel{ClientOrderID: 23, Account: 1, OriginalClientOrderID: 13})
	statuses := []model.Status{results[0].Status, results[1].Status, results[2].Status,
		results[3].Status}
	expectEqual(t, "statuses", statuses, []model.Status{model.StatusOK, model.StatusOK,
		model.StatusOrderNotFound, model.StatusOK})
	expectEqual(t, "canceled", h.canceled(), [][2]uint64{
		{1, uint64(model.StatusCanceledByClient)}, {2, uint64(model.StatusCanceledByClient)},
		{3, uint64(model.StatusCanceledByClient)}})
	h.placeOK(1, limitOrder(1, 14, model.SideBuy, 100, 10))
	result := h.cancel(2, model.OrderCancel{ClientOrderID: 1, Account: 1, OrderID: 4})[0]
	expectEqual(t, "another client's order", result.Status, model.StatusOrderNotFound)
	h.expectIdle(1)
}

// TestMassCancel cancels one side of one account, then everything of a client.
func TestMassCancel(t *testing.T) {
	other := testInstrumentRecord()
	other.ID = testInstrument + 1
	h := newHarness(t, Config{}, testInstrumentRecord(), other)
	h.trader(1, 10_000, 100_000)
	h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 10))  // 1
	h.placeOK(1, limitOrder(1, 2, model.SideSell, 200, 10)) // 2
	h.placeOK(1, limitOrder(1, 3, model.SideBuy, 90, 10))   // 3
	second := limitOrder(1, 4, model.SideBuy, 90, 10)
	second.Account = 2
	h.placeOK(1, second) // 4
	onOther := limitOrder(1, 5, model.SideBuy, 90, 10)
	onOther.Instrument = other.ID
	h.placeOK(1, onOther) // 5
	h.sink.reset()
	results := make([]model.MassCancelResult, 2)
	h.e.MassCancel(&h.clock, 1, []model.MassCancel{
		{ClientOrderID: 6, Account: 1, Instrument: testInstrument, Side: model.SideBuy},
		{ClientOrderID: 7, Account: 1, Instrument: 99}}, results, &h.sink)
	h.check()
	expectEqual(t, "counts", []uint32{results[0].CanceledCount, results[1].CanceledCount},
		[]uint32{2, 0})
	expectEqual(t, "second status", results[1].Status, model.StatusInstrumentNotFound)
	mass := uint64(model.StatusCanceledMass)
	expectEqual(t, "canceled", h.canceled(), [][2]uint64{{1, mass}, {3, mass}})
	h.sink.reset()
	count := h.e.CancelAllForClient(&h.clock, 1, &h.sink)
	h.check()
	disconnect := uint64(model.StatusCanceledDisconnect)
	expectEqual(t, "cancel all", count, uint32(3))
	expectEqual(t, "canceled", h.canceled(), [][2]uint64{{2, disconnect}, {5, disconnect},
		{4, disconnect}})
	h.expectIdle(1)
	expectEqual(t, "open", h.e.OpenOrderCount(), uint32(0))
}

// TestExpiry: a good-till-time order expires when Expire passes its deadline, and an
// overdue one that Expire has not swept never trades.
func TestExpiry(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 100_000)
	h.trader(2, 10_000, 100_000)
	deadline := h.clock + 100
	gtt := limitOrder(1, 1, model.SideSell, 110, 10)
	gtt.ExpireTimestamp = deadline
	h.placeOK(1, gtt)
	gtt.ClientOrderID, gtt.ExpireTimestamp = 2, deadline+1
	h.placeOK(1, gtt)
	past := limitOrder(1, 3, model.SideSell, 110, 10)
	past.ExpireTimestamp = h.clock
	expectEqual(t, "past deadline", h.place(1, past)[0].Status, model.StatusExpireTimestampInvalid)
	past.ClientOrderID = 4 // Key 3 with other fields would be client_order_id_exists_with_different_fields.
	past.ExpireTimestamp, past.TimeInForce = deadline, model.ImmediateOrCancel
	expectEqual(t, "deadline on IOC", h.place(1, past)[0].Status, model.StatusExpireTimestampInvalid)
	next, ok := h.e.NextDeadline()
	expectEqual(t, "next deadline", []uint64{next, map[bool]uint64{true: 1}[ok]},
		[]uint64{deadline, 1})
	h.sink.reset()
	expectEqual(t, "early", h.e.Expire(&h.clock, deadline-1, &h.sink), 0)
	h.clock = deadline
	expectEqual(t, "at the deadline", h.e.Expire(&h.clock, deadline, &h.sink), 1)
	h.check()
	expectEqual(t, "expired", h.canceled(), [][2]uint64{{1, uint64(model.StatusExpired)}})
	// Order 2 is overdue one tick later; a buy does not trade with it.
	h.clock = deadline + 5
	h.sink.reset()
	h.placeOK(2, limitOrder(2, 1, model.SideBuy, 110, 10))
	expectEqual(t, "trades", h.trades(), []trade(nil))
	expectEqual(t, "expired", h.canceled(), [][2]uint64{{2, uint64(model.StatusExpired)}})
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{3, 110, 10}})
	expectEqual(t, "asks", h.book(model.SideSell), [][3]uint64(nil))
	h.expectIdle(1)
}

// closeAccount closes a ledger account with a pending closing transfer of 0.
func (h *harness) closeAccount(id model.Uint128, ledger uint32, bank uint64) {
	h.t.Helper()
	results := make([]model.TransferResult, 1)
	transfer := model.U128(h.clock + 1)
	h.l.CreateTransfers(h.clock+1, []model.Transfer{{ID: transfer,
		DebitAccountID: id, CreditAccountID: model.U128(bank), Ledger: ledger, Code: 1,
		Flags: model.TransferPending | model.TransferClosingDebit}}, results)
	h.clock++
	if results[0].Status != model.StatusOK {
		h.t.Fatalf("close %s: %s", id, results[0].Status)
	}
	h.closings = append(h.closings, closing{account: id, transfer: transfer, ledger: ledger,
		bank: bank})
}

// reopenClosed voids every closing transfer closeAccount made, in reverse order, and
// returns the closings it undid (the harness forgets them until they are closed again).
func (h *harness) reopenClosed() []closing {
	h.t.Helper()
	undone := h.closings
	h.closings = nil
	results := make([]model.TransferResult, 1)
	for i := len(undone) - 1; i >= 0; i-- {
		h.l.CreateTransfers(h.clock+1, []model.Transfer{{ID: model.U128(h.clock + 1),
			PendingID: undone[i].transfer, Flags: model.TransferVoidPending}}, results)
		h.clock++
		if results[0].Status != model.StatusOK {
			h.t.Fatalf("reopen %s: %s", undone[i].account, results[0].Status)
		}
	}
	return undone
}

// TestMakerAccountClosed: a resting order whose owner closed an account since cannot
// settle; the ledger refuses the chain, the engine cancels that maker (its hold voided)
// and matches on.
func TestMakerAccountClosed(t *testing.T) {
	for _, closeQuote := range []bool{true, false} {
		h := newHarness(t, Config{}, testInstrumentRecord())
		h.trader(1, 10_000, 100_000)
		h.trader(2, 10_000, 100_000)
		h.trader(3, 10_000, 100_000)
		h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
		h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
		if closeQuote { // The account the sell is paid into.
			h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
		} else { // The account the sell pays from.
			h.closeAccount(traderBase(1), testBaseLedger, bankBaseID)
		}
		h.sink.reset()
		h.placeOK(2, limitOrder(2, 1, model.SideBuy, 110, 10))
		expectEqual(t, "trades", h.trades(), []trade{{2, 3, 110, 10}})
		expectEqual(t, "canceled", h.canceled(),
			[][2]uint64{{1, uint64(model.StatusCanceledAccount)}})
		h.expectIdle(1)
		h.expectIdle(2)
		// A new order on the closed account is refused before any hold.
		expectEqual(t, "closed", h.place(1, limitOrder(1, 2, model.SideSell, 110, 10))[0].Status,
			model.StatusAccountClosed)
	}
}
