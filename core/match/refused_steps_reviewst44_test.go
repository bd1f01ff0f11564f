package match

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// TestFillOrKillWholeMakerFeeClosedPayee: the fill-or-kill's pre-check of closed accounts
// (rules version 8) must judge a resting order closed only where the ledger would refuse
// a fill with it. With a maker fee of FeeBasisPointsMax the maker is paid nothing
// (chainPay skips a zero payout; the whole of what it receives goes to the fee account),
// so the account it is paid into is not in its fill's chain: closed, the ledger still
// settles the fill. Client 1's sell pays from a closed base account (refused: the
// fill-or-kill's first refusal, which turns the pre-check on), client 3's sell is paid
// into a closed quote account, client 4's is open. Before version 8 (and non-fill-or-kill
// orders from it) the buy of two lots fills against clients 3 and 4; the pre-check
// canceled client 3's sell and killed the buy (canceled_fill_or_kill) though the ledger
// would have settled it.
func TestFillOrKillWholeMakerFeeClosedPayee(t *testing.T) {
	x := testInstrumentRecord()
	x.MakerFeeBasisPoints = FeeBasisPointsMax
	x.FeeBaseAccountID, x.FeeQuoteAccountID = model.U128(feeBaseID), model.U128(feeQuoteID)
	var outcomes [2]string
	for i, shrinks := range []bool{false, true} {
		h := newHarness(t, Config{}, x)
		h.e.SetRefusalShrinksSteps(shrinks)
		h.trader(1, 1_000, 0)
		h.trader(2, 0, 100_000)
		h.trader(3, 1_000, 0)
		h.trader(4, 1_000, 0)
		h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
		h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
		h.placeOK(4, limitOrder(4, 1, model.SideSell, 110, 10))
		h.closeAccount(traderBase(1), testBaseLedger, bankBaseID)
		h.closeAccount(traderQuote(3), testQuoteLedger, bankQuoteID)
		h.sink.reset()
		buy := limitOrder(2, 1, model.SideBuy, 110, 20)
		buy.TimeInForce = model.FillOrKill
		result := h.place(2, buy)[0]
		if result.Status != model.StatusOK {
			t.Fatalf("buy: %s", result.Status)
		}
		feePosted, _ := h.balance(model.U128(feeQuoteID))
		outcomes[i] = fmt.Sprintf("trades %v canceled %v asks %v quote fees %d", h.trades(),
			h.canceled(), h.book(model.SideSell), feePosted)
	}
	want := fmt.Sprintf("trades %v canceled %v asks %v quote fees %d",
		[]trade{{2, 4, 110, 10}, {3, 4, 110, 10}},
		[][2]uint64{{1, uint64(model.StatusCanceledAccount)}}, [][3]uint64(nil), 2*110)
	for i, outcome := range outcomes {
		if outcome != want {
			t.Errorf("rules version %d:\n got %s\nwant %s", 7+i, outcome, want)
		}
	}
}

// fillOrKillPastRefusedMakers rests, at one price, client 1's sell of 4,022 lots and
// 1,022 one-lot sells (the account they are paid into closed: the ledger refuses each)
// ahead of client 3's five sells of 1,000 lots, and returns what client 2's fill-or-kill
// buy of 4,022 lots does: its cancel reason (0 when filled), the count of trades and of
// resting orders canceled canceled_account, and the asks left.
func fillOrKillPastRefusedMakers(t *testing.T, shrinks bool) string {
	const small, large, lots = 1_022, 1_000, 4_022
	x := testInstrumentRecord()
	x.QuantityMax = 10 << 30
	h := newHarness(t, Config{OrdersMax: 8192, OrdersPerClientMax: 4096,
		ClientOrderIDsMax: 16384}, x)
	h.e.SetRefusalShrinksSteps(shrinks)
	h.trader(1, 10*(lots+small), 0)
	h.trader(2, 0, 110*lots)
	h.trader(3, 10*5*large, 0)
	results := make([]model.OrderResult, 1)
	place := func(client, key, lots uint64) {
		h.e.PlaceOrders(&h.clock, client, []model.Order{limitOrder(client, key,
			model.SideSell, 110, 10*lots)}, results, &h.sink)
		if results[0].Status != model.StatusOK {
			t.Fatalf("client %d's sell %d: %s", client, key, results[0].Status)
		}
	}
	place(1, 1, lots)
	for i := range uint64(small) {
		place(1, i+2, 1)
	}
	for i := range uint64(5) {
		place(3, i+1, large)
	}
	h.check()
	h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
	h.sink.reset()
	buy := limitOrder(2, 1, model.SideBuy, 110, 10*lots)
	buy.TimeInForce = model.FillOrKill
	result := h.place(2, buy)[0]
	if result.Status != model.StatusOK {
		t.Fatalf("buy: %s", result.Status)
	}
	reason, refused := uint64(0), 0
	for _, c := range h.canceled() {
		switch {
		case c[0] == result.OrderID:
			reason = c[1]
		case c[1] == uint64(model.StatusCanceledAccount):
			refused++
		}
	}
	return fmt.Sprintf("buy canceled %d, %d trades, %d canceled_account, %d asks left",
		reason, len(h.trades()), refused, len(h.book(model.SideSell)))
}

// TestFillOrKillPastRefusedMakersOutcome: a fill-or-kill that needs 5 fills and meets
// 1,023 resting orders the ledger refuses (fewer than 1,024 to cancel) was answered
// too_many_fills before rules version 8: its plan after the first refusal counted the
// 1,022 refused one-lot sells not yet found as fills (1,025 of them), and the book stays.
// From version 8 the pre-check cancels them all at once and the buy fills, as PROTOCOL.md
// section 10 says ("Time in force", and the exception in "Refused settlements", which
// before said the outcome stayed as under earlier versions: the test asserting that
// failed). A log of version 7 must replay the first outcome.
func TestFillOrKillPastRefusedMakersOutcome(t *testing.T) {
	got := [2]string{fillOrKillPastRefusedMakers(t, false), fillOrKillPastRefusedMakers(t, true)}
	want := [2]string{
		fmt.Sprintf("buy canceled %d, 0 trades, 0 canceled_account, 1028 asks left",
			model.StatusTooManyFills),
		"buy canceled 0, 5 trades, 1023 canceled_account, 1 asks left"}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("rules version %d: %s, want %s", 7+i, got[i], want[i])
		}
	}
}
