package match

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// TestAccountIndexGuessesChangeNothing: the engine keeps, per order and per instrument,
// where the ledger stores the paying account, the escrows and the fee accounts
// (order.payingIndex, instrument.escrowBaseIndex, escrowQuoteIndex, feeBaseIndex and
// feeQuoteIndex), in the chain's traderPlaces where it stores the traders' accounts
// (which new orders' funding checks read and fills pay into), and in placeElsewhere a
// legacy hold's post's or void's; the ledger trusts such a place only when the record
// there has the account's id. transcriptRun's workload (places refused and accepted,
// replaces, cancels, fills, fees, closed accounts, snapshots) is run once as it is and
// once with every guess overwritten before each command by another account's place, a
// place past the last account, or any value: the outputs must be the same, byte for
// byte. It also checks that the engine had learnt the right places before the guesses
// were overwritten (which is what saves the lookups).
func TestAccountIndexGuessesChangeNothing(t *testing.T) {
	var want, got bytes.Buffer
	resting, learnt, feesLearnt, tradersLearnt := 0, 0, 0, 0
	transcriptEachStep = func(h *harness) {
		for i := range h.e.instruments {
			x := &h.e.instruments[i]
			for _, fee := range []struct {
				id    model.Uint128
				index uint32
			}{{x.record.FeeBaseAccountID, x.feeBaseIndex},
				{x.record.FeeQuoteAccountID, x.feeQuoteIndex}} {
				// Index 0 is where every place starts: learnt only when it is another.
				if index, _, found := h.l.ResolveAccount(fee.id); found && index != 0 &&
					index == fee.index {
					feesLearnt++
				}
			}
		}
		for slot := range h.e.orders {
			o := &h.e.orders[slot]
			if o.level == indexNone || o.holdSequence != holdReserved {
				continue // Not a resting order whose funds are reserved.
			}
			paying, receiving := o.quoteAccountID, o.baseAccountID
			if o.side == model.SideSell {
				paying, receiving = o.baseAccountID, o.quoteAccountID
			}
			resting++
			if index, _, found := h.l.ResolveAccount(paying); found && index == o.payingIndex {
				learnt++
			}
			// The place's funding checks wrote both (validateFunding); no two of this
			// workload's accounts share an entry of the table.
			payingAt, _, payingFound := h.l.ResolveAccount(paying)
			if index, _, found := h.l.ResolveAccount(receiving); found && payingFound &&
				index == *h.e.scratch.chain.traderPlace(receiving) &&
				payingAt == *h.e.scratch.chain.traderPlace(paying) {
				tradersLearnt++
			}
		}
	}
	defer func() { transcriptEachStep = nil }()
	transcriptRun(t, &want)
	if resting == 0 || learnt != resting {
		// This workload restores no engine mid-run, so every resting order was placed,
		// and reserved, by this engine.
		t.Fatalf("%d of %d resting orders' paying accounts at the place the engine knew",
			learnt, resting)
	}
	if tradersLearnt != resting {
		t.Fatalf("%d of %d resting orders' two accounts at the places the engine knew",
			tradersLearnt, resting)
	}
	if feesLearnt == 0 {
		t.Fatal("no fee account's place learnt from the fills' chains")
	}
	random := rand.New(rand.NewPCG(7, 41))
	transcriptEachStep = func(h *harness) {
		count := h.l.AccountCount()
		guess := func() uint32 {
			switch random.IntN(3) {
			case 0:
				return random.Uint32N(count)
			case 1:
				return count + random.Uint32N(3)
			}
			return random.Uint32()
		}
		for slot := range h.e.orders {
			h.e.orders[slot].payingIndex = guess()
		}
		for i := range h.e.instruments {
			x := &h.e.instruments[i]
			x.escrowBaseIndex, x.escrowQuoteIndex = guess(), guess()
			x.feeBaseIndex, x.feeQuoteIndex = guess(), guess()
		}
		h.e.scratch.chain.placeElsewhere = guess()
		for i := range h.e.scratch.chain.traderPlaces {
			h.e.scratch.chain.traderPlaces[i] = guess()
		}
	}
	transcriptRun(t, &got)
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("the engine's output changed with wrong account index guesses")
	}
}
