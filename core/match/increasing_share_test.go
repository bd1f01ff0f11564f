package match

import (
	"testing"

	"sequent/core/model"
)

// optIn has client n place one immediate-or-cancel buy with the increasing flag on each
// of count trading accounts from first on (key 1 each; the book is empty, so each holds
// funds only while it is matched) and returns the statuses.
func (h *harness) optIn(n uint64, first uint64, count int) []model.Status {
	h.t.Helper()
	orders := make([]model.Order, count)
	results := make([]model.OrderResult, count)
	for i := range orders {
		orders[i] = increasingOrder(n, 1, model.SideBuy, 5, 10)
		orders[i].Account = first + uint64(i)
		orders[i].TimeInForce = model.ImmediateOrCancel
	}
	h.e.PlaceOrders(&h.clock, n, orders, results, &h.sink)
	statuses := make([]model.Status, count)
	for i := range results {
		statuses[i] = results[i].Status
	}
	return statuses
}

// expectAll fails unless every status is want.
func expectAll(t *testing.T, what string, statuses []model.Status, want model.Status) {
	t.Helper()
	for i, status := range statuses {
		if status != want {
			t.Fatalf("%s: event %d of %d answered %s, want %s", what, i, len(statuses),
				status, want)
		}
	}
}

// TestIncreasingShare walks a client's share of the opt-in table to its edge: its
// IncreasingAccountsPerClientMax-th opt-in is accepted, the next refused with
// accounts_limit_reached and not remembered (refused again), while a resend of an
// accepted opting place still answers its original result, its opted-in accounts keep
// taking new keys, and its places without the flag keep the window. Another client
// still opts in; an operator is bound only by the table. A restored engine bounds each
// client as the one that wrote the snapshot (the count is rebuilt from the opted-in
// accounts the snapshot carries, whose format is unchanged); without the check (a log
// written before rules version 6) the client opts in beyond its share as before.
func TestIncreasingShare(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	const operator = 3
	for n := uint64(1); n <= operator; n++ {
		h.trader(n, 0, 1_000)
	}
	if err := h.l.SetGrants([]model.Grant{{Client: operator,
		Scopes: model.ScopeOperator}}); err != nil {
		t.Fatal(err)
	}
	const share = IncreasingAccountsPerClientMax
	expectAll(t, "below the share", h.optIn(1, 1, share-1), model.StatusOK)
	expectAll(t, "the share's last", h.optIn(1, share, 1), model.StatusOK)
	expectEqual(t, "client 1's opt-ins", h.e.IncreasingAccountCountOf(1), share)
	for range 2 {
		expectAll(t, "one beyond the share", h.optIn(1, share+1, 1),
			model.StatusAccountsLimitReached)
	}
	expectEqual(t, "client 1's opt-ins after the refusals", h.e.IncreasingAccountCountOf(1),
		share)
	expectAll(t, "a resend of an accepted opting place", h.optIn(1, 7, 1), model.StatusOK)
	next := increasingOrder(1, 2, model.SideBuy, 5, 10)
	next.Account, next.TimeInForce = 7, model.ImmediateOrCancel
	expectEqual(t, "a new key of an opted-in account", h.place(1, next)[0].Status,
		model.StatusOK)
	plain := limitOrder(1, 1, model.SideBuy, 5, 10)
	plain.Account, plain.TimeInForce = share+1, model.ImmediateOrCancel
	expectEqual(t, "without the flag", h.place(1, plain)[0].Status, model.StatusOK)
	expectAll(t, "another client", h.optIn(2, 1, 1), model.StatusOK)
	expectAll(t, "an operator beyond a share", h.optIn(operator, 1, share+1), model.StatusOK)
	h.check()

	h.restoreRoundTrip()
	for n, want := range map[uint64]int{1: share, 2: 1, operator: share + 1} {
		expectEqual(t, "opt-ins after the restore", h.e.IncreasingAccountCountOf(n), want)
	}
	expectAll(t, "beyond the share after the restore", h.optIn(1, share+2, 1),
		model.StatusAccountsLimitReached)
	expectAll(t, "another client after the restore", h.optIn(2, 2, 1), model.StatusOK)

	h.e.SetIncreasingShareChecked(false)
	expectAll(t, "beyond the share, unchecked", h.optIn(1, share+2, 2), model.StatusOK)
	expectEqual(t, "client 1's opt-ins, unchecked", h.e.IncreasingAccountCountOf(1), share+2)
	h.check()
}
