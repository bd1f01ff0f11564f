package match

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/ledger"
	"sequent/core/model"
)

// TestAgainstNaiveAcrossVersionTwo is TestAgainstNaive across an upgrade: at a drawn
// step every open order's reservation becomes the pending hold transfer an older server
// made, the pair goes through version-2 snapshots, and the run goes on with legacy and
// reserved orders mixed (legacy makers filled, legacy takers after a replace, legacy
// holds voided, replaced or expired), compared with the naive model after every command
// and checked (CheckInvariants, CheckReservations) as TestAgainstNaive is.
func TestAgainstNaiveAcrossVersionTwo(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := newPropertyRun(rt)
		p.optInRefused = true // Version 2 had no opt-in: none before the upgrade.
		steps := rapid.IntRange(1, 120).Draw(rt, "steps")
		upgradeAt := rapid.IntRange(0, steps).Draw(rt, "upgrade at")
		for step := 0; step < steps; step++ {
			if step == upgradeAt {
				p.h.versionTwoRoundTrip()
				p.optInRefused = false
			}
			p.step(step)
		}
	})
}

// versionTwoRoundTrip turns every reservation into a legacy hold, restores the pair
// from version-2 files (other hash seeds) and goes on with the restored pair.
func (h *harness) versionTwoRoundTrip() {
	h.t.Helper()
	h.toLegacy()
	ledgerBytes, engineBytes := snapshotBytes(h.t, h)
	oldLedger, oldEngine := versionTwo(h.t, ledgerBytes, engineBytes)
	l, err := ledger.Restore(ledger.Config{HashSeed: 13}, bytes.NewReader(oldLedger))
	if err != nil {
		h.t.Fatalf("ledger version 2: %v", err)
	}
	config := h.config
	config.HashSeed ^= 0x5bd1e995
	e, err := Restore(l, config, bytes.NewReader(oldEngine))
	if err != nil {
		h.t.Fatalf("engine version 2: %v", err)
	}
	h.l, h.e = l, e
	h.check()
}

// TestLegacyTakers: an order restored with a legacy hold whose replace keeps the amount it
// needs (a sell's new price, same quantity) keeps its pending transfer and trades as a
// taker: its hold is posted for what it pays, and what its rest needs is reserved again
// after the payouts. The engine answers exactly as one whose orders were reserved from
// the start, and nothing is left pending or reserved once every order has ended.
func TestLegacyTakers(t *testing.T) {
	original := newSnapshotScenario(t)
	legacy := restoredVersionTwoScenario(t)
	for _, h := range []*harness{original, legacy} {
		h.sink.reset()
		// Client 3 takes 40 of the legacy bid (order 4: 50 at 105, reserve 110).
		h.place(3, limitOrder(3, 10, model.SideSell, 105, 40))
		// Legacy order 2 (sell 20 at 120) takes the bid's last 10 and rests 10 at 105.
		replaced := h.replace(1, model.OrderReplace{ClientOrderID: 5, Account: 1, OrderID: 2,
			Price: 105, Quantity: 20})
		expectEqual(t, "replace 2", replaced[0].Status, model.StatusOK)
		// Legacy order 1 (sell 30 at 120, 10 filled) crosses a new bid at 100 and is done.
		h.place(3, limitOrder(3, 11, model.SideBuy, 100, 40))
		replaced = h.replace(1, model.OrderReplace{ClientOrderID: 6, Account: 1, OrderID: 1,
			Price: 100, Quantity: 30})
		expectEqual(t, "replace 1", replaced[0].Status, model.StatusOK)
		h.place(2, limitOrder(2, 10, model.SideBuy, 105, 10)) // Fills the rest of order 2.
		for client := uint64(1); client <= 3; client++ {
			h.e.CancelAllForClient(&h.clock, client, &h.sink)
			h.check()
		}
	}
	expectSameEnd(t, original, legacy)
}

// expectSameEnd checks that an engine whose orders started as legacy holds ended like one
// that used reservations from the start: the same reports and market data (timestamps
// aside: the legacy state takes more ledger events, one timestamp each), the same posted
// balances for the three traders, and nothing left pending or reserved.
func expectSameEnd(t *testing.T, original, legacy *harness) {
	t.Helper()
	for _, h := range []*harness{original, legacy} {
		for i := range h.sink.reports {
			h.sink.reports[i].Timestamp = 0
		}
		for i := range h.sink.updates {
			h.sink.updates[i].Timestamp = 0
		}
	}
	expectEqual(t, "reports", legacy.sink.reports, original.sink.reports)
	expectEqual(t, "market data", legacy.sink.updates, original.sink.updates)
	for n := uint64(1); n <= 3; n++ {
		for _, id := range []model.Uint128{traderBase(n), traderQuote(n)} {
			posted, pending := legacy.balance(id)
			wantPosted, _ := original.balance(id)
			expectEqual(t, "posted", posted, wantPosted)
			expectEqual(t, "pending", pending, uint64(0))
		}
	}
	for id, reserved := range legacy.l.Reservations() {
		t.Fatalf("account %s still reserves %s", id, reserved)
	}
}

// TestLegacyHoldOnAccountClosedBeforeUpgrade: an older server made a resting order's hold
// when the order was placed, so the order's owner could close the account the hold pays
// from (or is paid into) while the order rested. Restored from version-2 files, such an
// order holds a pending transfer on a closed account: it cannot settle, so a taker
// crossing it cancels it (its hold voided) and trades with the next maker, as the engine
// does with an order reserved from the start (TestMakerAccountClosed). toLegacy must build
// that state; it made the hold after the close and the ledger refused it
// (debit_account_already_closed) when the closed account was the one the hold pays from.
func TestLegacyHoldOnAccountClosedBeforeUpgrade(t *testing.T) {
	for _, closeQuote := range []bool{true, false} {
		h := newHarness(t, Config{}, testInstrumentRecord())
		h.trader(1, 10_000, 100_000)
		h.trader(2, 10_000, 100_000)
		h.trader(3, 10_000, 100_000)
		h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
		h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
		if closeQuote { // The account the sell is paid into.
			h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
		} else { // The account the sell pays from.
			h.closeAccount(traderBase(1), testBaseLedger, bankBaseID)
		}
		h.versionTwoRoundTrip()
		if reserved := h.l.Reserved(traderBase(1)); !reserved.IsZero() {
			t.Fatalf("close quote %v: reserved %s after the round trip", closeQuote, reserved)
		}
		if _, pending := h.balance(traderBase(1)); pending != 10 {
			t.Fatalf("close quote %v: legacy hold of %d, want 10", closeQuote, pending)
		}
		h.sink.reset()
		h.placeOK(2, limitOrder(2, 1, model.SideBuy, 110, 10))
		expectEqual(t, "trades", h.trades(), []trade{{2, 3, 110, 10}})
		expectEqual(t, "canceled", h.canceled(),
			[][2]uint64{{1, uint64(model.StatusCanceledAccount)}})
		h.expectIdle(1)
		h.expectIdle(2)
		// Still closed after the round trip: a new order on it is refused.
		expectEqual(t, "closed", h.place(1, limitOrder(1, 2, model.SideSell, 110, 10))[0].Status,
			model.StatusAccountClosed)
	}
}
