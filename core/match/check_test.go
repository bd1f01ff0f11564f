package match

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// CheckInvariants guards Restore against damaged snapshots and the tests against broken
// states, so each of its checks must notice the damage it is for. These tests break one
// thing at a time in a healthy engine (or restore it onto the wrong ledger) and expect the
// matching complaint. Mutation testing (tools/mutation) found these checks untested.

// checkedScenario is a healthy engine: two trading accounts of client 1, good-till-time
// orders in the expiry heap, a resting buy with its hold.
func checkedScenario(t *testing.T) *harness {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 100_000)
	for key := uint64(1); key <= 3; key++ {
		o := limitOrder(1, key, model.SideSell, 200+5*key, 10)
		o.ExpireTimestamp = h.clock + 1_000 + key
		h.placeOK(1, o)
	}
	buy := limitOrder(1, 4, model.SideBuy, 100, 10)
	buy.Account = 2
	h.placeOK(1, buy)
	h.check()
	return h
}

// ladderEvict moves every level of the side's ladder into its tree and the ladder's span
// far above the book's prices, as if the levels had rested outside the span, so that
// the tree's checks apply to them.
func ladderEvict(e *Engine, side *bookSide) {
	for offset, index := range side.ladder.levels {
		if index != indexNone {
			side.ladder.clear(offset)
			l := &e.levels[index]
			l.left, l.right, l.height = indexNone, indexNone, 1
			side.root = e.avlInsert(side.root, index)
		}
	}
	side.ladder.base = 1 << 62 / side.ladder.tick * side.ladder.tick
}

// slotOf returns the slot of an open order.
func (h *harness) slotOf(t *testing.T, id uint64) uint32 {
	slot, _, found := h.e.findOrder(id)
	if !found {
		t.Fatalf("order %d not open", id)
	}
	return slot
}

func TestCheckInvariantsDetects(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, h *harness)
		want   string
	}{
		{"trading account not where its index says", func(t *testing.T, h *harness) {
			a := &h.e.accounts[h.e.orders[h.slotOf(t, 4)].tradingAccount]
			a.account = 9
		}, "missing from its index"},
		{"expiry back-links swapped", func(t *testing.T, h *harness) {
			a, b := &h.e.orders[h.slotOf(t, 1)], &h.e.orders[h.slotOf(t, 2)]
			a.heapIndex, b.heapIndex = b.heapIndex, a.heapIndex
		}, "does not match its order"},
		{"two open orders with one id", func(t *testing.T, h *harness) {
			// The buy (account 2) takes the id of a sell (account 1): each account's list
			// is still in id order, the index still holds both entries.
			h.e.orders[h.slotOf(t, 4)].id = 1
		}, "missing from the order index"},
		{"a posted transfer as the hold", func(t *testing.T, h *harness) {
			// A posted transfer from the buyer to the escrow, undone by one back, so that
			// the escrow's balances stay right: only the hold check can tell.
			o := &h.e.orders[h.slotOf(t, 4)]
			hold := h.e.holdTransfer(o, o.holdAmount)
			sequence := h.e.nextTransferSequence
			h.e.nextTransferSequence += 2
			posted, back := hold, hold
			posted.ID, posted.Flags = transferID(sequence), 0
			back.ID, back.Flags = transferID(sequence+1), 0
			back.DebitAccountID, back.CreditAccountID = hold.CreditAccountID, hold.DebitAccountID
			results := make([]model.TransferResult, 2)
			h.l.CreateSystemTransfers(h.clock+1, []model.Transfer{posted, back}, results)
			h.clock += 2
			if results[0].Status != model.StatusOK || results[1].Status != model.StatusOK {
				t.Fatalf("system transfers: %s, %s", results[0].Status, results[1].Status)
			}
			o.holdSequence = sequence
		}, "is not the order's hold"},
		{"hold sequence not issued yet", func(t *testing.T, h *harness) {
			h.e.orders[h.slotOf(t, 4)].holdSequence = h.e.nextTransferSequence
		}, "hold sequence"},
		{"level queue count wrong", func(t *testing.T, h *harness) {
			h.e.levels[h.e.orders[h.slotOf(t, 4)].level].orderCount = 2
		}, "queue of 1 orders"},
		{"level tail wrong", func(t *testing.T, h *harness) {
			h.e.levels[h.e.orders[h.slotOf(t, 4)].level].tail = indexNone
		}, "queue of 1 orders"},
		{"side level count wrong", func(t *testing.T, h *harness) {
			h.e.instruments[0].asks.count++
		}, "levels listed"},
		{"tree unbalanced below the root", func(t *testing.T, h *harness) {
			// Asks 205, 210, 215: the tree's root is 210, 215 its right child.
			asks := &h.e.instruments[0].asks
			ladderEvict(h.e, asks)
			h.e.levels[h.e.levels[asks.root].right].height = 3
		}, "tree unbalanced"},
		{"an empty level in the tree only", func(t *testing.T, h *harness) {
			asks := &h.e.instruments[0].asks
			ladderEvict(h.e, asks)
			asks.root = h.e.avlInsert(asks.root, h.e.levelAllocate(300))
		}, "in the tree"},
		{"an empty level in the ladder only", func(t *testing.T, h *harness) {
			asks := &h.e.instruments[0].asks
			offset, _ := asks.ladder.offset(300)
			asks.ladder.set(offset, h.e.levelAllocate(300))
		}, "in the ladder"},
		{"a ladder entry without its bit", func(t *testing.T, h *harness) {
			asks := &h.e.instruments[0].asks
			offset, _ := asks.ladder.offset(210)
			asks.ladder.occupied[offset/64] &^= 1 << (offset % 64)
		}, "bitmap disagrees"},
		{"a level in the tree within the ladder's span", func(t *testing.T, h *harness) {
			asks := &h.e.instruments[0].asks
			offset, _ := asks.ladder.offset(210)
			index := asks.ladder.levels[offset]
			asks.ladder.clear(offset)
			asks.root = h.e.avlInsert(asks.root, index)
		}, "not in the ladder or the tree"},
		{"order of another client in an account list", func(t *testing.T, h *harness) {
			h.e.orders[h.slotOf(t, 2)].client = 9
		}, "list broken"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := checkedScenario(t)
			c.damage(t, h)
			err := h.e.CheckInvariants()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckInvariants: %v, want %q", err, c.want)
			}
		})
	}
}

// TestRestoreOntoTheWrongLedger: an engine snapshot restored over a ledger that lacks
// the instrument's escrow accounts (a snapshot paired with the wrong ledger) is refused.
func TestRestoreOntoTheWrongLedger(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	_, engineBytes := snapshotBytes(t, h)
	if _, err := Restore(ledger.New(ledger.Config{}), h.config, bytes.NewReader(engineBytes)); !errors.Is(err, ErrSnapshotInvalid) {
		t.Fatalf("restore over a ledger without the escrows: %v, want ErrSnapshotInvalid", err)
	}
}

// TestRestoreBookOrderAcrossGroups: a snapshot lists orders by (instrument, side), each
// group from its best price to its worst. A group may start at any price whatever the
// previous group ended with (here: asks of one instrument up to 125, then bids of the
// next at 200 and, on a third, asks at 50); only within a group is a price out of order
// damage.
func TestRestoreBookOrderAcrossGroups(t *testing.T) {
	second, third := testInstrumentRecord(), testInstrumentRecord()
	second.ID, third.ID = testInstrument+1, testInstrument+2
	h := newHarness(t, Config{}, testInstrumentRecord(), second, third)
	h.trader(1, 100_000, 1_000_000)
	h.placeOK(1, limitOrder(1, 1, model.SideSell, 120, 10))
	h.placeOK(1, limitOrder(1, 2, model.SideSell, 125, 10))
	bid := limitOrder(1, 3, model.SideBuy, 200, 10)
	bid.Instrument = second.ID
	h.placeOK(1, bid)
	ask := limitOrder(1, 4, model.SideSell, 50, 10)
	ask.Instrument = third.ID
	h.placeOK(1, ask)
	h.restoreRoundTrip()

	_, good := snapshotBytes(t, h)
	firstOrder := snapshotHeaderSize + 3*snapshotInstrumentSize
	damaged := append([]byte(nil), good...)
	// Swap the two asks of the first instrument: 125 before 120.
	first := append([]byte(nil), damaged[firstOrder:firstOrder+snapshotOrderSize]...)
	copy(damaged[firstOrder:], damaged[firstOrder+snapshotOrderSize:firstOrder+2*snapshotOrderSize])
	copy(damaged[firstOrder+snapshotOrderSize:], first)
	_, err := Restore(h.l, h.config, bytes.NewReader(damaged))
	if !errors.Is(err, ErrSnapshotInvalid) || !strings.Contains(err.Error(), "out of price order") {
		t.Fatalf("asks out of price order: %v", err)
	}
}

// TestRestoreRefusesOrdersThatCannotRest: only limit orders that rest (good-till-cancel
// or post-only) with a known side and self-trade mode can be open, so a snapshot holding
// any other kind is damaged.
func TestRestoreRefusesOrdersThatCannotRest(t *testing.T) {
	h := newSnapshotScenario(t)
	_, good := snapshotBytes(t, h)
	firstOrder := snapshotHeaderSize + 2*snapshotInstrumentSize
	for _, c := range []struct {
		name   string
		change func(o *model.OrderState)
	}{
		{"market order", func(o *model.OrderState) { o.Type = model.OrderMarket }},
		{"immediate-or-cancel", func(o *model.OrderState) { o.TimeInForce = model.ImmediateOrCancel }},
		{"no side", func(o *model.OrderState) { o.Side = 0 }},
		{"self-trade mode unset", func(o *model.OrderState) { o.SelfTrade = model.SelfTradeDefault }},
	} {
		damaged := append([]byte(nil), good...)
		record := damaged[firstOrder : firstOrder+model.OrderStateSize]
		var state model.OrderState
		state.Decode(record)
		c.change(&state)
		state.Encode(record)
		_, err := Restore(h.l, h.config, bytes.NewReader(damaged))
		if !errors.Is(err, ErrSnapshotInvalid) || !strings.Contains(err.Error(), "kind invalid") {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
}

// TestRestoreChecksCountsAndReservePrices: a snapshot with more instruments than the
// config allows, or a buy whose reserve price is below its price, is refused.
func TestRestoreChecksCountsAndReservePrices(t *testing.T) {
	h := newSnapshotScenario(t)
	_, good := snapshotBytes(t, h)
	few := h.config
	few.InstrumentsMax = 1
	if _, err := Restore(h.l, few, bytes.NewReader(good)); !errors.Is(err, ErrSnapshotInvalid) {
		t.Fatalf("more instruments than the config allows: %v", err)
	}
	damaged := append([]byte(nil), good...)
	record := damaged[snapshotHeaderSize+2*snapshotInstrumentSize:][:model.OrderStateSize]
	var buy model.OrderState
	buy.Decode(record)
	if buy.Side != model.SideBuy || buy.ReservePrice == 0 {
		t.Fatalf("the scenario's first order is not a buy with a reserve price: %+v", buy)
	}
	buy.ReservePrice = buy.Price - h.e.instruments[0].record.TickSize
	buy.Encode(record)
	if _, err := Restore(h.l, h.config, bytes.NewReader(damaged)); !errors.Is(err, ErrSnapshotInvalid) ||
		!strings.Contains(err.Error(), "reserve price") {
		t.Fatalf("a reserve price below the price: %v", err)
	}
}

// TestWindowOrderSurvivesASnapshotAfterWrapping: the idempotency window is a ring; once
// it has wrapped, a snapshot must still list its entries oldest first, so that the
// restored engine forgets the same key the original does next.
func TestWindowOrderSurvivesASnapshotAfterWrapping(t *testing.T) {
	h := newHarness(t, Config{ClientOrderIDsMax: 3}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	for key := uint64(1); key <= 5; key++ { // Remembers 3, 4, 5 (oldest first).
		h.placeOK(1, limitOrder(1, key, model.SideBuy, 100, 10))
	}
	h.restoreRoundTrip()
	h.placeOK(1, limitOrder(1, 6, model.SideBuy, 100, 10)) // Forgets key 3.
	if result := h.place(1, limitOrder(1, 4, model.SideBuy, 100, 10))[0]; result.OrderID != 4 {
		t.Fatalf("key 4 after the restore and one more order: order %d, want the original 4", result.OrderID)
	}
	if result := h.place(1, limitOrder(1, 3, model.SideBuy, 100, 10))[0]; result.OrderID == 3 {
		t.Fatal("key 3 is still remembered: the restored window evicted another key")
	}
}
