package client

import (
	"runtime"
	"testing"

	"sequent/core/model"
)

// Tests of the order in which requests formed behind a full window are numbered: one
// caller's requests (the runs of one CreateTransfers call, cut at
// model.EventsPerRequestMax events, or per debit shard with RouteByShard) must be numbered,
// hence written and applied, in the order the caller submitted them.

// TestQueuedRequestsAreNumberedInSubmissionOrder: with the window full (one request in
// flight, the shard paused), one goroutine submits twelve one-event requests in turn (each
// its own request: CoalesceEventsMax 1); once the shard resumes, their numbers follow the
// order of submission. Each waits for a window slot in a goroutine of its own; admitted in
// whatever order those goroutines reach the semaphore, the later ones were often numbered
// first. One P makes that the rule without -race: the goroutines run only once this one
// yields, the one started last first (it takes the P's next slot).
func TestQueuedRequestsAreNumberedInSubmissionOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s, c, ctx, blocker := heldWindowConfigured(t, 700, oneEventRequests)
	const requests = 12
	parts := make([]part, requests)
	for i := range parts {
		p, err := submitOne(ctx, c, 701+uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		parts[i] = p
	}
	runtime.Gosched() // Let them reach the semaphore (the one started last first).
	s.backend.Resume()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	numbers := make([]uint64, requests)
	for i := range parts {
		body, err := parts[i].wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var result model.EventResult
		result.Decode(body)
		if result.Status != model.StatusOK {
			t.Errorf("request %d: %s", i, result.Status)
		}
		numbers[i] = parts[i].call.Number
	}
	for i := 1; i < requests; i++ {
		if numbers[i] <= numbers[i-1] {
			t.Fatalf("numbers in submission order %v: not ascending", numbers)
		}
	}
}

// TestRouteByShardBatchKeepsItsOrderBehindAFullWindow: a batch of one shard's 8,199
// transfers sent while the window is full takes two requests (8,189 and 10 transfers),
// both waiting for a slot. The first and the 8,190th transfer have the same id and
// fields: in the batch's order the first is created and the other answered exists.
// Numbered the other way round (the second request first), the shard applied the 8,190th
// first: it was created and the first transfer answered exists. A few rounds, since which
// of the two waiting requests won the slot depended on scheduling (usually the second,
// started last; TestQueuedRequestsAreNumberedInSubmissionOrder is the reliable check).
func TestRouteByShardBatchKeepsItsOrderBehindAFullWindow(t *testing.T) {
	s, c, ctx := shardedWindowOfOne(t)
	for round := range uint64(8) {
		base := 100_000 * (round + 1)
		s.node.hold()
		blocker := holdWindow(ctx, t, c, transfer(base, 1, 3, 1, 0))
		batch := make([]model.Transfer, model.EventsPerRequestMax+10)
		for i := range batch {
			batch[i] = transfer(base+1+uint64(i), 1, 3, 1, 0)
		}
		batch[model.EventsPerRequestMax] = batch[0]
		type outcome struct {
			results []model.EventResult
			err     error
		}
		done := make(chan outcome, 1)
		go func() {
			results, err := c.CreateTransfers(ctx, batch)
			done <- outcome{results, err}
		}()
		// The second request is the one left open to joiners: both are submitted.
		waitFor(t, c, "the batch's two requests", func() bool {
			second := c.forming[coalesceKey{model.OperationCreateTransfers, 0, 0}]
			return second != nil && second.events == 10
		})
		s.node.release(t)
		if err := <-blocker; err != nil {
			t.Fatal(err)
		}
		got := <-done
		if got.err != nil {
			t.Fatal(got.err)
		}
		first, again := got.results[0].Status, got.results[model.EventsPerRequestMax].Status
		if first != model.StatusOK || again != model.StatusExists {
			t.Fatalf("round %d: the first transfer %s, the same one again %s; want ok, then exists "+
				"(the batch's order)", round, first, again)
		}
	}
}
