package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
)

// TestSplitsUnderCancellationKeepOutcomesAndIdleCounts (review rc42): many rounds of
// merged requests refused rate_limited whole and split, with callers whose contexts end
// before the request is sent (they left: their events must never be applied), at about
// the moment the refusal comes back (a race with the split), or never. Client 1 may send
// 6 events a second; each round 2 to 4 callers of 1 to 4 transfers merge behind a held
// window of one request. After every round each caller's error must agree with what the
// shard holds: ok means every one of its transfers exists, rate_limited or the context's
// own error (not an *OutcomeUnknownError) means none does. After all rounds the client
// must be back to its idle counts: nothing pending, admitting or forming, the whole
// window, its reply bytes and the open-request slot free.
func TestSplitsUnderCancellationKeepOutcomesAndIdleCounts(t *testing.T) {
	s, clockNs := rateLimitedServer(t, 6)
	c := s.dial(t, func(config *Config) { config.InflightMax = 1 })
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	random := rand.New(rand.NewPCG(42, 42))
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	next := uint64(10_000)
	const rounds = 120
	for round := range rounds {
		clockNs.Add(int64(10 * time.Second))
		s.backend.Pause()
		blocker := holdWindow(ctx, t, c, transfer(next, 1, 2, 1, 0))
		next++
		callers := 2 + random.IntN(3)
		transfers := make([][]model.Transfer, callers)
		contexts := make([]context.Context, callers)
		cancels := make([]context.CancelFunc, callers)
		when := make([]int, callers) // 0 never, 1 before the answer, 2 racing it.
		results := make([][]model.EventResult, callers)
		errs := make([]error, callers)
		var group sync.WaitGroup
		events := 0
		for i := range callers {
			count := 1 + random.IntN(4)
			for range count {
				transfers[i] = append(transfers[i], transfer(next, 1, 2, 1, 0))
				next++
			}
			contexts[i], cancels[i] = context.WithCancel(ctx)
			when[i] = random.IntN(3)
			group.Go(func() { results[i], errs[i] = c.CreateTransfers(contexts[i], transfers[i]) })
			events += count
			waitFor(t, c, "the caller to join the forming request", func() bool {
				call := c.forming[key]
				return call != nil && call.events == events
			})
		}
		for i := range callers {
			if when[i] == 1 {
				cancels[i]()
			}
		}
		waitFor(t, c, "the early leavers to leave", func() bool {
			waiting := 0
			for i := range callers {
				if when[i] != 1 {
					waiting++
				}
			}
			call := c.forming[key]
			if waiting == 0 {
				return call == nil // The last one to leave closes it.
			}
			return call != nil && call.waiters == waiting
		})
		clockNs.Add(int64(10 * time.Second))
		s.backend.Resume()
		for i := range callers {
			if when[i] == 2 {
				delay := time.Duration(random.IntN(300)) * time.Microsecond
				go func() {
					time.Sleep(delay)
					cancels[i]()
				}()
			}
		}
		group.Wait()
		if err := <-blocker; err != nil {
			t.Fatalf("round %d: blocker: %v", round, err)
		}
		// Requests of callers that left after theirs was sent are still answered: wait
		// for them (they take from the bucket the lookups need).
		waitFor(t, c, "the round's requests to be answered", func() bool {
			return len(c.pending) == 0 && c.admitting == 0
		})
		for i := range callers {
			cancels[i]()
			exists := existing(ctx, t, c, clockNs, transfers[i])
			var unknown *OutcomeUnknownError
			switch {
			case errs[i] == nil:
				if !allOK(results[i], len(transfers[i])) || exists != len(transfers[i]) {
					t.Fatalf("round %d caller %d: ok %v but %d of %d transfers exist",
						round, i, statuses(results[i]), exists, len(transfers[i]))
				}
			case errors.As(errs[i], &unknown):
			case exists != 0:
				t.Fatalf("round %d caller %d (ends %d): %v, yet %d of its %d transfers exist",
					round, i, when[i], errs[i], exists, len(transfers[i]))
			}
		}
	}
	waitFor(t, c, "the client to be idle", func() bool {
		return len(c.pending) == 0 && c.admitting == 0 && len(c.forming) == 0 &&
			len(c.windowQueue) == 0
	})
	if !c.window.TryAcquire(int64(c.config.InflightMax)) {
		t.Error("window slots still held after every call returned")
	}
	if !c.windowBytes.TryAcquire(int64(c.config.InflightBytesMax)) {
		t.Error("window reply bytes still held after every call returned")
	}
	if !c.openRequests.TryAcquire(openRequestsPendingMax) {
		t.Error("the open-request slot still held after every call returned")
	}
}

// existing looks transfers up (a refilled bucket for each lookup of at most 4 ids) and
// returns how many exist.
func existing(ctx context.Context, t *testing.T, c *Client, clockNs interface{ Add(int64) int64 },
	transfers []model.Transfer) int {
	count := 0
	for start := 0; start < len(transfers); start += 4 {
		var ids []model.Uint128
		for _, transfer := range transfers[start:min(start+4, len(transfers))] {
			ids = append(ids, transfer.ID)
		}
		// A request its caller left once it was written (no longer pending) may reach
		// the server after the refill: refill again and look up again.
		var found []model.Transfer
		var err error
		for range 10 {
			clockNs.Add(int64(10 * time.Second))
			if found, err = c.LookupTransfers(ctx, ids); !isRateLimited(err) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		count += len(found)
	}
	return count
}

// TestSplitKeepsACallersRunsInOrder (review rc42): CreateTransfers documents that a
// batch's requests are numbered and sent in the batch's order, so the server applies
// them in that order, the one exception being a request answered busy, log_unavailable
// or outcome_unknown and resent later. A merged request refused rate_limited and split
// broke it: the split requests are admitted behind everything already queued, the
// caller's own later runs included. X sends 8,200 transfers: its first run (8,000: the
// second run is a linked chain of 200, never cut) credits account 2 with 100, and its
// second run begins with a transfer of 100 out of account 2 (debits must not exceed
// credits). Y's 100 transfers formed a request behind a held window; X's first run
// joins it (8,100 events), its second run forms the next request. Client 1 may send
// 8,100 events a second: the merged request is refused whole (8,099 tokens: the window's
// holder took one), X's second run is admitted (200 events), and with the bucket refilled
// while it sits in the paused shard, Y's and X's first run, sent again one request each,
// are admitted after it. X's call then returned no
// error, its second run's debit failing exceeds_credits: run 2 applied before run 1, an
// outcome the batch sent alone can never have. With the fix a run followed by more of
// its caller's runs is not sent again: its caller gets rate_limited, as a batch one
// request of which is refused at request level.
func TestSplitKeepsACallersRunsInOrder(t *testing.T) {
	s, clockNs := rateLimitedServer(t, 8100)
	c := s.dial(t, func(config *Config) { config.InflightMax = 1 })
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	holding, stopHolding := context.WithCancel(ctx)
	defer stopHolding()
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}

	clockNs.Add(int64(10 * time.Second)) // 8,100 tokens.
	s.backend.Pause()
	blocker := holdWindowAdmitted(holding, t, s, c, transfer(900, 1, 3, 1, 0)) // 8,099 left.
	var y []model.Transfer
	for id := range uint64(100) {
		y = append(y, transfer(100_000+id, 1, 3, 1, 0))
	}
	yDone := make(chan error, 1)
	go func() {
		_, err := c.CreateTransfers(ctx, y)
		yDone <- err
	}()
	waitFor(t, c, "Y to form a request", func() bool {
		return c.forming[key] != nil && c.forming[key].events == len(y)
	})
	x := []model.Transfer{transfer(200_000, 1, 2, 100, 0)} // Run 1: credits account 2.
	for id := range uint64(7_999) {
		x = append(x, transfer(200_001+id, 1, 3, 1, 0))
	}
	x = append(x, transfer(300_000, 2, 1, 100, model.TransferLinked)) // Run 2: debits it.
	for id := range uint64(199) {
		x = append(x, transfer(300_001+id, 1, 3, 1, model.TransferLinked))
	}
	x[len(x)-1].Flags = 0 // The chain closes with the batch.
	var xResults []model.EventResult
	xDone := make(chan error, 1)
	go func() {
		var err error
		xResults, err = c.CreateTransfers(ctx, x)
		xDone <- err
	}()
	waitFor(t, c, "X's runs to join Y's request and form the next", func() bool {
		return c.admitting == 2 && c.forming[key] != nil && c.forming[key].events == 200
	})
	submitted := s.backend.Submitted()
	stopHolding() // The window's slot frees: the merged request goes, refused, split.
	var unknown *OutcomeUnknownError
	if err := <-blocker; !errors.As(err, &unknown) {
		t.Fatalf("the blocker, left while in the paused shard: %v", err)
	}
	waitFor(t, c, "a request behind the merged one queued in the paused shard", func() bool {
		return s.backend.Submitted() > submitted
	})
	clockNs.Add(int64(10 * time.Second)) // 8,100 tokens again: Y's 100 and X's 8,000.
	s.backend.Resume()
	xErr, yErr := <-xDone, <-yDone
	if yErr != nil && !isRateLimited(yErr) {
		t.Errorf("Y: %v, want ok or rate_limited", yErr)
	}
	switch {
	case isRateLimited(xErr):
	case xErr != nil:
		t.Errorf("X: %v, want ok or rate_limited", xErr)
	case xResults[8000].Status != model.StatusOK:
		t.Errorf("X returned no error, but its second run's first transfer is %s: run 2 "+
			"was applied before run 1 (want the batch's requests applied in order)",
			xResults[8000].Status)
	}
}
