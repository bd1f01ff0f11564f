package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/wal"
)

// interceptedShard is a real shard whose two ways in from netio, Submit and
// SubmitDeferred (taken when the backend's inline turns are on, the shard's default),
// both ask intercept first: with answered true the request goes no further and its
// answer is status. Wrappers that answer some requests themselves embed it, so that
// neither way in can bypass them.
type interceptedShard struct {
	*shard.Shard
	intercept func(request *backend.Request) (status model.Status, answered bool)
}

func (s *interceptedShard) Submit(request *backend.Request) model.Status {
	if status, answered := s.intercept(request); answered {
		return status
	}
	return s.Shard.Submit(request)
}

func (s *interceptedShard) SubmitDeferred(request *backend.Request) model.Status {
	if status, answered := s.intercept(request); answered {
		return status
	}
	return s.Shard.SubmitDeferred(request)
}

// busyShard is a shard that answers busy to one request number while told to (as a
// shard with a full input ring would), without queueing it.
type busyShard struct {
	interceptedShard
	held    atomic.Uint64 // The number answered busy; 0: none.
	refused atomic.Int64  // Busy answers given.
}

func newBusyShard(s *shard.Shard) *busyShard {
	busy := &busyShard{}
	busy.interceptedShard = interceptedShard{Shard: s, intercept: busy.refuse}
	return busy
}

func (b *busyShard) refuse(request *backend.Request) (model.Status, bool) {
	if request.Number != 0 && request.Number == b.held.Load() {
		b.refused.Add(1)
		return model.StatusBusy, true
	}
	return model.StatusOK, false
}

// startBusyShardServer starts a netio server in front of a real shard (with its
// exactly-once window of request numbers) over an in-memory log, wrapped in busyShard.
func startBusyShardServer(t *testing.T) (*netio.Server, *busyShard) {
	return startBusyShardServerWith(t, core.Config{})
}

// startBusyShardServerWith is startBusyShardServer with a machine configured so.
func startBusyShardServerWith(t *testing.T, machine core.Config) (*netio.Server, *busyShard) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newOperatorShard(t, shard.Config{Logger: discard}, machine)
	busy := newBusyShard(s)
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0",
		Keys: pipelineKeys(t), Logger: discard}, busy)
	if err != nil {
		t.Fatal(err)
	}
	serveShard(t, s, server, server.Replier())
	return server, busy
}

// serveShard starts s, its replies going to replier, and server; both stop when the
// test ends (the server first: its shutdown waits for the shard's replies).
func serveShard(t *testing.T, s *shard.Shard, server *netio.Server, replier backend.Replier) {
	s.Start(shard.RepliesOnly(replier))
	if err := server.Start(); err != nil {
		_ = s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = server.Shutdown(ctx)
		_ = s.Close()
	})
}

// newOperatorShard is a real shard (not started), configured so, of a machine configured
// so, over an in-memory log, in which client 1 holds the operator scopes.
func newOperatorShard(t *testing.T, config shard.Config, machine core.Config) *shard.Shard {
	s, err := shard.New(config, core.New(machine), wal.NewMemoryLog())
	if err != nil {
		t.Fatal(err)
	}
	operator := model.AppendGrants(nil, []model.Grant{{Client: 1, Scopes: model.ScopeOperator}})
	if err := s.SetGrants(operator); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBusyRequestStaysInsideTheExactlyOnceWindow: a request the server keeps answering
// busy stays pending (it is resent with its number until a definite answer), while the
// client's other window slot goes on with new requests. The server recognises a number
// only within 256 of the highest it applied (PROTOCOL.md §7): once the client numbers a
// request 256 above the busy one, the busy one's next resend is answered
// request_too_old, and its caller gets that error for a transfer never applied. The
// client must not number a request that far above one still pending: the caller after
// 255 more waits for the busy request to be answered. Here the busy answers stop once
// the other caller has made all its calls or waits for room; the busy caller must then
// get its transfer created. Run with merging off (requests of Go) and on (submit, and
// admit once the window of numbers is full).
func TestBusyRequestStaysInsideTheExactlyOnceWindow(t *testing.T) {
	for _, coalesce := range []int{-1, 0} {
		t.Run(fmt.Sprintf("coalesce=%d", coalesce), func(t *testing.T) {
			busyRequestInsideTheWindow(t, coalesce)
		})
	}
}

func busyRequestInsideTheWindow(t *testing.T, coalesce int) {
	server, busy := startBusyShardServer(t)
	c := dialTestClient(t, server.Address(), func(config *Config) {
		config.InflightMax = 2
		config.CoalesceEventsMax = coalesce
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	held := c.NextNumber()
	busy.held.Store(held)
	heldDone := make(chan error, 1)
	go func() {
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(1000, 1, 3, 1, 0)})
		if err == nil && results[0].Status != model.StatusOK {
			err = fmt.Errorf("transfer: %s", results[0].Status)
		}
		heldDone <- err
	}()
	waitFor(t, c, "the held request answered busy", func() bool {
		return c.pending[held] != nil && busy.refused.Load() > 0
	})

	const others = 256 + 8 // Enough to pass the server's window of 256 numbers.
	var othersFailed atomic.Int64
	othersDone := make(chan struct{})
	go func() {
		defer close(othersDone)
		callOthers(ctx, c, others, &othersFailed)
	}()
	waitForOthers(t, othersDone)
	busy.held.Store(0) // The next resend of the held request is queued.
	if err := <-heldDone; err != nil {
		t.Fatalf("the request answered busy, then resent: %v", err)
	}
	<-othersDone
	if failed := othersFailed.Load(); failed != 0 {
		t.Fatalf("%d of the other calls failed", failed)
	}
}

// callOthers makes count calls of one transfer each, one after the other.
func callOthers(ctx context.Context, c *Client, count int, failed *atomic.Int64) {
	for i := range count {
		results, err := c.CreateTransfers(ctx,
			[]model.Transfer{transfer(uint64(2000+i), 1, 3, 1, 0)})
		if err != nil || results[0].Status != model.StatusOK {
			failed.Add(1)
		}
	}
}

// waitForOthers waits until the other calls are all done, or one of them waits for room
// in the exactly-once window (waitInsideWindow on its stack); the limit guards a hang.
func waitForOthers(t *testing.T, othersDone <-chan struct{}) {
	deadline := time.Now().Add(waitLimit)
	buffer := make([]byte, 1<<20)
	for {
		select {
		case <-othersDone:
			return
		default:
		}
		n := runtime.Stack(buffer, true)
		if strings.Contains(string(buffer[:n]), "(*Client).waitInsideWindow(") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for the other calls")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRepliesInFlightFitTheServersReplyCache: the server keeps each session's replies
// for resends up to 2 MiB of bodies (PROTOCOL.md §7), evicting the oldest; a resend
// whose reply was evicted is answered request_too_old although it was applied. Two
// batches of 8,189 transfers with balances (1.18 MB of results each) may not be in
// flight at once: with both applied and their replies lost with the connection, the
// resends would find only the second reply cached, and the first caller would get
// request_too_old for transfers that were created. Here the proxy drops every reply
// until the server has applied what the client sent (both batches, or the first one
// with the second waiting for room in the window), then the connection is dropped; both
// callers must get their transfers created.
func TestRepliesInFlightFitTheServersReplyCache(t *testing.T) {
	server, shard := startBusyShardServer(t)
	proxy := startWireProxy(t, newResendLog())
	proxy.setTarget(server.Address())
	c := dialTestClient(t, proxy.address(), nil)
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	opBefore := shard.Stats().OpLast
	proxy.muteReplies(true)
	errs := make(chan error, 2)
	for batch := range uint64(2) {
		go func() { errs <- createFullBatchWithBalances(ctx, c, 100_000*(batch+1)) }()
	}
	waitForAppliedOrWaiting(t, c, shard, opBefore)
	proxy.muteReplies(false)
	proxy.dropAll()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// createFullBatchWithBalances creates a full request of transfers, ids from first, with
// balances, and requires every one created.
func createFullBatchWithBalances(ctx context.Context, c *Client, first uint64) error {
	transfers := make([]model.Transfer, model.EventsPerRequestMax)
	for i := range transfers {
		transfers[i] = transfer(first+uint64(i), 1, 3, 1, 0)
	}
	results, err := c.CreateTransfersWithBalances(ctx, transfers)
	if err != nil {
		return fmt.Errorf("batch from %d: %w", first, err)
	}
	for i := range results {
		if results[i].Status != model.StatusOK {
			return fmt.Errorf("batch from %d, transfer %d: %s", first, i, results[i].Status)
		}
	}
	return nil
}

// waitForAppliedOrWaiting waits until the shard has applied every request the client
// has pending (written through the proxy), and either both batches are pending or one
// waits for room (reply bytes in flight, or the exactly-once window); the limit guards
// a hang.
func waitForAppliedOrWaiting(t *testing.T, c *Client, shard *busyShard, opBefore uint64) {
	deadline := time.Now().Add(waitLimit)
	buffer := make([]byte, 1<<20)
	for {
		c.mu.Lock()
		pending := uint64(len(c.pending))
		c.mu.Unlock()
		applied := shard.Stats().OpLast - opBefore
		if pending > 0 && applied >= pending {
			if pending == 2 {
				return
			}
			n := runtime.Stack(buffer, true)
			for _, stack := range strings.Split(string(buffer[:n]), "\n\n") {
				if holdsEvery(stack, []string{"createFullBatchWithBalances(",
					"(*Weighted).Acquire(|(*weighted).Acquire("}) ||
					strings.Contains(stack, "(*Client).waitInsideWindow(") {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up: %d requests pending, %d applied", pending, applied)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBusyResendKeepsItsCachedReply: a request applied whose reply was lost with the
// connection is resent; the server answers the resend busy (its input ring full: busy
// comes before the exactly-once check) again and again, so the request stays pending,
// while the client's other slot goes on with large requests. The server keeps a
// session's replies up to 2 MiB of bodies, oldest evicted first: two batches of 8,189
// transfers with balances (1.18 MB each) applied after the request evict its reply, and
// its next resend is answered request_too_old although it was applied. Its caller must
// get its transfer's result.
func TestBusyResendKeepsItsCachedReply(t *testing.T) {
	server, busy := startBusyShardServer(t)
	proxy := startWireProxy(t, newResendLog())
	proxy.setTarget(server.Address())
	c := dialTestClient(t, proxy.address(), func(config *Config) {
		config.InflightMax = 2
		config.CoalesceEventsMax = -1
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	opBefore := busy.Stats().OpLast
	held := c.NextNumber()
	proxy.muteReplies(true)
	heldDone := make(chan error, 1)
	go func() {
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(1000, 1, 3, 1, 0)})
		if err == nil && results[0].Status != model.StatusOK {
			err = fmt.Errorf("transfer: %s", results[0].Status)
		}
		heldDone <- err
	}()
	waitFor(t, c, "the request applied, its reply lost", func() bool {
		return c.pending[held] != nil && busy.Stats().OpLast > opBefore
	})
	busy.held.Store(held) // Its resends are answered busy from now on.
	proxy.muteReplies(false)
	proxy.dropAll()
	waitFor(t, c, "the resend answered busy", func() bool { return busy.refused.Load() > 0 })

	othersDone := make(chan struct{})
	var othersErr error
	go func() {
		defer close(othersDone)
		for batch := range uint64(2) {
			if err := createFullBatchWithBalances(ctx, c, 100_000*(batch+1)); err != nil {
				othersErr = err
				return
			}
		}
	}()
	waitForOthers(t, othersDone)
	busy.held.Store(0)
	if err := <-heldDone; err != nil {
		t.Fatalf("the request applied, then resent behind busy answers: %v", err)
	}
	<-othersDone
	if othersErr != nil {
		t.Fatal(othersErr)
	}
}
