package client

import (
	"context"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
)

// Review of the rejoin wait (coalesce.go, "Rejoin"), session 38.

// rejoinAnswered starts a server and a client (configure applied after an hour's
// RejoinWait: only the count, a closed request or Close can end a hold), has callers
// one-transfer callers answered together by one merged request (formed while a
// blocker's request holds the open slot, the shard paused) and returns the client, the
// server and a context bounding the test (waitLimit, a hang guard). The next merged
// request then holds for callers callers.
func rejoinAnswered(t *testing.T, callers int, configure func(*Config)) (*testServer, *Client,
	context.Context) {
	t.Helper()
	s := startTestServer(t)
	c := s.dial(t, func(config *Config) {
		config.RejoinWait = time.Hour
		if configure != nil {
			configure(config)
		}
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	s.backend.Pause()
	blocker := holdWindow(ctx, t, c, transfer(1000, 1, 2, 1, 0))
	var firsts sync.WaitGroup
	for i := range callers {
		firsts.Go(func() {
			results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(uint64(2000+i), 1, 2, 1, 0)})
			if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
				t.Errorf("first transfer %d: %v %v", i, results, err)
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
	c.mu.Lock()
	released := c.rejoinReleased
	c.mu.Unlock()
	if released != callers {
		t.Fatalf("the answer released %d callers, want %d", released, callers)
	}
	return s, c, ctx
}

// TestRejoinHoldLeavesTheWindowToOtherRequests: with a window of one request
// (InflightMax 1), 40 callers answered together each look an account up (LookupAccounts:
// a request of its own, never merged) before their next transfer. The first back forms
// the next merged request, whose admission holds for the 40. If the hold takes the
// window's only slot before it waits, the other 39 lookups cannot be sent, so their
// callers can never come back, and the hold lasts its whole bound (an hour here; 1 ms
// by default, paid every round): the callers' contexts (the hang guard, waitLimit) run
// out. Waiting before it takes the window slot, the lookups go, the 39 join, and the 40
// transfers leave in one request.
//
// Fails at b16b8bd (the wait runs after acquireSlots took both slots): the lookups end
// with the guard's context deadline.
func TestRejoinHoldLeavesTheWindowToOtherRequests(t *testing.T) {
	const callers = 40
	s, c, ctx := rejoinAnswered(t, callers, func(config *Config) { config.InflightMax = 1 })
	before := s.backend.Submitted()
	var seconds sync.WaitGroup
	second := func(i int, lookup bool) {
		if lookup {
			if _, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(1)}); err != nil {
				t.Errorf("lookup of caller %d: %v", i, err)
				return
			}
		}
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(uint64(3000+i), 1, 2, 1, 0)})
		if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
			t.Errorf("second transfer %d: %v %v", i, results, err)
		}
	}
	seconds.Go(func() { second(0, false) })
	waitFor(t, c, "the next merged request held for the callers", func() bool {
		return c.rejoinCall != nil
	})
	for i := 1; i < callers; i++ {
		seconds.Go(func() { second(i, true) })
	}
	seconds.Wait()
	// The 39 lookups, then the 40 transfers in one request.
	if requests := s.backend.Submitted() - before; requests != callers {
		t.Errorf("%d requests for 39 lookups and the 40 transfers, want %d", requests, callers)
	}
}
