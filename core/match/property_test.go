package match

import (
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// propertyTraders trade in the property test: trader n is client n; each has trading
// accounts 1 and 2 over the same two ledger accounts.
const propertyTraders = 4

// propertyInstrument charges fees large enough that per-fill rounding matters.
func propertyInstrument() model.Instrument {
	x := testInstrumentRecord()
	x.QuantityMax = 60
	x.MakerFeeBasisPoints, x.TakerFeeBasisPoints = 30, 700
	x.FeeBaseAccountID, x.FeeQuoteAccountID = model.U128(feeBaseID), model.U128(feeQuoteID)
	return x
}

// TestAgainstNaive drives the engine and the naive matcher (naive_test.go) with the same
// random command streams (places of every type, cancels by id and by client order id,
// replaces (a buy's with a reserve price at times), mass cancels, resends, places under
// used or skipped keys, deposits, time jumps with expiry; trading account 2 of each trader opts into increasing client order
// ids at a random place, with a ring of one to six commands; each client's share of the
// open orders is one to eight, or the default; traders 3 and 4 may close a ledger
// account, after which the ledger refuses every settlement of their resting orders, which
// the orders crossing them cancel canceled_account, and they only cancel; matching under
// the rule of rules version 8 (SetRefusalShrinksSteps: refused steps planned again with
// fewer fills) or before it, drawn per run) and compares after
// every command: results, trades, cancels with reasons, both sides of the book, every
// trader's posted and held balances and the fee accounts, and each client's count of
// open orders (Engine.OpenOrderCountOf) with the naive one's over its open orders. The harness also checks every
// invariant after each command (escrow = Σ open holds, ledger invariants), and once per
// run the engine and the ledger are snapshotted, restored and swapped in, so the rest of
// the run also checks that a restored engine continues exactly as the original.
func TestAgainstNaive(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := newPropertyRun(rt)
		steps := rapid.IntRange(1, 120).Draw(rt, "steps")
		restoreAt := rapid.IntRange(0, steps).Draw(rt, "restore at")
		for step := 0; step < steps; step++ {
			if step == restoreAt {
				p.h.restoreRoundTrip()
			}
			p.step(step)
		}
	})
}

type propertyRun struct {
	rt     *rapid.T
	h      *harness
	n      *naive
	keys   map[[2]uint64]uint64 // Next client order id per (client, account).
	placed []placedEvent        // For resends.
	// optInRefused keeps places from opting into increasing client order ids.
	optInRefused bool
	closed       map[model.Uint128]bool // Ledger accounts closed (traders 3 and 4 only).
}

type placedEvent struct {
	client uint64
	order  model.Order
}

func newPropertyRun(rt *rapid.T) *propertyRun {
	x := propertyInstrument()
	// A ring of one to six commands per opted-in trading account, so that runs forget.
	perAccount := rapid.Uint32Range(1, 6).Draw(rt, "commands per account")
	// A window of 4 to 60 commands, often large enough to forget nothing in a run, so
	// that it forgets keys of accounts that keep the window and, aged by opted-in
	// commands too, ends opted-in accounts' spans of keys from before their opt-in.
	windowMax := rapid.Uint32Range(4, 60).Draw(rt, "window")
	// A share of one to eight open orders per client, or the default (never reached), so
	// that places are refused at it and every path that closes an order (fills, cancels,
	// replaces that cross, mass cancels, self-trade prevention, expiry) must count down
	// exactly for the next one to be taken.
	perClientMax := rapid.SampledFrom([]uint32{0, 1, 2, 3, 5, 8}).Draw(rt, "orders per client")
	p := &propertyRun{rt: rt, h: newHarness(rt, Config{OrdersCapacity: 64,
		ClientOrderIDsPerAccount: perAccount, ClientOrderIDsMax: windowMax,
		OrdersPerClientMax: perClientMax}, x),
		n: newNaive(x), keys: map[[2]uint64]uint64{}, closed: map[model.Uint128]bool{}}
	p.h.e.SetRefusalShrinksSteps(rapid.Bool().Draw(rt, "rules version 8"))
	p.n.perAccount = int(perAccount)
	p.n.windowMax = uint64(windowMax)
	if perClientMax != 0 {
		p.n.perClientMax = int(perClientMax)
	}
	for trader := uint64(1); trader <= propertyTraders; trader++ {
		base := rapid.Uint64Range(0, 300).Draw(rt, "base")
		quote := rapid.Uint64Range(0, 30_000).Draw(rt, "quote")
		p.h.trader(trader, base, quote)
		p.n.posted[[2]uint64{trader, testBaseLedger}] = base
		p.n.posted[[2]uint64{trader, testQuoteLedger}] = quote
	}
	return p
}

func (p *propertyRun) key(client, account uint64) uint64 {
	p.keys[[2]uint64{client, account}]++
	return p.keys[[2]uint64{client, account}]
}

// step draws one command, applies it to both matchers and compares them.
func (p *propertyRun) step(step int) {
	rt, h, n := p.rt, p.h, p.n
	h.sink.reset()
	n.begin()
	now := h.clock + 1
	var got, want any
	switch kind := rapid.IntRange(0, 99).Draw(rt, "command"); {
	case kind < 45:
		got, want = p.place(now)
	case kind < 52:
		got, want = p.resend(now)
	case kind < 55:
		got, want = p.placeStale(now)
	case kind < 68:
		got, want = p.cancel(now)
	case kind < 88:
		got, want = p.replace(now)
	case kind < 92:
		got, want = p.massCancel()
	case kind < 96:
		jump := rapid.Uint64Range(0, 60).Draw(rt, "jump")
		h.clock += jump
		timestamp := h.clock
		got = h.e.Expire(&h.clock, timestamp, &h.sink)
		want = n.expire(timestamp)
		h.check()
	case kind == 96:
		p.closeAccount()
	default:
		trader := rapid.Uint64Range(1, propertyTraders).Draw(rt, "trader")
		if n.closed[trader] {
			break // The ledger refuses deposits into a closed account.
		}
		base := rapid.Uint64Range(0, 100).Draw(rt, "deposit base")
		quote := rapid.Uint64Range(0, 5_000).Draw(rt, "deposit quote")
		h.deposit(trader, base, quote)
		n.posted[[2]uint64{trader, testBaseLedger}] += base
		n.posted[[2]uint64{trader, testQuoteLedger}] += quote
	}
	p.compare(step, "result", got, want)
	p.compare(step, "trades", h.trades(), n.trades)
	p.compare(step, "canceled", h.canceled(), n.canceled)
	p.compare(step, "bids", h.book(model.SideBuy), n.book(model.SideBuy))
	p.compare(step, "asks", h.book(model.SideSell), n.book(model.SideSell))
	p.compareBalances(step)
	for trader := uint64(1); trader <= propertyTraders; trader++ {
		p.compare(step, fmt.Sprintf("open orders of client %d", trader),
			int(h.e.OpenOrderCountOf(trader)), n.openOf(trader))
	}
}

func (p *propertyRun) compare(step int, what string, got, want any) {
	p.rt.Helper()
	if !reflect.DeepEqual(got, want) {
		p.rt.Fatalf("step %d %s:\n engine %v\n naive  %v", step, what, got, want)
	}
}

// compareBalances compares every trader's posted balances and holds, and the fees.
func (p *propertyRun) compareBalances(step int) {
	for trader := uint64(1); trader <= propertyTraders; trader++ {
		for _, ledger := range []uint64{testBaseLedger, testQuoteLedger} {
			id := traderBase(trader)
			if ledger == testQuoteLedger {
				id = traderQuote(trader)
			}
			posted, pending := p.h.balance(id)
			wantPosted := p.n.posted[[2]uint64{trader, ledger}]
			wantPending := wantPosted - p.n.available(trader, ledger)
			p.compare(step, fmt.Sprintf("trader %d ledger %d", trader, ledger),
				[2]uint64{posted, pending}, [2]uint64{wantPosted, wantPending})
		}
	}
	feeBase, _ := p.h.balance(model.U128(feeBaseID))
	feeQuote, _ := p.h.balance(model.U128(feeQuoteID))
	p.compare(step, "fees", [2]uint64{feeBase, feeQuote},
		[2]uint64{p.n.fees[testBaseLedger], p.n.fees[testQuoteLedger]})
}

// drawOrder draws a place event of a random trader and kind; a few are off tick.
func (p *propertyRun) drawOrder(now uint64) (uint64, model.Order) {
	rt := p.rt
	trader := rapid.Uint64Range(1, propertyTraders).Draw(rt, "trader")
	if p.n.closed[trader] {
		trader -= 2 // Traders 1 and 2 never close an account.
	}
	account := rapid.Uint64Range(1, 2).Draw(rt, "account")
	side := model.Side(rapid.IntRange(1, 2).Draw(rt, "side"))
	price := 80 + 5*rapid.Uint64Range(0, 8).Draw(rt, "tick")
	if rapid.IntRange(0, 30).Draw(rt, "off tick") == 0 {
		price++
	}
	o := limitOrder(trader, p.key(trader, account), side, price,
		10*rapid.Uint64Range(1, 6).Draw(rt, "lots"))
	o.Account = account
	if account == 2 && !p.optInRefused && rapid.IntRange(0, 3).Draw(rt, "increasing ids") == 0 {
		// Trading account 2 opts into increasing ids at its first flagged place.
		o.Flags = model.OrderFlagClientOrderIDsIncreasing
	}
	o.SelfTrade = model.SelfTradeMode(rapid.IntRange(0, 3).Draw(rt, "self trade"))
	if rapid.IntRange(0, 4).Draw(rt, "market") == 0 {
		o.Type = model.OrderMarket
		o.TimeInForce = model.TimeInForce(rapid.IntRange(2, 3).Draw(rt, "market tif"))
		if side == model.SideBuy {
			o.Budget = model.U128(rapid.Uint64Range(1, 3_000).Draw(rt, "budget"))
		}
		return trader, o
	}
	o.TimeInForce = model.TimeInForce(rapid.IntRange(1, 4).Draw(rt, "tif"))
	resting := o.TimeInForce == model.GoodTillCancel || o.TimeInForce == model.PostOnly
	if side == model.SideBuy && rapid.IntRange(0, 4).Draw(rt, "reserve") == 0 {
		o.ReservePrice = price - price%5 + 5*rapid.Uint64Range(0, 4).Draw(rt, "reserve ticks")
	}
	if resting && rapid.IntRange(0, 4).Draw(rt, "gtt") == 0 {
		o.ExpireTimestamp = now + rapid.Uint64Range(1, 80).Draw(rt, "expire in")
	}
	return trader, o
}

func (p *propertyRun) place(now uint64) (any, any) {
	trader, o := p.drawOrder(now)
	if o.ReservePrice != 0 && o.ReservePrice < o.Price {
		o.ReservePrice = 0 // An off-tick price above every reserve drawn.
	}
	if rapid.IntRange(0, 15).Draw(p.rt, "key ahead") == 0 {
		// A key ahead of the account's counter, which later commands reach: before an
		// opt-in, one above the opting key that a resend may bring back after it.
		o.ClientOrderID += rapid.Uint64Range(1, 30).Draw(p.rt, "ahead by")
	}
	p.placed = append(p.placed, placedEvent{client: trader, order: o})
	got := p.h.place(trader, o)[0]
	want := p.n.place(trader, trader, &o, now)
	got.Timestamp = 0
	return got, want
}

// resend places an earlier event again, unchanged.
func (p *propertyRun) resend(now uint64) (any, any) {
	if len(p.placed) == 0 {
		return p.place(now)
	}
	event := p.placed[rapid.IntRange(0, len(p.placed)-1).Draw(p.rt, "resend")]
	if p.n.closed[event.client] {
		return p.place(now)
	}
	got := p.h.place(event.client, event.order)[0]
	want := p.n.place(event.client, event.client, &event.order, now)
	got.Timestamp, want.Timestamp = 0, 0
	return got, want
}

// placeStale places a new event under a key its account used already (or skipped): a
// mistake in the window, refused or a resend answer for an opted-in account.
func (p *propertyRun) placeStale(now uint64) (any, any) {
	trader, o := p.drawOrder(now)
	if o.ReservePrice != 0 && o.ReservePrice < o.Price {
		o.ReservePrice = 0
	}
	o.ClientOrderID = rapid.Uint64Range(1, o.ClientOrderID).Draw(p.rt, "stale key")
	got := p.h.place(trader, o)[0]
	want := p.n.place(trader, trader, &o, now)
	got.Timestamp = 0
	return got, want
}

// pickOpen returns a random open order of the naive book, or nil.
func (p *propertyRun) pickOpen() *naiveOrder {
	if len(p.n.open) == 0 {
		return nil
	}
	return p.n.open[rapid.IntRange(0, len(p.n.open)-1).Draw(p.rt, "order")]
}

func (p *propertyRun) cancel(now uint64) (any, any) {
	c := model.OrderCancel{Account: 1, OrderID: rapid.Uint64Range(0, 40).Draw(p.rt, "id")}
	client := rapid.Uint64Range(1, propertyTraders).Draw(p.rt, "client")
	if o := p.pickOpen(); o != nil && rapid.IntRange(0, 5).Draw(p.rt, "stray") != 0 {
		client, c.Account, c.OrderID = o.client, o.account, o.id
		if rapid.Bool().Draw(p.rt, "by client order id") {
			c.OrderID, c.OriginalClientOrderID = 0, o.clientOrderID
		}
	}
	c.ClientOrderID = p.key(client, c.Account)
	got := p.h.cancel(client, c)[0]
	want := p.n.cancelCommand(client, &c, now)
	got.Timestamp = 0
	return got, want
}

func (p *propertyRun) replace(now uint64) (any, any) {
	o := p.pickOpen()
	if o == nil || p.n.closed[o.trader] {
		return p.place(now)
	}
	r := model.OrderReplace{Account: o.account, OrderID: o.id,
		Price:    80 + 5*rapid.Uint64Range(0, 8).Draw(p.rt, "tick"),
		Quantity: o.filled + 10*rapid.Uint64Range(0, 4).Draw(p.rt, "lots")}
	r.Quantity = min(r.Quantity, 60)
	switch rapid.IntRange(0, 9).Draw(p.rt, "variant") {
	case 0:
		r.Price++ // Off tick.
	case 1, 2:
		r.Price = o.price // Same price: reduce, keep or raise.
	case 3:
		r.OrderID, r.OriginalClientOrderID = 0, o.clientOrderID
	}
	if o.side == model.SideBuy && r.Price%5 == 0 && rapid.IntRange(0, 2).Draw(p.rt, "replace reserve") == 0 {
		r.ReservePrice = r.Price + 5*rapid.Uint64Range(0, 4).Draw(p.rt, "replace reserve ticks")
	}
	r.ClientOrderID = p.key(o.client, o.account)
	got := p.h.replace(o.client, r)[0]
	want := p.n.replace(o.client, &r, now)
	got.Timestamp = 0
	return got, want
}

func (p *propertyRun) massCancel() (any, any) {
	client := rapid.Uint64Range(1, propertyTraders).Draw(p.rt, "client")
	m := model.MassCancel{Account: rapid.Uint64Range(1, 2).Draw(p.rt, "account"),
		Side: model.Side(rapid.IntRange(0, 2).Draw(p.rt, "side"))}
	m.ClientOrderID = p.key(client, m.Account)
	results := make([]model.MassCancelResult, 1)
	p.h.e.MassCancel(&p.h.clock, client, []model.MassCancel{m}, results, &p.h.sink)
	p.h.check()
	results[0].Timestamp = 0
	return results[0], p.n.massCancel(client, &m)
}

// closeAccount closes trader 3's or 4's base or quote account (a pending closing_debit
// transfer), unless closed already: from then on that trader's resting orders cannot
// settle, and it sends no command that needs a hold.
func (p *propertyRun) closeAccount() {
	trader := rapid.Uint64Range(3, propertyTraders).Draw(p.rt, "closing trader")
	id, ledger, bank := traderQuote(trader), uint32(testQuoteLedger), uint64(bankQuoteID)
	if rapid.Bool().Draw(p.rt, "close base") {
		id, ledger, bank = traderBase(trader), testBaseLedger, bankBaseID
	}
	if p.closed[id] {
		return
	}
	p.closed[id] = true
	p.n.closed[trader] = true
	p.h.closeAccount(id, ledger, bank)
}
