package match

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"sequent/core/model"
)

// reviewsp46MovesPinnedSHA256 is the SHA-256 of reviewsp46MovesRun's output as main at
// 89bb638f (before session 46's book46 took a non-crossing place or move straight to
// orderRest, inlined levelAppend/levelUnlink, the flush's top of book and findOrder, and
// took a new ladder level's neighbours from the offset) produced it. book46 changed
// matching for speed only; this pin says the move path answers as before on a workload
// built around its edges: moves and places at exactly the opposite best (crossing at the
// touching price) and one tick short of it, replaces to the same price (same level, more
// or less quantity), levels emptied and refilled within one command, prices far outside
// the ladder's span (the tree, levelNear from the hint), fill-or-kill and post-only
// moves, traders opting in to increasing client order ids mid-run, and a snapshot and
// restore at random steps (restore then move). Regenerate only for an intended change.
const reviewsp46MovesPinnedSHA256 = "9cdf1665ecec8d6a704fdd3498b9ac5cc168c596c85936db47ac7d354ad94b86"

func TestReviewsp46MovesPinned(t *testing.T) {
	sum := sha256.New()
	var w io.Writer = sum
	if path := os.Getenv("REVIEWSP46_TRANSCRIPT"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w = io.MultiWriter(sum, f)
	}
	reviewsp46MovesRun(t, w)
	got := hex.EncodeToString(sum.Sum(nil))
	if got != reviewsp46MovesPinnedSHA256 {
		t.Fatalf("moves transcript hash %s, pinned %s: the engine's output changed",
			got, reviewsp46MovesPinnedSHA256)
	}
}

// reviewsp46Best returns the price of the best level of one side of the instrument at
// index, or 0 when that side is empty.
func reviewsp46Best(h *harness, index int, side model.Side) uint64 {
	best := h.e.instruments[index].side(side).best
	if best == indexNone {
		return 0
	}
	return h.e.levels[best].price
}

// reviewsp46Price draws a price for an order of side on instrument index: mostly near a
// mid of 100 ticks, often exactly at the opposite best or one tick short of it, at the
// own side's best, and sometimes far away (outside the ladder's span of 1024 ticks).
func reviewsp46Price(h *harness, random *rand.Rand, index int, side model.Side) uint64 {
	const tick = 5
	other := model.SideSell
	if side == model.SideSell {
		other = model.SideBuy
	}
	opposite, own := reviewsp46Best(h, index, other), reviewsp46Best(h, index, side)
	switch random.IntN(10) {
	case 0, 1:
		if opposite != 0 {
			return opposite // Crosses at exactly the touching price.
		}
	case 2, 3:
		if opposite != 0 {
			if side == model.SideBuy && opposite > tick {
				return opposite - tick // One tick short: rests at the touch.
			}
			if side == model.SideSell {
				return opposite + tick
			}
		}
	case 4:
		if own != 0 {
			return own
		}
	case 5:
		return tick * (1 + random.Uint64N(6_000)) // Anywhere, mostly outside the span.
	case 6:
		if side == model.SideBuy {
			return tick * (1 + random.Uint64N(40)) // Far below the market, in the tree.
		}
		return tick * (2_000 + random.Uint64N(40)) // Far above it.
	}
	return tick * (94 + random.Uint64N(13))
}

func reviewsp46MovesRun(t *testing.T, w io.Writer) {
	fees := testInstrumentRecord()
	fees.ID = testInstrument + 1
	fees.MakerFeeBasisPoints, fees.TakerFeeBasisPoints = 10, 25
	fees.FeeBaseAccountID, fees.FeeQuoteAccountID = model.U128(feeBaseID), model.U128(feeQuoteID)
	instruments := []uint32{testInstrument, fees.ID}
	for seed := uint64(1); seed <= 6; seed++ {
		h := newHarness(t, Config{ClientOrderIDsMax: 64}, testInstrumentRecord(), fees)
		h.e.SetOrderFlagsAccepted(true)
		h.e.SetRefusalShrinksSteps(seed%2 == 0)
		random := rand.New(rand.NewPCG(seed, 46))
		optInAfter := make([]int, 7) // Trader n opts in from this step on.
		for n := uint64(1); n <= 6; n++ {
			h.trader(n, 20_000+random.Uint64N(20_000), 2_000_000+random.Uint64N(2_000_000))
			optInAfter[n] = random.IntN(3_000)
		}
		key := make([]uint64, 7)
		var orders [][3]uint64 // (order id, trader, instrument index).
		for step := range 2_500 {
			if random.IntN(150) == 0 {
				h.restoreRoundTrip()
				fmt.Fprintf(w, "restored %d\n", step)
			}
			n := 1 + random.Uint64N(6)
			key[n] += 1 + random.Uint64N(3)
			var result any
			switch choice := random.IntN(20); {
			case choice < 7 || len(orders) == 0:
				index := random.IntN(2)
				side := model.Side(1 + random.IntN(2))
				o := limitOrder(n, key[n], side, reviewsp46Price(h, random, index, side),
					10*(1+random.Uint64N(30)))
				o.Account, o.Instrument = n, instruments[index]
				o.SelfTrade = model.SelfTradeMode(random.IntN(4))
				if step >= optInAfter[n] {
					o.Flags = model.OrderFlagClientOrderIDsIncreasing
				}
				switch random.IntN(10) {
				case 0:
					o.TimeInForce = model.PostOnly
				case 1:
					o.TimeInForce = model.ImmediateOrCancel
				case 2:
					o.TimeInForce = model.FillOrKill
				case 3:
					o.ExpireTimestamp = h.clock + 1 + random.Uint64N(200)
				}
				results := h.place(n, o)
				if results[0].Status == model.StatusOK {
					orders = append(orders, [3]uint64{results[0].OrderID, n, uint64(index)})
				}
				result = results
			case choice < 16:
				pick := orders[random.IntN(len(orders))]
				n = pick[1]
				replace := model.OrderReplace{ClientOrderID: key[n], Account: n,
					OrderID: pick[0], Quantity: 10 * (1 + random.Uint64N(30))}
				slot, _, found := h.e.findOrder(pick[0])
				side := model.Side(1 + random.IntN(2))
				if found {
					side = h.e.orders[slot].side
				}
				replace.Price = reviewsp46Price(h, random, int(pick[2]), side)
				if found && random.IntN(4) == 0 {
					o := &h.e.orders[slot]
					replace.Price = o.price // Same level: keeps or loses its place.
					replace.Quantity = o.filled + o.leaves + 10*(random.Uint64N(3)) - 10*random.Uint64N(2)
				}
				if side == model.SideBuy && random.IntN(4) == 0 {
					replace.ReservePrice = replace.Price + 5*random.Uint64N(3)
				}
				result = h.replace(n, replace)
			case choice < 18:
				pick := orders[random.IntN(len(orders))]
				result = h.cancel(pick[1], model.OrderCancel{ClientOrderID: key[pick[1]],
					Account: pick[1], OrderID: pick[0]})
			case choice == 18:
				results := make([]model.MassCancelResult, 1)
				mass := model.MassCancel{ClientOrderID: key[n], Account: n,
					Side: model.Side(random.IntN(3))}
				h.e.MassCancel(&h.clock, n, []model.MassCancel{mass}, results, &h.sink)
				h.check()
				result = results
			default:
				result = h.e.Expire(&h.clock, h.clock+random.Uint64N(100), &h.sink)
				h.check()
			}
			fmt.Fprintf(w, "%d %d %+v\n", seed, step, result)
			for i := range h.sink.reports {
				fmt.Fprintf(w, "R %+v\n", h.sink.reports[i])
			}
			for i := range h.sink.updates {
				fmt.Fprintf(w, "M %+v\n", h.sink.updates[i])
			}
			h.sink.reset()
			if step%50 == 0 {
				transcriptState(t, h, w)
			}
		}
		transcriptState(t, h, w)
	}
}
