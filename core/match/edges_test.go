package match

import (
	"cmp"
	"math/rand/v2"
	"slices"
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

// TestReplaceOnClosedPayingAccountByHoldKind: after the paying account of a resting buy
// is closed, a replace that lowers the amount it needs is accepted for an order held by
// a reservation (the release is never refused: the order shrinks and its account's
// debits_pending falls by the difference) but refused with account_closed for a legacy
// order (restored from version 2, held by a pending transfer): its hold change voids
// the transfer and reserves anew, and the ledger refuses the new reservation, as it
// refused the new pending transfer before reservations. A replace that raises the
// amount is account_closed for both. A refused replace leaves the order and the
// balances as they were.
func TestReplaceOnClosedPayingAccountByHoldKind(t *testing.T) {
	cases := []struct {
		name     string
		legacy   bool
		quantity uint64 // Was 30 at price 100.
		want     model.Status
	}{
		{"reserved, lower", false, 10, model.StatusOK},
		{"reserved, higher", false, 60, model.StatusAccountClosed},
		{"legacy, lower", true, 10, model.StatusAccountClosed},
		{"legacy, higher", true, 60, model.StatusAccountClosed},
	}
	for _, c := range cases {
		h := newHarness(t, Config{}, testInstrumentRecord())
		h.trader(1, 1000, 100_000)
		orderID := h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 30))
		_, heldFull := h.balance(traderQuote(1))
		if c.legacy {
			h.versionTwoRoundTrip()
		}
		h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
		result := h.replace(1, model.OrderReplace{ClientOrderID: 2, Account: 1, OrderID: orderID,
			Price: 100, Quantity: c.quantity})[0]
		expectEqual(t, c.name+": status", result.Status, c.want)
		h.check()
		quantity, held := uint64(30), heldFull
		if c.want == model.StatusOK {
			quantity, held = c.quantity, heldFull*c.quantity/30
		}
		expectEqual(t, c.name+": bids", h.book(model.SideBuy), [][3]uint64{{orderID, 100, quantity}})
		if _, pending := h.balance(traderQuote(1)); pending != held || heldFull == 0 {
			t.Fatalf("%s: debits_pending %d, want %d", c.name, pending, held)
		}
		reserved := h.l.Reserved(traderQuote(1))
		if c.legacy != reserved.IsZero() || !c.legacy && reserved != model.U128(held) {
			t.Fatalf("%s: reserved %s with %d held", c.name, reserved, held)
		}
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

// TestResendOfReplaceAndMassCancel: a resent replace or mass cancel (same client order
// id) answers the original result and changes nothing; the same key on another kind of
// command is client_order_id_reused.
func TestResendOfReplaceAndMassCancel(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	orderID := h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 10))
	replace := model.OrderReplace{ClientOrderID: 2, Account: 1, OrderID: orderID, Price: 95, Quantity: 20}
	first := h.replace(1, replace)[0]
	expectEqual(t, "replace", first.Status, model.StatusOK)
	reports := len(h.sink.reports)
	expectEqual(t, "replace resend", h.replace(1, replace)[0], first)
	expectEqual(t, "reports after the resend", len(h.sink.reports), reports)
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{orderID, 95, 20}})
	reused := h.cancel(1, model.OrderCancel{ClientOrderID: 2, Account: 1, OrderID: orderID})[0]
	expectEqual(t, "cancel reusing the replace's key", reused.Status, model.StatusClientOrderIDReused)

	mass := []model.MassCancel{{ClientOrderID: 3, Account: 1}}
	results := make([]model.MassCancelResult, 1)
	h.e.MassCancel(&h.clock, 1, mass, results, &h.sink)
	expectEqual(t, "mass cancel", [2]uint64{uint64(results[0].Status), uint64(results[0].CanceledCount)},
		[2]uint64{uint64(model.StatusOK), 1})
	again := make([]model.MassCancelResult, 1)
	h.e.MassCancel(&h.clock, 1, mass, again, &h.sink)
	expectEqual(t, "mass cancel resend", again[0], results[0])
	expectEqual(t, "replace reusing the mass cancel's key", h.replace(1, model.OrderReplace{
		ClientOrderID: 3, Account: 1, OrderID: orderID, Price: 95, Quantity: 10})[0].Status,
		model.StatusClientOrderIDReused)
}

// TestInstrumentValidationEdges: a quantity range of one value is valid; a taker fee
// alone (maker fee 0) needs and accepts fee accounts; without fees, a base fee account
// alone is as invalid as a quote one.
func TestInstrumentValidationEdges(t *testing.T) {
	cases := []struct {
		name   string
		change func(x *model.Instrument)
		status model.Status
	}{
		{"minimum equals maximum", func(x *model.Instrument) { x.QuantityMin, x.QuantityMax = 20, 20 },
			model.StatusOK},
		{"taker fee only", func(x *model.Instrument) {
			*x = feeInstrument()
			x.MakerFeeBasisPoints = 0
		}, model.StatusOK},
		{"maker fee only", func(x *model.Instrument) {
			*x = feeInstrument()
			x.TakerFeeBasisPoints = 0
		}, model.StatusOK},
		{"no fee, base fee account", func(x *model.Instrument) { x.FeeBaseAccountID = model.U128(feeBaseID) },
			model.StatusFeeAccountInvalid},
	}
	for _, c := range cases {
		h := newHarness(t, Config{}, testInstrumentRecord())
		x := testInstrumentRecord()
		c.change(&x)
		x.ID = 8
		results := make([]model.EventResult, 1)
		h.e.CreateInstruments(&h.clock, []model.Instrument{x}, results)
		expectEqual(t, c.name, results[0].Status, c.status)
	}
}

// TestMarketDataOfOneCommandAcrossSidesAndInstruments: each changed level is published
// once, and levels of different books are never merged because their prices are equal:
// a mass cancel over two instruments with bids at one price publishes both, in
// (instrument, side, price) order. A sell that empties a bid level and rests at the same
// price publishes the emptied bid with its matching step, then the new ask.
func TestMarketDataOfOneCommandAcrossSidesAndInstruments(t *testing.T) {
	other := testInstrumentRecord()
	other.ID = testInstrument + 1
	h := newHarness(t, Config{}, testInstrumentRecord(), other)
	h.trader(1, 10_000, 100_000)
	h.trader(2, 10_000, 100_000)
	onOther := limitOrder(1, 2, model.SideBuy, 95, 10)
	onOther.Instrument = other.ID
	h.placeOK(1, onOther)
	h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 10))
	type level struct {
		instrument uint32
		side       model.Side
		price      uint64
		quantity   uint64
	}
	levels := func() []level {
		var got []level
		for _, u := range h.sink.updates {
			if u.Kind == model.MarketDataLevel {
				got = append(got, level{u.Instrument, u.Side, u.Price, u.Quantity.Lo})
			}
		}
		return got
	}
	h.sink.reset()
	h.placeOK(2, limitOrder(2, 1, model.SideSell, 100, 30))
	expectEqual(t, "levels after the sell", levels(), []level{
		{testInstrument, model.SideBuy, 100, 0}, {testInstrument, model.SideSell, 100, 20}})
	h.placeOK(1, limitOrder(1, 3, model.SideBuy, 95, 10))
	h.placeOK(1, limitOrder(1, 4, model.SideBuy, 90, 10))
	h.sink.reset()
	results := make([]model.MassCancelResult, 1)
	h.e.MassCancel(&h.clock, 1, []model.MassCancel{{ClientOrderID: 5, Account: 1}}, results, &h.sink)
	expectEqual(t, "levels after the mass cancel", levels(), []level{
		{testInstrument, model.SideBuy, 90, 0}, {testInstrument, model.SideBuy, 95, 0},
		{testInstrument + 1, model.SideBuy, 95, 0}})
}

// TestExpiryOrderAfterCancels: good-till-time orders expire earliest deadline first, then
// in placement order, however many were canceled (taken out of the middle of the expiry
// heap) before; the next deadline is always the earliest open one.
func TestExpiryOrderAfterCancels(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1_000_000, 1_000_000)
	random := rand.New(rand.NewPCG(19, 19))
	type pending struct{ deadline, id uint64 }
	var open []pending
	base := h.clock + 1_000
	for key := uint64(1); key <= 60; key++ {
		o := limitOrder(1, key, model.SideSell, 200+5*random.Uint64N(10), 10)
		o.ExpireTimestamp = base + random.Uint64N(20) // Many ties.
		open = append(open, pending{o.ExpireTimestamp, h.placeOK(1, o)})
	}
	for key := uint64(100); key < 125; key++ {
		i := random.IntN(len(open))
		h.cancel(1, model.OrderCancel{ClientOrderID: key, Account: 1, OrderID: open[i].id})
		open = append(open[:i], open[i+1:]...)
	}
	slices.SortFunc(open, func(a, b pending) int {
		return cmp.Or(cmp.Compare(a.deadline, b.deadline), cmp.Compare(a.id, b.id))
	})
	if next, ok := h.e.NextDeadline(); !ok || next != open[0].deadline {
		t.Fatalf("next deadline %d (%v), want %d", next, ok, open[0].deadline)
	}
	h.sink.reset()
	h.clock = base + 100
	expectEqual(t, "expired", h.e.Expire(&h.clock, h.clock, &h.sink), len(open))
	var got []uint64
	for _, r := range h.sink.reports {
		if r.Kind == model.ReportExpired {
			got = append(got, r.OrderID)
		}
	}
	var want []uint64
	for _, p := range open {
		want = append(want, p.id)
	}
	expectEqual(t, "expiry order", got, want)
}

// TestFeesWaivedForOneCommandOnly: fees are waived for the rest of a command when the fee
// account refuses them (closed), not beyond: once the account is open again, the next
// command's trade pays its fees.
func TestFeesWaivedForOneCommandOnly(t *testing.T) {
	h := newHarness(t, Config{}, feeInstrument())
	h.trader(1, 100_000, 10_000_000)
	h.trader(2, 100_000, 10_000_000)
	closing := model.U128(900_000)
	results := make([]model.TransferResult, 1)
	h.l.CreateTransfers(h.clock+1, []model.Transfer{{ID: closing, DebitAccountID: model.U128(feeQuoteID),
		CreditAccountID: model.U128(bankQuoteID), Ledger: testQuoteLedger, Code: 1,
		Flags: model.TransferPending | model.TransferClosingDebit}}, results)
	h.clock++
	expectEqual(t, "close", results[0].Status, model.StatusOK)
	h.placeOK(1, limitOrder(1, 1, model.SideSell, 100_000, 10))
	h.placeOK(2, limitOrder(2, 1, model.SideBuy, 100_000, 10))
	for _, r := range h.sink.fills() {
		expectEqual(t, "fee while closed", r.Fee, model.Uint128{})
	}
	h.l.CreateTransfers(h.clock+1, []model.Transfer{{ID: model.U128(900_001), PendingID: closing,
		Flags: model.TransferVoidPending}}, results) // Reopens the fee account.
	h.clock++
	expectEqual(t, "reopen", results[0].Status, model.StatusOK)
	h.placeOK(1, limitOrder(1, 2, model.SideSell, 100_000, 10))
	h.sink.reset()
	h.placeOK(2, limitOrder(2, 2, model.SideBuy, 100_000, 10))
	fills := h.sink.fills()
	if len(fills) != 2 || fills[0].Fee.IsZero() {
		t.Fatalf("the maker paid no fee after the fee account reopened: %+v", fills)
	}
}

// TestMarketBuyBudgetAcrossSteps: a market buy that needs more fills than one step holds
// (FillsPerStepMax) spends at most its budget over all its steps: between steps its hold
// for the rest is what is left of the budget. The buyer owns exactly the budget, so a
// hold for more than what is left could not be placed.
func TestMarketBuyBudgetAcrossSteps(t *testing.T) {
	x := testInstrumentRecord()
	x.QuantityMax = 1_000_000
	h := newHarness(t, Config{}, x)
	makers := FillsPerStepMax + FillsPerStepMax/2
	fills := FillsPerStepMax + 100
	h.trader(1, uint64(10*makers), 0)
	h.trader(2, 0, uint64(100*fills))
	orders := make([]model.Order, makers)
	for i := range orders {
		orders[i] = limitOrder(1, uint64(i+1), model.SideSell, 100, 10) // 100 quote each.
	}
	h.place(1, orders...)
	buy := limitOrder(2, 1, model.SideBuy, 100, uint64(10*makers))
	buy.Type, buy.TimeInForce, buy.Budget = model.OrderMarket, model.ImmediateOrCancel,
		model.U128(uint64(100*fills))
	h.sink.reset()
	expectEqual(t, "market buy", h.place(2, buy)[0].Status, model.StatusOK)
	expectEqual(t, "trades", len(h.trades()), fills)
	quote, held := h.balance(traderQuote(2))
	expectEqual(t, "quote left and held", [2]uint64{quote, held}, [2]uint64{0, 0})
	expectEqual(t, "canceled", h.canceled(), [][2]uint64{{uint64(makers + 1), uint64(model.StatusCanceledBudget)}})
}

// TestTradingAccountsAreReused: a trading account's entry is freed with its last order
// and reused, so clients cycling through many accounts do not grow the pool (it grows
// only with the most trading accounts open at once).
func TestTradingAccountsAreReused(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	for account := uint64(1); account <= 50; account++ {
		o := limitOrder(1, 1, model.SideBuy, 100, 10)
		o.Account = account
		id := h.placeOK(1, o)
		h.cancel(1, model.OrderCancel{ClientOrderID: 2, Account: account, OrderID: id})
	}
	expectEqual(t, "trading account entries", len(h.e.accounts), 1)
}

// TestAccountOrdersOfAnAccountWithoutOrders: a trading account with no open order (never
// used, or emptied) lists nothing, successfully.
func TestAccountOrdersOfAnAccountWithoutOrders(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	out, status := h.e.AccountOrders(1, &model.OrderFilter{Account: 5, Limit: 10}, nil)
	expectEqual(t, "status", status, model.StatusOK)
	expectEqual(t, "orders", len(out), 0)
}

// TestCallerContracts: the engine's callers guarantee bounded batches, results at least
// as long as the events, and a clock below the largest timestamp; a violation is a bug
// in the caller and panics rather than being applied.
func TestCallerContracts(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	panics := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatalf("%s did not panic", name)
			}
		}()
		f()
	}
	tooMany := model.EventsPerRequestMax + 1
	panics("place batch", func() {
		h.e.PlaceOrders(&h.clock, 1, make([]model.Order, tooMany), make([]model.OrderResult, tooMany), &h.sink)
	})
	panics("cancel batch", func() {
		h.e.CancelOrders(&h.clock, 1, make([]model.OrderCancel, tooMany), make([]model.OrderResult, tooMany), &h.sink)
	})
	panics("replace batch", func() {
		h.e.ReplaceOrders(&h.clock, 1, make([]model.OrderReplace, tooMany), make([]model.OrderResult, tooMany), &h.sink)
	})
	panics("mass cancel batch", func() {
		h.e.MassCancel(&h.clock, 1, make([]model.MassCancel, tooMany), make([]model.MassCancelResult, tooMany), &h.sink)
	})
	panics("short results", func() {
		h.e.ReplaceOrders(&h.clock, 1, make([]model.OrderReplace, 2), make([]model.OrderResult, 1), &h.sink)
	})
	clock := uint64(timestampMax - 1)
	expectEqual(t, "last timestamp", takeTimestamp(&clock), uint64(timestampMax))
	panics("clock at the largest timestamp", func() { takeTimestamp(&clock) })
}

// TestConfigBounds: a configured bound above what the indexes can address falls back to
// its default; the largest addressable one is kept.
func TestConfigBounds(t *testing.T) {
	for _, c := range []struct {
		config Config
		want   [3]uint32 // InstrumentsMax, OrdersMax, ClientOrderIDsMax
	}{
		{Config{}, [3]uint32{InstrumentsMaxDefault, OrdersMaxDefault, ClientOrderIDsMaxDefault}},
		{Config{InstrumentsMax: indexCountMax / 2, OrdersMax: indexCountMax / 2, ClientOrderIDsMax: indexCountMax / 2},
			[3]uint32{indexCountMax / 2, indexCountMax / 2, indexCountMax / 2}},
		{Config{InstrumentsMax: indexCountMax/2 + 1, OrdersMax: indexCountMax/2 + 1, ClientOrderIDsMax: indexCountMax/2 + 1},
			[3]uint32{InstrumentsMaxDefault, OrdersMaxDefault, ClientOrderIDsMaxDefault}},
	} {
		got := c.config.withDefaults()
		expectEqual(t, "bounds", [3]uint32{got.InstrumentsMax, got.OrdersMax, got.ClientOrderIDsMax}, c.want)
	}
}

// TestReportsCarryTheCommandsClientOrderID: a canceled report carries the client order
// id of the cancel command; an expired one, which no command caused, the order's own.
func TestReportsCarryTheCommandsClientOrderID(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	canceled := h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 10))
	gtt := limitOrder(1, 2, model.SideBuy, 95, 10)
	gtt.ExpireTimestamp = h.clock + 100
	expiring := h.placeOK(1, gtt)
	h.sink.reset()
	h.cancel(1, model.OrderCancel{ClientOrderID: 7, Account: 1, OrderID: canceled})
	h.e.Expire(&h.clock, gtt.ExpireTimestamp, &h.sink)
	got := map[uint64]uint64{}
	for _, r := range h.sink.reports {
		got[r.OrderID] = r.ClientOrderID
	}
	expectEqual(t, "client order ids", got, map[uint64]uint64{canceled: 7, expiring: 2})
}

// TestFeeAccountsMustBeClientAccounts: an instrument's fee accounts must be client
// accounts; a system account (another instrument's escrow, say) is refused.
func TestFeeAccountsMustBeClientAccounts(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	x := feeInstrument()
	x.ID = 8
	x.FeeBaseAccountID = h.e.instruments[0].escrowBase
	results := make([]model.EventResult, 1)
	h.e.CreateInstruments(&h.clock, []model.Instrument{x}, results)
	expectEqual(t, "a system fee account", results[0].Status, model.StatusFeeAccountInvalid)
}

// TestReplaceOfAnOverdueOrderIsNotFound: an order whose expire timestamp has come is
// expired even before the expiry sweep reaches it, so a replace at exactly that
// timestamp answers order_not_found and leaves it as it was.
func TestReplaceOfAnOverdueOrderIsNotFound(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	order := limitOrder(1, 1, model.SideBuy, 100, 10)
	order.ExpireTimestamp = h.clock + 100
	orderID := h.placeOK(1, order)
	h.clock = order.ExpireTimestamp - 1 // The replace takes the deadline as its timestamp.
	replace := model.OrderReplace{ClientOrderID: 2, Account: 1, OrderID: orderID, Price: 95, Quantity: 20}
	result := h.replace(1, replace)[0]
	expectEqual(t, "replace at the deadline", result.Status, model.StatusOrderNotFound)
	expectEqual(t, "timestamp", result.Timestamp, order.ExpireTimestamp)
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{orderID, 100, 10}})
}

// TestReplaceReservePrice: a replace's reserve price may equal its price (a buy's reserve
// is at least its price), and is refused below it, on a sell, or off the tick.
func TestReplaceReservePrice(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	buyID := h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 10))
	sellID := h.placeOK(1, limitOrder(1, 2, model.SideSell, 200, 10))
	cases := []struct {
		name    string
		replace model.OrderReplace
		status  model.Status
	}{
		{"below the price", model.OrderReplace{OrderID: buyID, Price: 100, ReservePrice: 95, Quantity: 10},
			model.StatusReservePriceInvalid},
		{"off the tick", model.OrderReplace{OrderID: buyID, Price: 100, ReservePrice: 102, Quantity: 10},
			model.StatusReservePriceInvalid},
		{"on a sell", model.OrderReplace{OrderID: sellID, Price: 200, ReservePrice: 200, Quantity: 10},
			model.StatusReservePriceInvalid},
		{"equal to the price", model.OrderReplace{OrderID: buyID, Price: 100, ReservePrice: 100, Quantity: 20},
			model.StatusOK},
	}
	for i, c := range cases {
		c.replace.ClientOrderID, c.replace.Account = uint64(10+i), 1
		expectEqual(t, c.name, h.replace(1, c.replace)[0].Status, c.status)
	}
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{buyID, 100, 20}})
}

// TestCancelWithoutKeyIsReported: a cancel without a client order id or an account is
// refused, and the refusal is reported as a rejected execution report like a place's.
func TestCancelWithoutKeyIsReported(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	orderID := h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 10))
	for _, c := range []struct {
		cancel model.OrderCancel
		status model.Status
	}{
		{model.OrderCancel{Account: 1, OrderID: orderID}, model.StatusClientOrderIDMustNotBeZero},
		{model.OrderCancel{ClientOrderID: 2, OrderID: orderID}, model.StatusAccountMustNotBeZero},
	} {
		h.sink.reset()
		result := h.cancel(1, c.cancel)[0]
		expectEqual(t, "status", result.Status, c.status)
		expectEqual(t, "reports", len(h.sink.reports), 1)
		report := h.sink.reports[0]
		expectEqual(t, "report", [3]uint64{uint64(report.Kind), uint64(report.Status), report.OrderID},
			[3]uint64{uint64(model.ReportRejected), uint64(c.status), orderID})
	}
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{orderID, 100, 10}})
}

// TestAccountOrdersOfAnUnknownInstrument: filtering by an instrument the engine does not
// list answers instrument_not_found.
func TestAccountOrdersOfAnUnknownInstrument(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 10))
	_, status := h.e.AccountOrders(1, &model.OrderFilter{Account: 1, Instrument: testInstrument + 1,
		Limit: 10}, nil)
	expectEqual(t, "status", status, model.StatusInstrumentNotFound)
}
