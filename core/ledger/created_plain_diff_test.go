package ledger

import (
	"fmt"
	"maps"
	"reflect"
	"testing"

	"sequent/core/model"
)

// applyTransfersGeneral is applyTransfers as it was before createdPlain (069d12a): every
// event goes through createTransfer, which decides every case. It is the reference of
// TestCreatedPlainMatchesGeneralPath, so that test compares createdPlain's decisions with
// the rules it copies, through every public entry point that reaches applyTransfers.
func (l *Ledger) applyTransfersGeneral(runner *chainRunner, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult, start, end int) {
	events, results = events[:end], results[:end]
	for i := start; i < end; i++ {
		event, result := &events[i], &results[i]
		timestamp := firstTimestamp + uint64(i)
		linked := event.Flags&model.TransferLinked != 0
		*result = model.TransferResult{EventResult: model.EventResult{Timestamp: timestamp}}
		status := model.StatusOK
		if linked || runner.open {
			status = runner.before(i, linked)
		}
		if status == model.StatusOK {
			status = l.createTransfer(event, timestamp, i, result)
		}
		result.Status = status
		if !runner.open {
			continue
		}
		from, to := runner.after(i, linked, status)
		for j := from; j < to; j++ {
			results[j] = model.TransferResult{}
			results[j].Timestamp = firstTimestamp + uint64(j)
			results[j].Status = model.StatusLinkedEventFailed
		}
	}
}

// createTransfersGeneral is createTransfersTwoPhase applied by applyTransfersGeneral:
// CreateTransfersAs without createdPlain.
func (l *Ledger) createTransfersGeneral(client uint64, balances bool, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult) {
	l.createTransfersByBlocks(client, balances, firstTimestamp, events, results,
		l.applyTransfersGeneral)
}

// createdPlainOperator is an operator (it may use every account, as the system may, so
// its plain transfers take createdPlain too).
const createdPlainOperator = 11

// createdPlainSameState requires the state the digest does not see to be the same in
// both ledgers: the account records as held in memory (the newest-transfer link and the
// pending-zero marker), each transfer's list links, the id tables, the balance history's
// last entries, the expiry heap, the running totals (get_ledger_totals) and one account's
// get_account_transfers and get_account_balances answers.
func createdPlainSameState(t *testing.T, label string, a, b *Ledger, account model.Uint128) {
	t.Helper()
	if a.accounts.count != b.accounts.count || a.transfers.count != b.transfers.count ||
		a.failed.count != b.failed.count || a.history.count != b.history.count {
		t.Fatalf("%s: counts differ", label)
	}
	for i := range a.accounts.count {
		if *a.accounts.at(i) != *b.accounts.at(i) {
			t.Fatalf("%s: account %d: %+v, general %+v", label, i, *a.accounts.at(i),
				*b.accounts.at(i))
		}
	}
	for i := range a.transfers.count {
		if *a.transferLinks.at(i) != *b.transferLinks.at(i) || *a.pending.at(i) != *b.pending.at(i) {
			t.Fatalf("%s: transfer %d's links or pending status differ", label, i)
		}
	}
	for name, tables := range map[string][2]*idTable{
		"transfer": {&a.transferIndex, &b.transferIndex},
		"failed":   {&a.failedIndex, &b.failedIndex},
		"account":  {&a.accountIndex, &b.accountIndex}} {
		if !sameIDTables(tables[0], tables[1]) {
			t.Fatalf("%s: the %s id tables differ", label, name)
		}
	}
	if !reflect.DeepEqual(a.historyLast, b.historyLast) ||
		!reflect.DeepEqual(a.expiry.items, b.expiry.items) {
		t.Fatalf("%s: history or expiry differ", label)
	}
	deadlineA, okA := a.NextDeadline()
	deadlineB, okB := b.NextDeadline()
	if deadlineA != deadlineB || okA != okB {
		t.Fatalf("%s: next deadline %d %v, general %d %v", label, deadlineA, okA, deadlineB, okB)
	}
	filter := model.LedgerFilter{Limit: 100}
	totalsA, statusA := a.LedgerTotals(&filter, nil)
	totalsB, statusB := b.LedgerTotals(&filter, nil)
	if statusA != statusB || !reflect.DeepEqual(totalsA, totalsB) {
		t.Fatalf("%s: ledger totals %v %+v, general %v %+v", label, statusA, totalsA, statusB,
			totalsB)
	}
	accountFilter := model.AccountFilter{AccountID: account, Limit: 1000,
		Flags: model.FilterDebits | model.FilterCredits | model.FilterReversed}
	transfersA, statusA := a.GetAccountTransfers(&accountFilter, nil)
	transfersB, statusB := b.GetAccountTransfers(&accountFilter, nil)
	if statusA != statusB || !reflect.DeepEqual(transfersA, transfersB) {
		t.Fatalf("%s: get_account_transfers differ", label)
	}
	balancesA, statusA := a.GetAccountBalances(&accountFilter, nil)
	balancesB, statusB := b.GetAccountBalances(&accountFilter, nil)
	if statusA != statusB || !reflect.DeepEqual(balancesA, balancesB) {
		t.Fatalf("%s: get_account_balances differ", label)
	}
}

// createdPlainVary turns a drawn client event into the cases createdPlain must create
// or decline exactly as createTransfer decides: half of them plain (most of which it
// creates), and a few with one fault each of what a plain transfer must not have (so
// that createTransfer's codes decide them), or an amount that brings balances near 2^126
// and 2^128, or no amount.
func (d *pipelineDiff) createdPlainVary(events []model.Transfer, i int) {
	e := &events[i]
	if e.PendingID.IsZero() && d.random.IntN(2) == 0 {
		e.Flags &= model.TransferPending // Plain: neither linked nor any other flag.
		e.Timeout = 0
	}
	switch d.random.IntN(64) {
	case 0:
		e.Amount = model.Uint128{Hi: 1<<62 - uint64(d.random.IntN(2))} // Around 2^126.
	case 1:
		e.Amount = model.Uint128{Hi: 1 << 63}
	case 2:
		e.Amount = model.Uint128Max
	case 3:
		e.Amount = model.Uint128{}
	case 4:
		e.ID = model.Uint128{}
	case 5:
		e.ID = model.Uint128Max
	case 6:
		e.ID.Hi |= 1 << 63 // A system id.
	case 7:
		e.DebitAccountID = model.Uint128{}
	case 8:
		e.CreditAccountID = model.Uint128Max
	case 9:
		e.Ledger = 0
	case 10:
		e.Code = 0
	case 11:
		e.Timestamp = 1
	case 12:
		e.Timeout = 1 // On a transfer that may not be pending.
	case 13:
		e.Flags |= 1 << 12 // A reserved flag.
	case 14:
		e.CreditAccountID = e.DebitAccountID
	case 15:
		e.Ledger = 3 - e.Ledger%3 // Another ledger than the accounts'.
	case 16:
		e.Flags |= model.TransferClosingDebit
	case 17, 18:
		// The accounts on two ledgers, the transfer on the credit account's (half the
		// time) or the debit account's: accounts_must_have_the_same_ledger either way.
		if debit, found := d.pipe.findAccount(e.DebitAccountID); found {
			ledger := int(d.pipe.accounts.at(debit).Ledger)%pipelineDiffLedgers + 1
			e.CreditAccountID = d.account(ledger)
			if d.random.IntN(2) == 0 {
				e.Ledger = uint32(ledger)
			}
		}
	}
	e.UserData32 = uint32(d.random.IntN(2)) // Retries with other fields: exists_with_different_*.
}

// applyAhead is pipelineDiff.apply for a one-event client batch through the lookahead
// (PrefetchTransferSlots, PrefetchTransferRecords, CreateTransferAheadAs) on pipe.
func (d *pipelineDiff) applyAhead(label string, events []model.Transfer, client uint64,
	balances bool) {
	pipeEvents := append([]model.Transfer(nil), events...)
	oldEvents := append([]model.Transfer(nil), events...)
	pipeResults, oldResults := make([]model.TransferResult, 1), make([]model.TransferResult, 1)
	poisonResults(pipeResults)
	poisonResults(oldResults)
	d.pipeEvents.Reset()
	d.oldEvents.Reset()
	var ahead TransferLookahead
	d.pipe.PrefetchTransferSlots(client, balances, &pipeEvents[0], &ahead)
	d.pipe.PrefetchTransferRecords(&ahead)
	d.pipe.CreateTransferAheadAs(client, balances, d.timestamp, pipeEvents, pipeResults, &ahead)
	d.reference(d.old, client, balances, d.timestamp, oldEvents, oldResults)
	d.timestamp++
	d.statuses[pipeResults[0].Status]++
	if pipeResults[0] != oldResults[0] {
		d.t.Fatalf("%s (ahead, client %d): %+v: %+v, general %+v", label, client, events[0],
			pipeResults[0], oldResults[0])
	}
	if !reflect.DeepEqual(d.pipeEvents.Events, d.oldEvents.Events) {
		d.t.Fatalf("%s (ahead): other events than the general path's", label)
	}
	d.compare(label)
}

// TestCreatedPlainMatchesGeneralPath is a differential test of createdPlain through the
// public entry points (CreateTransfersAs with its pipeline and its one-event path,
// CreateTransferAheadAs, CreateSystemTransfers, CreateSagaTransfersAs) against createTransfersGeneral, which
// applies every event through createTransfer as before createdPlain: pipelineDiff's
// batches of every kind (chains, posts and voids, closing and balancing transfers,
// reservations, saga steps, retries of stored and failed ids, expiry, the transfer
// table's growth, risk rules in some scenarios, events on in some), half their client
// events made plain, others with one fault each or amounts near 2^126 and 2^128, sent
// by the system, an operator, the owner and a grantee, in one scenario up to the
// transfers limit. The clients' batches are refused with every ownership code
// (debit_account_not_owned, credit_account_not_owned, and exceeds_credits for a debit
// that issues money without the right to, in the scenarios with SetIssuingChecked),
// and their plain transfers are created with the owner's compare, through a grant, and
// with the credit account's balances hidden or shown. After every batch the results,
// the events, the digests and what the digest does not see (createdPlainSameState) must
// be the same.
func TestCreatedPlainMatchesGeneralPath(t *testing.T) {
	scenarios := []struct {
		accounts      int
		rules, events bool
		transfersMax  bool
		issuing       bool // SetIssuingChecked(true), as package core from rules version 6.
	}{
		{accounts: 12, events: true},
		{accounts: 40, transfersMax: true, issuing: true},
		{accounts: 520, events: true, issuing: true},
		{accounts: 700, rules: true, events: true},
		{accounts: 3_000, issuing: true},
	}
	steps := 120
	if testing.Short() {
		steps = 30
	}
	for n, scenario := range scenarios {
		t.Run(fmt.Sprintf("accounts=%d/rules=%t/events=%t/max=%t/issuing=%t", scenario.accounts,
			scenario.rules, scenario.events, scenario.transfersMax, scenario.issuing), func(t *testing.T) {
			d := newPipelineDiff(t, uint64(n)+470, scenario.accounts, scenario.rules,
				scenario.events)
			d.reference = (*Ledger).createTransfersGeneral
			// The owner may debit (and issue money on) ledger 2's accounts, the system's
			// half through the grant, but may not issue on ledger 1, where it may only
			// read the system's accounts whose ids' high word is 0 (a read grant does not
			// let it debit them): exceeds_credits, and credit balances hidden and shown.
			// On ledger 1 it may also debit and issue on the accounts whose ids' high word
			// is 1, its own and the system's: a debit of its own account with high word 0
			// into one of them takes the debit account's right to issue, not the credit
			// account's (exceeds_credits, where mayIssue of the credit account would let
			// it create money).
			for _, l := range []*Ledger{d.pipe, d.old} {
				if err := l.SetGrants([]model.Grant{
					{Client: pipelineDiffOwner, Scopes: model.ScopeTransfer, Ledger: 2},
					{Client: pipelineDiffOwner, Scopes: model.ScopeTransfer, Ledger: 1,
						First: model.Uint128{Hi: 1}, Last: model.Uint128{Hi: 1, Lo: 1<<64 - 1}},
					{Client: pipelineDiffOwner, Scopes: model.ScopeRead, Ledger: 1,
						First: model.U128(1), Last: model.Uint128{Lo: 1<<64 - 1}},
					{Client: pipelineDiffGrantee, Scopes: model.ScopeTransfer, Ledger: 1},
					{Client: pipelineDiffGrantee, Scopes: model.ScopeRead, Ledger: 2},
					{Client: createdPlainOperator, Scopes: model.ScopeOperator}}); err != nil {
					t.Fatal(err)
				}
				l.SetIssuingChecked(scenario.issuing)
			}
			plainCreated, clientPlainCreated := 0, 0
			clientStatuses := map[model.Status]int{}
			for step := range steps {
				label := fmt.Sprintf("step %d", step)
				if scenario.transfersMax && step == steps/2 {
					// Reached in a few batches from here.
					limit := d.pipe.transfers.count + 600
					d.pipe.config.TransfersMax, d.old.config.TransfersMax = limit, limit
				}
				d.timestamp += uint64(d.random.IntN(3)) * 700_000_000
				if d.random.IntN(4) == 0 {
					if a, b := d.pipe.Expire(d.timestamp, nil), d.old.Expire(d.timestamp, nil); a != b {
						t.Fatalf("%s: expired %d, general %d", label, a, b)
					}
					d.timestamp++
				}
				count := 0
				if step%10 == 3 {
					count = 1 // CreateTransfersAs's one-event path (resolveOne).
				}
				kind, events := d.batch(count, d.createdPlainVary)
				client := []uint64{0, 0, createdPlainOperator, createdPlainOperator,
					pipelineDiffOwner, pipelineDiffOwner, pipelineDiffGrantee,
					pipelineDiffGrantee}[d.random.IntN(8)]
				balances := d.random.IntN(2) == 0
				first := d.timestamp
				// A client batch's statuses: these counts less the ones before it.
				before := maps.Clone(d.statuses)
				if count == 1 && kind >= 3 && d.random.IntN(2) == 0 {
					d.applyAhead(label, events, client, balances)
				} else {
					d.apply(label, kind, events, client, balances)
				}
				createdPlainSameState(t, label, d.pipe, d.old,
					d.accounts[d.random.IntN(len(d.accounts))])
				if kind < 3 {
					continue
				}
				isClient := client != 0 && client != createdPlainOperator
				if isClient {
					for status, n := range d.statuses {
						clientStatuses[status] += n - before[status]
					}
				}
				// The plain unlinked events created (by createdPlain, unless a chain was
				// open): their transfers carry their events' timestamps.
				for i := range events {
					index, found := d.pipe.TransferIndex(events[i].ID)
					if plainIgnoringAccountIDs(&events[i]) &&
						events[i].Flags&model.TransferLinked == 0 && found &&
						d.pipe.transfers.at(index).Timestamp == first+uint64(i) {
						if isClient {
							clientPlainCreated++
						} else {
							plainCreated++
						}
					}
				}
			}
			t.Logf("plain unlinked transfers created: %d for the system or the operator, "+
				"%d for a client; statuses %v; a client's %v", plainCreated,
				clientPlainCreated, d.statuses, clientStatuses)
			// Closing transfers close the few accounts of the small scenarios early.
			if plainCreated < steps || clientPlainCreated < steps/2 {
				t.Fatalf("only %d (%d for a client) plain transfers created where createdPlain "+
					"may", plainCreated, clientPlainCreated)
			}
			refusals := []model.Status{model.StatusDebitAccountNotOwned}
			// credit_account_not_owned needs a client's closing or balancing credit onto
			// an account it may not use: the 30 steps of -short do not reach one in every
			// scenario (accounts=12 and accounts=520 saw none).
			if !testing.Short() {
				refusals = append(refusals, model.StatusCreditAccountNotOwned)
			}
			if scenario.issuing {
				refusals = append(refusals, model.StatusExceedsCredits)
			}
			for _, status := range refusals {
				if clientStatuses[status] == 0 {
					t.Fatalf("no client transfer refused %s", status)
				}
			}
		})
	}
}
