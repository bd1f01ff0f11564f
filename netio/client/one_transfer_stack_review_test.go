package client

import (
	"context"
	"errors"
	"testing"

	"sequent/core/model"
)

// TestLeftOneTransferCallerCallingAgainKeepsItsMergedBytes: createTransfer encoded its
// transfer into an array on its own stack and handed submitRun a slice of it (until
// callers53, which has submitRun encode the caller's transfer straight into the frame:
// a kept pointer to the caller's own transfer, which this test does not catch, is
// TestReview53LeftCallerRewritingItsTransferKeepsTheMergedBytes's). A caller that
// leaves a merged request (its context ends) returns while the request goes on for the
// others; calling again from the same goroutine puts the next call's array where the
// first one was and encodes other bytes there. The request must still carry the first
// transfer's bytes, when sent and when resent after a reconnect: were the slice kept
// rather than copied into the request's frame, transfer 502 would never be created and
// 503 would be sent twice (the second answering exists).
func TestLeftOneTransferCallerCallingAgainKeepsItsMergedBytes(t *testing.T) {
	s, c, ctx, blocker := heldWindow(t, 500) // 1 -> 2, amount 1.
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
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(501, 1, 2, 3, 0)})
		if err == nil && results[0].Status != model.StatusOK {
			err = errors.New(results[0].Status.String())
		}
		stayed <- err
	}()
	waitFor(t, c, "B's request forming", forming(1))

	leaving, leave := context.WithCancel(ctx)
	defer leave()
	left := make(chan error, 1)
	again := make(chan error, 1)
	go func() { // A: joins, leaves, then calls again from the same goroutine.
		_, err := c.CreateTransfers(leaving, []model.Transfer{transfer(502, 1, 2, 4, 0)})
		left <- err
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(503, 3, 1, 9, 0)})
		if err == nil && results[0].Status != model.StatusOK {
			err = errors.New(results[0].Status.String())
		}
		again <- err
	}()
	waitFor(t, c, "A joining B's request", forming(2))
	leave()
	var unknown *OutcomeUnknownError
	if err := <-left; !errors.As(err, &unknown) {
		t.Fatalf("A leaving a request that goes on: %v, want an *OutcomeUnknownError", err)
	}
	waitFor(t, c, "A's second call joining the same request", forming(3))

	dropWithMergedInFlight(t, s, c, merged)
	for name, done := range map[string]chan error{"B": stayed, "A's second call": again} {
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}

	found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(501), model.U128(502),
		model.U128(503)})
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Transfer{transfer(501, 1, 2, 3, 0), transfer(502, 1, 2, 4, 0),
		transfer(503, 3, 1, 9, 0)}
	if len(found) != len(want) {
		t.Fatalf("found %d of transfers 501..503: %+v", len(found), found)
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
