package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestBatchWhoseContextEndsAfterARequestAppliedSaysSo: a batch of two requests (a
// CreateTransfers of more than one request's events, here two runs given to batch
// directly: one transfer, then two). The first is sent and answered ok: applied. The
// second waits for reply-byte room (other callers' requests in flight hold the rest of
// InflightBytesMax) when the caller's context ends, and is never sent. The batch
// returned the context's error itself, which says nothing of it was applied (doc.go,
// Context deadlines: the batching calls return an *OutcomeUnknownError rather than the
// context's error when any of their requests may be applied); batchError prefers the
// unknown outcome only over a later part's error, and a part answered ok has none.
func TestBatchWhoseContextEndsAfterARequestAppliedSaysSo(t *testing.T) {
	s := startTestServer(t)
	const replyBytesMax = 1000
	c := s.dial(t, func(config *Config) { config.InflightBytesMax = replyBytesMax })
	createTestAccounts(t, c)
	firstRunBytes := int64(wire.HeaderSize + model.EventResultSize) // One transfer.
	if !c.windowBytes.TryAcquire(replyBytesMax - firstRunBytes) {   // Others' requests.
		t.Fatal("the reply-byte window is not free")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, ended := startTwoRunBatch(ctx, c)
	// The first request answered (its reply bytes given back: too few for the second's).
	waitFor(t, c, "the first request answered", func() bool {
		return c.next == first+1 && len(c.pending) == 0
	})
	cancel()
	var err error
	select {
	case err = <-ended:
	case <-time.After(waitLimit):
		t.Fatal("the batch never returned")
	}
	c.windowBytes.Release(replyBytesMax - firstRunBytes) // The others' requests answered.
	lookup, cancelLookup := context.WithTimeout(context.Background(), waitLimit)
	defer cancelLookup()
	found, lookupErr := c.LookupTransfers(lookup, []model.Uint128{model.U128(501),
		model.U128(502)})
	if lookupErr != nil || len(found) != 1 || found[0].ID != model.U128(501) {
		t.Fatalf("scenario not reached: transfers found %v (%v), want 501 only", found,
			lookupErr)
	}
	var outcomeUnknown *OutcomeUnknownError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &outcomeUnknown) {
		t.Fatalf("a batch whose first request was applied (transfer 501 exists) ended "+
			"with %v; the context's error alone says none of it was applied", err)
	}
}

// TestBatchClosedWithARequestOnItsWaySaysItMayBeApplied: the same batch, the server
// holding its requests. The first is written and not answered; the second waits for
// reply-byte room, held by another caller's request in flight. Close fails the pending
// calls: the first with an *OutcomeUnknownError (written, not answered: it may be
// applied), and the bytes it gives back let the second's submit go on, to find the
// client closed: ErrClosed, nothing of that run sent. The batch returned that ErrClosed
// alone (its error came first, and batchError prefers an unknown outcome only over a
// context's error), which says nothing of the batch may be applied (Close: a write that
// may have been applied gets an *OutcomeUnknownError wrapping ErrClosed).
func TestBatchClosedWithARequestOnItsWaySaysItMayBeApplied(t *testing.T) {
	s := startTestServer(t)
	const replyBytesMax = 1000
	c := s.dial(t, func(config *Config) { config.InflightBytesMax = replyBytesMax })
	createTestAccounts(t, c)
	s.backend.Pause()
	defer s.backend.Resume() // Before the server's shutdown, which waits for them.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	// Another caller's request: 55 transfers, 928 bytes of expected reply; 72 are left,
	// room for the batch's first request (64) and not for its second (80).
	others := make([]model.Transfer, 55)
	for i := range others {
		others[i] = transfer(600+uint64(i), 1, 2, 1, 0)
	}
	other := c.Go(ctx, model.OperationCreateTransfers, 0, encodeTransfers(others), nil)
	first, ended := startTwoRunBatch(ctx, c)
	waitFor(t, c, "the batch's first request written", func() bool {
		return c.next == first+1 && c.pending[first] != nil && len(c.outbox) == 0 &&
			!c.writing
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-ended:
	case <-time.After(waitLimit):
		t.Fatal("the batch never returned")
	}
	var outcomeUnknown *OutcomeUnknownError
	if _, otherErr := other.Wait(ctx); !errors.As(otherErr, &outcomeUnknown) {
		t.Fatalf("scenario not reached: the other request, written and not answered, "+
			"ended with %v", otherErr)
	}
	if !errors.Is(err, ErrClosed) || !errors.As(err, &outcomeUnknown) {
		t.Fatalf("a batch closed with its first request written and not answered ended "+
			"with %v, want an *OutcomeUnknownError wrapping ErrClosed", err)
	}
}

// startTwoRunBatch runs, on its own goroutine, a batch of three transfers (501–503) sent
// as two requests (one transfer, then two), and returns the first request's number and
// the channel that receives the batch's error.
func startTwoRunBatch(ctx context.Context, c *Client) (first uint64, ended chan error) {
	transfers := []model.Transfer{transfer(501, 1, 2, 1, 0), transfer(502, 1, 2, 1, 0),
		transfer(503, 1, 2, 1, 0)}
	first = c.NextNumber()
	ended = make(chan error, 1)
	go func() {
		ended <- c.batch(ctx, model.OperationCreateTransfers, 0, [][2]int{{0, 1}, {1, 3}},
			func(run [2]int) []byte {
				return encodeTransfers(transfers[run[0]:run[1]])
			}, func([2]int) bool { return false }, nil, func([]byte) {})
	}()
	return first, ended
}
