package client

import (
	"testing"

	"sequent/core/model"
)

// TestReviewlb49FullAskSideIsExactOnlyUpToItsHighestPrice: the ask side's mirror of
// TestLeft49bFullSnapshotBooksAreExactOnlyUpToTheirWorstPrice, which fills only the bids
// and so let an ask bound taken from the lowest ask, or an ask side exact below its
// bound rather than above it, pass. The snapshot holds asks 100..4193 (the most a side
// has, the worst ask the highest: 4193); the engine also has 4194. Updates take the
// best ask (100) and one within the bound (4192), name 4194 (past the bound: left out,
// as the levels beyond 4193 are unknown) and add a better ask at 50 (within it). The
// bound stays 4193, and the level at it is listed.
func TestReviewlb49FullAskSideIsExactOnlyUpToItsHighestPrice(t *testing.T) {
	const instrument = 9
	const bestAsk = uint64(100)
	worstAsk := bestAsk + model.DepthLevelsPerSideMax - 1
	levels := []model.DepthLevel{{Price: 10, Quantity: model.U128(1), OrderCount: 1,
		Side: model.SideBuy}}
	for price := bestAsk; price <= worstAsk; price++ {
		levels = append(levels, model.DepthLevel{Price: price, Quantity: model.U128(1),
			OrderCount: 1, Side: model.SideSell})
	}
	builder := &BookBuilder{Book: Book{Instrument: instrument}}
	if builder.Snapshot(model.BookHeader{Sequence: 20, Op: 20, Instrument: instrument,
		BidCount: 1, AskCount: model.DepthLevelsPerSideMax}, levels) {
		t.Fatal("a snapshot with nothing buffered asked for another")
	}
	for i, update := range []model.MarketDataUpdate{
		{Price: bestAsk, Quantity: model.U128(0)},           // The best ask is taken.
		{Price: worstAsk - 1, Quantity: model.U128(0)},      // One within the bound goes.
		{Price: worstAsk + 1, Quantity: model.U128(7)},      // Past the bound.
		{Price: 50, Quantity: model.U128(3), OrderCount: 1}, // A better ask.
	} {
		update.Sequence, update.Instrument = uint64(21+i), instrument
		update.Kind, update.Side = model.MarketDataLevel, model.SideSell
		if update.OrderCount == 0 && !update.Quantity.IsZero() {
			update.OrderCount = 1
		}
		if builder.Update(&update) {
			t.Fatalf("update %d asked for a snapshot", i)
		}
	}
	if price, bounded := builder.Book.Bound(model.SideSell); !bounded || price != worstAsk {
		t.Fatalf("asks' bound %d (bounded %v); want %d, bounded", price, bounded, worstAsk)
	}
	if _, bounded := builder.Book.Bound(model.SideBuy); bounded {
		t.Fatal("a side of one level is bounded")
	}
	asks := builder.Book.Levels(model.SideSell, 0)
	// 50, then 101..4191 and 4193: the snapshot's 4094 less the two taken, plus 50.
	want := model.DepthLevelsPerSideMax - 1
	if len(asks) != want {
		t.Fatalf("%d asks; want %d (%d is past the bound)", len(asks), want, worstAsk+1)
	}
	if asks[0].Price != 50 || asks[1].Price != bestAsk+1 ||
		asks[want-2].Price != worstAsk-2 || asks[want-1].Price != worstAsk {
		t.Fatalf("asks %d, %d .. %d, %d; want 50, %d .. %d, %d", asks[0].Price, asks[1].Price,
			asks[want-2].Price, asks[want-1].Price, bestAsk+1, worstAsk-2, worstAsk)
	}
	if best := builder.Book.Levels(model.SideSell, 2); len(best) != 2 || best[0].Price != 50 ||
		best[1].Price != bestAsk+1 {
		t.Fatalf("best two asks %v; want 50 and %d", best, bestAsk+1)
	}
}
