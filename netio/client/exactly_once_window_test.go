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

// busyShard is a shard that answers busy to one request number while told to (as a
// shard with a full input ring would), without queueing it.
type busyShard struct {
	*shard.Shard
	held    atomic.Uint64 // The number answered busy; 0: none.
	refused atomic.Int64  // Busy answers given.
}

func (b *busyShard) Submit(request *backend.Request) model.Status {
	if request.Number != 0 && request.Number == b.held.Load() {
		b.refused.Add(1)
		return model.StatusBusy
	}
	return b.Shard.Submit(request)
}

// startBusyShardServer starts a netio server in front of a real shard (with its
// exactly-once window of request numbers) over an in-memory log, wrapped in busyShard.
func startBusyShardServer(t *testing.T) (*netio.Server, *busyShard) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := shard.New(shard.Config{Logger: discard}, core.New(core.Config{}),
		wal.NewMemoryLog())
	if err != nil {
		t.Fatal(err)
	}
	operator := model.AppendGrants(nil, []model.Grant{{Client: 1, Scopes: model.ScopeOperator}})
	if err := s.SetGrants(operator); err != nil {
		t.Fatal(err)
	}
	busy := &busyShard{Shard: s}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0",
		Keys: pipelineKeys(t), Logger: discard}, busy)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(shard.RepliesOnly(server.Replier()))
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
	return server, busy
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
