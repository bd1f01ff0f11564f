package client

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
)

// holdingShard is a real shard (exactly-once window, 2 MiB reply cache) that, for one
// request number, takes the first copy it is handed (answers ok: queued) and applies it
// only when the test says so: a server that still holds a copy in its queue after the
// client's connection ended, and applies it after requests sent since (PROTOCOL.md §7
// says a server may).
type holdingShard struct {
	interceptedShard
	hold     atomic.Uint64 // The number whose first copy is held; 0: none.
	mutex    sync.Mutex
	held     *backend.Request // The copy held, body copied; nil until taken.
	released bool
}

func newHoldingShard(s *shard.Shard) *holdingShard {
	holding := &holdingShard{}
	holding.interceptedShard = interceptedShard{Shard: s,
		intercept: func(request *backend.Request) (model.Status, bool) {
			return model.StatusOK, holding.take(request) // Held: answered ok, queued.
		}}
	return holding
}

func (h *holdingShard) take(request *backend.Request) bool {
	if request.Number == 0 || request.Number != h.hold.Load() {
		return false
	}
	h.mutex.Lock()
	defer h.mutex.Unlock()
	if h.held != nil {
		return false // Only the first copy is held; resends go to the shard.
	}
	copied := *request
	copied.Body = append([]byte(nil), request.Body...)
	copied.Received = time.Time{}
	h.held = &copied
	return true
}

func (h *holdingShard) holding() bool {
	h.mutex.Lock()
	defer h.mutex.Unlock()
	return h.held != nil
}

// release queues the held copy in the shard now (once).
func (h *holdingShard) release() {
	h.mutex.Lock()
	held := h.held
	if held == nil || h.released {
		h.mutex.Unlock()
		return
	}
	h.released = true
	h.mutex.Unlock()
	for h.Shard.Submit(held) == model.StatusBusy {
		time.Sleep(time.Millisecond)
	}
}

// mutingReplier passes the shard's replies to the server, except those of the number
// muted, which it sends to no connection (lost, as with a connection that ended); it
// counts the replies of every number.
type mutingReplier struct {
	backend.Replier
	mute  atomic.Uint64
	mutex sync.Mutex
	seen  map[uint64]int
}

func (m *mutingReplier) Deliver(replies []backend.Reply) {
	out := make([]backend.Reply, len(replies))
	copy(out, replies)
	m.mutex.Lock()
	for i := range out {
		m.seen[out[i].Number]++
		if out[i].Number != 0 && out[i].Number == m.mute.Load() {
			out[i].Connection = backend.ConnectionIDLimit - 1 // No such connection.
		}
	}
	m.mutex.Unlock()
	m.Replier.Deliver(out)
}

func (m *mutingReplier) repliesOf(number uint64) int {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	return m.seen[number]
}

// startHoldingShardServer starts a netio server in front of a holdingShard whose
// replies go through a mutingReplier; client 1 may send eventsPerSecond events a second,
// on a clock the test moves (clockNs).
func startHoldingShardServer(t *testing.T, eventsPerSecond float64) (*holdingShard,
	*mutingReplier, *netio.Server, *atomic.Int64) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newOperatorShard(t, shard.Config{Logger: discard}, core.Config{})
	keys := rateLimitedKeys(t, eventsPerSecond)
	clockNs, admission := rateLimitedAdmission()
	holding := newHoldingShard(s)
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: discard, Admission: admission}, holding)
	if err != nil {
		t.Fatal(err)
	}
	replier := &mutingReplier{Replier: server.Replier(), seen: map[uint64]int{}}
	serveShard(t, s, server, replier)
	t.Cleanup(holding.release) // Before the shutdown: the server waits for its reply.
	return holding, replier, server, clockNs
}

// dropConnection ends the client's current connection as a network fault would; the
// client reconnects and resends what is pending.
func dropConnection(c *Client) {
	c.mu.Lock()
	c.lostLocked(c.generation, errors.New("test: connection dropped"))
	c.mu.Unlock()
}

// TestGivenUpRequestWithinTheBurstCostsALaterCallerItsReply (review rc43): rc43 gives up
// a request whose caller left and a copy of which was lost with a connection at the
// first resend refused rate_limited, for any such request, not only one above the
// burst that no resend could ever pass: a request within the burst refused because the
// bucket ran low for a moment (here, with a limit never changed) is given up too,
// while its lost copy may still wait in the server's queue. Applied after later
// requests, that copy's reply sits in the server's cache after theirs, uncounted by the
// client's window, and evicts the reply of a later write whose own reply was lost: a
// caller still waiting for that write, applied, gets an *OutcomeUnknownError where it
// got its results before rc43 (the given-up request was then resent until a definite
// reply, counted in the window meanwhile).
//
// Client 1 may send 10,000 events a second (bucket: 10,000). G, 4,000 transfers with
// balances (a reply of 576,000 bytes), has its first copy queued and held by the server;
// D (3,000 transfers) leaves 3,000 tokens; the connection drops; G's resend is refused
// rate_limited, its caller leaves, and G's next refusal gives it up. Then R1, a full
// batch with balances (1,179,216 bytes of reply), is applied, its reply lost; the held
// copy of G is applied; R2 (900,000 bytes) is numbered (R1 and R2 fit the 2 MiB the
// client counts: 2,079,216 bytes) and applied: the server's cache now holds R1, G and
// R2, 2,655,216 bytes, and evicts R1. R1's resend after a reconnect is answered
// request_too_old. Its caller must get its results (duplicates of those applied): with
// G counted as a stray (rcfix43), R2 waits for R1's answer instead, and is numbered
// after the reconnect.
func TestGivenUpRequestWithinTheBurstCostsALaterCallerItsReply(t *testing.T) {
	strayCopyAppliedLate(t, false)
}

// TestRequestLeftInFlightThenLostCostsALaterCallerItsReply (review rc43; not rc43's
// change, the same gap before it): a write whose caller leaves while its only copy is on
// its way, never refused, leaves the pending set at once and is not counted late
// (abandonPendingLocked: "its only copy is written in number order, and is applied in
// that order or not at all"). When the connection then ends, that copy is one left
// unanswered by a connection that ended, which PROTOCOL.md §7 says the server may still
// hold in its queue and apply after later requests: the client no longer knows of it.
// The same steps as above (G's caller leaves before the connection drops, so G is never
// resent) cost R1's caller its reply.
func TestRequestLeftInFlightThenLostCostsALaterCallerItsReply(t *testing.T) {
	strayCopyAppliedLate(t, true)
}

// strayCopyAppliedLate runs the steps of the two tests above: G's caller leaves after
// G's resend is refused rate_limited (rc43 gives G up), or, with leftInFlight, while G's
// first copy is on its way, before the connection drops (G leaves at once).
func strayCopyAppliedLate(t *testing.T, leftInFlight bool) {
	const eventsPerSecond = 10_000
	holding, replier, server, clockNs := startHoldingShardServer(t, eventsPerSecond)
	refill := func() { clockNs.Add(int64(10 * time.Second)) }
	c := dialTestClient(t, server.Address(), func(config *Config) {
		config.BusyRetryDelay = time.Millisecond
		config.HeartbeatInterval = time.Minute
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	refill()
	leaving, leave := context.WithCancel(ctx)
	defer leave()
	holding.hold.Store(c.NextNumber())
	g := c.Go(leaving, model.OperationCreateTransfers, requestFlagReplyBalances,
		transfersBody(100_000, 4000, 3), nil)
	waitFor(t, c, "G's first copy held in the server's queue", func() bool {
		return holding.holding()
	})
	if reply, err := c.Do(ctx, model.OperationCreateTransfers, 0,
		transfersBody(200_000, 3000, 3)); err != nil || !allOK(appendEventResults(nil,
		reply.Body), 3000) {
		t.Fatalf("D: %v", err)
	}

	var unknown *OutcomeUnknownError
	if leftInFlight {
		leave()
		if _, err := g.Wait(leaving); !errors.As(err, &unknown) {
			t.Fatalf("G's caller: %v, want an *OutcomeUnknownError", err)
		}
		waitFor(t, c, "G out of the pending set", func() bool { return c.pending[g.Number] != g })
		dropConnection(c)
	} else {
		dropConnection(c)
		waitFor(t, c, "G's resend refused rate_limited", func() bool {
			return g.lostCopy && g.busyRetries > 0
		})
		leave()
		if _, err := g.Wait(leaving); !errors.As(err, &unknown) {
			t.Fatalf("G's caller: %v, want an *OutcomeUnknownError", err)
		}
		c.mu.Lock()
		refusals := g.busyRetries
		c.mu.Unlock()
		waitFor(t, c, "G given up, or refused again with its caller gone", func() bool {
			return c.pending[g.Number] != g || g.busyRetries >= refusals+2
		})
		refill() // Before rc43, G's next resend is applied now and G leaves.
		waitFor(t, c, "G out of the pending set", func() bool { return c.pending[g.Number] != g })
	}
	refill()

	r1Number := c.NextNumber()
	replier.mute.Store(r1Number)
	r1 := c.Go(ctx, model.OperationCreateTransfers, requestFlagReplyBalances,
		transfersBody(300_000, model.EventsPerRequestMax, 3), nil)
	waitFor(t, c, "R1 applied, its reply lost", func() bool { return replier.repliesOf(r1Number) > 0 })

	refill()
	before := replier.repliesOf(g.Number)
	holding.release()
	waitFor(t, c, "G's held copy applied", func() bool { return replier.repliesOf(g.Number) > before })

	// R2 is numbered while R1 is pending only if the window leaves G's reply out: with
	// it, R1, G and R2 (2,655,216 bytes) would not fit the cache, so R2 waits for R1's
	// answer, which comes after the drop below (in a real loss the reply and the
	// connection are lost together). Either way the drop comes once R2 is applied or
	// waiting for room (rcfix43: the review's Do(R2) here waited for ever with the fix).
	r2Number := c.NextNumber()
	r2Sent := make(chan *Call, 1) // Go waits for room in the window before it returns.
	go func() {
		r2Sent <- c.Go(ctx, model.OperationCreateTransfers, requestFlagReplyBalances,
			transfersBody(400_000, 6250, 3), nil)
	}()
	waitFor(t, c, "R2 applied, or waiting for room in the window", func() bool {
		return replier.repliesOf(r2Number) > 0 || len(c.windowQueue) > 0
	})

	refill()
	replier.mute.Store(0)
	dropConnection(c)
	reply, err := r1.Wait(ctx)
	if err != nil {
		t.Fatalf("R1, applied, its reply lost with a connection: %v; want its results", err)
	}
	if !reply.Duplicate || len(reply.Body) != model.EventsPerRequestMax*model.EventResultBalancesSize {
		t.Fatalf("R1: duplicate %v, %d bytes of results", reply.Duplicate, len(reply.Body))
	}
	// R2 follows R1's resend (8,189 events) at once, in the same second of the client's
	// bucket of 10,000 events: refused rate_limited, nothing applied, when it waited.
	reply, err = (<-r2Sent).Wait(ctx)
	var refused *StatusError
	if err != nil && (!errors.As(err, &refused) || refused.Status != model.StatusRateLimited) {
		t.Fatalf("R2: %v", err)
	}
	if err == nil && len(reply.Body) != 6250*model.EventResultBalancesSize {
		t.Fatalf("R2: %d bytes of results", len(reply.Body))
	}
	if reply.Number <= r1Number {
		t.Fatalf("R2 numbered %d, not after R1 (%d)", reply.Number, r1Number)
	}
}
