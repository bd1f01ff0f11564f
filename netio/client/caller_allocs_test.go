package client

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestMergedCallerAllocations: in steady state a one-transfer CreateTransfers call
// allocates its request's three objects (the Call, its completion channel, the copy of
// the reply's body, shared by every caller merged into it) and its own results, nothing
// else per caller. Before session 39 every call also paid three allocations for error
// variables whose addresses errors.As takes (batch, mayBeAppliedError), moved to the
// heap where declared even when the call succeeded. A bare client on a recording
// connection, one caller at a time (each request carries one caller: the most a caller
// can be charged), answered by a goroutine of the test that completes each pending
// request ok with one result, as the reader would.
func TestMergedCallerAllocations(t *testing.T) {
	c := newConnClient(&recordingConn{})
	ctx := context.Background()
	defer answerEveryRequest(c, make([]byte, model.EventResultSize))() // Status 0: ok.
	transfers := []model.Transfer{{ID: model.U128(1), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(2), Amount: model.U128(1), Ledger: 1, Code: 1}}
	call := func() {
		results, err := c.CreateTransfers(ctx, transfers)
		if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
			t.Fatalf("results %v, error %v", results, err)
		}
	}
	for range 10 { // Fills the free lists (merged frames, pending map) first.
		call()
	}
	// Per request: the Call, its completion channel, the reply body's copy; per
	// caller: the results slice.
	const allocationsMax = 3 + 1
	if allocations := testing.AllocsPerRun(200, call); allocations > allocationsMax {
		t.Errorf("%v allocations per one-transfer call alone in its request, want at most %d",
			allocations, allocationsMax)
	}
}

// TestMergedCallerIntoAllocations: with CreateTransfersInto and a results slice the
// caller reuses, a one-transfer call allocates nothing of its own: only its request's
// three objects, shared by every caller merged into it (counted whole here, each request
// carrying one caller). Also checks that the results land in the caller's slice and that
// a slice of the wrong length sends nothing.
func TestMergedCallerIntoAllocations(t *testing.T) {
	c := newConnClient(&recordingConn{})
	ctx := context.Background()
	result := make([]byte, model.EventResultSize)
	(&model.EventResult{Timestamp: 7, Status: model.StatusOK}).Encode(result)
	defer answerEveryRequest(c, result)()
	transfers := []model.Transfer{{ID: model.U128(1), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(2), Amount: model.U128(1), Ledger: 1, Code: 1}}
	if err := c.CreateTransfersInto(ctx, transfers, make([]model.EventResult, 2)); err == nil {
		t.Fatal("two results' room for one transfer: no error")
	}
	c.mu.Lock()
	numbered := c.next
	c.mu.Unlock()
	results := make([]model.EventResult, 1)
	call := func() {
		results[0] = model.EventResult{}
		err := c.CreateTransfersInto(ctx, transfers, results)
		if err != nil || results[0].Status != model.StatusOK || results[0].Timestamp != 7 {
			t.Fatalf("results %v, error %v", results, err)
		}
	}
	call()
	c.mu.Lock()
	if c.next != numbered+1 {
		t.Errorf("numbers %d → %d: the refused call took one", numbered, c.next)
	}
	c.mu.Unlock()
	for range 10 { // Fills the free lists (merged frames, pending map) first.
		call()
	}
	const allocationsMax = 3 // The Call, its completion channel, the reply body's copy.
	if allocations := testing.AllocsPerRun(200, call); allocations > allocationsMax {
		t.Errorf("%v allocations per one-transfer call alone in its request, want at most %d",
			allocations, allocationsMax)
	}
}

// answerEveryRequest starts a goroutine of the test that completes each pending request
// of c ok with result as its body, as the reader would; the function it returns stops it
// and waits for it.
func answerEveryRequest(c *Client, result []byte) (stop func()) {
	var stopping atomic.Bool
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		for !stopping.Load() {
			c.mu.Lock()
			var number uint64
			for pendingNumber := range c.pending {
				number = pendingNumber
			}
			c.mu.Unlock()
			if number == 0 {
				runtime.Gosched()
				continue
			}
			c.complete(&wire.Frame{Kind: wire.KindReply,
				Operation: model.OperationCreateTransfers, Number: number,
				Status: uint32(model.StatusOK), Body: result}, c.generation)
		}
	}()
	return func() { stopping.Store(true); <-answered }
}
