package netio_test

import (
	"context"
	"sync"
	"testing"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/client"
)

// TestInlineTurnsThroughTheServer runs clients on two event loops against a real shard
// on a real log, some one request at a time (the loop runs the idle shard's turn itself,
// TurnInline at the end of OnTraffic) and one with many requests in flight (several
// frames per read, turns mostly left to the sequencer): every call gets its reply, ok,
// and loops ran turns.
func TestInlineTurnsThroughTheServer(t *testing.T) {
	h := newDurableHarnessWith(t, shard.Config{}, func(config *netio.Config) { config.EventLoops = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	setup := h.dial(nil)
	if _, err := setup.CreateAccounts(ctx, []model.Account{account(1), account(2)}); err != nil {
		t.Fatal(err)
	}
	const lone, loneCalls, pipelined, inFlight = 3, 40, 200, 16
	var group sync.WaitGroup
	for c := range lone {
		connection := h.dial(nil)
		group.Go(func() {
			for i := range loneCalls {
				id := uint64(1_000 + c*loneCalls + i)
				if _, err := connection.Do(ctx, model.OperationCreateTransfers, 0,
					encodeTransfers(transfer(id, 1, 2, 1))); err != nil {
					t.Errorf("transfer %d: %v", id, err)
					return
				}
			}
		})
	}
	busy := h.dial(nil)
	group.Go(func() {
		calls := make([]*client.Call, 0, inFlight)
		for i := range pipelined {
			calls = append(calls, busy.Go(ctx, model.OperationCreateTransfers, 0,
				encodeTransfers(transfer(uint64(100_000+i), 2, 1, 1)), nil))
			if len(calls) == inFlight || i == pipelined-1 {
				for _, call := range calls {
					if _, err := call.Wait(ctx); err != nil {
						t.Errorf("pipelined transfer: %v", err)
						return
					}
				}
				calls = calls[:0]
			}
		}
	})
	group.Wait()
	stats := h.shard.Stats()
	t.Logf("%d entries, %d inline turns", stats.Entries, stats.InlineTurns)
	if stats.InlineTurns == 0 {
		t.Fatalf("no inline turn in %d entries", stats.Entries)
	}
}
