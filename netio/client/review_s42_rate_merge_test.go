package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
)

// TestMergedCallsKeepTheirOwnEventRate (review, session 42): the package doc promises
// that merged calls get "the same calls sent one request each in the merged order" and
// coalesce.go that "request-level statuses of these operations do not depend on the
// events". A client's events_per_second limit (keys file, PROTOCOL.md §14) is a
// request-level status that does depend on them: the server charges a request's event
// count to a bucket of one second of burst and refuses the whole request rate_limited
// when it does not fit. Client 1 may send 4 events a second; its bucket is full (the
// server's clock moved 10 s after the accounts were made). Two callers of 3 transfers
// each queue behind a full window and merge into one request of 6 events, more than the
// bucket can ever hold. Sent one request each in that order, the first (3 events) is
// admitted and applied, and only the second is refused rate_limited; merged, the first
// caller is refused too, for its neighbour's events (and a merged request above the
// burst would be refused at every attempt, however long the caller waits).
func TestMergedCallsKeepTheirOwnEventRate(t *testing.T) {
	s, clockNs := rateLimitedServer(t, 4)
	c := s.dial(t, func(config *Config) { config.InflightMax = 1 })
	createTestAccounts(t, c) // 4 events: the bucket is empty after them.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	// The window of one request held by a transfer on a paused shard (1 event of a
	// bucket refilled to 4).
	clockNs.Add(int64(10 * time.Second))
	s.backend.Pause()
	blocker := holdWindowAdmitted(ctx, t, s, c, transfer(400, 1, 2, 1, 0))

	calls := [][]model.Transfer{
		{transfer(401, 1, 2, 1, 0), transfer(402, 1, 2, 1, 0), transfer(403, 1, 2, 1, 0)},
		{transfer(404, 1, 2, 1, 0), transfer(405, 1, 2, 1, 0), transfer(406, 1, 2, 1, 0)},
	}
	results := make([][]model.EventResult, len(calls))
	errs := make([]error, len(calls))
	var group sync.WaitGroup
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	for i, transfers := range calls {
		group.Go(func() { results[i], errs[i] = c.CreateTransfers(ctx, transfers) })
		waitFor(t, c, "the caller to form or join the request", func() bool {
			call := c.forming[key]
			return call != nil && call.waiters == i+1
		})
	}
	// The bucket full again (4 events) before the merged request is sent.
	clockNs.Add(int64(10 * time.Second))
	s.backend.Resume()
	group.Wait()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}

	// Alone, in that order: the first call's 3 events fit the 4 tokens, the second's 3
	// do not fit the 1 left.
	if errs[0] != nil || !slices.Equal(statuses(results[0]),
		[]model.Status{model.StatusOK, model.StatusOK, model.StatusOK}) {
		t.Errorf("first caller (3 events, within its rate alone): %v %v, want 3 ok",
			statuses(results[0]), errs[0])
	}
	var refused *StatusError
	if !errors.As(errs[1], &refused) || refused.Status != model.StatusRateLimited {
		t.Errorf("second caller: %v %v, want rate_limited", statuses(results[1]), errs[1])
	}
}
