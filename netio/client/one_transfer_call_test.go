package client

import (
	"sync"
	"testing"

	"sequent/core/model"
)

// TestMergedOneTransferCallsGetTheirOwnResults: one-transfer calls take their own path
// (createTransfer); merged two by two behind a full window, each caller must still get
// its own transfer's result, decoded as its call asks. B and C call
// CreateTransfersWithBalances and share one request (flags: balances), D and E call
// CreateTransfersInto and share the next: B's and C's balances differ (a caller handed
// its neighbour's slice, or a result decoded without its balances, fails), and D is
// refused while E is created (swapped slices swap the statuses).
func TestMergedOneTransferCallsGetTheirOwnResults(t *testing.T) {
	s, c, ctx, blocker := heldWindow(t, 200) // 1 -> 2, amount 1.
	withBalances := coalesceKey{model.OperationCreateTransfers, requestFlagReplyBalances, 0}
	plain := coalesceKey{model.OperationCreateTransfers, 0, 0}

	var group sync.WaitGroup
	var balances [2][]model.TransferResult
	var balanceErrors [2]error
	for i, one := range []model.Transfer{transfer(201, 1, 2, 5, 0), transfer(202, 3, 1, 7, 0)} {
		group.Go(func() {
			balances[i], balanceErrors[i] = c.CreateTransfersWithBalances(ctx,
				[]model.Transfer{one})
		})
		waitFor(t, c, "the caller with balances to form or join", func() bool {
			call := c.forming[withBalances]
			return call != nil && call.waiters == i+1
		})
	}
	var results [2][1]model.EventResult
	var resultErrors [2]error
	// Account 2 must not have debits above its credits (createAccountsAt): 1000 is more.
	for i, one := range []model.Transfer{transfer(203, 2, 3, 1000, 0), transfer(204, 3, 4, 1, 0)} {
		group.Go(func() {
			resultErrors[i] = c.CreateTransfersInto(ctx, []model.Transfer{one}, results[i][:])
		})
		waitFor(t, c, "the plain caller to form or join", func() bool {
			call := c.forming[plain]
			return call != nil && call.waiters == i+1
		})
	}
	s.backend.Resume()
	group.Wait()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}

	// Applied in order: the blocker, B, C (their request formed first), D, E.
	posted := func(debits, credits uint64) model.Balance {
		return model.Balance{DebitsPosted: model.U128(debits), CreditsPosted: model.U128(credits)}
	}
	want := [2]model.TransferResult{
		{EventResult: model.EventResult{Status: model.StatusOK},
			DebitAccount: posted(6, 0), CreditAccount: posted(0, 6)},
		{EventResult: model.EventResult{Status: model.StatusOK},
			DebitAccount: posted(7, 0), CreditAccount: posted(6, 7)},
	}
	for i := range balances {
		if balanceErrors[i] != nil || len(balances[i]) != 1 {
			t.Fatalf("caller with balances %d: %v %v", i, balances[i], balanceErrors[i])
		}
		got := balances[i][0]
		if got.Status != want[i].Status || got.DebitAccount != want[i].DebitAccount ||
			got.CreditAccount != want[i].CreditAccount {
			t.Errorf("caller with balances %d: %+v, want %+v", i, got, want[i])
		}
		if got.Timestamp == 0 {
			t.Errorf("caller with balances %d: no timestamp", i)
		}
	}
	wantStatuses := [2]model.Status{model.StatusExceedsCredits, model.StatusOK}
	for i := range results {
		if resultErrors[i] != nil || results[i][0].Status != wantStatuses[i] {
			t.Errorf("plain caller %d: %v %v, want %v", i, results[i][0], resultErrors[i],
				wantStatuses[i])
		}
	}
	if results[1][0].Timestamp <= balances[1][0].Timestamp {
		t.Errorf("E's timestamp %d not after C's %d: requests applied out of order",
			results[1][0].Timestamp, balances[1][0].Timestamp)
	}
}
