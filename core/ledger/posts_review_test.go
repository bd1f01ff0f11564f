package ledger

import (
	"bytes"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/internal/rapidseed"
	"sequent/core/model"
)

// TestPostsMatchReferenceUnderGrowth drives the ledger and the naive reference with
// batches heavy in posts and voids (of active, posted, voided and expired pendings; full,
// partial and excessive amounts; fields inherited, named and wrong), in linked chains that
// fail mid-chain, as clients, operators, the system and saga step 3s (CreateSagaFinishes
// with right, wrong and out-of-range indexes), while expiries run and the transfer and
// account tables grow through many doublings. After every batch it requires the
// reference's statuses, records, pending statuses and histories, running totals equal to
// the sums of the reference's accounts, and a twin ledger (another hash seed, step 3s
// through CreateSagaTransfers without indexes, restored from its own snapshot every 50
// batches) with the same results and digest.
// POSTS_REVIEW_SEED picks the rapid seed, POSTS_REVIEW_CHECKS the runs (default 6).
func TestPostsMatchReferenceUnderGrowth(t *testing.T) {
	seed, checks := uint64(42), 6
	if text := os.Getenv("POSTS_REVIEW_SEED"); text != "" {
		seed, _ = strconv.ParseUint(text, 10, 64)
	}
	if text := os.Getenv("POSTS_REVIEW_CHECKS"); text != "" {
		checks, _ = strconv.Atoi(text)
	}
	rapidseed.Fix(t, seed, checks)
	rapid.Check(t, postsMatchReference)
}

// postsRun is the state of one run of TestPostsMatchReferenceUnderGrowth.
type postsRun struct {
	t          *rapid.T
	random     *rand.Rand
	ledger     *Ledger // CreateSagaFinishes for step 3s.
	twin       *Ledger // Another hash seed; CreateSagaTransfers for step 3s.
	reference  *referenceLedger
	timestamp  uint64
	nextID     uint64
	accounts   []model.Uint128 // Ledger 1's accounts.
	submitted  []model.Transfer
	pendingIDs []model.Uint128
	statuses   map[model.Status]int
}

func postsMatchReference(t *rapid.T) {
	seed := rapid.Uint64().Draw(t, "seed")
	r := &postsRun{t: t, random: rand.New(rand.NewPCG(seed, 7)),
		ledger: New(Config{HashSeed: seed}), twin: New(Config{HashSeed: seed ^ 0x5bd1e995}),
		reference: newReferenceLedger(), timestamp: 1_000 * second, nextID: 1,
		statuses: map[model.Status]int{}}
	r.setup()
	for batch := range 400 {
		r.timestamp += r.random.Uint64N(3 * second / 2)
		expired := r.ledger.Expire(r.timestamp, nil)
		if twin := r.twin.Expire(r.timestamp, nil); twin != expired {
			t.Fatalf("batch %d: twin expired %d, ledger %d", batch, twin, expired)
		}
		if want := r.reference.expire(r.timestamp, ExpiriesPerPulseMax); expired != want {
			t.Fatalf("batch %d: expired %d, reference %d", batch, expired, want)
		}
		switch kind := r.random.IntN(16); {
		case kind < 2:
			r.createAccounts(batch)
		case kind < 5:
			r.sagaFinishes(batch)
		default:
			r.transfers(batch)
		}
		r.timestamp += model.EventsPerRequestMax
		if batch%50 == 49 {
			r.restoreTwin(seed + uint64(batch))
		}
		compareWithReference(t, r.ledger, r.reference)
		r.compareTotals(batch)
		if r.ledger.Digest() != r.twin.Digest() {
			t.Fatalf("batch %d: the twin's digest differs", batch)
		}
		if err := CheckInvariants(r.ledger.Accounts()); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
	}
	for _, status := range []model.Status{model.StatusOK, model.StatusLinkedEventFailed,
		model.StatusPendingTransferAlreadyPosted, model.StatusPendingTransferAlreadyVoided,
		model.StatusPendingTransferExpired, model.StatusExceedsPendingTransferAmount,
		model.StatusPendingTransferNotOwned} {
		if r.statuses[status] == 0 {
			t.Fatalf("the run never produced %s (%v)", status, r.statuses)
		}
	}
	if count := r.ledger.TransferCount(); count < 600 {
		t.Fatalf("only %d transfers: the tables grew too little", count)
	}
}

// setup creates accounts 1-8 on ledger 1 (1-4 of client 1, 5-8 of client 2) and 9-10 on
// ledger 2 (the system's), funds 2-8 from 1, and installs propertyGrants.
func (r *postsRun) setup() {
	setup := []model.Grant{
		{Client: 1, Scopes: model.ScopeTransfer, First: model.U128(1), Last: model.U128(4)},
		{Client: 2, Scopes: model.ScopeTransfer, First: model.U128(5), Last: model.U128(8)}}
	r.setGrants(setup)
	for _, part := range []struct {
		first, end uint64
		owner      uint64
	}{{1, 5, 1}, {5, 9, 2}, {9, 11, 0}} {
		var events []model.Account
		for id := part.first; id < part.end; id++ {
			events = append(events, model.Account{ID: model.U128(id), Ledger: 1 + uint32(id/9),
				Code: 1, Flags: r.accountFlags(id == 1)})
			if id < 9 {
				r.accounts = append(r.accounts, model.U128(id))
			}
		}
		r.applyAccounts(part.owner, events)
	}
	r.setGrants(propertyGrants())
	var funding []model.Transfer
	for id := uint64(2); id <= 8; id++ {
		funding = append(funding, model.Transfer{ID: r.id(), DebitAccountID: model.U128(1),
			CreditAccountID: model.U128(id), Amount: model.U128(100_000), Ledger: 1, Code: 1})
	}
	r.applyTransfers(-1, 0, false, funding)
}

func (r *postsRun) setGrants(grants []model.Grant) {
	for _, l := range []*Ledger{r.ledger, r.twin} {
		if err := l.SetGrants(grants); err != nil {
			r.t.Fatal(err)
		}
	}
	r.reference.grants = grants
}

func (r *postsRun) id() model.Uint128 {
	r.nextID++
	return model.U128(r.nextID)
}

func (r *postsRun) accountFlags(source bool) uint16 {
	if source {
		return 0
	}
	return []uint16{0, 0, model.AccountHistory, model.AccountDebitsMustNotExceedCredits,
		model.AccountCreditsMustNotExceedDebits | model.AccountHistory}[r.random.IntN(5)]
}

// createAccounts creates up to 12 accounts on ledger 1 as the system, so that the account
// table grows while posts resolve their pendings' accounts.
func (r *postsRun) createAccounts(batch int) {
	events := make([]model.Account, 1+r.random.IntN(12))
	for i := range events {
		id := model.U128(1_000 + uint64(len(r.accounts)) + uint64(i))
		events[i] = model.Account{ID: id, Ledger: 1, Code: 1, Flags: r.accountFlags(false)}
	}
	for i, status := range r.applyAccounts(0, events) {
		if status != model.StatusOK {
			r.t.Fatalf("batch %d account %d: %s", batch, i, status)
		}
		r.accounts = append(r.accounts, events[i].ID)
	}
}

func (r *postsRun) applyAccounts(client uint64, events []model.Account) []model.Status {
	results := make([]model.EventResult, len(events))
	r.ledger.CreateAccountsAs(client, r.timestamp, events, results)
	twin := make([]model.EventResult, len(events))
	r.twin.CreateAccountsAs(client, r.timestamp, events, twin)
	r.reference.client = client
	want := r.reference.createAccounts(r.timestamp, events)
	r.timestamp += uint64(len(events))
	statuses := make([]model.Status, len(events))
	for i := range events {
		if results[i] != twin[i] || results[i].Status != want[i] {
			r.t.Fatalf("account %d %+v: %+v, twin %+v, reference %s", i, events[i], results[i],
				twin[i], want[i])
		}
		statuses[i] = results[i].Status
	}
	return statuses
}

// transfers sends a batch as a client (1-3), an operator (4) or the system (0).
func (r *postsRun) transfers(batch int) {
	client := []uint64{0, 0, 0, 4, 4, 1, 2, 3}[r.random.IntN(8)]
	events := make([]model.Transfer, 1+r.random.IntN(40))
	for i := range events {
		switch kind := r.random.IntN(20); {
		case kind < 7:
			events[i] = r.pending()
		case kind < 16:
			events[i] = r.resolution()
		case kind < 18:
			events[i] = r.plain()
		default:
			events[i] = r.retry()
		}
		r.link(&events[i])
	}
	r.applyTransfers(batch, client, false, events)
}

// sagaFinishes sends a batch of posts and voids as a saga's step 3.
func (r *postsRun) sagaFinishes(batch int) {
	events := make([]model.Transfer, 1+r.random.IntN(8))
	for i := range events {
		events[i] = r.resolution()
		r.link(&events[i])
	}
	r.applyTransfers(batch, 0, true, events)
}

func (r *postsRun) link(t *model.Transfer) {
	if r.random.IntN(10) == 0 {
		t.Flags |= model.TransferLinked
	}
}

func (r *postsRun) pair() (model.Uint128, model.Uint128, uint32) {
	if r.random.IntN(10) == 0 {
		return model.U128(9), model.U128(10), 2
	}
	debit := r.accounts[r.random.IntN(len(r.accounts))]
	credit := r.accounts[r.random.IntN(len(r.accounts))]
	for credit == debit {
		credit = r.accounts[r.random.IntN(len(r.accounts))]
	}
	return debit, credit, 1
}

func (r *postsRun) pending() model.Transfer {
	debit, credit, ledger := r.pair()
	t := model.Transfer{ID: r.id(), DebitAccountID: debit, CreditAccountID: credit,
		Amount: model.U128(1 + r.random.Uint64N(200)), Ledger: ledger, Code: 1,
		UserData64: r.random.Uint64N(3), Flags: model.TransferPending,
		Timeout: []uint32{0, 0, 0, 1, 2}[r.random.IntN(5)]}
	switch r.random.IntN(120) {
	case 0:
		t.Flags |= model.TransferClosingDebit
	case 1:
		t.Flags |= model.TransferClosingCredit
	}
	return t
}

func (r *postsRun) plain() model.Transfer {
	debit, credit, ledger := r.pair()
	return model.Transfer{ID: r.id(), DebitAccountID: debit, CreditAccountID: credit,
		Amount: model.U128(1 + r.random.Uint64N(50)), Ledger: ledger, Code: 1}
}

func (r *postsRun) retry() model.Transfer {
	if len(r.submitted) == 0 {
		return r.plain()
	}
	return r.submitted[r.random.IntN(len(r.submitted))]
}

// resolution draws a post or void of a pending transfer (recent ones more often, where
// most are still active), with any kind of amount and fields.
func (r *postsRun) resolution() model.Transfer {
	t := model.Transfer{ID: r.id(), Flags: model.TransferPostPending}
	if r.random.IntN(3) == 0 {
		t.Flags = model.TransferVoidPending
	}
	var p model.Transfer
	switch {
	case len(r.pendingIDs) == 0 || r.random.IntN(60) == 0:
		t.PendingID = model.U128(1 << 40) // None.
	case r.random.IntN(2) == 0:
		t.PendingID = r.pendingIDs[len(r.pendingIDs)-1-r.random.IntN(min(len(r.pendingIDs), 30))]
	default:
		t.PendingID = r.pendingIDs[r.random.IntN(len(r.pendingIDs))]
	}
	p = r.reference.transfers[t.PendingID]
	switch r.random.IntN(6) {
	case 0:
		t.Amount = model.Uint128Max
	case 1:
		t.Amount = p.Amount
	case 2:
		t.Amount = model.U128(1 + r.random.Uint64N(p.Amount.Lo+1)) // Partial, or one above.
	case 3:
		t.Amount = p.Amount.MustAdd(model.U128(1))
	}
	switch r.random.IntN(8) {
	case 0, 1, 2:
		t.DebitAccountID, t.CreditAccountID = p.DebitAccountID, p.CreditAccountID
		t.Ledger, t.Code = p.Ledger, p.Code
	case 3:
		t.Ledger = 2
	case 4:
		t.DebitAccountID = p.CreditAccountID
	case 5:
		t.UserData64, t.UserData32 = 9, 9
	}
	return t
}

// applyTransfers runs events through both ledgers and the reference (batch -1: setup).
func (r *postsRun) applyTransfers(batch int, client uint64, saga bool, events []model.Transfer) {
	results := make([]model.TransferResult, len(events))
	twin := make([]model.TransferResult, len(events))
	r.reference.client, r.reference.saga = client, saga
	want := r.reference.createTransfers(r.timestamp, events)
	r.reference.saga = false
	if saga {
		pendings := make([]uint32, len(events))
		for i := range events {
			index, found := r.ledger.TransferIndex(events[i].PendingID)
			switch {
			case !found || r.random.IntN(5) == 0:
				index = uint32(r.random.IntN(int(r.ledger.TransferCount()) + 2))
			case r.random.IntN(8) == 0:
				index = 1 << 31
			}
			pendings[i] = index
		}
		r.ledger.CreateSagaFinishes(r.timestamp, events, pendings, results)
		r.twin.CreateSagaTransfers(r.timestamp, events, twin)
	} else {
		r.ledger.CreateTransfersAs(client, true, r.timestamp, events, results)
		r.twin.CreateTransfersAs(client, true, r.timestamp, events, twin)
	}
	for i := range events {
		r.statuses[results[i].Status]++
		if results[i].Status == model.StatusOK && events[i].Flags&model.TransferPending != 0 {
			r.pendingIDs = append(r.pendingIDs, events[i].ID)
		}
		if results[i].Status != want[i] {
			r.t.Fatalf("batch %d (client %d, saga %t) transfer %d %+v: %s, reference %s",
				batch, client, saga, i, events[i], results[i].Status, want[i])
		}
		if !reflect.DeepEqual(results[i], twin[i]) {
			r.t.Fatalf("batch %d (saga %t) transfer %d: %+v, twin %+v", batch, saga, i,
				results[i], twin[i])
		}
	}
	checkResultBalances(r.t, r.ledger, r.reference, events, results)
	r.submitted = append(r.submitted, events...)
	r.timestamp += uint64(len(events))
}

// restoreTwin replaces the twin with one restored from its snapshot (another hash seed),
// so that posts and voids also run on a ledger rebuilt from its records.
func (r *postsRun) restoreTwin(seed uint64) {
	var buffer bytes.Buffer
	view := r.twin.Snapshot()
	if _, err := view.WriteTo(&buffer); err != nil {
		r.t.Fatal(err)
	}
	view.Release()
	restored, err := Restore(Config{HashSeed: seed}, &buffer)
	if err != nil {
		r.t.Fatalf("restore: %v", err)
	}
	r.twin = restored
}

// compareTotals requires the running totals to be the sums over the reference's accounts.
func (r *postsRun) compareTotals(batch int) {
	sums := map[uint32]*model.LedgerTotals{}
	for _, account := range r.reference.accounts {
		totals := sums[account.Ledger]
		if totals == nil {
			totals = &model.LedgerTotals{Ledger: account.Ledger}
			sums[account.Ledger] = totals
		}
		totals.Add(&account)
	}
	var want []model.LedgerTotals
	for _, ledger := range slices.Sorted(func(yield func(uint32) bool) {
		for ledger := range sums {
			if !yield(ledger) {
				return
			}
		}
	}) {
		want = append(want, *sums[ledger])
	}
	filter := model.LedgerFilter{Limit: model.EventsPerRequestMax}
	got, status := r.ledger.LedgerTotals(&filter, nil)
	if status != model.StatusOK || !slices.Equal(got, want) {
		r.t.Fatalf("batch %d: totals %s %v, reference %v", batch, status, got, want)
	}
}
