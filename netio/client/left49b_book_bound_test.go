package client

import (
	"testing"

	"sequent/core/model"
)

// TestLeft49bFullSnapshotBooksAreExactOnlyUpToTheirWorstPrice: get_book sends at most
// model.DepthLevelsPerSideMax levels a side and does not say whether more exist
// (PROTOCOL.md 8a). The engine's bids here are 1..DepthLevelsPerSideMax+2; the snapshot
// holds the best DepthLevelsPerSideMax (worst: 3). Then the best bid is taken (gone) and
// an update names the bid at 1, which the engine has always had; the one at 2 the book
// never saw. The book said Synced ("exact") and Levels listed 1 right after 3, as if 2
// did not exist. Now the side's Bound is the snapshot's worst price (3) and Levels lists
// only levels at or above it; the asks, fewer than the most, stay unbounded.
func TestLeft49bFullSnapshotBooksAreExactOnlyUpToTheirWorstPrice(t *testing.T) {
	const instrument = 7
	levels := make([]model.DepthLevel, 0, model.DepthLevelsPerSideMax+1)
	best := uint64(model.DepthLevelsPerSideMax + 2)
	for price := best; price > best-model.DepthLevelsPerSideMax; price-- {
		levels = append(levels, model.DepthLevel{Price: price, Quantity: model.U128(1),
			OrderCount: 1, Side: model.SideBuy})
	}
	levels = append(levels, model.DepthLevel{Price: 1000000, Quantity: model.U128(1),
		OrderCount: 1, Side: model.SideSell})
	builder := &BookBuilder{Book: Book{Instrument: instrument}}
	header := model.BookHeader{Sequence: 10, Op: 10, Instrument: instrument,
		BidCount: model.DepthLevelsPerSideMax, AskCount: 1}
	if builder.Snapshot(header, levels) {
		t.Fatal("a snapshot with nothing buffered asked for another")
	}
	for i, update := range []model.MarketDataUpdate{
		{Price: best, Quantity: model.U128(0)}, // The best bid is taken.
		{Price: 1, Quantity: model.U128(5), OrderCount: 1},
	} {
		update.Sequence, update.Instrument = uint64(11+i), instrument
		update.Kind, update.Side = model.MarketDataLevel, model.SideBuy
		if builder.Update(&update) {
			t.Fatalf("update %d asked for a snapshot", i)
		}
	}
	if price, bounded := builder.Book.Bound(model.SideBuy); !bounded || price != 3 {
		t.Fatalf("bids' bound %d (bounded %v); want 3, bounded", price, bounded)
	}
	if _, bounded := builder.Book.Bound(model.SideSell); bounded {
		t.Fatal("a side of one level is bounded")
	}
	bids := builder.Book.Levels(model.SideBuy, 0)
	if len(bids) != model.DepthLevelsPerSideMax-1 || bids[0].Price != best-1 ||
		bids[len(bids)-1].Price != 3 {
		t.Fatalf("%d bids from %d to %d; want %d, from %d to 3 (1 is past the bound)",
			len(bids), bids[0].Price, bids[len(bids)-1].Price, model.DepthLevelsPerSideMax-1,
			best-1)
	}
	if asks := builder.Book.Levels(model.SideSell, 0); len(asks) != 1 {
		t.Fatalf("%d asks; want 1", len(asks))
	}
	// A snapshot that does not fill the side lifts the bound.
	if builder.Snapshot(model.BookHeader{Sequence: 12, Op: 12, Instrument: instrument,
		BidCount: 2}, []model.DepthLevel{
		{Price: 3, Quantity: model.U128(1), OrderCount: 1, Side: model.SideBuy},
		{Price: 1, Quantity: model.U128(5), OrderCount: 1, Side: model.SideBuy}}) {
		t.Fatal("the second snapshot asked for another")
	}
	if _, bounded := builder.Book.Bound(model.SideBuy); bounded {
		t.Fatal("the bound outlived a snapshot that did not fill the side")
	}
	if bids := builder.Book.Levels(model.SideBuy, 0); len(bids) != 2 {
		t.Fatalf("%d bids; want 2", len(bids))
	}
}
