package ledger

import (
	"bytes"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"sequent/core/model"
)

// runningTotalsClients are the clients that create accounts in
// TestRunningTotalsMatchTheScan, one per way
// LedgerTotalsAs reads: 7 owns accounts and has no grant (its own accounts), 8 reads
// ledger 2 whole (a grant over a ledger), 9 reads everything (a grant over every ledger),
// 10 reads a range of ids (the scan). The system (0) reads the running totals.
var runningTotalsClients = []uint64{0, 7, 8, 9, 10}

// runningTotalsReaders are every reader checked: the clients above, and some that create
// no account: 11 has no grant at all (nothing in the dictionary), 12 is an operator, 13
// holds an id-range grant and a whole-ledger grant (it must scan), 14 holds a trade grant
// over ledger 70,000 (a ledger found by map) twice and a transfer grant over ledger 3.
// runningTotalsGrants alternate, so that grants are revoked and given while accounts and
// balances change (and a snapshot carries either table).
var runningTotalsReaders = append(slices.Clone(runningTotalsClients), 11, 12, 13, 14)

// runningTotalsGrants are the two grant tables TestRunningTotalsMatchTheScan switches
// between: the second revokes 8's read of ledger 2 and 9's read of everything (9 keeps a
// range), gives 7 a read of ledger 255, and turns 13 and 14 around.
var runningTotalsGrants = [2][]model.Grant{{
	{Client: 8, Scopes: model.ScopeRead, Ledger: 2},
	{Client: 8, Scopes: model.ScopeTransfer, Ledger: 1},
	{Client: 9, Scopes: model.ScopeRead},
	{Client: 10, Scopes: model.ScopeRead, First: model.U128(20), Last: model.U128(60)},
	{Client: 12, Scopes: model.ScopeOperator},
	{Client: 13, Scopes: model.ScopeRead, First: model.U128(5), Last: model.U128(30)},
	{Client: 13, Scopes: model.ScopeRead, Ledger: 256},
	{Client: 14, Scopes: model.ScopeTrade, Ledger: 70_000},
	{Client: 14, Scopes: model.ScopeRead, Ledger: 70_000},
	{Client: 14, Scopes: model.ScopeTransfer, Ledger: 3},
}, {
	{Client: 7, Scopes: model.ScopeRead, Ledger: 255},
	{Client: 8, Scopes: model.ScopeTransfer, Ledger: 1},
	{Client: 9, Scopes: model.ScopeRead, Ledger: 1, First: model.U128(10), Last: model.U128(90)},
	{Client: 10, Scopes: model.ScopeRead, First: model.U128(20), Last: model.U128(60)},
	{Client: 12, Scopes: model.ScopeOperator},
	{Client: 13, Scopes: model.ScopeRead, Ledger: 2},
	{Client: 14, Scopes: model.ScopeRead, Ledger: 2, First: model.U128(1), Last: model.U128(40)},
}}

// runningTotalsLedgers mixes ledgers found by index and by map (ledgerDirectMax).
var runningTotalsLedgers = []uint32{1, 2, 3, 255, 256, 70_000}

// envUint reads a positive number from the environment, or returns otherwise.
func envUint(t *testing.T, name string, otherwise uint64) uint64 {
	text := os.Getenv(name)
	if text == "" {
		return otherwise
	}
	value, err := strconv.ParseUint(text, 10, 64)
	if err != nil || value == 0 {
		t.Fatalf("%s=%q: want a positive number", name, text)
	}
	return value
}

// TestRunningTotalsMatchTheScan applies seeded random steps (accounts created by several
// clients, some in linked chains that fail and are undone; single-phase and pending
// transfers, posts, voids, expiries, linked chains of transfers that fail; reservations,
// their releases and fills; grant tables switched, revoking and giving grants; a
// snapshot round trip now and then) and after every step
// compares get_ledger_totals, for every kind of reader and a random filter, with the
// scan over every account that it used to be (scanTotals). LEDGER_TOTALS_SEED picks the
// seed (a failure prints it), LEDGER_TOTALS_STEPS the length (default 2,000; -short 300).
func TestRunningTotalsMatchTheScan(t *testing.T) {
	seed := envUint(t, "LEDGER_TOTALS_SEED", 20261204)
	steps := envUint(t, "LEDGER_TOTALS_STEPS", 2_000)
	if testing.Short() && os.Getenv("LEDGER_TOTALS_STEPS") == "" {
		steps = 300
	}
	random := rand.New(rand.NewPCG(seed, 1))
	r := &runningTotalsRun{t: t, seed: seed, random: random, ledger: New(Config{HashSeed: seed}),
		timestamp: 1_000 * second, byLedger: map[uint32][]model.Uint128{}}
	if err := r.ledger.SetGrants(runningTotalsGrants[0]); err != nil {
		t.Fatal(err)
	}
	r.escrow = model.Uint128{Lo: 1, Hi: 1<<63 | 0x73<<48}
	results := make([]model.EventResult, 1)
	r.ledger.CreateSystemAccounts(r.timestamp, []model.Account{{ID: r.escrow, Ledger: 1,
		Code: 1}}, results)
	r.timestamp++
	for step := range steps {
		r.step = step
		r.apply()
		r.check()
	}
}

type runningTotalsRun struct {
	t         *testing.T
	seed      uint64
	step      uint64
	random    *rand.Rand
	ledger    *Ledger
	timestamp uint64
	escrow    model.Uint128
	nextID    uint64
	accounts  []model.Uint128
	byLedger  map[uint32][]model.Uint128
	pendings  []model.Uint128
}

// apply makes one random change.
func (r *runningTotalsRun) apply() {
	switch kind := r.random.IntN(20); {
	case kind < 2 || len(r.accounts) < 4:
		r.createAccounts()
	case kind < 11:
		r.transfers()
	case kind < 14:
		r.resolvePendings()
	case kind < 18:
		r.reservations()
	case kind < 19:
		r.timestamp += uint64(r.random.IntN(5)) * second
		r.ledger.Expire(r.timestamp, nil)
		if r.random.IntN(3) == 0 { // Grants revoked or given.
			if err := r.ledger.SetGrants(runningTotalsGrants[r.random.IntN(2)]); err != nil {
				r.t.Fatal(err)
			}
		}
	default:
		r.roundTrip()
	}
}

func (r *runningTotalsRun) id() model.Uint128 {
	r.nextID++
	return model.U128(r.nextID)
}

// createAccounts creates a few accounts as a random client; a linked chain ending in an
// invalid account is undone whole.
func (r *runningTotalsRun) createAccounts() {
	client := runningTotalsClients[r.random.IntN(len(runningTotalsClients))]
	count := 1 + r.random.IntN(4)
	events := make([]model.Account, count)
	for i := range events {
		events[i] = model.Account{ID: r.id(), Code: 1,
			Ledger: runningTotalsLedgers[r.random.IntN(len(runningTotalsLedgers))]}
		if client != 0 || r.random.IntN(5) == 0 { // The system's may mostly go negative.
			events[i].Flags = model.AccountDebitsMustNotExceedCredits
		}
	}
	failing := r.random.IntN(4) == 0
	if failing {
		for i := range events {
			events[i].Flags |= model.AccountLinked
		}
		events = append(events, model.Account{ID: r.id(), Code: 1}) // Ledger 0: refused.
	}
	results := make([]model.EventResult, len(events))
	r.ledger.CreateAccountsAs(client, r.timestamp, events, results)
	r.timestamp += uint64(len(events))
	for i := range events {
		if results[i].Status == model.StatusOK {
			r.accounts = append(r.accounts, events[i].ID)
			r.byLedger[events[i].Ledger] = append(r.byLedger[events[i].Ledger], events[i].ID)
		}
	}
}

func (r *runningTotalsRun) account() model.Uint128 {
	return r.accounts[r.random.IntN(len(r.accounts))]
}

// transfers sends a few transfers between random accounts (most as the system, which
// may debit any account; some as a client), pending ones with or without a timeout; a
// linked chain ending in a transfer to a missing account is undone whole.
func (r *runningTotalsRun) transfers() {
	client := uint64(0)
	if r.random.IntN(4) == 0 {
		client = runningTotalsClients[r.random.IntN(len(runningTotalsClients))]
	}
	events := make([]model.Transfer, 1+r.random.IntN(5))
	for i := range events {
		debit := r.account()
		debitAccount, _, _ := r.ledger.AccountAs(0, model.ScopeRead, debit)
		credit := r.account()
		if same := r.byLedger[debitAccount.Ledger]; r.random.IntN(10) != 0 {
			credit = same[r.random.IntN(len(same))] // Mostly a valid pair.
		}
		events[i] = model.Transfer{ID: r.id(), DebitAccountID: debit, CreditAccountID: credit,
			Ledger: debitAccount.Ledger, Code: 1, Amount: model.U128(1 + r.random.Uint64N(1000))}
		if r.random.IntN(20) == 0 {
			events[i].Amount = model.Uint128{Lo: r.random.Uint64(), Hi: 1 << 62} // Big sums.
		}
		if r.random.IntN(3) == 0 {
			events[i].Flags = model.TransferPending
			events[i].Timeout = uint32(r.random.IntN(3))
		}
	}
	if r.random.IntN(4) == 0 {
		for i := range events {
			events[i].Flags |= model.TransferLinked
		}
		events = append(events, model.Transfer{ID: r.id(), DebitAccountID: r.account(),
			CreditAccountID: model.U128(1 << 40), Ledger: 1, Code: 1, Amount: model.U128(1)})
	}
	results := make([]model.TransferResult, len(events))
	r.ledger.CreateTransfersAs(client, false, r.timestamp, events, results)
	r.timestamp += uint64(len(events))
	for i := range events {
		if results[i].Status == model.StatusOK && events[i].Flags&model.TransferPending != 0 {
			r.pendings = append(r.pendings, events[i].ID)
		}
	}
}

// resolvePendings posts (all or part) or voids pending transfers, sometimes in a linked
// chain that fails.
func (r *runningTotalsRun) resolvePendings() {
	if len(r.pendings) == 0 {
		return
	}
	events := make([]model.Transfer, 1+r.random.IntN(3))
	for i := range events {
		events[i] = model.Transfer{ID: r.id(), PendingID: r.pendings[r.random.IntN(len(r.pendings))],
			Amount: model.Uint128Max, Flags: model.TransferPostPending}
		switch r.random.IntN(3) {
		case 0:
			events[i].Flags, events[i].Amount = model.TransferVoidPending, model.Uint128{}
		case 1:
			events[i].Amount = model.U128(1 + r.random.Uint64N(500)) // Part of it.
		}
	}
	if r.random.IntN(4) == 0 {
		for i := range events {
			events[i].Flags |= model.TransferLinked
		}
		events = append(events, model.Transfer{ID: r.id(), PendingID: model.U128(1 << 40),
			Flags: model.TransferVoidPending})
	}
	results := make([]model.TransferResult, len(events))
	r.ledger.CreateTransfers(r.timestamp, events, results)
	r.timestamp += uint64(len(events))
}

// reservations reserves, releases and pays from reservations between ledger 1 accounts
// and the escrow (the matching engine's system events), sometimes in a failing chain.
func (r *runningTotalsRun) reservations() {
	var debit model.Uint128
	for range 16 { // A ledger 1 account with credits to reserve, if one comes up.
		candidate := r.account()
		account, _, _ := r.ledger.AccountAs(0, model.ScopeRead, candidate)
		if account.Ledger == 1 && (account.Flags&model.AccountDebitsMustNotExceedCredits == 0 ||
			!account.CreditsPosted.IsZero() || !r.ledger.Reserved(candidate).IsZero()) {
			debit = candidate
			break
		}
	}
	if debit.IsZero() {
		return
	}
	amount := model.U128(1 + r.random.Uint64N(300))
	event := model.Transfer{DebitAccountID: debit, CreditAccountID: r.escrow, Amount: amount,
		Ledger: 1}
	reserved := r.ledger.Reserved(debit)
	switch {
	case r.random.IntN(2) == 0 || reserved.IsZero():
		event.Flags = SystemReserve
	case r.random.IntN(2) == 0:
		event.Flags, event.Amount = SystemRelease, reserved.Min(amount)
	default:
		event = model.Transfer{ID: model.Uint128{Hi: 1 << 63, Lo: r.id().Lo},
			DebitAccountID: debit, CreditAccountID: r.escrow, Amount: reserved.Min(amount),
			Ledger: 1, Code: 1, Flags: model.TransferFromReservation}
	}
	events := []model.Transfer{event}
	if r.random.IntN(4) == 0 {
		events[0].Flags |= model.TransferLinked
		events = append(events, model.Transfer{ID: model.Uint128{Hi: 1 << 63, Lo: r.id().Lo},
			DebitAccountID: debit, CreditAccountID: model.U128(1 << 40), Ledger: 1, Code: 1,
			Amount: model.U128(1), Flags: model.TransferFromReservation})
	}
	results := make([]model.TransferResult, len(events))
	r.ledger.CreateSystemTransfers(r.timestamp, events, results)
	r.timestamp += uint64(len(events))
}

// roundTrip replaces the ledger with one restored from its snapshot, whose running
// totals and owned lists are rebuilt from the records.
func (r *runningTotalsRun) roundTrip() {
	var buffer bytes.Buffer
	view := r.ledger.Snapshot()
	if _, err := view.WriteTo(&buffer); err != nil {
		r.t.Fatal(err)
	}
	view.Release()
	restored, err := Restore(Config{HashSeed: r.seed + r.step}, &buffer)
	if err != nil {
		r.t.Fatalf("seed %d step %d: restore: %v", r.seed, r.step, err)
	}
	r.ledger = restored
}

// check compares every reader's totals with the scan, under a random filter.
func (r *runningTotalsRun) check() {
	filter := model.LedgerFilter{Limit: uint32(1 + r.random.IntN(7))}
	if r.random.IntN(2) == 0 {
		filter.LedgerMin = runningTotalsLedgers[r.random.IntN(len(runningTotalsLedgers))]
	}
	if r.random.IntN(3) == 0 {
		filter.LedgerMax = max(filter.LedgerMin,
			runningTotalsLedgers[r.random.IntN(len(runningTotalsLedgers))])
	}
	for _, client := range runningTotalsReaders {
		got, status := r.ledger.LedgerTotalsAs(client, &filter, nil)
		r.ledger.actAs(client)
		want := r.ledger.scanTotals(&filter, nil)
		if status != model.StatusOK || !slices.Equal(got, want) {
			r.t.Fatalf("seed %d step %d: client %d filter %+v: %s\n got %v\nwant %v", r.seed,
				r.step, client, filter, status, got, want)
		}
	}
	everything := model.LedgerFilter{Limit: model.EventsPerRequestMax}
	all, _ := r.ledger.LedgerTotals(&everything, nil)
	for i := range all {
		if !all[i].Balanced() {
			r.t.Fatalf("seed %d step %d: %s not balanced", r.seed, r.step, &all[i])
		}
	}
	if len(all) != r.ledger.totals.order.count() {
		r.t.Fatalf("seed %d step %d: %d ledgers listed, the order holds %d", r.seed, r.step,
			len(all), r.ledger.totals.order.count())
	}
}

// TestLedgerOrder: the ledger order agrees with a sorted set through seeded random
// insertions and removals, enough of them that runs split and empty.
func TestLedgerOrder(t *testing.T) {
	seed := envUint(t, "LEDGER_TOTALS_SEED", 20261204)
	random := rand.New(rand.NewPCG(seed, 2))
	var order ledgerOrder
	held := map[uint32]bool{}
	for step := range 20_000 {
		ledger := uint32(random.IntN(6_000))
		if held[ledger] {
			order.remove(ledger)
			delete(held, ledger)
		} else {
			order.insert(ledger)
			held[ledger] = true
		}
		if step%97 != 0 {
			continue
		}
		from := uint32(random.IntN(6_000))
		var want []uint32
		for ledger := range held {
			if ledger >= from {
				want = append(want, ledger)
			}
		}
		slices.Sort(want)
		var got []uint32
		order.from(from, func(ledger uint32) bool { got = append(got, ledger); return true })
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d step %d: from %d: %d ledgers, want %d", seed, step, from,
				len(got), len(want))
		}
		for _, run := range order.runs {
			if len(run) == 0 || len(run) > ledgerOrderRunMax {
				t.Fatalf("seed %d step %d: a run of %d", seed, step, len(run))
			}
		}
	}
}

// count returns how many ledgers the order holds.
func (o *ledgerOrder) count() int {
	total := 0
	for _, run := range o.runs {
		total += len(run)
	}
	return total
}
