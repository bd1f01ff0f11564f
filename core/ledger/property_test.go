package ledger

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/internal/rapidseed"
	"sequent/core/model"
)

// The property test drives the real ledger and the naive reference with the same random
// batches and requires identical statuses, identical stored records and the double-entry
// invariants after every batch. Ids and amounts come from small ranges so that collisions,
// retries, overdrafts, chains and overflows all happen often.

// genAccount draws an account creation that is usually valid.
func genAccount(t *rapid.T, label string) model.Account {
	flags := rapid.SampledFrom([]uint16{0, 0, 0, model.AccountLinked,
		model.AccountDebitsMustNotExceedCredits, model.AccountCreditsMustNotExceedDebits,
		model.AccountHistory, model.AccountClosed, 1 << 4,
		model.AccountDebitsMustNotExceedCredits | model.AccountCreditsMustNotExceedDebits,
	}).Draw(t, label+".flags")
	return model.Account{
		ID:         model.U128(rapid.Uint64Range(0, 12).Draw(t, label+".id")),
		UserData64: rapid.Uint64Range(0, 1).Draw(t, label+".user_data_64"),
		Ledger:     rapid.Uint32Range(0, 2).Draw(t, label+".ledger"),
		Code:       uint16(rapid.Uint32Range(0, 2).Draw(t, label+".code")),
		Flags:      flags,
	}
}

var amountChoices = []model.Uint128{model.U128(0), model.U128(1), model.U128(5),
	model.U128(100), model.Uint128Max, {Lo: 0, Hi: 1 << 63}}

// genTransfer draws a transfer of any mode. Most are well formed (rapid favours small
// values, so validity is built in and faults are injected one at a time, rarely), so that
// balances, limits, two-phase, chains and retries are exercised, not only validation.
func genTransfer(t *rapid.T, label string) model.Transfer {
	mode := rapid.IntRange(0, 9).Draw(t, label+".mode")
	transfer := model.Transfer{
		ID:              model.U128(rapid.Uint64Range(1, 400).Draw(t, label+".id")),
		DebitAccountID:  model.U128(rapid.Uint64Range(1, 8).Draw(t, label+".debit")),
		CreditAccountID: model.U128(rapid.Uint64Range(1, 7).Draw(t, label+".credit")),
		Amount:          model.U128(rapid.Uint64Range(1, 120).Draw(t, label+".amount")),
		Ledger:          1,
		Code:            1,
		UserData64:      rapid.Uint64Range(0, 2).Draw(t, label+".user_data_64"),
		UserData32:      rapid.Uint32Range(0, 1).Draw(t, label+".user_data_32"),
	}
	if transfer.CreditAccountID.Lo >= transfer.DebitAccountID.Lo {
		transfer.CreditAccountID.Lo++ // Different accounts, both in 1..8 (ledger 1).
	}
	if rapid.IntRange(0, 7).Draw(t, label+".ledger_two") == 0 {
		// Accounts 9 and 10 are on ledger 2.
		transfer.DebitAccountID.Lo, transfer.CreditAccountID.Lo = 9, 10
		transfer.Ledger = 2
	}
	switch mode {
	case 0, 1:
		transfer.Flags = model.TransferPending
		transfer.Timeout = rapid.Uint32Range(0, 2).Draw(t, label+".timeout")
	case 2, 3:
		transfer.Flags = rapid.SampledFrom([]uint16{model.TransferPostPending,
			model.TransferVoidPending}).Draw(t, label+".resolution")
		transfer.PendingID = model.U128(rapid.Uint64Range(1, 40).Draw(t, label+".pending"))
		transfer.Amount = rapid.SampledFrom([]model.Uint128{model.U128(0), model.U128(3),
			model.U128(60), model.Uint128Max}).Draw(t, label+".resolution_amount")
		if rapid.Bool().Draw(t, label+".inherit") {
			transfer.DebitAccountID, transfer.CreditAccountID = model.Uint128{}, model.Uint128{}
			transfer.Ledger, transfer.Code = 0, 0
		}
	case 4:
		transfer.Amount = rapid.SampledFrom([]model.Uint128{model.U128(100), model.U128(600),
			model.Uint128Max}).Draw(t, label+".special_amount")
		transfer.Flags = rapid.SampledFrom([]uint16{model.TransferBalancingDebit,
			model.TransferBalancingCredit, model.TransferPending | model.TransferClosingDebit,
			model.TransferPending | model.TransferClosingCredit,
		}).Draw(t, label+".special")
		if transfer.Flags&model.TransferPending != 0 {
			transfer.Timeout = rapid.Uint32Range(0, 2).Draw(t, label+".closing_timeout")
		}
	}
	if rapid.IntRange(0, 7).Draw(t, label+".linked") == 0 {
		transfer.Flags |= model.TransferLinked
	}
	if rapid.IntRange(0, 9).Draw(t, label+".faulty") == 0 {
		injectFault(t, label, &transfer)
	}
	return transfer
}

// alterRetry sometimes changes one field of a resent transfer, so that retries answer
// exists_with_different_* as well as exists (and zero fields of a post or void, which
// inherit, are exercised).
func alterRetry(t *rapid.T, transfer *model.Transfer) {
	switch rapid.IntRange(0, 7).Draw(t, "alter") {
	case 0:
		transfer.Amount = model.Uint128Max
	case 1:
		transfer.Amount = transfer.Amount.MustSub(transfer.Amount.Min(model.U128(1)))
	case 2:
		transfer.UserData64++
	case 3:
		transfer.Code = 0
	case 4:
		transfer.DebitAccountID = model.Uint128{}
	}
}

// injectFault breaks one thing about a transfer.
func injectFault(t *rapid.T, label string, transfer *model.Transfer) {
	switch rapid.IntRange(0, 9).Draw(t, label+".fault") {
	case 0:
		transfer.ID = rapid.SampledFrom([]model.Uint128{{}, model.Uint128Max}).Draw(t, label+".bad_id")
	case 1:
		transfer.DebitAccountID = model.U128(rapid.Uint64Range(0, 14).Draw(t, label+".bad_debit"))
	case 2:
		transfer.CreditAccountID = transfer.DebitAccountID
	case 3:
		transfer.Ledger = rapid.Uint32Range(0, 3).Draw(t, label+".bad_ledger")
	case 4:
		transfer.Code = 0
	case 5:
		transfer.Flags |= rapid.SampledFrom([]uint16{1 << 9, model.TransferPending,
			model.TransferPostPending, model.TransferClosingDebit}).Draw(t, label+".bad_flag")
	case 6:
		transfer.Amount = rapid.SampledFrom(amountChoices).Draw(t, label+".big_amount")
	case 7:
		transfer.Timeout = 1
	case 8:
		transfer.PendingID = model.U128(rapid.Uint64Range(0, 40).Draw(t, label+".bad_pending"))
	case 9:
		transfer.Timestamp = 1
	}
}

// TestLedgerMatchesReference runs the property from a new random seed each time, so that
// every run explores cases no earlier run tried.
func TestLedgerMatchesReference(t *testing.T) {
	rapid.Check(t, ledgerMatchesReference)
}

// TestLedgerMatchesReferenceOverBlocks runs the property with transfer batches that span
// several blocks of CreateTransfersAs's pipeline (and linked chains that cross from one
// block into the next): the property's usual batches fit in one block, where the stages
// that run ahead of the apply (hashing and resolving the next blocks' ids) never act on
// a block before the one being applied is done.
func TestLedgerMatchesReferenceOverBlocks(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ledgerMatchesReferenceWith(t, 3*pipelineBlockEvents+5)
	})
}

// propertyCoverageSeed and propertyCoverageChecks fix the run of the property that
// TestLedgerPropertyReachesEveryOutcome counts statuses over. With a random seed, a run
// of 100 checks missed credit_account_not_owned or pending_transfer_already_posted
// about one run in twenty (7 of 150 runs), which failed CI by chance; from a fixed seed
// the count is the same on every run, so the check fails only when the generator or the
// ledger changes so that this run no longer reaches a status (then the change is to
// blame, or the seed may be moved with it, having checked that the status is still
// reached often enough across seeds).
const (
	propertyCoverageSeed   = 1
	propertyCoverageChecks = 100
)

// TestLedgerPropertyReachesEveryOutcome requires the property's random mix, run from a
// fixed seed, to produce each interesting status at least once: a property test whose
// events all fail validation, or never reach a rule, would prove little about it.
func TestLedgerPropertyReachesEveryOutcome(t *testing.T) {
	rapidseed.Fix(t, propertyCoverageSeed, propertyCoverageChecks)
	clear(propertyStatusCounts)
	rapid.Check(t, ledgerMatchesReference)
	if t.Failed() {
		return
	}
	t.Logf("statuses produced: %v", propertyStatusCounts)
	for _, status := range []model.Status{model.StatusOK, model.StatusExists,
		model.StatusLinkedEventFailed, model.StatusExceedsCredits,
		model.StatusPendingTransferAlreadyPosted, model.StatusIDAlreadyFailed,
		model.StatusDebitAccountNotOwned, model.StatusCreditAccountNotOwned,
		model.StatusPendingTransferNotOwned, model.StatusExistsWithDifferentOwner} {
		if propertyStatusCounts[status] == 0 {
			t.Errorf("the generator never produced %s", status)
		}
	}
}

// propertyTransfersMax is the most transfers in one of the property's usual batches.
const propertyTransfersMax = 12

// ledgerMatchesReference drives the real ledger and the reference with the same random
// batches (see the top of this file).
func ledgerMatchesReference(t *rapid.T) { ledgerMatchesReferenceWith(t, propertyTransfersMax) }

// ledgerMatchesReferenceWith is ledgerMatchesReference with up to transfersMax generated
// transfers per batch.
func ledgerMatchesReferenceWith(t *rapid.T, transfersMax int) {
	ledgerMatchesReferenceRestoring(t, transfersMax, false, false)
}

// TestLedgerMatchesReferenceAcrossRestores runs the property with the ledger sometimes
// replaced, between batches, by one restored from its snapshot: the restored records'
// in-memory marker of zero pending balances (accountPendingZero) is set from the
// balances read, not carried over, so accounts with pending transfers in force, posted,
// voided or expired after a restore must still answer and report as the reference does.
func TestLedgerMatchesReferenceAcrossRestores(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ledgerMatchesReferenceRestoring(t, propertyTransfersMax, true, false)
	})
}

// TestLedgerMatchesReferenceAcrossGrantChanges runs the property with the grant table
// sometimes replaced, between batches, by one drawn from grants of every shape (the
// transfer, read or trade scope, over one whole ledger, over a range of ids or over
// every ledger, an operator or not), the ledger sometimes restored, and batches that
// sometimes span the pipeline's blocks. A client's whole-ledger transfer grant decides
// its plain transfers' rights with one compare (actor.transferLedger, derived when its
// actor is resolved and cached): the cached actor must follow each new table, and
// whatever that compare lets through or sends to the general path must answer as the
// reference's scan of the grants does.
func TestLedgerMatchesReferenceAcrossGrantChanges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		transfersMax := rapid.SampledFrom([]int{propertyTransfersMax,
			2*pipelineBlockEvents + 3}).Draw(t, "transfers_max")
		ledgerMatchesReferenceRestoring(t, transfersMax, true, true)
	})
}

// drawGrants draws a grant table for the property's clients 1-4: up to three grants
// each, of any scope the ledger checks, over ledger 1, 2 or every ledger, whole or over
// a range of the base accounts' ids; now and then client 4 is an operator again.
func drawGrants(t *rapid.T) []model.Grant {
	var grants []model.Grant
	for client := uint64(1); client <= 4; client++ {
		for range rapid.IntRange(0, 3).Draw(t, "grant_count") {
			grant := model.Grant{Client: client,
				Scopes: rapid.SampledFrom([]model.Scope{model.ScopeTransfer, model.ScopeRead,
					model.ScopeTrade, model.ScopeRead | model.ScopeTransfer,
					model.ScopeTrade | model.ScopeTransfer}).Draw(t, "grant_scopes"),
				Ledger: rapid.Uint32Range(0, 2).Draw(t, "grant_ledger")}
			if rapid.IntRange(0, 3).Draw(t, "grant_ranged") == 0 {
				first := rapid.Uint64Range(1, 10).Draw(t, "grant_first")
				last := rapid.Uint64Range(first, 12).Draw(t, "grant_last")
				grant.First, grant.Last = model.U128(first), model.U128(last)
			}
			if client == 4 && rapid.IntRange(0, 3).Draw(t, "grant_operator") == 0 {
				grant = model.Grant{Client: client, Scopes: model.ScopeOperator}
			}
			grants = append(grants, grant)
		}
	}
	return grants
}

// ledgerMatchesReferenceRestoring is ledgerMatchesReferenceWith that, when restores is
// set, replaces the ledger by its restored snapshot before some batches, and when
// regrants is set, the grant table by a drawn one (drawGrants) before some batches
// (drawing nothing more when they are not set, so that the fixed-seed coverage run sees
// the same stream).
func ledgerMatchesReferenceRestoring(t *rapid.T, transfersMax int, restores, regrants bool) {
	seed := rapid.Uint64().Draw(t, "seed")
	l := New(Config{HashSeed: seed})
	reference := newReferenceLedger()
	timestamp := uint64(1_000_000_000)
	// A base of valid accounts on two ledgers, so that most transfers get past the
	// lookups and exercise balances, limits, history and closing.
	base := make([]model.Account, 10)
	for i := range base {
		base[i] = model.Account{ID: model.U128(uint64(i + 1)), Ledger: 1 + uint32(i/8),
			Code: 1, Flags: rapid.SampledFrom([]uint16{0, 0, model.AccountHistory,
				model.AccountDebitsMustNotExceedCredits,
				model.AccountCreditsMustNotExceedDebits | model.AccountHistory,
			}).Draw(t, "base.flags")}
	}
	base[0].Flags = 0 // The funding source.
	// Owners: accounts 1-4 belong to client 1, 5-8 to client 2, 9-10 to the system;
	// the grants give clients 1-3 some of the others' and client 4 everything, so
	// that ownership refusals, grants and visibility all take part. While the base is
	// created, clients 1 and 2 hold transfer grants over their own ranges, so that
	// their accounts may be of every kind (without one, a client's account must
	// limit its debits: debits_must_not_exceed_credits_required).
	setup := []model.Grant{
		{Client: 1, Scopes: model.ScopeTransfer, First: model.U128(1), Last: model.U128(4)},
		{Client: 2, Scopes: model.ScopeTransfer, First: model.U128(5), Last: model.U128(8)}}
	if err := l.SetGrants(setup); err != nil {
		t.Fatal(err)
	}
	reference.grants = setup
	for _, part := range []struct {
		first, end int
		owner      uint64
	}{{0, 4, 1}, {4, 8, 2}, {8, 10, 0}} {
		span, owner := base[part.first:part.end], part.owner
		l.CreateAccountsAs(owner, timestamp, span, make([]model.EventResult, len(span)))
		reference.client = owner
		reference.createAccounts(timestamp, span)
		timestamp += uint64(len(span))
	}
	grants := propertyGrants()
	if err := l.SetGrants(grants); err != nil {
		t.Fatal(err)
	}
	reference.grants = grants
	reference.client = 0
	// Fund accounts 2..8 so that balancing transfers and balance limits have room.
	funding := make([]model.Transfer, 7)
	for i := range funding {
		funding[i] = model.Transfer{ID: model.U128(1000 + uint64(i)),
			DebitAccountID: model.U128(1), CreditAccountID: model.U128(uint64(i + 2)),
			Amount: model.U128(500), Ledger: 1, Code: 1}
	}
	l.CreateTransfers(timestamp, funding, make([]model.TransferResult, len(funding)))
	reference.createTransfers(timestamp, funding)
	timestamp += uint64(len(funding))
	var submitted []model.Transfer // For retries: earlier transfers, resent verbatim.
	var pendingIDs []model.Uint128 // Ids of pending transfers submitted, to aim posts at.
	// Pending transfers already posted or voided, to aim second resolutions at (which
	// a random aim at pendingIDs reaches too rarely for every run to see).
	var resolvedIDs []model.Uint128
	var postedIDs []model.Uint128 // The posted ones among them (posts fail more often).
	var posts []model.Transfer    // Successful posts, to repeat under a fresh id.
	repostID := uint64(1) << 40   // Fresh ids for the repeats, far from generated ones.
	statusCounts := map[model.Status]int{}
	defer func() { recordStatusCounts(statusCounts) }()
	batchCount := rapid.IntRange(4, 16).Draw(t, "batches")
	for batch := 0; batch < batchCount; batch++ {
		// Time jumps by up to three seconds, so timeouts of 1-2 s expire.
		timestamp += rapid.Uint64Range(1, 3*nanosecondsPerSecond).Draw(t, "advance")
		if restores && rapid.IntRange(0, 2).Draw(t, "restore") == 0 {
			l = restoredCopy(t, l, seed+uint64(batch)+1)
		}
		if regrants && rapid.IntRange(0, 2).Draw(t, "regrant") == 0 {
			grants := drawGrants(t)
			if err := l.SetGrants(grants); err != nil {
				t.Fatal(err)
			}
			reference.grants = grants
		}
		expired := l.Expire(timestamp, nil)
		if want := reference.expire(timestamp, ExpiriesPerPulseMax); expired != want {
			t.Fatalf("batch %d: expired %d, reference %d", batch, expired, want)
		}
		// Half the batches run as the system or an operator (everything allowed, so
		// the ledger's other rules get most of the traffic), half as clients 1-3.
		client := rapid.SampledFrom([]uint64{0, 0, 4, 1, 2, 3}).Draw(t, "client")
		reference.client = client
		if rapid.IntRange(0, 2).Draw(t, "kind") == 0 {
			events := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) model.Account {
				return genAccount(t, "account")
			}), 1, 8).Draw(t, "accounts")
			results := make([]model.EventResult, len(events))
			l.CreateAccountsAs(client, timestamp, events, results)
			want := reference.createAccounts(timestamp, events)
			for i := range events {
				if results[i].Status != want[i] {
					t.Fatalf("batch %d account %d %+v: %s, reference %s", batch, i,
						events[i], results[i].Status, want[i])
				}
			}
		} else {
			events := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) model.Transfer {
				return genTransfer(t, "transfer")
			}), 1, transfersMax).Draw(t, "transfers")
			if len(posts) > 0 && rapid.IntRange(0, 2).Draw(t, "repost") == 0 {
				// The same post again under a new id: pending_transfer_already_posted,
				// which random aims reach too rarely for every run of 100 checks.
				repeat := rapid.SampledFrom(posts).Draw(t, "repost_of")
				repeat.ID, repeat.Timestamp = model.U128(repostID), 0
				repeat.Flags &^= model.TransferLinked
				repostID++
				events = append(events, repeat)
			}
			for i := range events {
				if len(submitted) > 0 && rapid.IntRange(0, 4).Draw(t, "retry") == 0 {
					events[i] = rapid.SampledFrom(submitted).Draw(t, "retried")
					alterRetry(t, &events[i])
				}
				resolving := events[i].Flags&(model.TransferPostPending|
					model.TransferVoidPending) != 0
				if resolving && len(pendingIDs) > 0 && rapid.IntRange(0, 2).Draw(t, "aim") > 0 {
					events[i].PendingID = rapid.SampledFrom(pendingIDs).Draw(t, "pending_id")
				}
				if resolving && len(resolvedIDs) > 0 && rapid.IntRange(0, 1).Draw(t, "again") == 0 {
					aimed := resolvedIDs
					if len(postedIDs) > 0 && rapid.Bool().Draw(t, "posted") {
						aimed = postedIDs
					}
					events[i].PendingID = rapid.SampledFrom(aimed).Draw(t, "resolved_id")
				}
				if events[i].Flags&model.TransferPending != 0 {
					pendingIDs = append(pendingIDs, events[i].ID)
				}
			}
			submitted = append(submitted, events...)
			results := make([]model.TransferResult, len(events))
			l.CreateTransfersAs(client, true, timestamp, events, results)
			want := reference.createTransfers(timestamp, events)
			for i := range events {
				statusCounts[results[i].Status]++
				if results[i].Status == model.StatusOK && events[i].Flags&(model.TransferPostPending|
					model.TransferVoidPending) != 0 {
					resolvedIDs = append(resolvedIDs, events[i].PendingID)
					if events[i].Flags&model.TransferPostPending != 0 {
						postedIDs = append(postedIDs, events[i].PendingID)
						posts = append(posts, events[i])
					}
				}
				if results[i].Status != want[i] {
					t.Fatalf("batch %d transfer %d %+v: %s, reference %s", batch, i,
						events[i], results[i].Status, want[i])
				}
			}
			checkResultBalances(t, l, reference, events, results)
		}
		timestamp += model.EventsPerRequestMax
		compareWithReference(t, l, reference)
		reference.client = rapid.SampledFrom([]uint64{0, 1, 2, 3, 4}).Draw(t, "reader")
		compareQuery(t, l, reference)
		if err := CheckInvariants(l.Accounts()); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		// Every record marked without pending balances has none (and the reserved
		// totals, none here, explain the pending balances).
		if err := l.CheckReservations(); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
	}
}

// restoredCopy returns the ledger restored from l's snapshot (under another hash seed),
// after checking that it holds the same state (digest).
func restoredCopy(t *rapid.T, l *Ledger, seed uint64) *Ledger {
	var encoded bytes.Buffer
	if _, err := l.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(Config{HashSeed: seed}, bytes.NewReader(encoded.Bytes()))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if restored.Digest() != l.Digest() {
		t.Fatal("the restored ledger's digest differs")
	}
	return restored
}

// propertyGrants is the grant table of the property test: client 1 may debit accounts
// 5 and 6, client 2 may read accounts 1-3 and trade (not transfer) on ledger 2, client 3
// may debit anything on ledger 2, client 4 is an operator.
func propertyGrants() []model.Grant {
	return []model.Grant{
		{Client: 1, Scopes: model.ScopeTransfer, First: model.U128(5), Last: model.U128(6)},
		{Client: 2, Scopes: model.ScopeRead, First: model.U128(1), Last: model.U128(3)},
		{Client: 2, Scopes: model.ScopeTrade, Ledger: 2},
		{Client: 3, Scopes: model.ScopeTransfer, Ledger: 2},
		{Client: 4, Scopes: model.ScopeOperator},
	}
}

// checkResultBalances requires the balances reported with a created transfer to be the
// accounts' balances right after it, or zero for an account the client may not read;
// here only the last created event of each account can be compared with the final
// state, so compare those.
func checkResultBalances(t *rapid.T, l *Ledger, r *referenceLedger, events []model.Transfer,
	results []model.TransferResult) {
	last := map[model.Uint128]model.Balance{}
	for i := range events {
		if results[i].Status != model.StatusOK {
			continue
		}
		stored, _ := l.findTransfer(events[i].ID)
		record := l.transfers.at(stored)
		sides := [2]struct {
			id      model.Uint128
			balance model.Balance
		}{{record.DebitAccountID, results[i].DebitAccount},
			{record.CreditAccountID, results[i].CreditAccount}}
		for _, side := range sides {
			id, balance := side.id, side.balance
			if !r.may(model.ScopeRead, id) {
				if balance != (model.Balance{}) {
					t.Fatalf("transfer %s shows the balances of account %s to client %d",
						record.ID, id, r.client)
				}
				continue
			}
			last[id] = balance
		}
	}
	for id, balance := range last {
		index, _ := l.findAccount(id)
		if got := l.accounts.at(index).Balance(); got != balance {
			t.Fatalf("account %s: result balances %+v, stored %+v", id, balance, got)
		}
	}
}

// compareWithReference requires the same accounts, transfers (in order), pending statuses
// and balance histories in both ledgers.
func compareWithReference(t *rapid.T, l *Ledger, r *referenceLedger) {
	if int(l.AccountCount()) != len(r.accounts) || int(l.TransferCount()) != len(r.order) {
		t.Fatalf("counts: %d accounts, %d transfers; reference %d, %d", l.AccountCount(),
			l.TransferCount(), len(r.accounts), len(r.order))
	}
	for account := range l.Accounts() {
		if want := r.accounts[account.ID]; *account != want {
			t.Fatalf("account %s:\n got %+v\nwant %+v", account.ID, *account, want)
		}
		if account.Flags&model.AccountHistory != 0 {
			filter := model.AccountFilter{AccountID: account.ID, Limit: model.EventsPerRequestMax,
				Flags: model.FilterDebits | model.FilterCredits}
			history, status := l.GetAccountBalances(&filter, nil)
			want := r.history[account.ID]
			if status != model.StatusOK || len(history) != len(want) {
				t.Fatalf("history of %s: %s, %d entries, want %d", account.ID, status,
					len(history), len(want))
			}
			for i := range want {
				if history[i] != want[i] {
					t.Fatalf("history of %s entry %d: %+v, want %+v", account.ID, i,
						history[i], want[i])
				}
			}
		}
	}
	for i, id := range r.order {
		got := *l.transfers.at(uint32(i))
		if want := r.transfers[id]; got != want {
			t.Fatalf("transfer %d:\n got %+v\nwant %+v", i, got, want)
		}
		if got, want := *l.pending.at(uint32(i)), r.status[id]; got != want {
			t.Fatalf("transfer %s pending status %d, want %d", id, got, want)
		}
	}
	for id := range r.failed {
		if !l.hasFailed(id) {
			t.Fatalf("transfer %s: failure not remembered", id)
		}
	}
	if l.failed.count != uint32(len(r.failed)) {
		t.Fatalf("%d remembered failures, reference %d", l.failed.count, len(r.failed))
	}
	checkExpiryHeap(t, l) // Exactly the active timed pending transfers are scheduled.
}

// TestSnapshotRoundTripProperty restores random ledgers from their snapshot and requires
// the same digest, a re-encoding that is byte for byte the same, and identical behaviour
// afterwards (a restored ledger answers the next batch as the original does).
func TestSnapshotRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := New(Config{HashSeed: rapid.Uint64().Draw(t, "seed")})
		timestamp := uint64(1_000_000_000)
		accounts := make([]model.Account, 12)
		for i := range accounts {
			accounts[i] = model.Account{ID: model.U128(uint64(i + 1)), Ledger: 1, Code: 1,
				Flags: rapid.SampledFrom([]uint16{0, model.AccountHistory}).Draw(t, "flags")}
		}
		l.CreateAccounts(timestamp, accounts, make([]model.EventResult, len(accounts)))
		for batch := 0; batch < rapid.IntRange(1, 6).Draw(t, "batches"); batch++ {
			timestamp += 2 * nanosecondsPerSecond
			l.Expire(timestamp, nil)
			events := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) model.Transfer {
				return genTransfer(t, "transfer")
			}), 1, 12).Draw(t, "transfers")
			l.CreateTransfers(timestamp, events, make([]model.TransferResult, len(events)))
		}
		var encoded bytes.Buffer
		if _, err := l.Snapshot().WriteTo(&encoded); err != nil {
			t.Fatal(err)
		}
		restored, err := Restore(Config{HashSeed: 7}, bytes.NewReader(encoded.Bytes()))
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		if restored.Digest() != l.Digest() {
			t.Fatalf("digest differs after restore")
		}
		var again bytes.Buffer
		if _, err := restored.Snapshot().WriteTo(&again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(encoded.Bytes(), again.Bytes()) {
			t.Fatalf("re-encoding differs")
		}
		timestamp += 5 * nanosecondsPerSecond
		next := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) model.Transfer {
			return genTransfer(t, "next")
		}), 1, 12).Draw(t, "next")
		resultsOriginal := make([]model.TransferResult, len(next))
		resultsRestored := make([]model.TransferResult, len(next))
		if l.Expire(timestamp, nil) != restored.Expire(timestamp, nil) {
			t.Fatalf("expiry differs after restore")
		}
		l.CreateTransfers(timestamp, next, resultsOriginal)
		restored.CreateTransfers(timestamp, next, resultsRestored)
		for i := range next {
			if resultsOriginal[i] != resultsRestored[i] {
				t.Fatalf("event %d: %+v after restore, %+v before", i, resultsRestored[i],
					resultsOriginal[i])
			}
		}
		if restored.Digest() != l.Digest() {
			t.Fatalf("digest differs after the next batch")
		}
	})
}

// compareQuery runs one random get_account_transfers filter against the naive answer.
func compareQuery(t *rapid.T, l *Ledger, r *referenceLedger) {
	var timestamps []uint64
	for _, id := range r.order {
		timestamps = append(timestamps, r.transfers[id].Timestamp)
	}
	pick := func(label string) uint64 {
		if len(timestamps) == 0 || rapid.Bool().Draw(t, label+".none") {
			return 0
		}
		return rapid.SampledFrom(timestamps).Draw(t, label) + rapid.Uint64Range(0, 1).Draw(t,
			label+".shift") - 0
	}
	filter := model.AccountFilter{
		AccountID:    model.U128(rapid.Uint64Range(1, 13).Draw(t, "query.account")),
		UserData64:   rapid.Uint64Range(0, 2).Draw(t, "query.user_data_64"),
		Code:         uint16(rapid.Uint32Range(0, 1).Draw(t, "query.code")),
		TimestampMin: pick("query.min"),
		TimestampMax: pick("query.max"),
		Limit:        rapid.Uint32Range(0, 6).Draw(t, "query.limit"),
		Flags:        rapid.Uint32Range(0, 8).Draw(t, "query.flags"),
	}
	got, status := l.GetAccountTransfersAs(r.client, &filter, nil)
	want, wantStatus := r.accountTransfers(filter)
	if status != wantStatus {
		t.Fatalf("query %+v: %s, reference %s", filter, status, wantStatus)
	}
	if len(got) != len(want) {
		t.Fatalf("query %+v: %d transfers, reference %d", filter, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("query %+v result %d: %s, reference %s", filter, i, got[i].ID, want[i].ID)
		}
	}
}

// propertyStatusCounts tallies the statuses the property test produced, so a test can
// check the generator still reaches the interesting outcomes (a property test whose
// events all fail validation would prove little).
var propertyStatusCounts = map[model.Status]int{}

func recordStatusCounts(counts map[model.Status]int) {
	for status, count := range counts {
		propertyStatusCounts[status] += count
	}
}
