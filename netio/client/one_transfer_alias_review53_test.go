package client

import (
	"context"
	"errors"
	"testing"

	"sequent/core/model"
)

// TestReview53LeftCallerRewritingItsTransferKeepsTheMergedBytes checks (review of
// callers53) the claim that createTransfer's transfer, now encoded straight into the
// request's frame under mu (submitRun, appendEvents) rather than into a copy on the
// caller's stack, is copied there and not referenced: a caller that leaves a merged
// request (its context ends) and then rewrites the very transfer it passed (its own
// slice, which it owns again once the call returned) must not change what the request
// carries, when sent or when resent after a reconnect: transfer 602 is created once,
// 609 never.
func TestReview53LeftCallerRewritingItsTransferKeepsTheMergedBytes(t *testing.T) {
	s, c, ctx, blocker := heldWindow(t, 600) // 1 -> 2, amount 1.
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	var merged *Call // Read under the client's mu (waitFor).
	forming := func(events int) func() bool {
		return func() bool {
			merged = c.forming[key]
			return merged != nil && merged.events == events
		}
	}

	stayed := make(chan error, 1)
	go func() { // B: forms the request and stays in it.
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(601, 1, 2, 3, 0)})
		if err == nil && results[0].Status != model.StatusOK {
			err = errors.New(results[0].Status.String())
		}
		stayed <- err
	}()
	waitFor(t, c, "B's request forming", forming(1))

	leaving, leave := context.WithCancel(ctx)
	defer leave()
	mine := []model.Transfer{transfer(602, 1, 2, 4, 0)}
	results := make([]model.EventResult, 1)
	left := make(chan error, 1)
	go func() { // A: joins with its own slice, then leaves.
		left <- c.CreateTransfersInto(leaving, mine, results)
	}()
	waitFor(t, c, "A joining B's request", forming(2))
	leave()
	var unknown *OutcomeUnknownError
	if err := <-left; !errors.As(err, &unknown) {
		t.Fatalf("A leaving a request that goes on: %v, want an *OutcomeUnknownError", err)
	}
	mine[0] = transfer(609, 3, 1, 9, 0) // A's slice is its own again.

	dropWithMergedInFlight(t, s, c, merged)
	if err := <-stayed; err != nil {
		t.Errorf("B: %v", err)
	}
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(601), model.U128(602),
		model.U128(609)})
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Transfer{transfer(601, 1, 2, 3, 0), transfer(602, 1, 2, 4, 0)}
	if len(found) != len(want) {
		t.Fatalf("found %d of transfers 601, 602, 609: %+v", len(found), found)
	}
	for i := range want {
		got := found[i]
		if got.ID != want[i].ID || got.DebitAccountID != want[i].DebitAccountID ||
			got.CreditAccountID != want[i].CreditAccountID || got.Amount != want[i].Amount {
			t.Errorf("transfer %d: %+v, want %+v", i, got, want[i])
		}
	}
	if applied := s.backend.Applications(1, c.Session(), merged.Number); applied != 1 {
		t.Errorf("merged request %d applied %d times, want once", merged.Number, applied)
	}
}
