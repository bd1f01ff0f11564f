package netio_test

import (
	"context"
	"sync/atomic"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/fakeshard"
)

// inlineOffBackend is a backend that can take inline turns but whose turns are off (a
// node of several shards, or shard.Config.InlineTurnsOff): it counts the calls of the
// inline path that it gets.
type inlineOffBackend struct {
	*fakeshard.Backend
	deferred, turns atomic.Int64
}

func (b *inlineOffBackend) InlineTurns() bool { return false }

func (b *inlineOffBackend) SubmitDeferred(request *backend.Request) model.Status {
	b.deferred.Add(1)
	return b.Backend.Submit(request)
}

func (b *inlineOffBackend) TurnInline() { b.turns.Add(1) }

// TestInlineTurnsOffTakesTheSubmitPath: with a backend whose inline turns are off, the
// server submits with Submit and schedules no TurnInline: each such call would be a gnet
// loop task per read doing nothing (two allocations each, and a wake of the loop's
// eventfd).
func TestInlineTurnsOffTakesTheSubmitPath(t *testing.T) {
	var wrapped *inlineOffBackend
	h := newHarness(t, harnessOptions{wrap: func(fake *fakeshard.Backend) backend.Backend {
		wrapped = &inlineOffBackend{Backend: fake}
		return wrapped
	}})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c := h.dial(nil)
	const requests = 20
	for i := range requests {
		if _, err := c.CreateAccounts(ctx, []model.Account{account(uint64(1 + i))}); err != nil {
			t.Fatal(err)
		}
	}
	if submitted := h.backend.Submitted(); submitted != requests {
		t.Fatalf("%d requests reached the backend, want %d", submitted, requests)
	}
	if deferred, turns := wrapped.deferred.Load(), wrapped.turns.Load(); deferred != 0 || turns != 0 {
		t.Fatalf("inline turns off: %d SubmitDeferred and %d TurnInline calls, want none",
			deferred, turns)
	}
}
