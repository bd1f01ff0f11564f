package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"sequent/core/model"
)

// TestSharedWaitFollowersLeaveWithTheirContext: callers of one merged request that pass
// one context share its wait (coalesce.go, watchLocked): the first selects on the
// context, the others wait for it alone. When that context ends they all stop waiting,
// each told its events go on (an *OutcomeUnknownError wrapping context.Canceled: a caller
// with another context still waits); that caller gets its result once the request is
// answered, and every event of the request is applied once.
func TestSharedWaitFollowersLeaveWithTheirContext(t *testing.T) {
	s, c, ctx, blocker := heldWindow(t, 500)
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	shared, endShared := context.WithCancel(ctx)
	defer endShared()

	sharedDone := make(chan error, 3)
	call := func(id uint64) {
		_, err := c.CreateTransfers(shared, []model.Transfer{transfer(id, 1, 2, 1, 0)})
		sharedDone <- err
	}
	go call(501)
	waitFor(t, c, "the first caller to form a request", func() bool { return c.forming[key] != nil })
	go call(502)
	go call(503)
	type outcome struct {
		results []model.EventResult
		err     error
	}
	otherDone := make(chan outcome, 1)
	go func() {
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(504, 1, 2, 1, 0)})
		otherDone <- outcome{results, err}
	}()
	waitFor(t, c, "four callers in the request", func() bool {
		return c.forming[key] != nil && c.forming[key].waiters == 4
	})
	c.mu.Lock()
	watched := c.forming[key].watchDone == shared.Done()
	c.mu.Unlock()
	if !watched {
		t.Fatal("the request's wait is not shared by the callers of one context")
	}

	endShared()
	var outcomeUnknown *OutcomeUnknownError
	for range 3 {
		var err error
		select {
		case err = <-sharedDone:
		case <-time.After(waitLimit): // A guard against a hang (a follower never woken).
			t.Fatal("a caller of the ended context still waits")
		}
		if !errors.Is(err, context.Canceled) || !errors.As(err, &outcomeUnknown) {
			t.Fatalf("a caller of the ended context: %v, want an *OutcomeUnknownError "+
				"wrapping context.Canceled", err)
		}
	}
	select {
	case other := <-otherDone:
		t.Fatalf("the caller of another context returned before the answer: %v %v",
			other.results, other.err)
	default:
	}

	s.backend.Resume()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	other := <-otherDone
	if other.err != nil || len(other.results) != 1 || other.results[0].Status != model.StatusOK {
		t.Fatalf("the caller of another context: %v %v, want its transfer ok",
			other.results, other.err)
	}
	ids := []model.Uint128{model.U128(501), model.U128(502), model.U128(503), model.U128(504)}
	found, err := c.LookupTransfers(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != len(ids) {
		t.Fatalf("%d of the request's %d transfers applied", len(found), len(ids))
	}
}
