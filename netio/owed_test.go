package netio_test

import (
	"context"
	"sync/atomic"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/fakeshard"
)

// busyTurner is a backend with inline turns on whose SubmitDeferredOwed says, as a busy
// shard does, that its requests owe no TurnInline (the fake shard's goroutine answers
// them); it counts the TurnInline calls it gets.
type busyTurner struct {
	*fakeshard.Backend
	turns atomic.Int64
}

func (b *busyTurner) InlineTurns() bool { return true }

func (b *busyTurner) SubmitDeferred(request *backend.Request) model.Status {
	return b.Backend.Submit(request)
}

func (b *busyTurner) SubmitDeferredOwed(request *backend.Request) (model.Status, bool) {
	return b.Backend.Submit(request), false
}

func (b *busyTurner) TurnInline() { b.turns.Add(1) }

// TestNoTurnTaskWhenNoneOwed: when the backend says a request owes no inline turn (it
// woke its sequencer), the event loop schedules no TurnInline for it. Method: a backend
// whose SubmitDeferredOwed never owes one; after a run of requests answered one after
// another, TurnInline must never have been called. Before, every accepted request
// scheduled one, each a loop task that found the sequencer at work.
func TestNoTurnTaskWhenNoneOwed(t *testing.T) {
	var turner *busyTurner
	h := newHarness(t, harnessOptions{wrap: func(fake *fakeshard.Backend) backend.Backend {
		turner = &busyTurner{Backend: fake}
		return turner
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
	if turns := turner.turns.Load(); turns != 0 {
		t.Fatalf("%d TurnInline calls for requests that owed none, want 0", turns)
	}
}
