package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"sequent/core/model"
)

// transfersBody encodes count transfers, ids first to first+count-1, from account 1 to
// account credit, amount 1 each.
func transfersBody(first uint64, count int, credit uint64) []byte {
	transfers := make([]model.Transfer, count)
	for i := range transfers {
		transfers[i] = transfer(first+uint64(i), 1, credit, 1, 0)
	}
	return encodeTransfers(transfers)
}

// TestThousandsOfLostRequestsAboveTheBurstLeaveNothingHeld: 2,000 requests of 6 events,
// for a client that may send 4 a second, in 10 rounds of 200. In each round the first
// copies of the round's requests are lost with their connection (the proxy swallows
// them), every resend is refused rate_limited, and their callers leave. Each caller must
// get an *OutcomeUnknownError (a lost copy may be applied); then the client must hold
// nothing for them: no pending request, every window slot and every byte of
// InflightBytesMax free. And its exactly-once window must not be pinned by the first of
// them: a transfer numbered 2,000 above it is sent and applied. Before the fix the first
// round's requests stayed pending for ever, resent after every back-off, and the
// second round could not be numbered (200 + 200 slots against InflightMax 256 aside,
// the window of 256 numbers from the oldest pending one would be full).
func TestThousandsOfLostRequestsAboveTheBurstLeaveNothingHeld(t *testing.T) {
	const rounds, requestsPerRound, eventsPerRequest = 10, 200, 6
	s, clockNs := rateLimitedServer(t, 4)
	proxy := startSwallowingProxy(t, s.server.Address())
	c := dialTestClient(t, proxy.listener.Addr().String(), func(config *Config) {
		config.InflightMax = 250
		config.BusyRetryDelay = time.Millisecond
		// No heartbeat inside a corked round: it would write the frames queued so far
		// alone, and those after them would not be lost with the connection.
		config.HeartbeatInterval = time.Minute
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	first := c.NextNumber()

	calls := make([]*Call, requestsPerRound)
	for round := range rounds {
		leaving, leave := context.WithCancel(ctx)
		proxy.swallow.Store(true)
		c.Cork() // One write: the proxy swallows it and ends the connection.
		for i := range calls {
			id := uint64(10_000 + (round*requestsPerRound+i)*eventsPerRequest)
			calls[i] = c.Go(leaving, model.OperationCreateTransfers, 0,
				transfersBody(id, eventsPerRequest, 2), nil)
		}
		c.Uncork()
		waitFor(t, c, "every request's resend refused", func() bool {
			for _, call := range calls {
				if !call.lostCopy || call.busyRetries == 0 {
					return false
				}
			}
			return true
		})
		leave()
		for i, call := range calls {
			var unknown *OutcomeUnknownError
			if _, err := call.Wait(leaving); !errors.As(err, &unknown) ||
				!errors.Is(err, context.Canceled) {
				t.Fatalf("round %d, request %d: %v, want an *OutcomeUnknownError wrapping "+
					"context.Canceled", round, i, err)
			}
		}
		waitFor(t, c, "the round's requests given up", func() bool { return len(c.pending) == 0 })
	}

	c.mu.Lock()
	pending := len(c.pending)
	c.mu.Unlock()
	if pending != 0 {
		t.Errorf("%d requests pending, want none", pending)
	}
	if !c.window.TryAcquire(int64(c.config.InflightMax)) {
		t.Errorf("window slots still held, want all %d free", c.config.InflightMax)
	} else {
		c.window.Release(int64(c.config.InflightMax))
	}
	if !c.windowBytes.TryAcquire(int64(c.config.InflightBytesMax)) {
		t.Errorf("reply bytes still held, want all %d free", c.config.InflightBytesMax)
	} else {
		c.windowBytes.Release(int64(c.config.InflightBytesMax))
	}
	clockNs.Add(int64(10 * time.Second)) // A full bucket: the transfer below fits.
	call := c.Go(ctx, model.OperationCreateTransfers, 0, transfersBody(1_000, 1, 2), nil)
	if call.Number < first+rounds*requestsPerRound {
		t.Fatalf("transfer numbered %d, want above %d", call.Number,
			first+rounds*requestsPerRound)
	}
	reply, err := call.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if results := appendEventResults(nil, reply.Body); !allOK(results, 1) {
		t.Fatalf("transfer after the abandons: %v, want ok", statuses(results))
	}
}

// TestLostRequestAboveTheBurstIsResentWhileACallerWaits: the fix gives up a lost
// request refused rate_limited only once nobody waits for it. A and B merge into one
// request of 6 events (4 a second allowed), its first copy lost; A leaves, B stays: the
// request must stay pending under its number and be resent after each refusal (its
// outcome unknown, PROTOCOL.md §7 mandates the resends), B still waiting; once B leaves
// too it is given up, and B gets an *OutcomeUnknownError.
func TestLostRequestAboveTheBurstIsResentWhileACallerWaits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	leavingA, leaveA := context.WithCancel(ctx)
	defer leaveA()
	leavingB, leaveB := context.WithCancel(ctx)
	defer leaveB()
	c, request, wait := sendLostMergedRequest(t, ctx, 800, leavingA, leavingB)
	leaveA()
	waitFor(t, c, "A to leave the request", func() bool { return request.waiters == 1 })
	c.mu.Lock()
	refusedWhenALeft := request.busyRetries
	c.mu.Unlock()
	waitFor(t, c, "three more refusals of its resends", func() bool {
		return request.busyRetries >= refusedWhenALeft+3
	})
	c.mu.Lock()
	kept, abandoned := c.pending[request.Number] == request, request.abandoned
	c.mu.Unlock()
	if !kept || abandoned {
		t.Fatalf("with B waiting: pending %v, abandoned %v; want pending, B its caller",
			kept, abandoned)
	}
	select {
	case <-request.complete:
		t.Fatalf("the request completed (%v) while B waits for a definite reply", request.Err)
	default:
	}
	leaveB()
	_, errs := wait()
	var unknown *OutcomeUnknownError
	for i, err := range errs {
		if !errors.As(err, &unknown) {
			t.Errorf("caller %d: %v, want an *OutcomeUnknownError", i, err)
		}
	}
	waitFor(t, c, "the request both callers left to be given up", func() bool {
		return c.pending[request.Number] == nil
	})
}
