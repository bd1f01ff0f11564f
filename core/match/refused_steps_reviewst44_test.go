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
