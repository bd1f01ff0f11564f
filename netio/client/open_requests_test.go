package client

import (
	"context"
	"slices"
	"sync"
	"testing"

	"sequent/core/model"
)

// TestOpenRequestPendingMergesTheNext: with a window of many requests (the default) and
// one request formed open on its way (the shard paused), three one-transfer callers do
// not leave in requests of their own through the free window slots: they form and join
// one request, sent once the first is answered (openRequestsPendingMax). Two requests for
// four calls; one per call without the bound.
func TestOpenRequestPendingMergesTheNext(t *testing.T) {
	s := startTestServer(t)
	c := s.dial(t, nil)
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	submittedBefore := s.backend.Submitted()
	s.backend.Pause()
	blocker := holdWindow(ctx, t, c, transfer(400, 1, 2, 1, 0))
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	var group sync.WaitGroup
	for i := range 3 {
		group.Go(func() {
			results, err := c.CreateTransfers(ctx,
				[]model.Transfer{transfer(uint64(401+i), 1, 2, 1, 0)})
			if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
				t.Errorf("call %d: %v %v", i, results, err)
			}
		})
		waitFor(t, c, "the caller to form or join", func() bool {
			call := c.forming[key]
			return len(c.pending) > 1 || call != nil && call.waiters == i+1
		})
	}
	c.mu.Lock()
	pending := len(c.pending)
	c.mu.Unlock()
	s.backend.Resume()
	group.Wait()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	if pending != 1 {
		t.Errorf("%d requests pending with an open one on its way, want 1", pending)
	}
	if requests := s.backend.Submitted() - submittedBefore; requests != 2 {
		t.Errorf("%d requests for 4 calls, want 2 (the first alone, then 3 merged)", requests)
	}
}

// TestFullRequestKeepsThePipelining: a request formed full (CoalesceEventsMax events)
// takes no open slot: it leaves through a free window slot while an open request is on
// its way, and so do Go's requests; the open request formed after them still waits.
func TestFullRequestKeepsThePipelining(t *testing.T) {
	s := startTestServer(t)
	c := s.dial(t, func(config *Config) { config.CoalesceEventsMax = 2 })
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	s.backend.Pause()
	blocker := holdWindow(ctx, t, c, transfer(500, 1, 2, 1, 0))
	full := make(chan error, 1)
	go func() {
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(501, 1, 2, 1, 0),
			transfer(502, 1, 2, 1, 0)})
		if err == nil && !slices.Equal(statuses(results),
			[]model.Status{model.StatusOK, model.StatusOK}) {
			t.Errorf("full request: %v", results)
		}
		full <- err
	}()
	waitFor(t, c, "the full request in flight", func() bool { return len(c.pending) == 2 })
	body := make([]byte, model.TransferSize)
	direct503 := transfer(503, 1, 2, 1, 0)
	direct503.Encode(body)
	direct := c.Go(ctx, model.OperationCreateTransfers, 0, body, nil)
	waitFor(t, c, "Go's request in flight", func() bool { return len(c.pending) == 3 })
	open := make(chan error, 1)
	go func() {
		_, err := c.CreateTransfers(ctx, []model.Transfer{transfer(504, 1, 2, 1, 0)})
		open <- err
	}()
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	waitFor(t, c, "the open request forming (or sent)", func() bool {
		return c.forming[key] != nil || len(c.pending) == 4
	})
	c.mu.Lock()
	pending := len(c.pending)
	c.mu.Unlock()
	if pending != 3 {
		t.Errorf("%d requests pending, want 3 (the open one waits for the first)", pending)
	}
	s.backend.Resume()
	for _, done := range []<-chan error{blocker, full, open} {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if _, err := direct.Wait(ctx); err != nil {
		t.Error(err)
	}
}
