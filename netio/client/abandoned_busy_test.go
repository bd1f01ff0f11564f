package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestAbandonedBusyCallFreesItsSlot: a request the server keeps answering busy (its
// shard's input stays full for that request) is abandoned by its caller, whose context
// ends. Nothing of it is on its way once a busy answer came and its resend waits out the
// backoff: it can no longer be applied, so it must leave the pending set and give back
// its window slot (at once, or at its next busy answer if a resend was on its way when
// the caller left), instead of being resent for nobody while holding the slot. With a
// window of one request, a live caller after it would otherwise wait for as long as the
// server refuses the abandoned one. Merging off (Go) and on (submit).
func TestAbandonedBusyCallFreesItsSlot(t *testing.T) {
	for _, coalesce := range []int{-1, 0} {
		t.Run(fmt.Sprintf("coalesce=%d", coalesce), func(t *testing.T) {
			server, busy := startBusyShardServer(t)
			c := dialTestClient(t, server.Address(), func(config *Config) {
				config.InflightMax = 1
				config.CoalesceEventsMax = coalesce
			})
			createTestAccounts(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			abandonedContext, abandon := context.WithCancel(ctx)
			defer abandon()
			held := c.NextNumber()
			busy.held.Store(held) // Answered busy for the whole test.
			abandonedDone := make(chan error, 1)
			go func() {
				_, err := c.CreateTransfers(abandonedContext,
					[]model.Transfer{transfer(1_000, 1, 3, 1, 0)})
				abandonedDone <- err
			}()
			waitFor(t, c, "the request answered busy", func() bool {
				call := c.pending[held]
				return call != nil && call.busyRetries > 0
			})
			abandon()
			if err := <-abandonedDone; !errors.Is(err, context.Canceled) {
				t.Fatalf("the abandoned call: %v", err)
			}
			refused := busy.refused.Load()
			waitFor(t, c, "the abandoned request gone, or refused twice more", func() bool {
				return c.pending[held] == nil || busy.refused.Load() >= refused+2
			})
			c.mu.Lock()
			stillPending := c.pending[held] != nil
			c.mu.Unlock()
			if stillPending {
				t.Fatalf("request %d, abandoned, is still resent for nobody after %d more "+
					"busy answers, holding the only window slot", held,
					busy.refused.Load()-refused)
			}
			results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(1_001, 1, 3, 1, 0)})
			if err != nil || results[0].Status != model.StatusOK {
				t.Fatalf("a live caller after the abandoned request: %v %v", results, err)
			}
		})
	}
}

// TestAbandonedCallOnItsWayKeepsItsSlotUntilAnswered: the other side of
// TestAbandonedBusyCallFreesItsSlot. A request answered busy whose resend is on its way
// (queued or written, not answered) when its caller leaves may still be applied after
// requests numbered above it, its reply cached after theirs: it keeps its place in the
// pending set and its window slot until that resend is answered; answered busy again, it
// leaves then, counted as a late reply (window.go), and is not resent. One whose earlier
// copy was left unanswered by a connection that ended stays pending even after a busy
// answer on the new connection: the server may still apply that copy from its queue.
func TestAbandonedCallOnItsWayKeepsItsSlotUntilAnswered(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("lost=%v", lost), func(t *testing.T) {
			c, second := newWindowOfOneClient(t)
			call := &Call{Operation: model.OperationCreateTransfers, Number: 1,
				complete: make(chan struct{}), client: c, holdsWindow: true,
				frame: []byte("request 1")} // A write: a read is never kept.
			// resend queues a copy as Go, a resend or a reconnect does; a writer took it.
			resend := func() {
				c.mu.Lock()
				c.queueLocked(call, call.frame)
				c.outbox = c.outbox[:0]
				c.mu.Unlock()
			}
			busyAnswer := func() {
				c.complete(&wire.Frame{Kind: wire.KindReply, Number: 1,
					Status: uint32(model.StatusBusy)}, c.generation)
			}
			c.pending[1] = call
			resend()
			busyAnswer()
			resend() // The backoff is over: a resend is on its way.
			if lost {
				c.mu.Lock()
				c.lostLocked(1, errors.New("connection ended"))
				c.conn, c.generation = second, 2 // Reconnected: install resent it.
				c.mu.Unlock()
				resend()
				busyAnswer() // Nothing on the new connection: only the lost copy is out.
			}
			c.abandon(call, context.Canceled)
			if c.pending[1] != call || c.window.TryAcquire(1) {
				t.Fatal("abandoned with a copy on its way: left the pending set or its slot")
			}
			if lost {
				resend() // The next backoff is over.
			}
			busyAnswer() // The copy on its way is refused.
			c.mu.Lock()
			pending, queued, late := c.pending[1] != nil, len(c.outbox), len(c.late)
			c.mu.Unlock()
			if lost {
				if !pending {
					t.Fatal("left while a copy lost with its connection may still be applied")
				}
				c.mu.Lock()
				c.closed = true // The scheduled resends, were they to fire, do nothing.
				c.mu.Unlock()
				return
			}
			if free := c.window.TryAcquire(1); pending || queued != 0 || late != 1 || !free {
				t.Fatalf("answered busy with nothing more on its way: pending %v, queued "+
					"%d, late replies %d, slot given back %v; want false, 0, 1, true",
					pending, queued, late, free)
			}
		})
	}
}

// TestAbandonedCallWithALostCopyStaysPending: a request never answered at all, its copy
// left unanswered by a connection that ended and resent on the next one, is abandoned
// by its caller. The server may have refused that copy busy (the answer lost with the
// connection) while it applied requests numbered above it, so the resend may be applied
// after them, its reply cached after theirs: the call keeps its place in the pending set
// and its slot, as one answered busy does, until a definite reply (PROTOCOL.md §7), and
// then counts as a late reply (window.go).
func TestAbandonedCallWithALostCopyStaysPending(t *testing.T) {
	c, second := newWindowOfOneClient(t)
	call := &Call{Operation: model.OperationCreateTransfers, Number: 1,
		complete: make(chan struct{}), client: c, holdsWindow: true,
		frame: []byte("request 1")}
	c.mu.Lock()
	c.pending[1] = call
	c.queueLocked(call, call.frame)
	c.outbox = c.outbox[:0] // A writer took it.
	c.lostLocked(1, errors.New("connection ended"))
	c.conn, c.generation = second, 2 // Reconnected: install resent it.
	c.queueLocked(call, call.frame)
	c.outbox = c.outbox[:0]
	c.mu.Unlock()

	c.abandon(call, context.Canceled)
	if c.pending[1] != call || c.window.TryAcquire(1) {
		t.Fatal("abandoned with a copy lost and its resend on its way: left the pending " +
			"set or its slot")
	}
	c.complete(&wire.Frame{Kind: wire.KindReply, Operation: call.Operation, Number: 1,
		Flags: wire.ReplyFlagDuplicate}, c.generation)
	c.mu.Lock()
	pending, late := c.pending[1] != nil, len(c.late)
	c.mu.Unlock()
	if free := c.window.TryAcquire(1); pending || late != 1 || !free {
		t.Fatalf("answered: pending %v, late replies %d, slot given back %v; want false, "+
			"1, true", pending, late, free)
	}
}

// newWindowOfOneClient is a client on a first connection (generation 1) with a window of
// one request, its slot taken by the call the test makes, and resends that never fire on
// their own (the test queues copies by hand); second is the connection a reconnect
// installs. Both connections' ends are closed when the test ends.
func newWindowOfOneClient(t *testing.T) (c *Client, second net.Conn) {
	t.Helper()
	first, firstPeer := net.Pipe()
	second, secondPeer := net.Pipe()
	for _, end := range []net.Conn{first, firstPeer, second, secondPeer} {
		t.Cleanup(func() { end.Close() })
	}
	c = &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: first,
		generation: 1, window: semaphore.NewWeighted(1),
		config: Config{BusyRetryDelay: time.Hour}}
	if !c.window.TryAcquire(1) {
		t.Fatal("window of one taken")
	}
	return c, second
}
