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
