package core

import (
	"testing"

	"sequent/core/match"
	"sequent/core/model"
)

// optInRequest is client 7's place_orders request of one flagged immediate-or-cancel
// sell (price 50, quantity 1: against an empty book it holds one unit only while it is
// matched) on each of count trading accounts from first on.
func optInRequest(number uint64, first uint64, count int) Request {
	orders := make([]*model.Order, count)
	for i := range orders {
		orders[i] = tradingOrder(model.SideSell, 1, 50, 1)
		orders[i].Account = first + uint64(i)
		orders[i].TimeInForce = model.ImmediateOrCancel
		orders[i].Flags = model.OrderFlagClientOrderIDsIncreasing
	}
	return Request{Client: 7, Session: 3, Number: number,
		Operation: model.OperationPlaceOrders, Body: encodeRecords(model.OrderSize, orders...)}
}

// orderStatuses decodes the results of a place_orders reply.
func orderStatuses(out *Output) []model.Status {
	body := out.Body(&out.Replies[0])
	statuses := make([]model.Status, len(body)/model.OrderResultSize)
	for i := range statuses {
		var result model.OrderResult
		result.Decode(body[i*model.OrderResultSize:])
		statuses[i] = result.Status
	}
	return statuses
}

// beyondShare fails the test unless statuses holds the results of share+1 entries
// (what names one: "place", "opt-in"), the first share of them ok and the last want.
func beyondShare(t *testing.T, version uint32, what string, statuses []model.Status,
	share int, want model.Status) {
	t.Helper()
	if len(statuses) != share+1 {
		t.Fatalf("version %d: %d results", version, len(statuses))
	}
	for i, status := range statuses[:share] {
		if status != model.StatusOK {
			t.Fatalf("version %d: %s %d: %s", version, what, i+1, status)
		}
	}
	if statuses[share] != want {
		t.Errorf("version %d: the %s beyond the share answered %s, want %s", version, what,
			statuses[share], want)
	}
}

// TestIncreasingShareRulesVersion: through Apply, as the server runs it. Client 7 opts
// IncreasingAccountsPerClientMax + 1 trading accounts into increasing client order ids
// in one request: from rules version 6 the last is refused accounts_limit_reached (the
// others accepted), below it every one is accepted, as the builds before the share
// applied it. At version 6, a machine restored from a snapshot still refuses client 7's
// next opt-in.
func TestIncreasingShareRulesVersion(t *testing.T) {
	const share = match.IncreasingAccountsPerClientMax
	for _, version := range []uint32{rulesVersionIncreasingShare - 1, rulesVersionIncreasingShare} {
		h := newTradingHarness(t, version)
		want := model.StatusAccountsLimitReached
		if version < rulesVersionIncreasingShare {
			want = model.StatusOK
		}
		beyondShare(t, version, "opt-in", orderStatuses(h.apply(optInRequest(1, 1, share+1))),
			share, want)
		if version < rulesVersionIncreasingShare {
			continue
		}
		h.restore(Config{})
		if status := orderStatuses(h.apply(optInRequest(2, share+2, 1)))[0]; status !=
			model.StatusAccountsLimitReached {
			t.Errorf("restored: the opt-in beyond the share answered %s", status)
		}
	}
}
