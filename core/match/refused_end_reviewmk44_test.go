package match

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// TestRefusedEndLegacyHoldsAndMarketData: the scenario of
// TestRefusedMakerCanceledWhenTheTakerIsRefusedToo (client 3's live sell first, then
// client 1's sell whose quote account is closed; client 2's buy, its base account closed,
// replaced to cross both), with every order's funds held by reservations or, restored
// from a version-2 snapshot, by legacy pending transfers. Under rules version 8 the
// refused sell is canceled (canceled_account) before the taker, its hold (reservation or
// pending transfer) is voided, the invariant checks hold (escrow pending credits equal
// the open holds), and the last market-data update of the ask level at 110 shows only
// the live sell left there.
func TestRefusedEndLegacyHoldsAndMarketData(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := fmt.Sprintf("legacy %v: ", legacy)
		h := newHarness(t, Config{}, testInstrumentRecord())
		h.trader(1, 10, 0)
		h.trader(2, 0, 100_000)
		h.trader(3, 10, 0)
		buy := h.placeOK(2, limitOrder(2, 1, model.SideBuy, 100, 20))
		liveSell := h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
		refusedSell := h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
		h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
		h.closeAccount(traderBase(2), testBaseLedger, bankBaseID)
		if legacy {
			h.versionTwoRoundTrip()
		}
		h.e.SetRefusalShrinksSteps(true)
		h.sink.reset()
		// The same quantity and a price whose hold the legacy hold covers: a buy at 110
		// for 20 needs more than at 100, so the buy is placed for 20 at 100 and replaced
		// to 20 at 110 only when reserved; a legacy buy is replaced the same way.
		result := h.replace(2, model.OrderReplace{ClientOrderID: 2, Account: 1,
			OrderID: buy, Price: 110, Quantity: 20})[0]
		if result.Status != model.StatusOK {
			t.Logf("%sreplace %s (not exercised)", name, result.Status)
			continue
		}
		h.check()
		expectEqual(t, name+"canceled", h.canceled(), [][2]uint64{
			{refusedSell, uint64(model.StatusCanceledAccount)},
			{buy, uint64(model.StatusCanceledAccount)}})
		expectEqual(t, name+"asks", h.book(model.SideSell), [][3]uint64{{liveSell, 110, 10}})
		_, held := h.balance(traderBase(1))
		expectEqual(t, name+"refused sell's base held", held, uint64(0))
		var last *model.MarketDataUpdate
		for i := range h.sink.updates {
			u := &h.sink.updates[i]
			if u.Kind == model.MarketDataLevel && u.Side == model.SideSell && u.Price == 110 {
				last = u
			}
		}
		if last == nil {
			t.Fatalf("%sno update of the ask level at 110", name)
		}
		expectEqual(t, name+"ask level quantity", last.Quantity, model.U128(10))
		expectEqual(t, name+"ask level orders", last.OrderCount, uint32(1))
	}
}

// TestFillOrKillCountedRefusedCanceledWhenTheTakerIsRefused: PROTOCOL.md, "Refused
// settlements": a fill-or-kill, after its first refusal, "counts as refused at once every
// resting order the ledger would refuse any fill with", and from rules version 8, when
// resting orders were refused and then the incoming order's own settlement is refused,
// "each such resting order is canceled then (canceled_account ...), reported before the
// incoming order's cancel". Asks at 110: client 1's sell and client 4's sell (both quote
// accounts, which they are paid into, closed since), then client 3's live sell. Client
// 2's fill-or-kill buy of 10 at 110 is paid into a base account whose credits are 5 short
// of overflowing, so the ledger refuses its own payout. The ledger refuses client 1's
// sell first; the fill-or-kill then counts client 4's as refused too and plans the fill
// with client 3's, whose settlement is refused for the taker. Both sells the order
// counted as refused must be canceled (canceled_account) before the taker, as an
// immediate-or-cancel buy of the same book cancels both (in shorter steps the ledger
// refuses each, and steps that cancel them settle before the taker's own payout); on
// main the fill-or-kill cancels only the one the ledger named, and client 4's stays
// resting with its funds held.
func TestFillOrKillCountedRefusedCanceledWhenTheTakerIsRefused(t *testing.T) {
	for _, timeInForce := range []model.TimeInForce{model.ImmediateOrCancel, model.FillOrKill} {
		countedRefusedCase(t, timeInForce)
	}
}

func countedRefusedCase(t *testing.T, timeInForce model.TimeInForce) {
	name := fmt.Sprintf("time in force %d: ", timeInForce)
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.e.SetRefusalShrinksSteps(true)
	h.trader(1, 10, 0)
	h.trader(3, 10, 0)
	h.trader(4, 10, 0)
	h.trader(2, 0, 100_000)
	// Client 2's base account, which the buy is paid into, holds all but 5 of the most
	// a 128-bit balance can: a payout of 10 overflows its credits.
	const secondBankBaseID = 9001 // The first bank's debits cannot take near the most.
	h.createAccounts(model.Account{ID: model.U128(secondBankBaseID), Ledger: testBaseLedger,
		Code: 1})
	near := model.Uint128{Hi: ^uint64(0), Lo: ^uint64(0) - 5}
	transfer := []model.Transfer{{ID: model.U128(h.clock + 1),
		DebitAccountID: model.U128(secondBankBaseID), CreditAccountID: traderBase(2),
		Amount: near, Ledger: testBaseLedger, Code: 1}}
	transferResults := make([]model.TransferResult, 1)
	h.l.CreateTransfers(h.clock+1, transfer, transferResults)
	h.clock++
	if transferResults[0].Status != model.StatusOK {
		t.Fatalf("deposit near the most: %s", transferResults[0].Status)
	}
	first := h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
	second := h.placeOK(4, limitOrder(4, 1, model.SideSell, 110, 10))
	live := h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
	h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
	h.closeAccount(traderQuote(4), testQuoteLedger, bankQuoteID)
	h.sink.reset()
	buy := limitOrder(2, 1, model.SideBuy, 110, 10)
	buy.TimeInForce = timeInForce
	id := h.placeOK(2, buy)
	expectEqual(t, name+"trades", h.trades(), []trade(nil))
	expectEqual(t, name+"canceled", h.canceled(), [][2]uint64{
		{first, uint64(model.StatusCanceledAccount)},
		{second, uint64(model.StatusCanceledAccount)},
		{id, uint64(model.StatusCanceledAccount)}})
	expectEqual(t, name+"asks", h.book(model.SideSell), [][3]uint64{{live, 110, 10}})
	_, held := h.balance(traderBase(4))
	expectEqual(t, name+"client 4's sell's base held", held, uint64(0))
}
