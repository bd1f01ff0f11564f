package ledger

import (
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// createdPlainClient is a client granted transfers on ledger 1; createdPlainAccounts the
// system accounts the test's transfers use.
const (
	createdPlainClient   = 5
	createdPlainAccounts = 24
	createdPlainEvents   = 2000
)

// prepareOne resolves a one-event batch as CreateTransfersAs does and returns what
// createTransfer has in hand when it dispatches the event: the transfer slot's hash and
// position, and whether the id is new (neither stored nor failed before).
func prepareOne(l *Ledger, client uint64, balances bool,
	events []model.Transfer) (hash, position uint64, fresh bool) {
	l.actAs(client)
	l.resultBalances = balances
	l.resolveShort(events)
	l.transferIndex.prepareInsert()
	hash = l.batch.transferHash[0]
	position, absent := l.transferIndex.emptyHome(hash)
	found := false
	if !absent {
		_, position, found = l.probeTransfer(hash, events[0].ID)
	}
	return hash, position, !found && !l.hasFailed(events[0].ID)
}

// TestCreatedPlainMatchesSingleOrPending holds createdPlain, the common case of a plain
// transfer, to singleOrPendingTransfer, which decides every case: two ledgers with the
// same accounts (every account flag, two ledgers, balances near 2^126 on some) take the
// same plain events, one through createdPlain (singleOrPendingTransfer when it declines),
// the other through singleOrPendingTransfer alone, as the system and as a client (granted one of the two ledgers), with
// and without balances in the results, pending and single-phase, with an account missing,
// both accounts the same, the ledger's transfer limit reached. After each event the
// results and the digests must be the same, and an event createdPlain declines must have
// left its ledger's digest and the result as they were. Both answers must come up often.
func TestCreatedPlainMatchesSingleOrPending(t *testing.T) {
	random := rand.New(rand.NewPCG(47, 0x9a1))
	config := Config{HashSeed: 47, TransfersMax: createdPlainEvents / 6}
	fast, general := New(config), New(config)
	ids := make([]model.Uint128, createdPlainAccounts)
	accounts := make([]model.Account, createdPlainAccounts)
	closed := make([]bool, createdPlainAccounts)
	for i := range accounts {
		ids[i] = model.Uint128{Lo: uint64(i) + 1, Hi: uint64(i) * 7}
		flags := uint16(0)
		if i%3 == 2 { // A third of the accounts have one flag each, the others none.
			flags = []uint16{model.AccountDebitsMustNotExceedCredits,
				model.AccountCreditsMustNotExceedDebits, model.AccountHistory, 0}[i/3%4]
			closed[i] = flags == 0
		}
		accounts[i] = model.Account{ID: ids[i], Ledger: uint32(i%4/3) + 1, Code: 1, Flags: flags}
	}
	for _, l := range []*Ledger{fast, general} {
		// The client may transfer on ledger 1 only: on ledger 2 it is refused.
		if err := l.SetGrants([]model.Grant{{Client: createdPlainClient,
			Scopes: model.ScopeTransfer, Ledger: 1}}); err != nil {
			t.Fatal(err)
		}
		results := make([]model.EventResult, len(accounts))
		l.CreateAccounts(1, accounts, results)
		for i := range results {
			if results[i].Status != model.StatusOK {
				t.Fatalf("account %d: %v", i, results[i].Status)
			}
		}
		for i := range accounts { // Closed as a closing transfer leaves them.
			if closed[i] {
				l.recordOf(l.resolveAccount(ids[i])).Flags |= model.AccountClosed
			}
		}
	}
	counts := map[bool]int{}
	timestamp := uint64(1000)
	for step := range createdPlainEvents {
		debit, credit := random.IntN(createdPlainAccounts), random.IntN(createdPlainAccounts)
		event := model.Transfer{ID: model.Uint128{Lo: uint64(step) + 1, Hi: 3},
			DebitAccountID: ids[debit], CreditAccountID: ids[credit],
			Amount: model.Uint128{Lo: uint64(random.IntN(1000)) + 1},
			Ledger: accounts[debit].Ledger, Code: 1}
		switch random.IntN(64) {
		case 0, 1:
			event.DebitAccountID.Lo += 1000 // Not found.
		case 2, 3:
			event.CreditAccountID.Lo += 1000
		case 4, 5, 6:
			// Not small, or small once but the accounts' balances reach 2^126: then their
			// transfers are not (from a few accounts only, as it lasts).
			if debit < 3 {
				event.Amount.Hi = 1<<62 - uint64(step%2)
			}
		}
		if random.IntN(3) == 0 {
			event.Flags |= model.TransferPending
		}
		client := uint64(0)
		if random.IntN(4) == 0 {
			client = createdPlainClient
		}
		balances := random.IntN(2) == 0
		if !plainIgnoringAccountIDs(&event) {
			t.Fatalf("step %d: the event is not plain: %+v", step, event)
		}
		var fastResult, generalResult model.TransferResult
		fastResult.Timestamp, generalResult.Timestamp = timestamp, timestamp
		fastEvents, generalEvents := []model.Transfer{event}, []model.Transfer{event}
		hash, position, fresh := prepareOne(fast, client, balances, fastEvents)
		generalHash, generalPosition, _ := prepareOne(general, client, balances, generalEvents)
		if !fresh {
			t.Fatalf("step %d: the id is not new", step)
		}
		before := fast.Digest()
		var fastStatus model.Status
		created := fast.createdPlain(&fastEvents[0], timestamp, 0, hash, position, &fastResult)
		counts[created] = counts[created] + 1
		if !created {
			if fast.Digest() != before {
				t.Fatalf("step %d: createdPlain declined %+v and changed the ledger", step, event)
			}
			if fastResult != (model.TransferResult{EventResult: model.EventResult{Timestamp: timestamp}}) {
				t.Fatalf("step %d: createdPlain declined %+v and wrote %+v", step, event, fastResult)
			}
			fastStatus = fast.singleOrPendingTransfer(&fastEvents[0], true, timestamp, 0, hash,
				position, &fastResult)
		}
		generalStatus := general.singleOrPendingTransfer(&generalEvents[0], true, timestamp, 0,
			generalHash, generalPosition, &generalResult)
		if created && generalStatus != model.StatusOK {
			t.Fatalf("step %d: createdPlain created %+v, singleOrPendingTransfer answers %v",
				step, event, generalStatus)
		}
		if fastStatus != generalStatus || fastResult != generalResult {
			t.Fatalf("step %d, event %+v: %v %+v, singleOrPendingTransfer %v %+v", step, event,
				fastStatus, fastResult, generalStatus, generalResult)
		}
		if fast.Digest() != general.Digest() {
			t.Fatalf("step %d, event %+v (created by createdPlain: %v): the digests differ",
				step, event, created)
		}
		timestamp++
	}
	t.Logf("createdPlain created %d and declined %d events", counts[true], counts[false])
	if counts[true] < createdPlainEvents/20 || counts[false] < createdPlainEvents/20 {
		t.Fatalf("createdPlain created %d and declined %d of %d events: one side is barely reached",
			counts[true], counts[false], createdPlainEvents)
	}
}
