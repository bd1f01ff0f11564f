package match

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// Review of rules version 7's share of open orders (share.go): whether a client's
// entries are kept (clientsCounted) must never show. Two engines take the same commands:
// the first from the start, the second restored from the first's snapshot at a random
// step (often before the first ever came within one order of a share, so the second
// starts uncounted while the first, counted for good, is not) and restored again from
// itself at random steps. Commands: places of every time in force (some good-till-time)
// on three trading accounts per client, some on another client's ledger accounts through
// a trade grant that comes and goes, cancels, replaces (some crossing), mass cancels,
// cancel-on-disconnect, time jumps with expiry, client 3's operator scope given and
// withdrawn, and the share switched from unchecked to checked mid-run (a version-6 log
// moving to 7 with orders resting). After each command both must answer, report and
// digest alike, and the first's answer to a place that could rest must be the naive one:
// orders_limit_reached exactly when the table is full or, share checked, the client
// (not an operator) keeps at least its share, counted afresh over the open orders.

const (
	shareReviewClients  = 4
	shareReviewAccounts = 3
	shareReviewSteps    = 400
)

// shareReviewClone restores a copy of h's ledger and engine (other hash seeds) as a new
// harness at the same clock; the owner's share switch is carried over as the owner would.
func shareReviewClone(t *testing.T, h *harness, checked bool) *harness {
	t.Helper()
	var ledgerBytes, engineBytes bytes.Buffer
	if _, err := h.l.Snapshot().WriteTo(&ledgerBytes); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Snapshot().WriteTo(&engineBytes); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Restore(ledger.Config{HashSeed: 17}, bytes.NewReader(ledgerBytes.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	config := h.config
	config.HashSeed ^= 0x5bd1e9955bd1e995
	e, err := Restore(l, config, bytes.NewReader(engineBytes.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	e.SetOrdersShareChecked(checked)
	return &harness{t: t, l: l, e: e, config: h.config, clock: h.clock}
}

// openOrdersOf counts client's open orders afresh over the pool.
func openOrdersOf(e *Engine, client uint64) uint32 {
	count := uint32(0)
	for slot := range e.orders {
		if o := &e.orders[slot]; o.id != 0 && o.tradingAccount != indexNone && o.client == client {
			count++
		}
	}
	return count
}

type shareReviewRun struct {
	t       *testing.T
	random  *rand.Rand
	a, b    *harness
	key     uint64
	orders  map[uint64][2]uint64 // Order id → (client, trading account), from a's answers.
	checked bool
	// operator: client 3 holds the operator scope; granted: client 2 may trade from
	// client 1's ledger accounts.
	operator, granted bool
	// What the runs reached: refusals at a share, operators' places taken beyond one,
	// places on another client's accounts taken through the grant.
	shareRefusals, operatorBeyond, grantedTaken *int
	// uncountedRestores: restores of the second engine that start uncounted beside a
	// first engine that is counted.
	uncountedRestores *int
}

func (r *shareReviewRun) grants() {
	var grants []model.Grant
	if r.operator {
		grants = append(grants, model.Grant{Client: 3, Scopes: model.ScopeOperator})
	}
	if r.granted {
		grants = append(grants, model.Grant{Client: 2, Scopes: model.ScopeTrade,
			First: traderBase(1), Last: traderQuote(1)})
	}
	for _, h := range []*harness{r.a, r.b} {
		if err := h.l.SetGrants(grants); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *shareReviewRun) compare(step int, what string, resultA, resultB any) {
	r.t.Helper()
	if !reflect.DeepEqual(resultA, resultB) {
		r.t.Fatalf("step %d %s: answers differ: %+v vs %+v", step, what, resultA, resultB)
	}
	if !slices.Equal(r.a.sink.reports, r.b.sink.reports) ||
		!slices.Equal(r.a.sink.updates, r.b.sink.updates) {
		r.t.Fatalf("step %d %s: reports or market data differ", step, what)
	}
	if r.a.e.Digest() != r.b.e.Digest() || r.a.l.Digest() != r.b.l.Digest() {
		r.t.Fatalf("step %d %s: digests differ", step, what)
	}
	if r.a.clock != r.b.clock {
		r.t.Fatalf("step %d %s: clocks differ", step, what)
	}
	for client := uint64(1); client <= shareReviewClients; client++ {
		want := openOrdersOf(r.a.e, client)
		if got := r.b.e.OpenOrderCountOf(client); got != want {
			r.t.Fatalf("step %d %s: client %d keeps %d open orders, the restored engine "+
				"counts %d", step, what, client, want, got)
		}
		if got := r.a.e.OpenOrderCountOf(client); got != want {
			r.t.Fatalf("step %d %s: client %d keeps %d open orders, the engine counts %d",
				step, what, client, want, got)
		}
	}
	r.a.sink.reset()
	r.b.sink.reset()
}

func (r *shareReviewRun) pickOrder(client uint64) (uint64, uint64) {
	var ids []uint64
	for id, owner := range r.orders {
		if owner[0] == client {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0, 1
	}
	// Map order is random: sort for a run that a seed repeats.
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j-1] > ids[j]; j-- {
			ids[j-1], ids[j] = ids[j], ids[j-1]
		}
	}
	id := ids[r.random.Intn(len(ids))]
	return id, r.orders[id][1]
}

func (r *shareReviewRun) place(step int, client uint64) {
	random := r.random
	r.key++
	side := model.SideBuy
	if random.Intn(2) == 0 {
		side = model.SideSell
	}
	o := limitOrder(client, r.key, side, 5*uint64(18+random.Intn(5)), 10*uint64(1+random.Intn(3)))
	o.Account = uint64(1 + random.Intn(shareReviewAccounts))
	onGrant := client == 2 && random.Intn(3) == 0
	if onGrant {
		o.BaseAccountID, o.QuoteAccountID = traderBase(1), traderQuote(1)
	}
	o.SelfTrade = model.SelfTradeMode(random.Intn(4))
	switch random.Intn(8) {
	case 0:
		o.TimeInForce = model.ImmediateOrCancel
	case 1:
		o.TimeInForce = model.FillOrKill
	case 2:
		o.TimeInForce = model.PostOnly
	case 3:
		o.ExpireTimestamp = r.a.clock + uint64(5+random.Intn(60))
	}
	rests := takerRestsKind(&o)
	openCount := r.a.e.openCount
	kept := openOrdersOf(r.a.e, client)
	operator := client == 3 && r.operator
	resultA := r.a.place(client, o)
	resultB := r.b.place(client, o)
	if resultA[0].Status == model.StatusOK {
		r.orders[resultA[0].OrderID] = [2]uint64{client, o.Account}
	}
	fundingRefused := onGrant && !r.granted
	wantRefused := rests && !fundingRefused && (openCount >= r.a.e.config.OrdersMax ||
		(r.checked && !operator && kept >= r.a.e.config.OrdersPerClientMax))
	refused := resultA[0].Status == model.StatusOrdersLimitReached
	if refused != wantRefused {
		r.t.Fatalf("step %d: client %d (operator %v, %d open orders of %d, share %d, "+
			"checked %v) placing %+v answered %s", step, client, operator, kept, openCount,
			r.a.e.config.OrdersPerClientMax, r.checked, o, resultA[0].Status)
	}
	share := r.a.e.config.OrdersPerClientMax
	switch {
	case refused && kept >= share && openCount < r.a.e.config.OrdersMax:
		*r.shareRefusals++
	case resultA[0].Status == model.StatusOK && operator && rests && kept >= share:
		*r.operatorBeyond++
	}
	if onGrant && resultA[0].Status == model.StatusOK {
		*r.grantedTaken++
	}
	r.compare(step, fmt.Sprintf("place by %d", client), resultA, resultB)
}

func (r *shareReviewRun) step(step int) {
	random := r.random
	client := uint64(1 + random.Intn(shareReviewClients))
	switch choice := random.Intn(20); {
	case choice < 9:
		r.place(step, client)
	case choice < 12:
		id, account := r.pickOrder(client)
		r.key++
		c := model.OrderCancel{ClientOrderID: r.key, Account: account, OrderID: id}
		r.compare(step, "cancel", r.a.cancel(client, c), r.b.cancel(client, c))
	case choice < 14:
		id, account := r.pickOrder(client)
		r.key++
		c := model.OrderReplace{ClientOrderID: r.key, Account: account, OrderID: id,
			Price: 5 * uint64(18+random.Intn(5)), Quantity: 10 * uint64(1+random.Intn(4))}
		r.compare(step, "replace", r.a.replace(client, c), r.b.replace(client, c))
	case choice == 14:
		r.key++
		m := []model.MassCancel{{ClientOrderID: r.key,
			Account: uint64(1 + random.Intn(shareReviewAccounts))}}
		resultA := make([]model.MassCancelResult, 1)
		resultB := make([]model.MassCancelResult, 1)
		r.a.e.MassCancel(&r.a.clock, client, m, resultA, &r.a.sink)
		r.b.e.MassCancel(&r.b.clock, client, m, resultB, &r.b.sink)
		r.a.check()
		r.b.check()
		r.compare(step, "mass cancel", resultA, resultB)
	case choice == 15:
		countA := r.a.e.CancelAllForClient(&r.a.clock, client, &r.a.sink)
		countB := r.b.e.CancelAllForClient(&r.b.clock, client, &r.b.sink)
		r.a.check()
		r.b.check()
		r.compare(step, "cancel on disconnect", countA, countB)
	case choice == 16:
		jump := uint64(random.Intn(40))
		r.a.clock += jump
		r.b.clock += jump
		now := r.a.clock
		countA := r.a.e.Expire(&r.a.clock, now, &r.a.sink)
		countB := r.b.e.Expire(&r.b.clock, now, &r.b.sink)
		r.a.check()
		r.b.check()
		r.compare(step, "expiry", countA, countB)
	case choice == 17:
		r.operator = !r.operator
		r.grants()
		r.compare(step, "operator scope", nil, nil)
	case choice == 18:
		r.granted = !r.granted
		r.grants()
		r.compare(step, "trade grant", nil, nil)
	default:
		r.b = shareReviewClone(r.t, r.b, r.checked) // The second restarts from itself.
		if r.a.e.clientsCounted && !r.b.e.clientsCounted {
			*r.uncountedRestores++
		}
		r.compare(step, "restart", nil, nil)
	}
	// Forget ids of orders no longer open (fills, cancels, expiry).
	for id := range r.orders {
		if _, _, found := r.a.e.findOrder(id); !found {
			delete(r.orders, id)
		}
	}
}

func TestOrdersShareNeverShowsWhenCountingStarted(t *testing.T) {
	counted, uncountedRestores := 0, 0
	shareRefusals, operatorBeyond, grantedTaken := 0, 0, 0
	for seed := int64(1); seed <= 40; seed++ {
		random := rand.New(rand.NewSource(seed))
		share := []uint32{0, 1, 2, 3, 5}[random.Intn(5)]
		config := Config{OrdersMax: 40, OrdersPerClientMax: share, HashSeed: uint64(seed)}
		a := newHarness(t, config, testInstrumentRecord())
		for client := uint64(1); client <= shareReviewClients; client++ {
			a.trader(client, 1_000_000, 1_000_000)
		}
		checkedFrom := random.Intn(shareReviewSteps / 2) // Before it: a version-6 log.
		r := &shareReviewRun{t: t, random: random, a: a, orders: map[uint64][2]uint64{},
			shareRefusals: &shareRefusals, operatorBeyond: &operatorBeyond,
			grantedTaken: &grantedTaken, uncountedRestores: &uncountedRestores}
		a.e.SetOrdersShareChecked(false)
		cloneAt := random.Intn(shareReviewSteps / 4)
		r.b = shareReviewClone(t, a, false)
		for step := range shareReviewSteps {
			if step == checkedFrom {
				r.checked = true
				r.a.e.SetOrdersShareChecked(true)
				r.b.e.SetOrdersShareChecked(true)
			}
			if step == cloneAt {
				r.b = shareReviewClone(t, r.a, r.checked)
				if r.a.e.clientsCounted && !r.b.e.clientsCounted {
					uncountedRestores++
				}
			}
			r.step(step)
		}
		if r.a.e.clientsCounted {
			counted++
		}
	}
	t.Logf("%d of 40 runs came within one order of a share; %d restores started uncounted "+
		"beside a counted engine (then caught up); %d refusals at a share, %d operator places beyond one, "+
		"%d places through the grant", counted, uncountedRestores, shareRefusals,
		operatorBeyond, grantedTaken)
	if counted == 0 || uncountedRestores == 0 || shareRefusals == 0 || operatorBeyond == 0 ||
		grantedTaken == 0 {
		t.Fatalf("the runs never reached the case under test")
	}
}
