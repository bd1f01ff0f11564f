package match

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// marketDataBook is a subscriber's book, rebuilt from level updates alone the way
// PROTOCOL.md 8a says a client keeps one: each level update sets a price level's absolute
// quantity and order count, quantity 0 removes it.
type marketDataBook struct {
	levels   [3]map[uint64]model.DepthLevel // By side (model.SideBuy, model.SideSell).
	sequence uint64
	tradeID  uint64
}

func newMarketDataBook() *marketDataBook {
	return &marketDataBook{levels: [3]map[uint64]model.DepthLevel{
		model.SideBuy: {}, model.SideSell: {}}}
}

// top returns the best level of side (zero for an empty side).
func (b *marketDataBook) top(side model.Side) model.DepthLevel {
	var best model.DepthLevel
	for price, level := range b.levels[side] {
		if best.Price == 0 || (side == model.SideBuy && price > best.Price) ||
			(side == model.SideSell && price < best.Price) {
			best = level
		}
	}
	return best
}

// sorted returns side's levels best first, as Depth gives them.
func (b *marketDataBook) sorted(side model.Side) []model.DepthLevel {
	var levels []model.DepthLevel
	rest := map[uint64]model.DepthLevel{}
	for price, level := range b.levels[side] {
		rest[price] = level
	}
	for len(rest) > 0 {
		var best model.DepthLevel
		for price, level := range rest {
			if best.Price == 0 || (side == model.SideBuy && price > best.Price) ||
				(side == model.SideSell && price < best.Price) {
				best = level
			}
		}
		levels = append(levels, best)
		delete(rest, best.Price)
	}
	return levels
}

// apply takes one update as a subscriber of levels and trades does, and reports what
// breaks the protocol's promises: a sequence that is not the last one plus one, a trade
// id that does not grow, a level without orders.
func (b *marketDataBook) apply(u *model.MarketDataUpdate) error {
	if u.Sequence != b.sequence+1 {
		return fmt.Errorf("sequence %d after %d", u.Sequence, b.sequence)
	}
	b.sequence = u.Sequence
	switch u.Kind {
	case model.MarketDataTrade:
		if u.TradeID <= b.tradeID {
			return fmt.Errorf("trade id %d after %d", u.TradeID, b.tradeID)
		}
		b.tradeID = u.TradeID
		if u.Quantity.IsZero() || u.Price == 0 {
			return fmt.Errorf("trade of %v at %d", u.Quantity, u.Price)
		}
		return nil
	case model.MarketDataLevel:
	default:
		return fmt.Errorf("update of kind %d", u.Kind)
	}
	if u.Side != model.SideBuy && u.Side != model.SideSell {
		return fmt.Errorf("level update of side %d", u.Side)
	}
	if u.Quantity.IsZero() {
		if u.OrderCount != 0 {
			return fmt.Errorf("level %d removed with %d orders", u.Price, u.OrderCount)
		}
		delete(b.levels[u.Side], u.Price)
	} else {
		if u.OrderCount == 0 {
			return fmt.Errorf("level %d of %v with no order", u.Price, u.Quantity)
		}
		b.levels[u.Side][u.Price] = model.DepthLevel{Price: u.Price, Quantity: u.Quantity,
			OrderCount: u.OrderCount, Side: u.Side}
	}
	return nil
}

// stampedTop returns the top of book an update carries.
func stampedTop(u *model.MarketDataUpdate) [6]any {
	return [6]any{u.BidPrice, u.BidQuantity, u.BidOrderCount, u.AskPrice, u.AskQuantity,
		u.AskOrderCount}
}

// rebuiltTop returns the rebuilt book's top as an update carries it.
func (b *marketDataBook) rebuiltTop() [6]any {
	bid, ask := b.top(model.SideBuy), b.top(model.SideSell)
	return [6]any{bid.Price, bid.Quantity, bid.OrderCount, ask.Price, ask.Quantity,
		ask.OrderCount}
}

// TestMarketDataRebuildsTheEngineBook (hunt53b; PROTOCOL.md 8a): a subscriber that
// applies every market-data update of an instrument, from its first, holds exactly the
// engine's book after every command: the same levels (price, total quantity, order
// count) on both sides as Depth answers, under the property run's random commands
// (places of every type, cancels, replaces, mass cancels, resends, expiry, closed
// accounts, a snapshot and restore mid-run). Also: sequences from 1 without gap or
// repeat (across the restore: get_book's stamp, MarketDataSequence, is the last one
// sent), trade ids that grow, one trade update per trade, and each update's top of book
// one the rebuilt book reaches (the last update's: the book's after the command).
func TestMarketDataRebuildsTheEngineBook(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := newPropertyRun(rt)
		book := newMarketDataBook()
		steps := rapid.IntRange(1, 120).Draw(rt, "steps")
		restoreAt := rapid.IntRange(0, steps).Draw(rt, "restore at")
		for step := 0; step < steps; step++ {
			if step == restoreAt {
				p.h.restoreRoundTrip()
			}
			p.step(step)
			trades := 0
			var tops [][6]any // The rebuilt book's top after each update of the command.
			for i := range p.h.sink.updates {
				u := &p.h.sink.updates[i]
				if u.Instrument != testInstrument {
					rt.Fatalf("step %d: update of instrument %d", step, u.Instrument)
				}
				if u.Kind == model.MarketDataTrade {
					trades++
				}
				if err := book.apply(u); err != nil {
					rt.Fatalf("step %d: %v", step, err)
				}
				tops = append(tops, book.rebuiltTop())
			}
			// Each update carries the top of book after the change it is part of
			// (PROTOCOL.md 8a): the top the rebuilt book reaches once that change's
			// updates are applied, so after it or after a later update of the command
			// (a trading request publishes after each matching step, then what rests);
			// the command's last update carries the top after the whole command.
			for i := range p.h.sink.updates {
				u := &p.h.sink.updates[i]
				if !slices.Contains(tops[i:], stampedTop(u)) {
					rt.Fatalf("step %d: update %d carries top %v, which the book rebuilt "+
						"from the updates reaches neither after it nor later in the "+
						"command (%v)", step, u.Sequence, stampedTop(u), tops[i:])
				}
			}
			if count := len(tops); count > 0 &&
				stampedTop(&p.h.sink.updates[count-1]) != book.rebuiltTop() {
				rt.Fatalf("step %d: the command's last update carries top %v, the book's "+
					"is %v", step, stampedTop(&p.h.sink.updates[count-1]), book.rebuiltTop())
			}
			if want := len(p.h.trades()); trades != want {
				rt.Fatalf("step %d: %d trade updates for %d trades", step, trades, want)
			}
			sequence, _ := p.h.e.MarketDataSequence(testInstrument)
			if sequence != book.sequence {
				rt.Fatalf("step %d: the engine stamps a snapshot with sequence %d, the "+
					"subscriber's last update is %d", step, sequence, book.sequence)
			}
			depth, status := p.h.e.Depth(&model.DepthFilter{Instrument: testInstrument,
				Levels: model.DepthLevelsPerSideMax}, nil)
			if status != model.StatusOK {
				rt.Fatalf("step %d: depth status %s", step, status)
			}
			var bids, asks []model.DepthLevel
			for _, level := range depth {
				if level.Side == model.SideBuy {
					bids = append(bids, level)
				} else {
					asks = append(asks, level)
				}
			}
			if got := book.sorted(model.SideBuy); !reflect.DeepEqual(got, bids) {
				rt.Fatalf("step %d bids:\n rebuilt %v\n engine  %v", step, got, bids)
			}
			if got := book.sorted(model.SideSell); !reflect.DeepEqual(got, asks) {
				rt.Fatalf("step %d asks:\n rebuilt %v\n engine  %v", step, got, asks)
			}
		}
	})
}
