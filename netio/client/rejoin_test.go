package client

import (
	"context"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
)

// rejoinRound has callers one-transfer callers answered together by one merged request
// (formed while a blocker's request holds the open slot, the shard paused), then has
// back of them call once more, all at once after every first answer, and returns the
// requests the shard received for those second calls. Every call must succeed: a hold
// that never ends fails them when ctx (waitLimit: a hang guard) runs out.
func rejoinRound(t *testing.T, rejoinWait time.Duration, callers, back int) int {
	t.Helper()
	return rejoinRoundWith(t, rejoinWait, callers, back, nil)
}

// rejoinRoundWith is rejoinRound with beforeSecond, if not nil, run between the first
// answers and the second calls.
func rejoinRoundWith(t *testing.T, rejoinWait time.Duration, callers, back int,
	beforeSecond func(c *Client)) int {
	t.Helper()
	s := startTestServer(t)
	c := s.dial(t, func(config *Config) { config.RejoinWait = rejoinWait })
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	s.backend.Pause()
	blocker := holdWindow(ctx, t, c, transfer(1000, 1, 2, 1, 0))
	call := func(id uint64) {
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(id, 1, 2, 1, 0)})
		if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
			t.Errorf("transfer %d: %v %v", id, results, err)
		}
	}
	var firsts, seconds sync.WaitGroup
	again := make(chan struct{})
	for i := range callers {
		firsts.Add(1)
		seconds.Go(func() {
			call(uint64(2000 + i))
			firsts.Done()
			<-again
			if i < back {
				call(uint64(3000 + i))
			}
		})
	}
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	waitFor(t, c, "every caller in the forming request", func() bool {
		return c.forming[key] != nil && c.forming[key].waiters == callers
	})
	s.backend.Resume()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	firsts.Wait()
	if beforeSecond != nil {
		beforeSecond(c)
	}
	before := s.backend.Submitted()
	close(again)
	seconds.Wait()
	return s.backend.Submitted() - before
}

// TestRejoinWaitsForTheReleasedCallers: once a merged request of 40 callers is
// answered, the next request waits (the bound an hour: only the count can end it) until
// the 40 are back, and leaves with all of them: one request. Without the wait the first
// caller back finds the open slot free and leaves alone, the others in a second request
// (TestOpenRequestPendingMergesTheNext's split).
func TestRejoinWaitsForTheReleasedCallers(t *testing.T) {
	if requests := rejoinRound(t, time.Hour, 40, 40); requests != 1 {
		t.Errorf("%d requests for the 40 callers back, want 1", requests)
	}
}

// TestRejoinEndsOnTheBound: when only 10 of the 40 callers an answer released call
// again, the count is never reached: the request leaves once RejoinWait passes, and
// their calls are answered (with no bound they would hang until the guard).
func TestRejoinEndsOnTheBound(t *testing.T) {
	if requests := rejoinRound(t, time.Millisecond, 40, 10); requests < 1 {
		t.Errorf("%d requests for the 10 callers back, want at least 1", requests)
	}
}

// TestRejoinNeverWaitsAfterASmallAnswer: an answer releasing fewer than
// rejoinCallersMin callers (here 20, of which one calls again) makes nobody wait, even
// with an hour's bound: the call is answered (with a wait it would hang until the
// guard). One request.
func TestRejoinNeverWaitsAfterASmallAnswer(t *testing.T) {
	if requests := rejoinRound(t, time.Hour, rejoinCallersMin-12, 1); requests != 1 {
		t.Errorf("%d requests for the caller back, want 1", requests)
	}
}

// TestRejoinOff: with RejoinWait negative nothing waits. Only one of the 40 callers an
// answer released calls again: with a wait (even bounded by an hour, as in
// TestRejoinWaitsForTheReleasedCallers) its request would be held for the other 39 and
// the call would hang until the guard; off, it leaves at once, alone: one request. (An
// earlier form counted the requests of 40 callers back at once, at least 2, which a
// scheduler running all 40 before the first request left could make 1.)
func TestRejoinOff(t *testing.T) {
	if requests := rejoinRound(t, -1, 40, 1); requests != 1 {
		t.Errorf("%d requests for the caller back, want 1", requests)
	}
}

// TestRejoinBoundRunsFromTheAnswer: the 40 callers an answer released are not coming
// back soon (the clock moves two hours, past the hour's bound, before 10 of them call
// again): the next request waits for nothing. Before, the bound ran from the next
// request's admission, so a burst, a pause, then one call paid the whole RejoinWait
// (here an hour: the calls hang until the guard).
func TestRejoinBoundRunsFromTheAnswer(t *testing.T) {
	requests := rejoinRoundWith(t, time.Hour, 40, 10, func(c *Client) {
		later := time.Now().Add(2 * time.Hour)
		c.mu.Lock()
		c.now = func() time.Time { return later }
		c.mu.Unlock()
	})
	if requests < 1 {
		t.Errorf("%d requests for the 10 callers back, want at least 1", requests)
	}
}
