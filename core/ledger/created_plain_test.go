package ledger

import (
	"math/rand/v2"
	"slices"
	"testing"

	"sequent/core/model"
)

// createdPlainClient is a client granted transfers on ledger 1; createdPlainAccounts the
// system accounts the test's transfers use.
const (
	createdPlainClient   = 5
	createdPlainAccounts = 24
	createdPlainEvents   = 2000
	// createdPlainTransfersMax is reached at about four fifths of the events, after the transfer table's growth
	// (from 1,024 slots: prepared from 384 transfers, grown at 512, migrated by 640).
	createdPlainTransfersMax = 700
)

// resolveOne resolves a one-event batch as CreateTransfersAs does, ready for its apply.
func resolveOne(l *Ledger, client uint64, balances bool, events []model.Transfer) {
	l.actAs(client)
	l.resultBalances = balances
	l.resolveShort(events)
}

// sameIDTables reports whether two id tables hold the same slots, in their current,
// old and next tables, with the same counts (the digest does not see the tables).
func sameIDTables(a, b *idTable) bool {
	return slices.Equal(a.slots, b.slots) && slices.Equal(a.old, b.old) &&
		slices.Equal(a.next, b.next) && (a.old == nil) == (b.old == nil) &&
		(a.next == nil) == (b.next == nil) && a.count == b.count &&
		a.tombstones == b.tombstones && a.nextTouched == b.nextTouched
}

// TestCreatedPlainMatchesSingleOrPending holds createdPlain, the common case of a plain
// transfer, to singleOrPendingTransfer, which decides every case: two ledgers with the
// same accounts (every account flag, two ledgers, balances near 2^126 on some) take the
// same plain events, one through createdPlain (singleOrPendingTransfer when it declines),
// the other through singleOrPendingTransfer alone, as the system and as a client (granted one of the two ledgers), with
// and without balances in the results, pending and single-phase, with an account missing,
// both accounts the same, the ledger's transfer limit reached, an id stored or failed
// before, while the transfer table grows. After each event the
// results and the digests must be the same, and an event createdPlain declines must have
// left its ledger's digest and the result as they were. Both answers must come up often.
func TestCreatedPlainMatchesSingleOrPending(t *testing.T) {
	random := rand.New(rand.NewPCG(47, 0x9a1))
	// The transfer table (its minimum size) grows and migrates during the test.
	config := Config{HashSeed: 47, TransfersMax: createdPlainTransfersMax}
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
	var failedID model.Uint128
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
		switch {
		case step%40 == 19:
			event.ID.Lo-- // The previous event's id: stored, or failed.
		case step%20 == 9 && failedID != (model.Uint128{}):
			event.ID = failedID // An id that failed for a transient reason.
		}
		client := uint64(0)
		if random.IntN(4) == 0 {
			client = createdPlainClient
		}
		balances := random.IntN(2) == 0
		if !plainIgnoringAccountIDs(&event) {
			t.Fatalf("step %d: the event is not plain: %+v", step, event)
		}
		// The result as applyTransfers clears it for createTransfer; createdPlain's is
		// poisoned, as it must write all of it or nothing.
		generalResult := model.TransferResult{EventResult: model.EventResult{Timestamp: timestamp}}
		poison := model.TransferResult{EventResult: model.EventResult{Timestamp: 7, Status: 9,
			Rule: 11}, DebitAccount: model.Balance{DebitsPosted: model.Uint128{Lo: 13}},
			CreditAccount: model.Balance{CreditsPending: model.Uint128{Hi: 17}},
			Risk:          model.RiskDetail{Rule: 19}}
		fastResult := poison
		fastEvents, generalEvents := []model.Transfer{event}, []model.Transfer{event}
		resolveOne(fast, client, balances, fastEvents)
		resolveOne(general, client, balances, generalEvents)
		before := fast.Digest()
		fastStatus := model.StatusOK
		created := fast.createdPlain(&fastEvents[0], timestamp, 0, &fastResult)
		counts[created]++
		if !created {
			if fast.Digest() != before {
				t.Fatalf("step %d: createdPlain declined %+v and changed the ledger", step, event)
			}
			if fastResult != poison {
				t.Fatalf("step %d: createdPlain declined %+v and wrote %+v", step, event, fastResult)
			}
			fastResult = model.TransferResult{EventResult: model.EventResult{Timestamp: timestamp}}
			fastStatus = fast.createTransfer(&fastEvents[0], timestamp, 0, &fastResult)
		}
		generalStatus := general.createTransfer(&generalEvents[0], timestamp, 0, &generalResult)
		fastResult.Status, generalResult.Status = fastStatus, generalStatus
		if created && generalStatus != model.StatusOK {
			t.Fatalf("step %d: createdPlain created %+v, createTransfer answers %v",
				step, event, generalStatus)
		}
		if fastResult != generalResult {
			t.Fatalf("step %d, event %+v: %+v, createTransfer %+v", step, event,
				fastResult, generalResult)
		}
		if generalStatus.Transient() {
			failedID = event.ID
		}
		if !sameIDTables(&fast.transferIndex, &general.transferIndex) {
			t.Fatalf("step %d, event %+v (created by createdPlain: %v): the transfer tables differ",
				step, event, created)
		}
		if fast.Digest() != general.Digest() {
			t.Fatalf("step %d, event %+v (created by createdPlain: %v): the digests differ",
				step, event, created)
		}
		timestamp++
	}
	t.Logf("createdPlain created %d and declined %d events; %d transfers, %d slots", counts[true], counts[false], fast.transfers.count, len(fast.transferIndex.slots))
	if counts[true] < createdPlainEvents/20 || counts[false] < createdPlainEvents/20 {
		t.Fatalf("createdPlain created %d and declined %d of %d events: one side is barely reached",
			counts[true], counts[false], createdPlainEvents)
	}
}

// TestCreatedPlainLeavesSystemBatchesToCreateTransfer: a plain transfer (its id below
// 2^127) in a system batch is a caller's bug that createTransfer panics on; createdPlain
// must leave it to createTransfer rather than create it.
func TestCreatedPlainLeavesSystemBatchesToCreateTransfer(t *testing.T) {
	l := New(Config{HashSeed: 47})
	accounts := []model.Account{{ID: model.Uint128{Lo: 1}, Ledger: 1, Code: 1},
		{ID: model.Uint128{Lo: 2}, Ledger: 1, Code: 1}}
	results := make([]model.EventResult, len(accounts))
	l.CreateAccounts(1, accounts, results)
	events := []model.Transfer{{ID: model.Uint128{Lo: 9}, DebitAccountID: accounts[0].ID,
		CreditAccountID: accounts[1].ID, Amount: model.Uint128{Lo: 5}, Ledger: 1, Code: 1}}
	if !plainIgnoringAccountIDs(&events[0]) {
		t.Fatal("the event is not plain")
	}
	panicked := false
	func() {
		defer func() { panicked = recover() != nil }()
		l.CreateSystemTransfers(10, events, make([]model.TransferResult, 1))
	}()
	if !panicked {
		t.Fatal("a system batch created a transfer with an id outside the system range")
	}
}

// createdPlain is createdPlains for one event, number event of the batch whose accounts
// l.batch holds, with the given timestamp: whether it created it (then result is its
// result; otherwise result is untouched).
func (l *Ledger) createdPlain(t *model.Transfer, timestamp uint64, event int,
	result *model.TransferResult) bool {
	events := make([]model.Transfer, event+1)
	results := make([]model.TransferResult, event+1)
	events[event], results[event] = *t, *result
	created := l.createdPlains(timestamp-uint64(event), events, results, event, event+1) == event+1
	*result = results[event]
	return created
}
