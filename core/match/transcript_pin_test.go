package match

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// transcriptPinnedSHA256 is the SHA-256 of transcriptRun's output as the engine of main
// before session 41's merge afc7691 (its first parent, 7d81555) produced it. Session 41
// changed the settled path for speed only: ledger events written in place in the chain,
// holds computed without copying the order, a lone reservation change through
// ledger.ChangeSystemReservation instead of CreateSystemTransfers, the market-data flush
// comparing through pointers, the idempotency entry passed by pointer. None of that may
// change a result, a report, an update, the ledger or a snapshot; this pin says so for
// a workload that reaches each of those paths and their refusals.
//
// A change meant to alter the engine's output (or a field added to a record printed
// here, or a status renamed: the transcript is the records' %+v text) changes the hash:
// regenerate it with the new build and say why in the commit. Checked to fail on
// mutations of each changed path (a lone reservation's refusal ignored, a replace's hold
// at the old reserve price, a maker's rest hold, a payout without its trade id, a fill's
// stored fields, the flush's level choice and sort order, the window's remembered hash).
const transcriptPinnedSHA256 = "3c68193e4c94e51448e78f02449113ed87068a0d7a98924e2ad4c33f96a6873b"

// TestTranscriptPinned runs transcriptRun and compares its hash with the pin. It is a
// regression test of the engine's observable output as a whole: results, execution
// reports, market data, the ledger's digest and the engine's snapshot.
func TestTranscriptPinned(t *testing.T) {
	sum := sha256.New()
	transcriptRun(t, sum)
	got := hex.EncodeToString(sum.Sum(nil))
	if got != transcriptPinnedSHA256 {
		t.Fatalf("engine transcript hash %s, pinned %s: the engine's output changed",
			got, transcriptPinnedSHA256)
	}
}

// transcriptEachStep, when set, runs before each of transcriptRun's commands (it must
// not change what the engine answers).
var transcriptEachStep func(h *harness)

// transcriptRun drives engines over seeded random commands and writes what they answer
// to w. Six traders (clients 1..6, each its own trading account) trade two instruments
// (one with fees) with limit orders (good-till-cancel, some with an expiry, some
// post-only, reserve prices above the price), market orders (immediate-or-cancel and
// fill-or-kill; buys with a budget), every self-trade mode, cancels and replaces of their
// own orders (up, down, repriced), mass cancels, expiry pulses, and closing transfers on
// their ledger accounts (voided later), so that places are refused for funds and for
// closed accounts and makers are canceled by a settlement the ledger refuses. Each
// command's result, reports and market data are written; every 100 commands the
// ledger's digest and the SHA-256 of the engine's snapshot, and at the end of each seed.
func transcriptRun(t *testing.T, w io.Writer) {
	fees := testInstrumentRecord()
	fees.ID = testInstrument + 1
	fees.MakerFeeBasisPoints, fees.TakerFeeBasisPoints = 10, 25
	fees.FeeBaseAccountID, fees.FeeQuoteAccountID = model.U128(feeBaseID), model.U128(feeQuoteID)
	instruments := []uint32{testInstrument, fees.ID}
	for seed := uint64(1); seed <= 4; seed++ {
		h := newHarness(t, Config{ClientOrderIDsMax: 64}, testInstrumentRecord(), fees)
		h.e.SetOrderFlagsAccepted(true)
		random := rand.New(rand.NewPCG(seed, 41))
		for n := uint64(1); n <= 6; n++ {
			h.trader(n, 500+random.Uint64N(1_500), 3_000+random.Uint64N(9_000))
			if n == 6 { // A trader with deep pockets, whose sweeps change many levels.
				h.deposit(n, 1_000_000, 10_000_000)
			}
		}
		key := uint64(1)
		var orders, closings [][2]uint64 // (order id or transfer id, trader).
		var sent []model.Order
		for step := range 2_000 {
			if transcriptEachStep != nil {
				transcriptEachStep(h)
			}
			n := 1 + random.Uint64N(6)
			key += 16 // A ladder uses up to ten keys.
			var result any
			switch choice := random.IntN(21); {
			case choice < 10:
				result = transcriptPlace(h, random, n, key, instruments, &orders, &sent)
			case choice == 20 && len(sent) > 0:
				// A resend of a recent place: the window answers it, or (once forgotten) it
				// is placed again.
				resend := sent[len(sent)-1-random.IntN(min(len(sent), 80))]
				result = h.place(resend.Account, resend)
			case choice < 13 && len(orders) > 0:
				pick := orders[random.IntN(len(orders))]
				result = h.cancel(pick[1], model.OrderCancel{ClientOrderID: key,
					Account: pick[1], OrderID: pick[0]})
			case choice < 17 && len(orders) > 0:
				pick := orders[random.IntN(len(orders))]
				replace := model.OrderReplace{ClientOrderID: key, Account: pick[1],
					OrderID: pick[0], Price: 5 * (15 + random.Uint64N(12)),
					Quantity: 10 * (1 + random.Uint64N(40))}
				if random.IntN(3) == 0 {
					replace.ReservePrice = replace.Price + 5*random.Uint64N(4)
				}
				result = h.replace(pick[1], replace)
			case choice == 17:
				results := make([]model.MassCancelResult, 1)
				if random.IntN(2) == 0 {
					n = 6 // Most often the trader with the most resting orders.
				}
				mass := model.MassCancel{ClientOrderID: key, Account: n,
					Side: model.Side(random.IntN(3))}
				if random.IntN(2) == 0 {
					mass.Instrument = instruments[random.IntN(2)]
				}
				h.e.MassCancel(&h.clock, n, []model.MassCancel{mass}, results, &h.sink)
				h.check()
				result = results
			case choice == 18:
				result = h.e.Expire(&h.clock, h.clock+random.Uint64N(200), &h.sink)
				h.check()
			default:
				result = transcriptClosing(h, random, n, key, &closings)
			}
			fmt.Fprintf(w, "%d %d %+v\n", seed, step, result)
			for i := range h.sink.reports {
				fmt.Fprintf(w, "R %+v\n", h.sink.reports[i])
			}
			for i := range h.sink.updates {
				fmt.Fprintf(w, "M %+v\n", h.sink.updates[i])
			}
			h.sink.reset()
			if step%100 == 0 {
				transcriptState(t, h, w)
			}
		}
		transcriptState(t, h, w)
	}
}

// transcriptPlace places one random order of trader n (or a ladder of them) and remembers
// it in sent, and in orders when accepted.
func transcriptPlace(h *harness, random *rand.Rand, n, key uint64, instruments []uint32,
	orders *[][2]uint64, sent *[]model.Order) []model.OrderResult {
	side := model.SideBuy
	if random.IntN(2) == 0 {
		side = model.SideSell
	}
	if n == 6 && random.IntN(5) == 0 {
		// A ladder of ten orders resting away from the market, one per price, which a
		// mass cancel or a sweep later changes in one command (more levels than the
		// flush's insertion sort takes).
		ladder := make([]model.Order, 10)
		for i := range ladder {
			price := 5 * (14 - uint64(i)) // Buys below the other traders' prices.
			if side == model.SideSell {
				price = 5 * (27 + uint64(i))
			}
			ladder[i] = limitOrder(n, key+uint64(i), side, price, 10*(1+random.Uint64N(5)))
			ladder[i].Account = n
			ladder[i].Instrument = instruments[random.IntN(len(instruments))]
		}
		results := h.place(n, ladder...)
		for i := range results {
			if results[i].Status == model.StatusOK {
				*orders = append(*orders, [2]uint64{results[i].OrderID, n})
			}
		}
		return results
	}
	o := limitOrder(n, key, side, 5*(15+random.Uint64N(12)), 10*(1+random.Uint64N(40)))
	o.Account, o.Instrument = n, instruments[random.IntN(len(instruments))]
	o.SelfTrade = model.SelfTradeMode(random.IntN(4))
	if n%2 == 0 {
		o.Flags = model.OrderFlagClientOrderIDsIncreasing
	}
	if n == 6 && random.IntN(6) == 0 { // A sweep through the other side's levels.
		o.Quantity, o.Price, o.TimeInForce = 10*(100+random.Uint64N(300)), 5*26,
			model.ImmediateOrCancel
		if side == model.SideSell {
			o.Price = 5 * 15
		}
	}
	switch random.IntN(8) {
	case 0:
		o.Type, o.TimeInForce = model.OrderMarket, model.ImmediateOrCancel
		if random.IntN(3) == 0 {
			o.TimeInForce = model.FillOrKill
		}
		if side == model.SideBuy {
			o.Budget = model.U128(100 + random.Uint64N(5_000))
		}
	case 1:
		o.ExpireTimestamp = h.clock + 1 + random.Uint64N(300)
	case 2:
		o.TimeInForce = model.PostOnly
	case 3:
		if side == model.SideBuy {
			o.ReservePrice = o.Price + 5*random.Uint64N(4)
		}
	}
	*sent = append(*sent, o)
	results := h.place(n, o)
	if results[0].Status == model.StatusOK {
		*orders = append(*orders, [2]uint64{results[0].OrderID, n})
	}
	return results
}

// transcriptClosing closes one of trader n's ledger accounts with a pending closing
// transfer, or voids one such transfer (reopening the account), as the trader.
func transcriptClosing(h *harness, random *rand.Rand, n, key uint64,
	closings *[][2]uint64) model.Status {
	var event model.Transfer
	if random.IntN(3) == 0 || len(*closings) == 0 {
		event = model.Transfer{ID: model.U128(1_000_000 + key), DebitAccountID: traderQuote(n),
			CreditAccountID: model.U128(bankQuoteID), Amount: model.U128(1),
			Ledger: testQuoteLedger, Code: 1,
			Flags: model.TransferPending | model.TransferClosingDebit}
		if random.IntN(2) == 0 {
			event.DebitAccountID, event.CreditAccountID = traderBase(n), model.U128(bankBaseID)
			event.Ledger = testBaseLedger
		}
		*closings = append(*closings, [2]uint64{1_000_000 + key, n})
	} else {
		i := random.IntN(len(*closings))
		pick := (*closings)[i]
		*closings = append((*closings)[:i], (*closings)[i+1:]...)
		event = model.Transfer{ID: model.U128(2_000_000 + key), PendingID: model.U128(pick[0]),
			Flags: model.TransferVoidPending}
		n = pick[1]
	}
	results := make([]model.TransferResult, 1)
	h.l.CreateTransfersAs(n, true, h.clock+1, []model.Transfer{event}, results)
	h.clock++
	return results[0].Status
}

// transcriptState writes the ledger's digest and the hash of the engine's snapshot.
func transcriptState(t *testing.T, h *harness, w io.Writer) {
	var snapshot bytes.Buffer
	if _, err := h.e.Snapshot().WriteTo(&snapshot); err != nil {
		t.Fatalf("engine snapshot: %v", err)
	}
	fmt.Fprintf(w, "D %x %x\n", h.l.Digest(), sha256.Sum256(snapshot.Bytes()))
}
