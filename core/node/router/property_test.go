package router

import (
	"testing"

	"pgregory.net/rapid"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/shardmap"
)

// naiveLedger is one ledger holding every account of the node, written for clarity: the
// model a sharded node must agree with, transfer by transfer, for transfers sent one at
// a time. It encodes the documented rules of cross-shard transfers (package node): the
// same codes as a local transfer, except that when both sides would refuse, the debit
// side's code wins, a debit account on another ledger than the transfer's is
// accounts_must_have_the_same_ledger, pending transfers across shards are refused, and
// an id refused by the credit shard stays taken.
type naiveLedger struct {
	placement *shardmap.Map
	accounts  map[model.Uint128]*model.Account
	created   map[model.Uint128]model.Transfer // As created (balancing: the amount moved).
	failed    map[model.Uint128]bool           // Transient failures.
	taken     map[model.Uint128]model.Status   // Cross-shard transfers the credit shard refused.
}

func newNaiveLedger(placement *shardmap.Map) *naiveLedger {
	return &naiveLedger{placement: placement, accounts: map[model.Uint128]*model.Account{},
		created: map[model.Uint128]model.Transfer{}, failed: map[model.Uint128]bool{},
		taken: map[model.Uint128]model.Status{}}
}

// apply evaluates one transfer and returns its result (with balances when created).
func (n *naiveLedger) apply(t model.Transfer) model.TransferResult {
	status, debit, credit := n.evaluate(t)
	if status.Transient() && n.taken[t.ID] == 0 {
		n.failed[t.ID] = true
	}
	result := model.TransferResult{EventResult: model.EventResult{Status: status}}
	if status == model.StatusOK {
		result.DebitAccount, result.CreditAccount = debit.Balance(), credit.Balance()
	}
	return result
}

func (n *naiveLedger) evaluate(t model.Transfer) (model.Status, *model.Account, *model.Account) {
	if e, ok := n.created[t.ID]; ok {
		return compare(t, e), nil, nil
	}
	if status, ok := n.taken[t.ID]; ok {
		if status.Transient() || status == model.StatusSagaTimedOut {
			return model.StatusIDAlreadyFailed, nil, nil
		}
		return status, nil, nil
	}
	if n.failed[t.ID] {
		return model.StatusIDAlreadyFailed, nil, nil
	}
	if t.DebitAccountID == t.CreditAccountID {
		return model.StatusAccountsMustBeDifferent, nil, nil
	}
	cross := n.placement.AccountShard(t.DebitAccountID, 0) != n.placement.AccountShard(t.CreditAccountID, 0)
	if cross && t.Flags&model.TransferPending != 0 {
		return model.StatusPendingTransferSpansShards, nil, nil
	}
	debit, credit := n.accounts[t.DebitAccountID], n.accounts[t.CreditAccountID]
	var status model.Status
	amount := t.Amount
	if cross {
		status, amount = n.crossChecks(&t, debit, credit)
	} else {
		status, amount = n.localChecks(&t, debit, credit)
	}
	if status != model.StatusOK {
		return status, nil, nil
	}
	if t.Flags&model.TransferPending != 0 {
		debit.DebitsPending = debit.DebitsPending.MustAdd(amount)
		credit.CreditsPending = credit.CreditsPending.MustAdd(amount)
	} else {
		debit.DebitsPosted = debit.DebitsPosted.MustAdd(amount)
		credit.CreditsPosted = credit.CreditsPosted.MustAdd(amount)
	}
	stored := t
	stored.Amount = amount
	n.created[t.ID] = stored
	return model.StatusOK, debit, credit
}

// localChecks is a local transfer's precedence (core/ledger's doc), for the fields this
// test varies.
func (n *naiveLedger) localChecks(t *model.Transfer, debit, credit *model.Account) (model.Status, model.Uint128) {
	switch {
	case debit == nil:
		return model.StatusDebitAccountNotFound, model.Uint128{}
	case credit == nil:
		return model.StatusCreditAccountNotFound, model.Uint128{}
	case debit.Ledger != credit.Ledger:
		return model.StatusAccountsMustHaveTheSameLedger, model.Uint128{}
	case t.Ledger != debit.Ledger:
		return model.StatusTransferMustHaveTheSameLedgerAsAccount, model.Uint128{}
	}
	amount := clampDebit(t, debit)
	amount = clampCredit(t, credit, amount)
	if status := limits(debit, credit, amount); status != model.StatusOK {
		return status, model.Uint128{}
	}
	return model.StatusOK, amount
}

// crossChecks is a cross-shard transfer's: every debit-side check, then the credit side.
func (n *naiveLedger) crossChecks(t *model.Transfer, debit, credit *model.Account) (model.Status, model.Uint128) {
	switch {
	case debit == nil:
		return model.StatusDebitAccountNotFound, model.Uint128{}
	case debit.Ledger != t.Ledger:
		return model.StatusAccountsMustHaveTheSameLedger, model.Uint128{}
	}
	amount := clampDebit(t, debit)
	if status := limits(debit, nil, amount); status != model.StatusOK {
		return status, model.Uint128{}
	}
	// The debit side passed: the saga takes the id, whatever the credit side says.
	var status model.Status
	switch {
	case credit == nil:
		status = model.StatusCreditAccountNotFound
	case credit.Ledger != t.Ledger:
		status = model.StatusAccountsMustHaveTheSameLedger
	default:
		amount = clampCredit(t, credit, amount)
		status = limits(nil, credit, amount)
	}
	if status != model.StatusOK {
		n.taken[t.ID] = status
	}
	return status, amount
}

func clampDebit(t *model.Transfer, debit *model.Account) model.Uint128 {
	if t.Flags&model.TransferBalancingDebit == 0 {
		return t.Amount
	}
	return t.Amount.Min(debit.CreditsPosted.SaturatingSub(debit.DebitsPosted.MustAdd(debit.DebitsPending)))
}

func clampCredit(t *model.Transfer, credit *model.Account, amount model.Uint128) model.Uint128 {
	if t.Flags&model.TransferBalancingCredit == 0 {
		return amount
	}
	return amount.Min(credit.DebitsPosted.SaturatingSub(credit.CreditsPosted.MustAdd(credit.CreditsPending)))
}

func limits(debit, credit *model.Account, amount model.Uint128) model.Status {
	if debit != nil && debit.Flags&model.AccountDebitsMustNotExceedCredits != 0 &&
		debit.CreditsPosted.Less(debit.DebitsPosted.MustAdd(debit.DebitsPending).MustAdd(amount)) {
		return model.StatusExceedsCredits
	}
	if credit != nil && credit.Flags&model.AccountCreditsMustNotExceedDebits != 0 &&
		credit.DebitsPosted.Less(credit.CreditsPosted.MustAdd(credit.CreditsPending).MustAdd(amount)) {
		return model.StatusExceedsDebits
	}
	return model.StatusOK
}

// compare is the exists precedence for the fields this test varies.
func compare(t, e model.Transfer) model.Status {
	balancing := e.Flags&(model.TransferBalancingDebit|model.TransferBalancingCredit) != 0
	switch {
	case t.Flags != e.Flags:
		return model.StatusExistsWithDifferentFlags
	case t.DebitAccountID != e.DebitAccountID:
		return model.StatusExistsWithDifferentDebitAccountID
	case t.CreditAccountID != e.CreditAccountID:
		return model.StatusExistsWithDifferentCreditAccountID
	case balancing && t.Amount.Less(e.Amount), !balancing && t.Amount != e.Amount:
		return model.StatusExistsWithDifferentAmount
	case t.Ledger != e.Ledger:
		return model.StatusExistsWithDifferentLedger
	}
	return model.StatusExists
}

// TestSagaPropertyAgainstOneLedger sends random transfers one at a time through the
// router of a node of 2 to 4 shards (hash placement, so most transfers cross shards), with
// refusals on either side (missing accounts, balance limits, ledger mismatches), balancing
// flags, pending transfers and retries of earlier ids, and compares every result (status
// and, when created, both balances) and every final balance with one naive ledger. At the
// end every settlement pair nets to zero.
func TestSagaPropertyAgainstOneLedger(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		shards := rapid.IntRange(2, 4).Draw(rt, "shards")
		sim := newSimulation(t, rapid.Uint64().Draw(rt, "seed"), shards)
		sim.t = rt
		model0 := newNaiveLedger(sim.placement)
		accounts := rapid.IntRange(3, 8).Draw(rt, "accounts")
		var ids []model.Uint128
		var body []byte
		for i := range accounts {
			account := model.Account{ID: model.U128(uint64(100 + i)), Code: 1,
				Ledger: uint32(rapid.IntRange(1, 2).Draw(rt, "ledger")),
				Flags: rapid.SampledFrom([]uint16{0, model.AccountDebitsMustNotExceedCredits,
					model.AccountCreditsMustNotExceedDebits}).Draw(rt, "flags")}
			body = append(body, make([]byte, model.AccountSize)...)
			account.Encode(body[len(body)-model.AccountSize:])
			model0.accounts[account.ID] = &account
			ids = append(ids, account.ID)
		}
		client := sim.clients[0]
		// The only client is the operator: its accounts may go negative (package ledger).
		sim.grant([]model.Grant{{Client: client.id, Scopes: model.ScopeOperator}})
		sim.request(client, model.OperationCreateAccounts, 0, body, nil)
		sim.quiesce()
		ids = append(ids, model.U128(999)) // Never created.
		var sent []model.Transfer
		for step := range rapid.IntRange(5, 30).Draw(rt, "transfers") {
			transfer := drawTransfer(rt, ids, sent)
			sent = append(sent, transfer)
			want := model0.apply(transfer)
			got := sim.transferOnce(client, transfer)
			if got.Status != want.Status || (want.Status == model.StatusOK &&
				(got.DebitAccount != want.DebitAccount || got.CreditAccount != want.CreditAccount)) {
				rt.Fatalf("transfer %d %+v: got %s %+v/%+v, the one ledger says %s %+v/%+v", step,
					transfer, got.Status, got.DebitAccount, got.CreditAccount, want.Status,
					want.DebitAccount, want.CreditAccount)
			}
		}
		for _, s := range sim.shards {
			for account := range s.machine.Ledger().Accounts() {
				if model.IsSystemID(account.ID) {
					continue
				}
				if want := model0.accounts[account.ID]; account.Balance() != want.Balance() {
					rt.Fatalf("account %s: %+v, the one ledger has %+v", account.ID,
						account.Balance(), want.Balance())
				}
			}
		}
		if err := sim.reconcile().Check(true); err != nil {
			rt.Fatalf("after the transfers: %v", err)
		}
	})
}

// drawTransfer draws a new transfer or a retry (identical or changed) of an earlier one.
func drawTransfer(rt *rapid.T, ids []model.Uint128, sent []model.Transfer) model.Transfer {
	if len(sent) > 0 && rapid.IntRange(0, 4).Draw(rt, "retry?") == 0 {
		t := sent[rapid.IntRange(0, len(sent)-1).Draw(rt, "retried")]
		switch rapid.IntRange(0, 2).Draw(rt, "change") {
		case 1:
			t.Amount = t.Amount.MustAdd(model.U128(1))
		case 2:
			t.CreditAccountID = rapid.SampledFrom(ids).Draw(rt, "other credit")
		}
		return t
	}
	t := model.Transfer{ID: model.U128(uint64(len(sent) + 1)),
		DebitAccountID:  rapid.SampledFrom(ids).Draw(rt, "debit"),
		CreditAccountID: rapid.SampledFrom(ids).Draw(rt, "credit"),
		Amount:          model.U128(uint64(rapid.IntRange(0, 50).Draw(rt, "amount"))),
		Ledger:          uint32(rapid.IntRange(1, 2).Draw(rt, "transfer ledger")), Code: 1,
		Flags: rapid.SampledFrom([]uint16{0, 0, 0, model.TransferBalancingDebit,
			model.TransferBalancingCredit, model.TransferPending}).Draw(rt, "transfer flags")}
	return t
}

// transferOnce sends one transfer (with balances in the result) and waits for its final
// answer.
func (sim *simulation) transferOnce(client *simClient, t model.Transfer) model.TransferResult {
	body := make([]byte, model.TransferSize)
	t.Encode(body)
	sim.request(client, model.OperationCreateTransfers, core.RequestFlagReplyBalances, body, nil)
	number := client.next - 1
	sim.quiesce()
	final := sim.finals[[2]uint64{client.id, number}]
	var result model.TransferResult
	result.DecodeWithBalances(final.body)
	return result
}
