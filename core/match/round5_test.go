package match

import (
	"strings"
	"testing"

	"sequent/core/model"
)

// Tests for the gaps the fifth mutation round found (tools/mutation/RESULTS.md, "Fifth
// round"): each fails on the mutant named in its comment.

// TestIndexTableTellsKeysWithOneTag: two keys whose hashes share the 32-bit tag are told
// apart by the caller's comparison. Mutant: find without "&& equal(...)" (table.go), which
// answers the first key with the tag for any other.
func TestIndexTableTellsKeysWithOneTag(t *testing.T) {
	table := newIndexTable(4)
	const tag = 0x9e3779b9
	table.insert(tag, 5)
	if _, index, found := table.find(tag, func(index uint32) bool { return false }); found {
		t.Fatalf("a key the comparison refuses was found (index %d)", index)
	}
	table.insert(tag, 8)
	_, index, found := table.find(tag, func(index uint32) bool { return index == 8 })
	if !found || index != 8 {
		t.Fatalf("second key with the tag: index %d found %v, want 8", index, found)
	}
}

// TestMakerExpiredDuringMatchingIsReportedExpired: a resting order past its deadline that
// a taker meets before any Expire sweep is closed with an expired report, as the sweep
// would report it, not a cancel. Mutant: stepApply without "kind = model.ReportExpired"
// (match.go).
func TestMakerExpiredDuringMatchingIsReportedExpired(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 100_000)
	h.trader(2, 10_000, 100_000)
	sell := limitOrder(1, 1, model.SideSell, 100, 10)
	sell.ExpireTimestamp = h.clock + 10
	sellID := h.placeOK(1, sell)
	h.clock += 100
	h.sink.reset()
	h.placeOK(2, limitOrder(2, 1, model.SideBuy, 100, 10))
	var kinds []model.ReportKind
	for _, r := range h.sink.reports {
		if r.OrderID == sellID {
			kinds = append(kinds, r.Kind)
			if r.Kind != model.ReportExpired || r.Status != model.StatusExpired {
				t.Errorf("maker report kind %d status %s, want expired with status expired", r.Kind, r.Status)
			}
		}
	}
	if len(kinds) != 1 {
		t.Fatalf("maker reports %v, want one", kinds)
	}
	if len(h.sink.fills()) != 0 {
		t.Fatalf("fills %v against an expired order", h.sink.fills())
	}
}

// TestRefusalsOfReplacesAndQueries: the refusals of a replace before it finds the order,
// and of a query with a reserved field. Mutants: replaceOrder without the rejected report
// for a zero key (replace.go), validateReplace without its reserved-field refusal
// (replace.go), AccountOrders answering reserved_flag for a reserved field (query.go).
func TestRefusalsOfReplacesAndQueries(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 100_000)
	orderID := h.placeOK(1, limitOrder(1, 1, model.SideSell, 200, 10))
	replace := func(change func(r *model.OrderReplace)) model.OrderReplace {
		r := model.OrderReplace{Account: 1, ClientOrderID: 2, OrderID: orderID, Price: 205,
			Quantity: 10}
		change(&r)
		return r
	}
	for _, c := range []struct {
		name    string
		replace model.OrderReplace
		want    model.Status
	}{
		{"client order id zero", replace(func(r *model.OrderReplace) { r.ClientOrderID = 0 }),
			model.StatusClientOrderIDMustNotBeZero},
		{"account zero", replace(func(r *model.OrderReplace) { r.Account = 0 }),
			model.StatusAccountMustNotBeZero},
		{"reserved field", replace(func(r *model.OrderReplace) { r.Reserved = 1 }),
			model.StatusReservedField},
	} {
		h.sink.reset()
		result := h.replace(1, c.replace)[0]
		if result.Status != c.want {
			t.Errorf("%s: %s, want %s", c.name, result.Status, c.want)
		}
		if len(h.sink.reports) != 1 || h.sink.reports[0].Kind != model.ReportRejected ||
			h.sink.reports[0].Status != c.want || h.sink.reports[0].Client != 1 {
			t.Errorf("%s: reports %+v, want one rejected with %s to client 1", c.name,
				h.sink.reports, c.want)
		}
	}
	if book := h.book(model.SideSell); len(book) != 1 || book[0] != [3]uint64{orderID, 200, 10} {
		t.Fatalf("book after refused replaces %v", book)
	}
	filter := model.OrderFilter{Account: 1, Limit: 10, Reserved: 1}
	if found, status := h.e.AccountOrders(1, &filter, nil); status != model.StatusReservedField ||
		len(found) != 0 {
		t.Fatalf("query with a reserved field: %s, %d orders; want reserved_field", status,
			len(found))
	}
}

// TestOrdersLimitRefusesEveryKindThatRests: with OrdersMax open orders, an order that
// could rest is refused orders_limit_reached, post-only included; one that cannot rest
// (immediate-or-cancel) is still taken. Mutant: takerRestsKind with PostOnly replaced by
// GoodTillCancel (place.go), which lets a post-only order rest past the limit.
func TestOrdersLimitRefusesEveryKindThatRests(t *testing.T) {
	h := newHarness(t, Config{OrdersMax: 2, OrdersPerClientMax: 2}, testInstrumentRecord())
	h.trader(1, 10_000, 100_000)
	h.placeOK(1, limitOrder(1, 1, model.SideSell, 200, 10))
	h.placeOK(1, limitOrder(1, 2, model.SideSell, 205, 10))
	for _, c := range []struct {
		timeInForce model.TimeInForce
		want        model.Status
	}{
		{model.GoodTillCancel, model.StatusOrdersLimitReached},
		{model.PostOnly, model.StatusOrdersLimitReached},
		{model.ImmediateOrCancel, model.StatusOK},
	} {
		o := limitOrder(1, 10+uint64(c.timeInForce), model.SideSell, 210, 10)
		o.TimeInForce = c.timeInForce
		if result := h.place(1, o)[0]; result.Status != c.want {
			t.Errorf("time in force %d at the limit: %s, want %s", c.timeInForce, result.Status, c.want)
		}
	}
	if book := h.book(model.SideSell); len(book) != 2 {
		t.Fatalf("book at the limit %v, want the two orders", book)
	}
}

// TestCheckInvariantsDetectsStaleTradingAccounts: the trading-account index must not hold
// more accounts than there are open orders (an account leaves it with its last order).
// Mutant: checkAccounts without "|| e.accountIdx.count > e.openCount" (check.go).
func TestCheckInvariantsDetectsStaleTradingAccounts(t *testing.T) {
	h := checkedScenario(t) // 4 open orders in 2 trading accounts.
	for account := uint64(1); account <= 3; account++ {
		h.e.accountIdx.insert(h.e.accountTag(9, account), uint32(len(h.e.accounts)))
	}
	err := h.e.CheckInvariants()
	if err == nil || !strings.Contains(err.Error(), "orders in trading accounts") {
		t.Fatalf("three stale index entries: %v", err)
	}
}
