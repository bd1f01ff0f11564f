package ledger

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// oneEventStranger is a client with accounts of its own and no grants: its one-event
// batches are refused on the others' accounts (debit_account_not_owned) and, with the
// issuing check, when its debit would take an account below zero that it may not issue on.
const oneEventStranger = 11

// TestOneEventClientBatchesWhileAccountsMigrate is a differential test of a client's
// one-event batches (resolveOneStaged) against the software pipeline on the same events
// (createTransfersPipelined), varying what TestShortBatchesMatchPipeline keeps fixed:
// accounts are created between the transfers, so the account table's migration moves on
// under them (accounts found only in the old table, then only in the new one, then with
// the migration over) and accounts appear that only the new table ever held; the issuing
// check (rules 6) is on; a client without grants sends too; debit, credit and transfer ids
// are now and then zero; and one-event batches alternate with long batches and short
// multi-event batches, so that each path runs on the scratch the other left. Results,
// events, digest and risk state must agree after every batch.
func TestOneEventClientBatchesWhileAccountsMigrate(t *testing.T) {
	d := newPipelineDiff(t, 4242, 520, true, true)
	d.reference = (*Ledger).createTransfersPipelined
	if d.pipe.accountIndex.old == nil {
		t.Fatal("the account table is not migrating: the scenario misses its case")
	}
	for _, l := range []*Ledger{d.pipe, d.old} {
		l.SetIssuingChecked(true)
	}
	var migratingBatches, settledBatches int
	nextAccount := uint64(1)
	var retry struct { // The last one-event batch, sent again now and then: exists.
		event    model.Transfer
		client   uint64
		balances bool
	}
	for round := range 160 {
		// A few accounts, by pairs to keep d.accounts' ledgers alternating: the owner's,
		// the stranger's or the system's; each insert migrates some old slots.
		creators := []uint64{pipelineDiffOwner, oneEventStranger, 0}
		creator := creators[round%len(creators)]
		accounts := make([]model.Account, 2)
		for i := range accounts {
			id := model.Uint128{Hi: 3, Lo: nextAccount*0x9e3779b97f4a7c15 + 7}
			nextAccount++
			accounts[i] = model.Account{ID: id, Ledger: uint32(i) + 1, Code: 1}
			// Without a transfer grant (SetGrants replaced the owner's), a client creates only accounts that cannot go
			// negative (debits_must_not_exceed_credits_required).
			if creator != 0 || d.random.IntN(3) == 0 {
				accounts[i].Flags = model.AccountDebitsMustNotExceedCredits
			}
		}
		d.createAccounts(func(l *Ledger, ts uint64, a []model.Account, r []model.EventResult) {
			l.CreateAccountsAs(creator, ts, a, r)
		}, accounts)
		d.accounts = append(d.accounts, accounts[0].ID, accounts[1].ID)
		for step := range 6 {
			label := fmt.Sprintf("round %d step %d", round, step)
			if d.pipe.accountIndex.old != nil {
				migratingBatches++
			} else {
				settledBatches++
			}
			switch d.random.IntN(6) {
			case 0: // A long batch, then the one-event batches again.
				_, events := d.batch(0, nil)
				client, balances := d.caller()
				d.apply(label, 3, events, client, balances)
				continue
			case 1: // A short batch of a few events.
				_, events := d.batch(2+d.random.IntN(shortBatchEventsMax-1), nil)
				client, balances := d.caller()
				d.apply(label, 3, events, client, balances)
				continue
			case 2:
				if retry.client != 0 {
					d.apply(label, 3, []model.Transfer{retry.event}, retry.client,
						retry.balances)
					continue
				}
			}
			event := d.clientTransfer()
			switch d.random.IntN(10) {
			case 0:
				event.DebitAccountID = model.Uint128{}
			case 1:
				event.CreditAccountID = model.Uint128{}
			case 2:
				event.ID = model.Uint128{}
			case 3, 4: // One of the accounts created last (the new table's only).
				event.DebitAccountID = accounts[event.Ledger%2].ID
			}
			client := []uint64{pipelineDiffOwner, pipelineDiffGrantee,
				oneEventStranger}[d.random.IntN(3)]
			balances := d.random.IntN(2) == 0
			d.apply(label, 3, []model.Transfer{event}, client, balances)
			retry.event, retry.client, retry.balances = event, client, balances
		}
	}
	if migratingBatches == 0 || settledBatches == 0 {
		t.Errorf("batches while the account table migrates %d, after %d: a phase is not "+
			"reached", migratingBatches, settledBatches)
	}
	for _, status := range []model.Status{model.StatusOK, model.StatusDebitAccountNotOwned,
		model.StatusDebitAccountNotFound, model.StatusCreditAccountNotFound,
		model.StatusIDMustNotBeZero, model.StatusExists} {
		if d.statuses[status] == 0 {
			t.Errorf("no event answered %s: the batches miss a case", status)
		}
	}
	t.Logf("batches while migrating %d, after %d; statuses %v", migratingBatches,
		settledBatches, d.statuses)
}

// TestCheckBatchMatchesItsThreeTests holds checkBatch's folded expression to the three
// tests it replaced (412492f), written out here as they were: it must panic exactly when
// one of them fails, at every boundary of each (event counts 0, 1, the largest and one
// past it, negative ones no caller passes; results one short, exact, one over;
// timestamps 0, 1, each side of the last one leaving room for the batch, around
// timestampMax and the top of the uint64 range).
func TestCheckBatchMatchesItsThreeTests(t *testing.T) {
	refused := func(firstTimestamp uint64, eventCount, resultCount int) bool {
		return eventCount > model.EventsPerRequestMax || resultCount < eventCount ||
			firstTimestamp == 0 || firstTimestamp > timestampMax-uint64(eventCount)
	}
	panics := func(firstTimestamp uint64, eventCount, resultCount int) (panicked bool) {
		defer func() { panicked = recover() != nil }()
		checkBatch(firstTimestamp, eventCount, resultCount)
		return false
	}
	var cases, refusals int
	for _, eventCount := range []int{-2, -1, 0, 1, 2, model.EventsPerRequestMax - 1,
		model.EventsPerRequestMax, model.EventsPerRequestMax + 1} {
		for _, resultCount := range []int{eventCount - 1, eventCount, eventCount + 1} {
			room := timestampMax - uint64(eventCount)
			for _, firstTimestamp := range []uint64{0, 1, 2, room - 1, room, room + 1,
				timestampMax - 1, timestampMax, timestampMax + 1, 1 << 63, 1<<64 - 1} {
				want := refused(firstTimestamp, eventCount, resultCount)
				if got := panics(firstTimestamp, eventCount, resultCount); got != want {
					t.Errorf("checkBatch(%d, %d, %d): panicked %t, the three tests say %t",
						firstTimestamp, eventCount, resultCount, got, want)
				}
				cases++
				if want {
					refusals++
				}
			}
		}
	}
	if refusals == 0 || refusals == cases {
		t.Fatalf("%d of %d cases refused: a side is not reached", refusals, cases)
	}
}
