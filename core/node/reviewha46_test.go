package node

import (
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// TestReviewha46SettlementAccountWithOneCopy: a settlement account S(A→B, L) is created on
// its debit shard A before step 1 and on B only when a credit first reaches B, so while
// every transfer from A to B on L was refused by A's ledger, S has one copy, on A, and
// that copy answers both lookup_accounts and get_account_transfers, though A (shard 1
// here) is not the lower-numbered shard of the pair. PROTOCOL.md section 18 said
// lookup_accounts "finds its two copies" and that the queries "answer from the
// lower-numbered shard of its pair".
func TestReviewha46SettlementAccountWithOneCopy(t *testing.T) {
	tn := newTestNode(t)
	body := make([]byte, 2*model.AccountSize)
	(&model.Account{ID: model.U128(1), Ledger: 1, Code: 1}).Encode(body)
	(&model.Account{ID: model.U128(100), Ledger: 1, Code: 1,
		Flags: model.AccountDebitsMustNotExceedCredits}).Encode(body[model.AccountSize:])
	if reply := tn.call(1, 1, model.OperationCreateAccounts, 0, body); reply.Status != model.StatusOK ||
		len(reply.Body) != 0 && statuses(reply.Body, model.EventResultSize)[0] != model.StatusOK {
		t.Fatalf("accounts: %s %v", reply.Status, statuses(reply.Body, model.EventResultSize))
	}
	// 100 (shard 1) holds nothing: step 1 is refused exceeds_credits, no credit goes to 0.
	reply := tn.call(2, 2, model.OperationCreateTransfers, 0, transfersBody([4]uint64{10, 100, 1, 5}))
	if got := statuses(reply.Body, model.EventResultSize); len(got) != 1 ||
		got[0] != model.StatusExceedsCredits {
		t.Fatalf("transfer: %s %v", reply.Status, got)
	}
	s := saga.SettlementAccountID(1, 0, 1)
	ids := make([]byte, model.IDSize)
	s.PutLE(ids)
	reply = tn.call(3, 0, model.OperationLookupAccounts, 0, ids)
	if reply.Status != model.StatusOK || len(reply.Body) != model.AccountSize {
		t.Fatalf("lookup_accounts of S(1→0): %s, %d records", reply.Status,
			len(reply.Body)/model.AccountSize)
	}
	filter := make([]byte, model.AccountFilterSize)
	(&model.AccountFilter{AccountID: s, Limit: 10,
		Flags: model.FilterDebits | model.FilterCredits}).Encode(filter)
	if reply = tn.call(4, 0, model.OperationGetAccountTransfers, 0, filter); reply.Status != model.StatusOK {
		t.Fatalf("get_account_transfers of S(1→0): %s (shard 0 has no copy)", reply.Status)
	}
}
