package match

import (
	"bytes"

	"sequent/core/ledger"
	"sequent/core/model"
)

// Test fixtures: one base ledger and one quote ledger, a funding ("bank") account on each
// without balance limits, and traders whose accounts may not go below zero.
const (
	testBaseLedger  = 1
	testQuoteLedger = 2
	testInstrument  = 7
	bankBaseID      = 1
	bankQuoteID     = 2
	feeBaseID       = 3
	feeQuoteID      = 4
)

// recordingSink keeps copies of every output.
type recordingSink struct {
	reports []model.ExecutionReport
	updates []model.MarketDataUpdate
}

func (s *recordingSink) Report(r *model.ExecutionReport)      { s.reports = append(s.reports, *r) }
func (s *recordingSink) MarketData(u *model.MarketDataUpdate) { s.updates = append(s.updates, *u) }

func (s *recordingSink) reset() {
	s.reports = s.reports[:0]
	s.updates = s.updates[:0]
}

// fills returns the fill reports seen.
func (s *recordingSink) fills() []model.ExecutionReport {
	var fills []model.ExecutionReport
	for _, r := range s.reports {
		if r.Kind == model.ReportFill {
			fills = append(fills, r)
		}
	}
	return fills
}

// tb is what the harness needs of *testing.T, *testing.B and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// harness drives an engine over a fresh ledger with a deterministic clock.
type harness struct {
	t      tb
	l      *ledger.Ledger
	e      *Engine
	config Config
	clock  uint64
	sink   recordingSink
	// closings are the accounts closeAccount closed, each with its pending closing
	// transfer, in closing order: toLegacy reopens them to build its holds.
	closings []closing
}

// closing is one account closed by a pending closing_debit transfer to a bank account.
type closing struct {
	account, transfer model.Uint128
	ledger            uint32
	bank              uint64
}

// testInstrumentRecord is the instrument most tests trade: lots of 10 base units, ticks of
// 5 quote units per lot, 10..10,000 units per order.
func testInstrumentRecord() model.Instrument {
	return model.Instrument{ID: testInstrument, BaseLedger: testBaseLedger,
		QuoteLedger: testQuoteLedger, TickSize: 5, LotSize: 10, QuantityMin: 10,
		QuantityMax: 10_000}
}

func newHarness(t tb, config Config, instruments ...model.Instrument) *harness {
	t.Helper()
	h := &harness{t: t, l: ledger.New(ledger.Config{HashSeed: 3}), config: config, clock: 1000}
	h.e = New(h.l, config)
	h.createAccounts(
		model.Account{ID: model.U128(bankBaseID), Ledger: testBaseLedger, Code: 1},
		model.Account{ID: model.U128(bankQuoteID), Ledger: testQuoteLedger, Code: 1},
		model.Account{ID: model.U128(feeBaseID), Ledger: testBaseLedger, Code: 2},
		model.Account{ID: model.U128(feeQuoteID), Ledger: testQuoteLedger, Code: 2})
	results := make([]model.EventResult, len(instruments))
	h.e.CreateInstruments(&h.clock, instruments, results)
	for i := range results {
		if results[i].Status != model.StatusOK {
			t.Fatalf("instrument %d: %s", instruments[i].ID, results[i].Status)
		}
	}
	return h
}

func (h *harness) createAccounts(accounts ...model.Account) {
	h.t.Helper()
	results := make([]model.EventResult, len(accounts))
	h.l.CreateAccounts(h.clock+1, accounts, results)
	h.clock += uint64(len(accounts))
	for i := range results {
		if results[i].Status != model.StatusOK {
			h.t.Fatalf("account %s: %s", accounts[i].ID, results[i].Status)
		}
	}
}

// traderBase and traderQuote are trader n's ledger accounts.
func traderBase(n uint64) model.Uint128  { return model.U128(1000 + n) }
func traderQuote(n uint64) model.Uint128 { return model.U128(2000 + n) }

// trader creates trader n's two accounts, owned by client n (the client that trades from
// them), and deposits base and quote from the banks.
func (h *harness) trader(n uint64, base, quote uint64) {
	h.t.Helper()
	limit := model.AccountDebitsMustNotExceedCredits
	accounts := []model.Account{
		{ID: traderBase(n), Ledger: testBaseLedger, Code: 3, Flags: limit},
		{ID: traderQuote(n), Ledger: testQuoteLedger, Code: 3, Flags: limit}}
	results := make([]model.EventResult, len(accounts))
	h.l.CreateAccountsAs(n, h.clock+1, accounts, results)
	h.clock += uint64(len(accounts))
	for i := range results {
		if results[i].Status != model.StatusOK {
			h.t.Fatalf("account %s: %s", accounts[i].ID, results[i].Status)
		}
	}
	h.deposit(n, base, quote)
}

// deposit moves base and quote from the banks to trader n.
func (h *harness) deposit(n uint64, base, quote uint64) {
	h.t.Helper()
	var transfers []model.Transfer
	if base > 0 {
		transfers = append(transfers, model.Transfer{ID: model.U128(h.clock + 1),
			DebitAccountID: model.U128(bankBaseID), CreditAccountID: traderBase(n),
			Amount: model.U128(base), Ledger: testBaseLedger, Code: 1})
	}
	if quote > 0 {
		transfers = append(transfers, model.Transfer{ID: model.U128(h.clock + 2),
			DebitAccountID: model.U128(bankQuoteID), CreditAccountID: traderQuote(n),
			Amount: model.U128(quote), Ledger: testQuoteLedger, Code: 1})
	}
	results := make([]model.TransferResult, len(transfers))
	h.l.CreateTransfers(h.clock+1, transfers, results)
	h.clock += 2
	for i := range transfers {
		if results[i].Status != model.StatusOK {
			h.t.Fatalf("deposit: %s", results[i].Status)
		}
	}
}

// balance returns an account's posted balance (credits − debits; negative as an error)
// and its pending debits.
func (h *harness) balance(id model.Uint128) (posted, pending uint64) {
	h.t.Helper()
	found := h.l.LookupAccounts([]model.Uint128{id}, nil)
	if len(found) != 1 {
		h.t.Fatalf("account %s missing", id)
	}
	a := found[0]
	net, underflow := a.CreditsPosted.Sub(a.DebitsPosted)
	if underflow || net.Hi != 0 || a.DebitsPending.Hi != 0 {
		h.t.Fatalf("account %s balance out of range", id)
	}
	return net.Lo, a.DebitsPending.Lo
}

// limitOrder returns a limit GTC order of trader n (client n, account 1).
func limitOrder(n uint64, clientOrderID uint64, side model.Side, price,
	quantity uint64) model.Order {
	return model.Order{ClientOrderID: clientOrderID, Account: 1, BaseAccountID: traderBase(n),
		QuoteAccountID: traderQuote(n), Price: price, Quantity: quantity,
		Instrument: testInstrument, Side: side, Type: model.OrderLimit,
		TimeInForce: model.GoodTillCancel}
}

func (h *harness) place(client uint64, orders ...model.Order) []model.OrderResult {
	h.t.Helper()
	results := make([]model.OrderResult, len(orders))
	h.e.PlaceOrders(&h.clock, client, orders, results, &h.sink)
	h.check()
	return results
}

// placeOK places one order, expects it accepted, and returns its id.
func (h *harness) placeOK(client uint64, o model.Order) uint64 {
	h.t.Helper()
	result := h.place(client, o)[0]
	if result.Status != model.StatusOK {
		h.t.Fatalf("place %d: %s", o.ClientOrderID, result.Status)
	}
	return result.OrderID
}

func (h *harness) cancel(client uint64, cancels ...model.OrderCancel) []model.OrderResult {
	h.t.Helper()
	results := make([]model.OrderResult, len(cancels))
	h.e.CancelOrders(&h.clock, client, cancels, results, &h.sink)
	h.check()
	return results
}

func (h *harness) replace(client uint64, replaces ...model.OrderReplace) []model.OrderResult {
	h.t.Helper()
	results := make([]model.OrderResult, len(replaces))
	h.e.ReplaceOrders(&h.clock, client, replaces, results, &h.sink)
	h.check()
	return results
}

// check runs every invariant checker: the engine's and the ledger's.
func (h *harness) check() {
	h.t.Helper()
	if err := h.e.CheckInvariants(); err != nil {
		h.t.Fatalf("engine invariants: %v", err)
	}
	if err := ledger.CheckInvariants(h.l.Accounts()); err != nil {
		h.t.Fatalf("ledger invariants: %v", err)
	}
	if err := h.l.CheckReservations(); err != nil {
		h.t.Fatalf("ledger reservations: %v", err)
	}
}

// book returns the open orders of one side, best first, as (id, price, leaves) triples.
func (h *harness) book(side model.Side) [][3]uint64 {
	x := &h.e.instruments[0]
	var result [][3]uint64
	for level := x.side(side).best; level != indexNone; level = h.e.levels[level].worse {
		for slot := h.e.levels[level].head; slot != indexNone; slot = h.e.orders[slot].levelNext {
			o := &h.e.orders[slot]
			result = append(result, [3]uint64{o.id, o.price, o.leaves})
		}
	}
	return result
}

// restoreRoundTrip snapshots the ledger and the engine, restores both (with other hash
// seeds), checks that the restored engine encodes to the same bytes, and goes on with the
// restored pair.
func (h *harness) restoreRoundTrip() {
	h.t.Helper()
	var ledgerBytes, engineBytes bytes.Buffer
	if _, err := h.l.Snapshot().WriteTo(&ledgerBytes); err != nil {
		h.t.Fatalf("ledger snapshot: %v", err)
	}
	if _, err := h.e.Snapshot().WriteTo(&engineBytes); err != nil {
		h.t.Fatalf("engine snapshot: %v", err)
	}
	l, err := ledger.Restore(ledger.Config{HashSeed: 11}, bytes.NewReader(ledgerBytes.Bytes()))
	if err != nil {
		h.t.Fatalf("ledger restore: %v", err)
	}
	config := h.config
	config.HashSeed ^= 0x9e3779b97f4a7c15
	e, err := Restore(l, config, bytes.NewReader(engineBytes.Bytes()))
	if err != nil {
		h.t.Fatalf("engine restore: %v", err)
	}
	var again bytes.Buffer
	if _, err := e.Snapshot().WriteTo(&again); err != nil {
		h.t.Fatalf("engine snapshot: %v", err)
	}
	if !bytes.Equal(again.Bytes(), engineBytes.Bytes()) {
		h.t.Fatalf("restored engine encodes differently")
	}
	if e.Digest() != h.e.Digest() || l.Digest() != h.l.Digest() {
		h.t.Fatalf("restored digests differ")
	}
	e.SetRefusalShrinksSteps(h.e.refusalShrinksSteps) // The owner's, not in the snapshot.
	h.l, h.e = l, e
}
