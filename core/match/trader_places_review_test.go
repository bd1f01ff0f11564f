package match

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// TestTraderPlacesSharedEntriesChangeNothing (review of match45): chain.traderPlaces is
// direct-mapped, so two accounts whose ids land on one entry overwrite each other's
// place there, and the next funding check (ledger.AccountTermsPlacedAs) or payout of
// either is told the valid place of another account. TestAccountIndexGuessesChangeNothing's
// workload has no two accounts on one entry; here they share entries crosswise: trader
// A's base account with trader B's quote account and A's quote with B's base, so that a
// guess names an account of the other ledger, owned by another client. A delegate also
// trades A's accounts under a trade grant (allowed through the grants, not ownership).
// The same seeded commands (places that rest and cross, cancels, replaces) run once with
// the table as the engine keeps it and once with every entry reset to IndexUnknown
// before each command (the lookup AccountTermsAtAs made): results, reports, market data,
// the ledger's digest and the engine's snapshot must be the same byte for byte, and the
// first run must have been told another account's valid place. Fails when
// AccountTermsPlacedAs trusts a place without comparing the id (tried).
func TestTraderPlacesSharedEntriesChangeNothing(t *testing.T) {
	const traderA, traderB, delegate = 1, 2, 3
	// Ids on shared entries, found with the engine's own hash (traderPlace).
	var probe chain
	probe.init()
	baseA, quoteA := model.U128(50_001), model.U128(60_001)
	sharing := func(with model.Uint128, from uint64, not model.Uint128) model.Uint128 {
		for n := from; ; n++ {
			id := model.U128(n)
			if id != with && id != not && probe.traderPlace(id) == probe.traderPlace(with) {
				return id
			}
		}
	}
	quoteB := sharing(baseA, 70_000, quoteA)
	baseB := sharing(quoteA, 80_000, baseA)
	accountsOf := map[uint64][2]model.Uint128{traderA: {baseA, quoteA},
		traderB: {baseB, quoteB}, delegate: {baseA, quoteA}}

	run := func(reset bool) (out []byte, toldOther, fills, delegated int) {
		h := newHarness(t, Config{}, testInstrumentRecord())
		limit := model.AccountDebitsMustNotExceedCredits
		for _, trader := range []uint64{traderA, traderB} {
			ids := accountsOf[trader]
			results := make([]model.EventResult, 2)
			h.l.CreateAccountsAs(trader, h.clock+1, []model.Account{
				{ID: ids[0], Ledger: testBaseLedger, Code: 3, Flags: limit},
				{ID: ids[1], Ledger: testQuoteLedger, Code: 3, Flags: limit}}, results)
			h.clock += 2
			transfers := []model.Transfer{
				{ID: model.U128(h.clock + 1), DebitAccountID: model.U128(bankBaseID),
					CreditAccountID: ids[0], Amount: model.U128(5_000), Ledger: testBaseLedger,
					Code: 1},
				{ID: model.U128(h.clock + 2), DebitAccountID: model.U128(bankQuoteID),
					CreditAccountID: ids[1], Amount: model.U128(500_000),
					Ledger: testQuoteLedger, Code: 1}}
			transferResults := make([]model.TransferResult, 2)
			h.l.CreateTransfers(h.clock+1, transfers, transferResults)
			h.clock += 2
			for i := range 2 {
				if results[i].Status != model.StatusOK || transferResults[i].Status != model.StatusOK {
					t.Fatalf("trader %d: %s, %s", trader, results[i].Status,
						transferResults[i].Status)
				}
			}
		}
		if err := h.l.SetGrants([]model.Grant{
			{Client: delegate, Scopes: model.ScopeTrade, First: baseA, Last: baseA},
			{Client: delegate, Scopes: model.ScopeTrade, First: quoteA, Last: quoteA}}); err != nil {
			t.Fatal(err)
		}
		var written bytes.Buffer
		random := rand.New(rand.NewPCG(45, 7))
		key := uint64(0)
		var resting [][2]uint64 // (order id, client)
		for step := range 400 {
			table := h.e.scratch.chain.traderPlaces
			if reset {
				for i := range table {
					table[i] = ledger.IndexUnknown
				}
			}
			client := uint64(1 + random.IntN(3))
			ids := accountsOf[client]
			// Told another account's valid place for either of the accounts this
			// client's place would check.
			for _, id := range ids {
				place := *h.e.scratch.chain.traderPlace(id)
				at, _, _ := h.l.ResolveAccount(id)
				if place < h.l.AccountCount() && place != at {
					toldOther++
				}
			}
			h.sink.reset()
			key++
			switch kind := random.IntN(10); {
			case kind < 6 || len(resting) == 0:
				side := model.SideBuy
				if random.IntN(2) == 0 {
					side = model.SideSell
				}
				o := model.Order{ClientOrderID: key, Account: 1, BaseAccountID: ids[0],
					QuoteAccountID: ids[1], Price: 100 + 5*random.Uint64N(6),
					Quantity: 10 * (1 + random.Uint64N(20)), Instrument: testInstrument,
					Side: side, Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}
				result := h.place(client, o)[0]
				fmt.Fprintf(&written, "%d place %d: %+v\n", step, client, result)
				if result.Status == model.StatusOK {
					if client == delegate {
						delegated++
					}
					resting = append(resting, [2]uint64{result.OrderID, client})
				}
			case kind < 8:
				i := random.IntN(len(resting))
				pick := resting[i]
				resting = append(resting[:i], resting[i+1:]...)
				result := h.cancel(pick[1], model.OrderCancel{ClientOrderID: key, Account: 1,
					OrderID: pick[0]})[0]
				fmt.Fprintf(&written, "%d cancel %d: %+v\n", step, pick[1], result)
			default:
				pick := resting[random.IntN(len(resting))]
				result := h.replace(pick[1], model.OrderReplace{ClientOrderID: key,
					Account: 1, OrderID: pick[0], Price: 100 + 5*random.Uint64N(6),
					Quantity: 10 * (1 + random.Uint64N(20))})[0]
				fmt.Fprintf(&written, "%d replace %d: %+v\n", step, pick[1], result)
			}
			fills += len(h.sink.fills())
			for _, r := range h.sink.reports {
				fmt.Fprintf(&written, " R %+v\n", r)
			}
			for _, u := range h.sink.updates {
				fmt.Fprintf(&written, " U %+v\n", u)
			}
		}
		transcriptState(t, h, &written)
		return written.Bytes(), toldOther, fills, delegated
	}
	kept, toldOther, _, _ := run(false)
	looked, _, fills, delegated := run(true)
	if !bytes.Equal(kept, looked) {
		t.Fatalf("the engine's output depends on the places kept in chain.traderPlaces "+
			"(%d bytes kept, %d looked up)", len(kept), len(looked))
	}
	// The workload reaches what it is for: wrong places told, payouts into the shared
	// entries' accounts, a delegate's orders accepted under the grant.
	if toldOther == 0 || fills == 0 || delegated == 0 {
		t.Fatalf("told another account's place %d times, %d fills, %d delegate's orders",
			toldOther, fills, delegated)
	}
}
