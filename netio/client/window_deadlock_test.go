package client

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
)

// TestGoWaitingForReplyBytesHoldsNoSlot: a request waiting for reply-byte room
// (InflightBytesMax) must not hold a window slot meanwhile, or the two semaphores
// deadlock. submit takes its reply bytes first and then a slot (in admit, when the window
// is full); Go took a slot first and then the bytes. With the window of one full: a
// lookup (Go) waits for the slot; then a transfer (submit) takes its reply bytes and
// queues for a slot behind it. The window's request is answered: the lookup gets the
// slot (first in line) and waits for bytes it cannot have while the transfer holds
// some; the transfer waits for the slot the lookup holds. Both waited until their
// contexts ended (the hang guard here).
func TestGoWaitingForReplyBytesHoldsNoSlot(t *testing.T) {
	s, c, ctx, blocker := heldWindowConfigured(t, 800,
		func(config *Config) { config.InflightBytesMax = 4096 })
	// 100 accounts' worth of reply bytes: more than InflightBytesMax, so the lookup
	// weighs all of it.
	ids := make([]model.Uint128, 100)
	for i := range ids {
		ids[i] = model.U128(uint64(i%testAccounts) + 1)
	}
	lookupDone := make(chan error, 1)
	go lookupBehindTheWindow(ctx, c, ids, lookupDone)
	waitForGoroutine(t, "the lookup waiting in Go", "lookupBehindTheWindow(",
		"(*Client).Go(", "(*Weighted).Acquire(|(*weighted).Acquire(")
	transferDone := make(chan error, 1)
	go transferBehindTheLookup(ctx, c, transfer(801, 1, 3, 1, 0), transferDone)
	waitForGoroutine(t, "the transfer waiting (for its slot or its bytes)",
		"transferBehindTheLookup(", "(*Weighted).Acquire(|(*weighted).Acquire(|(*part).wait(")
	s.backend.Resume()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	if err := <-lookupDone; err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if err := <-transferDone; err != nil {
		t.Fatalf("transfer: %v", err)
	}
}

func lookupBehindTheWindow(ctx context.Context, c *Client, ids []model.Uint128,
	done chan<- error) {
	accounts, err := c.LookupAccounts(ctx, ids)
	if err == nil && len(accounts) != len(ids) {
		err = fmt.Errorf("%d accounts for %d ids", len(accounts), len(ids))
	}
	done <- err
}

func transferBehindTheLookup(ctx context.Context, c *Client, t model.Transfer,
	done chan<- error) {
	results, err := c.CreateTransfers(ctx, []model.Transfer{t})
	if err == nil && results[0].Status != model.StatusOK {
		err = fmt.Errorf("transfer: %s", results[0].Status)
	}
	done <- err
}

// waitForGoroutine polls the goroutines' stacks until one holds every frame named (a
// frame given as "a|b" matches either); the limit only guards against a hang.
func waitForGoroutine(t *testing.T, what string, frames ...string) {
	deadline := time.Now().Add(waitLimit)
	buffer := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buffer, true)
		for _, stack := range strings.Split(string(buffer[:n]), "\n\n") {
			if holdsEvery(stack, frames) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func holdsEvery(stack string, frames []string) bool {
	for _, frame := range frames {
		found := false
		for _, alternative := range strings.Split(frame, "|") {
			found = found || strings.Contains(stack, alternative)
		}
		if !found {
			return false
		}
	}
	return true
}
