package core

import (
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// refusedCrossShardTransfers is the traffic of a client that may debit nothing on shard 0
// of an ownedPair: a hundred transfers from a missing account on ledgers 10..109, then
// one from client 1's account 1, which client 3 may not debit.
func refusedCrossShardTransfers() []model.Transfer {
	var transfers []model.Transfer
	for ledger := uint32(10); ledger < 110; ledger++ {
		transfer := simpleTransfer(1000+uint64(ledger), 5, 200, 1)
		transfer.Ledger = ledger
		transfers = append(transfers, transfer)
	}
	return append(transfers, simpleTransfer(2000, 1, 100, 1))
}

// TestRefusedTransfersCreateNoSettlementAccount holds that a cross-shard transfer the debit
// shard refuses on its own side leaves no settlement account behind (so that a client
// owning nothing cannot fill the shared accounts limit with them), and that it is answered
// as before: debit_account_not_found, debit_account_not_owned, and, for a debit account
// on another ledger than the transfer's, accounts_must_have_the_same_ledger. The
// transient refusals are remembered (a retry answers id_already_failed), the other is not.
func TestRefusedTransfersCreateNoSettlementAccount(t *testing.T) {
	p := ownedPair(t)
	accountsBefore := p.shards[0].machine.Ledger().AccountCount()
	p.actor = 3
	out := p.client(0, model.OperationCreateTransfers, 0,
		transfersBody(refusedCrossShardTransfers()...))
	statuses := eventStatuses(t, out.Body(&out.Replies[0]))
	for i, status := range statuses[:100] {
		if status != model.StatusDebitAccountNotFound {
			t.Fatalf("transfer %d: %s, want debit_account_not_found", i, status)
		}
	}
	if statuses[100] != model.StatusDebitAccountNotOwned {
		t.Fatalf("someone else's account: %s, want debit_account_not_owned", statuses[100])
	}
	p.actor = 1
	otherLedger := simpleTransfer(3000, 1, 100, 1)
	otherLedger.Ledger = 7
	if result, _ := p.transfer(otherLedger); result.Status !=
		model.StatusAccountsMustHaveTheSameLedger {
		t.Fatalf("debit account on another ledger: %s", result.Status)
	}
	if result, _ := p.transfer(otherLedger); result.Status !=
		model.StatusAccountsMustHaveTheSameLedger {
		t.Fatalf("retry of a refusal that is not transient: %s", result.Status)
	}
	p.actor = 3
	if result, _ := p.transfer(simpleTransfer(2000, 1, 100, 1)); result.Status !=
		model.StatusIDAlreadyFailed {
		t.Fatalf("retry of a transient refusal: %s", result.Status)
	}
	if count := p.shards[0].machine.Ledger().AccountCount(); count != accountsBefore {
		t.Errorf("refused transfers left %d accounts on the debit shard", count-accountsBefore)
	}
	for _, ledger := range []uint32{1, 7, 10, 109} {
		id := saga.SettlementAccountID(0, 1, ledger)
		if found := p.shards[0].machine.Ledger().LookupAccounts([]model.Uint128{id}, nil); len(found) != 0 {
			t.Errorf("settlement account of ledger %d created", ledger)
		}
	}
}

// versionOneTraffic applies, on shard 0 of twoShards, requests whose outcome depends on
// the rules version: accounts of clients 1 and 2, a valid cross-shard transfer, and a
// client owning nothing sending cross-shard transfers that are all refused.
func versionOneTraffic(h *harness) {
	h.t.Helper()
	h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
		[]model.Grant{{Client: 1, Scopes: model.ScopeTransfer, Ledger: 1},
			{Client: 2, Scopes: model.ScopeTransfer, Ledger: 1}})})
	h.apply(Request{Client: 1, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(1)},
		Request{Client: 2, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
			Body: accountsBody(2)})
	h.apply(Request{Client: 1, Session: 1, Number: 2, Operation: model.OperationCreateTransfers,
		Body: transfersBody(simpleTransfer(50, 1, 100, 3))})
	h.apply(Request{Client: 3, Session: 1, Number: 1, Operation: model.OperationCreateTransfers,
		Body: transfersBody(refusedCrossShardTransfers()...)},
		Request{Client: 1, Session: 1, Number: 3, Operation: model.OperationCreateTransfers,
			Body: transfersBody(simpleTransfer(51, 1, 101, 2))})
}
