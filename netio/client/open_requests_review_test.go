package client

import (
	"context"
	"testing"

	"sequent/core/model"
)

// TestLoneCallersRunsCutByAChainArePipelined: a lone caller's batch of one request and
// a bit more, whose linked chain crosses the cut, is sent as two runs (chunks never cuts
// a chain): the first one event short of full, so formed open to more callers. Its
// caller's second run follows at once; holding it back until the first is answered
// (openRequestsPendingMax) would have one caller's runs leave one per round trip, where
// they were pipelined before the open-request bound, and contradict "a lone caller never
// finds a request of its own still pending: its latency does not change" (coalesce.go).
// With the shard paused, both runs must be in flight.
func TestLoneCallersRunsCutByAChainArePipelined(t *testing.T) {
	s := startTestServer(t)
	c := s.dial(t, nil)
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	transfers := make([]model.Transfer, model.EventsPerRequestMax+1)
	for i := range transfers {
		transfers[i] = transfer(uint64(10_000+i), 1, 2, 1, 0)
	}
	// A chain of the last two transfers crosses the cut at EventsPerRequestMax: the first
	// run ends one transfer earlier, and the second takes the chain.
	transfers[model.EventsPerRequestMax-1].Flags = model.TransferLinked
	s.backend.Pause()
	done := make(chan error, 1)
	go func() {
		results, err := c.CreateTransfers(ctx, transfers)
		for i, result := range results {
			if result.Status != model.StatusOK {
				t.Errorf("transfer %d: %s", i, result.Status)
				break
			}
		}
		done <- err
	}()
	// Both runs submitted: in flight, or the second waiting for admission.
	waitFor(t, c, "both runs in flight, or the second held back", func() bool {
		return len(c.pending) == 2 || len(c.pending) == 1 && c.admitting > 0
	})
	c.mu.Lock()
	pending, admitting := len(c.pending), c.admitting
	c.mu.Unlock()
	s.backend.Resume()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if pending != 2 {
		t.Errorf("%d of the lone caller's 2 runs in flight (%d held back for admission), "+
			"want both: its second run waited for its first one's reply", pending, admitting)
	}
}
