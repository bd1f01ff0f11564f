package core

import (
	"testing"

	"sequent/core/match"
	"sequent/core/model"
)

// ordersShareConfig is a machine whose shards hold 64 open orders: a client's share is 4.
var ordersShareConfig = Config{Match: match.Config{OrdersMax: 64}}

const ordersShare = 64 / match.OrdersPerClientDivisor

// restingSells is client 7's place_orders request (session 4) of count good-till-cancel
// sells of one unit, at prices from 100 on (none crosses: nobody buys), under keys from
// first on.
func restingSells(number, first uint64, count int) Request {
	orders := make([]*model.Order, count)
	for i := range orders {
		orders[i] = tradingOrder(model.SideSell, first+uint64(i), 100+first+uint64(i), 1)
	}
	return Request{Client: 7, Session: 4, Number: number,
		Operation: model.OperationPlaceOrders, Body: encodeRecords(model.OrderSize, orders...)}
}

// cancelByKey is client 7's cancel_orders request (session 4) of the order it placed
// under key original.
func cancelByKey(number, key, original uint64) Request {
	c := model.OrderCancel{ClientOrderID: key, Account: 1, OriginalClientOrderID: original}
	return Request{Client: 7, Session: 4, Number: number,
		Operation: model.OperationCancelOrders, Body: encodeRecords(model.OrderCancelSize, &c)}
}

// TestOrdersShareRulesVersion: through Apply, as the server runs it. Client 7 places
// share + 1 resting sells in one request: from rules version 7 the last is refused
// orders_limit_reached (the others accepted), at version 6 every one is accepted, as the
// builds before the share applied them (a version-6 log replays as it was written). A
// machine restored from a snapshot keeps the version, and with it the answer to client
// 7's next resting place: refused at 7 (the counts rebuilt from the open orders),
// accepted at 6. Then the version-6 machine moves to 7 (as a new build on an old log
// does): its orders beyond the share stay, and client 7 rests again only once it has
// canceled down below its share.
func TestOrdersShareRulesVersion(t *testing.T) {
	for _, version := range []uint32{rulesVersionOrdersShare - 1, rulesVersionOrdersShare} {
		h := newTradingHarnessWith(t, ordersShareConfig, version)
		want := model.StatusOrdersLimitReached
		if version < rulesVersionOrdersShare {
			want = model.StatusOK
		}
		beyondShare(t, version, "place", orderStatuses(h.apply(restingSells(1, 1, ordersShare+1))),
			ordersShare, want)
		h.restore(ordersShareConfig)
		if got := h.machine.RulesVersion(); got != version {
			t.Fatalf("restored at version %d, want %d", got, version)
		}
		if status := orderStatuses(h.apply(restingSells(2, 10, 1)))[0]; status != want {
			t.Errorf("version %d restored: the place beyond the share answered %s, want %s",
				version, status, want)
		}
		if version == rulesVersionOrdersShare {
			continue
		}
		h.upgradeRules(rulesVersionOrdersShare) // Client 7 keeps share + 2 orders.
		number := uint64(3)
		for _, original := range []uint64{1, 2} {
			if status := orderStatuses(h.apply(cancelByKey(number, 20+number, original)))[0]; status != model.StatusOK {
				t.Fatalf("cancel of key %d: %s", original, status)
			}
			number++
			if status := orderStatuses(h.apply(restingSells(number, 30+number, 1)))[0]; status !=
				model.StatusOrdersLimitReached {
				t.Errorf("at version 7 with %d orders kept, a resting place answered %s",
					ordersShare+2-int(original), status)
			}
			number++
		}
		if status := orderStatuses(h.apply(cancelByKey(number, 20+number, 3)))[0]; status != model.StatusOK {
			t.Fatalf("cancel of key 3: %s", status)
		}
		number++
		if status := orderStatuses(h.apply(restingSells(number, 30+number, 1)))[0]; status != model.StatusOK {
			t.Errorf("at version 7 below the share, a resting place answered %s", status)
		}
	}
}
