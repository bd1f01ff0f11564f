package match

import (
	"math/rand/v2"
	"slices"
	"testing"

	"sequent/core/model"
)

// TestSweepInSteps: an order that needs more fills than one step allows matches on in
// further steps (each its own ledger chain) and ends exactly as one big step would; a
// fill-or-kill that needs more is refused with too_many_fills and changes nothing.
func TestSweepInSteps(t *testing.T) {
	x := testInstrumentRecord()
	x.QuantityMax = 1_000_000
	h := newHarness(t, Config{}, x)
	h.trader(1, 1_000_000, 0)
	h.trader(2, 0, 100_000_000)
	makers := FillsPerStepMax + FillsPerStepMax/2
	orders := make([]model.Order, makers)
	for i := range orders {
		orders[i] = limitOrder(1, uint64(i+1), model.SideSell, uint64(100+5*(i%7)), 10)
	}
	h.place(1, orders...)
	fok := limitOrder(2, 1, model.SideBuy, 200, uint64(10*makers))
	fok.TimeInForce = model.FillOrKill
	h.sink.reset()
	result := h.place(2, fok)[0]
	expectEqual(t, "fill-or-kill", result.Status, model.StatusOK)
	expectEqual(t, "canceled", h.canceled(), [][2]uint64{{uint64(makers + 1),
		uint64(model.StatusTooManyFills)}})
	expectEqual(t, "asks left", len(h.book(model.SideSell)), makers)
	h.sink.reset()
	chains := h.l.TransferCount()
	h.place(2, limitOrder(2, 2, model.SideBuy, 200, uint64(10*makers+10)))
	trades := h.trades()
	expectEqual(t, "trades", len(trades), makers)
	for i := 1; i < len(trades); i++ {
		if trades[i].price < trades[i-1].price {
			t.Fatalf("trade %d at %d after %d: not in price order", i, trades[i].price,
				trades[i-1].price)
		}
	}
	expectEqual(t, "asks left", len(h.book(model.SideSell)), 0)
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{uint64(makers + 2), 200, 10}})
	if h.l.TransferCount()-chains < uint32(2*makers) {
		t.Fatalf("only %d ledger transfers for %d fills", h.l.TransferCount()-chains, makers)
	}
	h.expectIdle(1)
	h.expectIdle(2)
}

// TestMassCancelInBatches: a mass cancel of more orders than one ledger batch holds
// voids them in several batches and reports every one, in placement order.
func TestMassCancelInBatches(t *testing.T) {
	x := testInstrumentRecord()
	h := newHarness(t, Config{}, x)
	h.trader(1, 0, 100_000_000)
	count := voidsPerBatchMax + 100
	for first := 0; first < count; first += model.EventsPerRequestMax {
		batch := make([]model.Order, min(model.EventsPerRequestMax, count-first))
		for i := range batch {
			batch[i] = limitOrder(1, uint64(first+i+1), model.SideBuy,
				uint64(5+5*((first+i)%50)), 10)
		}
		h.place(1, batch...)
	}
	expectEqual(t, "open", h.e.OpenOrderCount(), uint32(count))
	h.sink.reset()
	results := make([]model.MassCancelResult, 1)
	h.e.MassCancel(&h.clock, 1, []model.MassCancel{{ClientOrderID: uint64(count + 1),
		Account: 1}}, results, &h.sink)
	h.check()
	expectEqual(t, "count", results[0].CanceledCount, uint32(count))
	canceled := h.canceled()
	expectEqual(t, "reports", len(canceled), count)
	for i, c := range canceled {
		if c[0] != uint64(i+1) {
			t.Fatalf("cancel %d is order %d", i, c[0])
		}
	}
	h.expectIdle(1)
}

// TestLevelStructure: random inserts, removals and in-place repricings of price levels
// on one side, with random hints for the list walk, keep the ladder, the tree, the
// best-to-worst list and a sorted reference in agreement. Prices within one ladder span,
// over three spans (ladder and tree together), and drifting over many spans (the ladder
// empties and is rebased, taking over levels from the tree) on a tick of 5.
func TestLevelStructure(t *testing.T) {
	cases := []struct {
		name              string
		tick, spreadTicks uint64
		driftTicks        uint64 // How far the center moves over the run.
	}{
		{"within the ladder", 1, 400, 0},
		{"ladder and tree", 1, 3 * ladderTicks, 0},
		{"drifting", 5, ladderTicks / 4, 20 * ladderTicks},
	}
	const steps = 4000
	for _, c := range cases {
		for _, sideOf := range []model.Side{model.SideBuy, model.SideSell} {
			e := New(newHarness(t, Config{}).l, Config{})
			side := newBookSide(sideOf, c.tick)
			random := rand.New(rand.NewPCG(5, uint64(sideOf)))
			var prices []uint64
			bases := map[uint64]bool{}
			for step := 0; step < steps; step++ {
				center := 10*ladderTicks + c.driftTicks*uint64(step)/steps
				price := c.tick * (center + uint64(random.IntN(int(c.spreadTicks))))
				roll := random.IntN(4)
				if roll == 0 && len(prices) > 0 {
					price = prices[0] // The oldest level: drifting books leave their past.
				}
				found := e.levelFind(&side, price)
				switch {
				case found == indexNone:
					hint := indexNone
					if len(prices) > 0 {
						hint = e.levelFind(&side, prices[random.IntN(len(prices))])
					}
					level := e.levelForPrice(&side, price, hint)
					e.levels[level].orderCount = 1 // Stand-in for an order, as a live level has.
					prices = append(prices, price)
				case roll == 1:
					prices = levelRepriceRandomly(e, &side, found, prices, random)
				default:
					e.levels[found].orderCount = 0
					e.levelRemove(&side, found)
					prices = slices.DeleteFunc(prices, func(p uint64) bool { return p == price })
				}
				bases[side.ladder.base] = true
				if step%16 == 0 || step == steps-1 {
					checkLevelStructure(t, e, &side, prices, step)
				}
			}
			if c.driftTicks != 0 && len(bases) < 3 {
				t.Fatalf("%s: the ladder was rebased %d times", c.name, len(bases)-1)
			}
		}
	}
}

// levelRepriceRandomly moves the level to a random free price strictly between its list
// neighbours, if there is one, as repriceAlone does, and returns the prices then.
func levelRepriceRandomly(e *Engine, side *bookSide, level uint32, prices []uint64,
	random *rand.Rand) []uint64 {
	l := &e.levels[level]
	low, high := uint64(0), l.price+8*ladderTicks*side.ladder.tick
	for _, neighbour := range []uint32{l.better, l.worse} {
		if neighbour == indexNone {
			continue
		}
		if p := e.levels[neighbour].price; p < l.price {
			low = p
		} else {
			high = p
		}
	}
	choices := (high - low) / side.ladder.tick
	if choices < 2 {
		return prices
	}
	price := low + side.ladder.tick*(1+uint64(random.IntN(int(choices-1))))
	old := l.price
	e.levelReprice(side, level, price)
	index := slices.Index(prices, old)
	prices[index] = price
	return prices
}

// checkLevelStructure checks the side's list against the sorted reference, every level
// against the index its price says it is in, and the ladder's and the tree's counts.
func checkLevelStructure(t *testing.T, e *Engine, side *bookSide, prices []uint64, step int) {
	t.Helper()
	var listed []uint64
	for level := side.best; level != indexNone; level = e.levels[level].worse {
		listed = append(listed, e.levels[level].price)
		if e.levelFind(side, e.levels[level].price) != level {
			t.Fatalf("step %d: level %d not found", step, e.levels[level].price)
		}
	}
	want := slices.Clone(prices)
	slices.Sort(want)
	if side.side == model.SideBuy {
		slices.Reverse(want)
	}
	if !slices.Equal(listed, want) {
		t.Fatalf("step %d: list %v, want %v", step, listed, want)
	}
	treeCount, _, err := e.checkTree(side.root)
	if err != nil {
		t.Fatalf("step %d: tree: %v", step, err)
	}
	ladderCount, err := e.checkLadder(side)
	if err != nil || treeCount+ladderCount != side.count || side.count != uint32(len(prices)) {
		t.Fatalf("step %d: %d levels, %d in the ladder (%v), %d in the tree", step, side.count,
			ladderCount, err, treeCount)
	}
}
