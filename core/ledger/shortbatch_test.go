package ledger

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// shortBatchOperator is the client TestShortBatchesMatchPipeline gives the operator scope.
const shortBatchOperator = 9

// createTransfersPipelined is CreateTransfersAs with the software pipeline for every
// batch, short ones included: the reference of TestShortBatchesMatchPipeline.
func (l *Ledger) createTransfersPipelined(client uint64, balances bool, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult) {
	checkBatch(firstTimestamp, len(events), len(results))
	l.actAs(client)
	l.resultBalances = balances
	if l.riskActive() {
		l.risk.Begin(client)
	}
	runner := chainRunner{ledger: l, count: len(events)}
	l.pipelineTransfers(&runner, firstTimestamp, events, results)
}

// engineChain draws a system batch of count events shaped like the matching engine's
// chains (core/match, settle.go): an order's reservation, the fill it pays out of it
// (from_reservation), the escrow's payout to the other side, the release of the rest.
// All but a lone reservation are linked, as the engine links them, so that a refused
// event rolls the chain back before a later one could pay more than is reserved. Events
// fail at every position now and then: reservations beyond what an account may owe,
// fills whose id was taken, payouts into accounts that are closed or over a limit.
func (d *pipelineDiff) engineChain(count int) []model.Transfer {
	ledger := 1 + d.random.IntN(pipelineDiffLedgers)
	perLedger := len(d.accounts) / pipelineDiffLedgers
	payer := d.accounts[d.random.IntN(perLedger)*pipelineDiffLedgers+ledger-1]
	payee := d.accounts[d.random.IntN(perLedger)*pipelineDiffLedgers+ledger-1]
	escrow := d.escrow[ledger-1]
	reserved := d.pipe.Reserved(payer)
	amount := model.U128(1 + uint64(d.random.IntN(300)))
	if d.random.IntN(6) == 0 {
		amount = model.U128(5_000 + uint64(d.random.IntN(20_000))) // Beyond many balances.
	}
	reserved = reserved.MustAdd(amount)
	systemID := func() model.Uint128 {
		if d.nextSystem > 1 && d.random.IntN(10) == 0 {
			return model.Uint128{Hi: 1 << 63, Lo: 1_000 + uint64(d.random.IntN(int(d.nextSystem)))}
		}
		d.nextSystem++
		return model.Uint128{Hi: 1 << 63, Lo: 1_000 + d.nextSystem}
	}
	events := []model.Transfer{{DebitAccountID: payer, CreditAccountID: escrow,
		Amount: amount, Ledger: uint32(ledger), Code: 1, Flags: SystemReserve}}
	var paid model.Uint128
	if count >= 2 {
		paid = model.U128(1 + d.random.Uint64N(reserved.Lo))
		events = append(events, model.Transfer{ID: systemID(), DebitAccountID: payer,
			CreditAccountID: escrow, Amount: paid, Ledger: uint32(ledger), Code: 2,
			Flags: model.TransferFromReservation})
	}
	if count >= 3 {
		events = append(events, model.Transfer{ID: systemID(), DebitAccountID: escrow,
			CreditAccountID: payee, Amount: paid, Ledger: uint32(ledger), Code: 3})
	}
	if count >= 4 {
		events = append(events, model.Transfer{DebitAccountID: payer, CreditAccountID: escrow,
			Amount: reserved.MustSub(paid), Ledger: uint32(ledger), Code: 1,
			Flags: SystemRelease})
	}
	for len(events) < count { // Longer chains reserve again.
		events = append(events, model.Transfer{DebitAccountID: payer, CreditAccountID: escrow,
			Amount: model.U128(1 + uint64(d.random.IntN(300))), Ledger: uint32(ledger), Code: 1,
			Flags: SystemReserve})
	}
	if count > 1 {
		for i := range events[:count-1] {
			events[i].Flags |= model.TransferLinked
		}
	}
	return events
}

// TestShortBatchesMatchPipeline is a differential test of CreateTransfersAs's short
// batches (resolveShort) against the software pipeline on the same batches
// (createTransfersPipelined): seeded random batches of one event up to one past
// shortBatchEventsMax, of every kind TestPipelineMatchesTwoPhase draws (client transfers
// as the system, the owner and a grantee, with and without balances, retried ids,
// linked chains failing at every position, posts and voids, closing transfers,
// unknown accounts behind a matching tag; system batches with reservations and releases;
// saga steps), the same sent by an operator, and the matching engine's chains of
// reservation, fill, payout and release. Results, events, the ledger digest and the risk
// state must agree after every batch.
func TestShortBatchesMatchPipeline(t *testing.T) {
	scenarios := []struct {
		accounts      int
		rules, events bool
	}{
		{accounts: 12, rules: false, events: true},
		{accounts: 40, rules: true, events: true},
		{accounts: 520, rules: true, events: true}, // The account table is migrating.
		{accounts: 300, rules: false, events: false},
	}
	steps := 600
	if testing.Short() {
		steps = 150
	}
	statuses := map[model.Status]int{}
	ran := 0 // Scenarios run: -run may select some.
	for n, scenario := range scenarios {
		t.Run(fmt.Sprintf("accounts=%d/rules=%t/events=%t", scenario.accounts, scenario.rules,
			scenario.events), func(t *testing.T) {
			d := newPipelineDiff(t, uint64(n)+201, scenario.accounts, scenario.rules,
				scenario.events)
			d.reference = (*Ledger).createTransfersPipelined
			for _, l := range []*Ledger{d.pipe, d.old} {
				// The grantee's grants of newPipelineDiff, and an operator: a client other
				// than the system whose one-event batches take resolveOne (every account
				// allowed) while the risk rules, which spare only the system, apply.
				if err := l.SetGrants([]model.Grant{
					{Client: pipelineDiffGrantee, Scopes: model.ScopeTransfer, Ledger: 1},
					{Client: pipelineDiffGrantee, Scopes: model.ScopeRead, Ledger: 2},
					{Client: shortBatchOperator, Scopes: model.ScopeOperator}}); err != nil {
					t.Fatal(err)
				}
			}
			var retry struct { // The last batch of client transfers.
				events   []model.Transfer
				client   uint64
				balances bool
			}
			for step := range steps {
				label := fmt.Sprintf("step %d", step)
				count := 1 + d.random.IntN(shortBatchEventsMax+1)
				switch choice := d.random.IntN(8); {
				case choice < 3:
					d.apply(label, 1, d.engineChain(count), 0, true)
				case choice == 3 && retry.events != nil:
					// A client's retry: exists, or what the batch answers now.
					d.apply(label, 3, retry.events, retry.client, retry.balances)
				case choice == 4 && d.random.IntN(2) == 0:
					// The operator sends a batch of any kind (its client is used by the
					// client and saga kinds).
					kind, events := d.batch(count, nil)
					d.apply(label, kind, events, shortBatchOperator, d.random.IntN(2) == 0)
				default:
					kind, events, client, balances := d.step(label, count)
					if kind >= 3 {
						retry.events, retry.client, retry.balances = events, client, balances
					}
				}
			}
			for status, count := range d.statuses {
				statuses[status] += count
			}
			ran++
		})
	}
	t.Logf("statuses: %v", statuses)
	if ran < len(scenarios) {
		return // The cases below are reached by the scenarios together, not each one.
	}
	// The batches must reach the cases the short path resolves differently: accounts
	// not found, retries, chains rolled back, refused reservations and fills.
	for _, status := range []model.Status{model.StatusOK, model.StatusExists,
		model.StatusIDAlreadyFailed, model.StatusLinkedEventFailed,
		model.StatusLinkedEventChainOpen, model.StatusExceedsCredits,
		model.StatusExceedsDebits, model.StatusDebitAccountNotFound,
		model.StatusCreditAccountNotFound, model.StatusDebitAccountNotOwned,
		model.StatusDebitAccountAlreadyClosed,
		model.StatusCreditAccountAlreadyClosed} {
		if statuses[status] == 0 {
			t.Errorf("no event answered %s: the batches miss a case", status)
		}
	}
}
