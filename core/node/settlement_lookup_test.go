package node

import (
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// TestSettlementAccountLookupFindsBothCopies: a settlement account S(0→1, 1) has one id
// and a copy on each shard of its pair (shard 0 holds the reservations' credits, shard 1
// the credits' debits). lookup_accounts of its id, alone or with ids of both shards,
// finds both copies in shard order; get_account_balances answers from shard 0's. Alone,
// it found only the copy on the shard the map places the id (here shard 1's); with ids of
// both shards, both.
func TestSettlementAccountLookupFindsBothCopies(t *testing.T) {
	tn := newTestNode(t)
	tn.call(1, 1, model.OperationCreateAccounts, 0, accountsBody(1, 100))
	tn.call(2, 2, model.OperationCreateTransfers, 0, transfersBody([4]uint64{10, 1, 100, 5}))
	s := saga.SettlementAccountID(0, 1, 1)
	lookup := func(connection uint64, ids ...model.Uint128) []model.Account {
		body := make([]byte, len(ids)*model.IDSize)
		for i, id := range ids {
			id.PutLE(body[i*model.IDSize:])
		}
		reply := tn.call(connection, 0, model.OperationLookupAccounts, 0, body)
		var accounts []model.Account
		for offset := 0; offset < len(reply.Body); offset += model.AccountSize {
			var a model.Account
			a.Decode(reply.Body[offset:])
			accounts = append(accounts, a)
		}
		return accounts
	}
	for connection, ids := range map[uint64][]model.Uint128{
		3: {s}, 4: {s, model.U128(1), model.U128(100)}, 5: {model.U128(100), s}} {
		found := lookup(connection, ids...)
		var copies []model.Account
		for _, a := range found {
			if a.ID == s {
				copies = append(copies, a)
			}
		}
		if len(found) != len(ids)+1 || len(copies) != 2 ||
			copies[0].CreditsPosted != model.U128(5) || copies[1].DebitsPosted != model.U128(5) {
			t.Fatalf("lookup of %v: %d records, settlement copies %+v", ids, len(found), copies)
		}
	}
	filter := make([]byte, model.AccountFilterSize)
	(&model.AccountFilter{AccountID: s, Limit: 10,
		Flags: model.FilterDebits | model.FilterCredits}).Encode(filter)
	reply := tn.call(6, 0, model.OperationGetAccountTransfers, 0, filter)
	if reply.Status != model.StatusOK || len(reply.Body) != 2*model.TransferSize {
		t.Fatalf("get_account_transfers of S: %s, %d bytes", reply.Status, len(reply.Body))
	}
	var first model.Transfer
	first.Decode(reply.Body)
	if first.CreditAccountID != s || first.ID != model.U128(10) {
		t.Fatalf("get_account_transfers of S answered from shard 1: %+v", first)
	}
}
