package match

import (
	"testing"

	"sequent/core/model"
)

// TestPlaceValidation checks each refusal of a place event, one field at a time, from a
// valid order: every case must fail with exactly its status (so the precedence order of
// doc.go is what the code checks), and leave no order, hold or report of an order.
func TestPlaceValidation(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 1000)
	limited := model.Account{ID: model.U128(77), Ledger: testBaseLedger, Code: 3,
		Flags: model.AccountCreditsMustNotExceedDebits}
	// An account that may go negative takes a transfer grant to create (package ledger).
	if err := h.l.SetGrants([]model.Grant{{Client: 1, Scopes: model.ScopeTransfer,
		First: limited.ID, Last: limited.ID}}); err != nil {
		t.Fatal(err)
	}
	results := make([]model.EventResult, 1)
	h.l.CreateAccountsAs(1, h.clock+1, []model.Account{limited}, results)
	h.clock++
	if err := h.l.SetGrants(nil); err != nil || results[0].Status != model.StatusOK {
		t.Fatalf("account 77: %s %v", results[0].Status, err)
	}
	cases := []struct {
		status model.Status
		change func(o *model.Order)
	}{
		{model.StatusClientOrderIDMustNotBeZero, func(o *model.Order) { o.ClientOrderID = 0 }},
		{model.StatusAccountMustNotBeZero, func(o *model.Order) { o.Account = 0 }},
		{model.StatusTimestampMustBeZero, func(o *model.Order) { o.Timestamp = 1 }},
		{model.StatusReservedField, func(o *model.Order) { o.Reserved[14] = 1 }},
		{model.StatusInstrumentNotFound, func(o *model.Order) { o.Instrument = 99 }},
		{model.StatusSideInvalid, func(o *model.Order) { o.Side = 3 }},
		{model.StatusOrderTypeInvalid, func(o *model.Order) { o.Type = 0 }},
		{model.StatusTimeInForceInvalid, func(o *model.Order) { o.TimeInForce = 5 }},
		{model.StatusTimeInForceInvalid, func(o *model.Order) { o.Type = model.OrderMarket }},
		{model.StatusSelfTradeModeInvalid, func(o *model.Order) { o.SelfTrade = 4 }},
		{model.StatusPriceMustNotBeZero, func(o *model.Order) { o.Price = 0 }},
		{model.StatusPriceNotOnTick, func(o *model.Order) { o.Price = 101 }},
		{model.StatusQuantityNotOnLot, func(o *model.Order) { o.Quantity = 15 }},
		{model.StatusQuantityBelowMinimum, func(o *model.Order) { o.Quantity = 0 }},
		{model.StatusQuantityAboveMaximum, func(o *model.Order) { o.Quantity = 10_010 }},
		{model.StatusReservePriceInvalid, func(o *model.Order) { o.ReservePrice = 95 }},
		{model.StatusReservePriceInvalid, func(o *model.Order) { o.ReservePrice = 102 }},
		{model.StatusReservePriceInvalid, func(o *model.Order) {
			o.Side, o.ReservePrice = model.SideSell, 100
		}},
		{model.StatusBudgetInvalid, func(o *model.Order) { o.Budget = model.U128(1) }},
		{model.StatusBudgetInvalid, func(o *model.Order) {
			o.Type, o.TimeInForce = model.OrderMarket, model.ImmediateOrCancel
		}},
		{model.StatusExpireTimestampInvalid, func(o *model.Order) { o.ExpireTimestamp = 1 }},
		{model.StatusAccountIDReserved, func(o *model.Order) {
			o.BaseAccountID = model.Uint128{Hi: 1 << 63, Lo: 1}
		}},
		{model.StatusBaseAccountNotFound, func(o *model.Order) { o.BaseAccountID = model.U128(5) }},
		// Ownership comes before the ledger checks, so a stranger's account's ledger
		// stays unknown: the bank's quote account is on the wrong ledger too.
		{model.StatusBaseAccountNotOwned, func(o *model.Order) { o.BaseAccountID = model.U128(bankQuoteID) }},
		{model.StatusBaseAccountLedgerInvalid, func(o *model.Order) { o.BaseAccountID = traderQuote(1) }},
		{model.StatusQuoteAccountNotFound, func(o *model.Order) { o.QuoteAccountID = model.U128(5) }},
		{model.StatusQuoteAccountNotOwned, func(o *model.Order) { o.QuoteAccountID = model.U128(bankQuoteID) }},
		{model.StatusQuoteAccountLedgerInvalid, func(o *model.Order) {
			o.QuoteAccountID = traderBase(1)
		}},
		{model.StatusAccountFlagsInvalid, func(o *model.Order) { o.BaseAccountID = limited.ID }},
		{model.StatusInsufficientFunds, func(o *model.Order) { o.Quantity = 1000 }},
	}
	for i, c := range cases {
		o := limitOrder(1, uint64(100+i), model.SideBuy, 100, 10)
		c.change(&o)
		h.sink.reset()
		result := h.place(1, o)[0]
		if result.Status != c.status {
			t.Fatalf("case %d: got %s, want %s", i, result.Status, c.status)
		}
		if len(h.sink.reports) > 1 || (len(h.sink.reports) == 1 &&
			h.sink.reports[0].Kind != model.ReportRejected) {
			t.Fatalf("case %d: reports %+v", i, h.sink.reports)
		}
	}
	expectEqual(t, "open orders", h.e.OpenOrderCount(), uint32(0))
	h.expectIdle(1)
}

// TestOrdersLimit: the open-order limit applies to orders that could rest only.
func TestOrdersLimit(t *testing.T) {
	small := newHarness(t, Config{OrdersMax: 1}, testInstrumentRecord())
	small.trader(1, 1000, 1000)
	small.placeOK(1, limitOrder(1, 1, model.SideBuy, 10, 10))
	expectEqual(t, "limit", small.place(1, limitOrder(1, 2, model.SideBuy, 10, 10))[0].Status,
		model.StatusOrdersLimitReached)
	ioc := limitOrder(1, 3, model.SideBuy, 10, 10)
	ioc.TimeInForce = model.ImmediateOrCancel
	expectEqual(t, "IOC at the limit", small.place(1, ioc)[0].Status, model.StatusOK)
}

// TestInstrumentValidation checks each refusal of create_instruments, and idempotent
// re-creation.
func TestInstrumentValidation(t *testing.T) {
	h := newHarness(t, Config{InstrumentsMax: 2}, testInstrumentRecord())
	cases := []struct {
		status model.Status
		change func(x *model.Instrument)
	}{
		{model.StatusTimestampMustBeZero, func(x *model.Instrument) { x.Timestamp = 1 }},
		{model.StatusReservedField, func(x *model.Instrument) { x.Reserved[0] = 1 }},
		{model.StatusReservedFlagInstrument, func(x *model.Instrument) { x.Flags = 1 }},
		{model.StatusInstrumentIDMustNotBeZero, func(x *model.Instrument) { x.ID = 0 }},
		{model.StatusExists, func(x *model.Instrument) { x.ID = testInstrument }},
		{model.StatusInstrumentExistsWithDifferences, func(x *model.Instrument) {
			x.ID, x.TickSize = testInstrument, 1
		}},
		{model.StatusLedgerMustNotBeZero, func(x *model.Instrument) { x.BaseLedger = 0 }},
		{model.StatusLedgersMustBeDifferent, func(x *model.Instrument) { x.QuoteLedger = x.BaseLedger }},
		{model.StatusTickSizeMustNotBeZero, func(x *model.Instrument) { x.TickSize = 0 }},
		{model.StatusLotSizeMustNotBeZero, func(x *model.Instrument) { x.LotSize = 0 }},
		{model.StatusQuantityLimitsInvalid, func(x *model.Instrument) { x.QuantityMin = 0 }},
		{model.StatusQuantityLimitsInvalid, func(x *model.Instrument) { x.QuantityMin = 15 }},
		{model.StatusQuantityLimitsInvalid, func(x *model.Instrument) { x.QuantityMax = 5 }},
		{model.StatusFeeInvalid, func(x *model.Instrument) { x.TakerFeeBasisPoints = 10_001 }},
		{model.StatusFeeAccountInvalid, func(x *model.Instrument) { x.MakerFeeBasisPoints = 1 }},
		{model.StatusFeeAccountInvalid, func(x *model.Instrument) {
			*x = feeInstrument()
			x.ID, x.FeeBaseAccountID = 9, model.U128(feeQuoteID)
		}},
		{model.StatusFeeAccountInvalid, func(x *model.Instrument) {
			x.FeeQuoteAccountID = model.U128(1)
		}},
	}
	for i, c := range cases {
		x := testInstrumentRecord()
		x.ID = 8
		c.change(&x)
		results := make([]model.EventResult, 1)
		h.e.CreateInstruments(&h.clock, []model.Instrument{x}, results)
		if results[0].Status != c.status {
			t.Fatalf("case %d: got %s, want %s", i, results[0].Status, c.status)
		}
	}
	x := feeInstrument()
	x.ID = 8
	results := make([]model.EventResult, 2)
	y := x
	y.ID = 9
	h.e.CreateInstruments(&h.clock, []model.Instrument{x, y}, results)
	expectEqual(t, "statuses", []model.Status{results[0].Status, results[1].Status},
		[]model.Status{model.StatusOK, model.StatusInstrumentsLimitReached})
	h.check()
}
