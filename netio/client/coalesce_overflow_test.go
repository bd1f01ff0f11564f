package client

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// gatedConn is a recordingConn whose writes wait for the test to open a gate: the writer
// goroutine stays inside its write syscall while callers queue behind it.
type gatedConn struct {
	recordingConn
	mu      sync.Mutex
	entered chan struct{} // Receives once per Write as it starts waiting.
	gate    chan struct{} // One receive lets one Write through.
}

func newGatedConn() *gatedConn {
	return &gatedConn{entered: make(chan struct{}, 64), gate: make(chan struct{}, 64)}
}

func (g *gatedConn) Write(p []byte) (int, error) {
	g.entered <- struct{}{}
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.written.Write(p)
}

// numbersWritten decodes the request frames written so far and returns their numbers.
func (g *gatedConn) numbersWritten(t *testing.T) map[uint64]bool {
	g.mu.Lock()
	data := bytes.Clone(g.written.Bytes())
	g.mu.Unlock()
	decoder := &wire.Decoder{}
	_, _ = decoder.Write(data)
	numbers := map[uint64]bool{}
	for {
		frame, ok, err := decoder.Next()
		if err != nil {
			t.Fatalf("decoding what was written: %v", err)
		}
		if !ok {
			return numbers
		}
		if frame.Kind == wire.KindRequest {
			numbers[frame.Number] = true
		}
	}
}

// blockWriter issues a plain request whose write waits at the gate, so that the writer
// goroutine (the request's own Go) is busy (c.writing) until the gate opens; it returns
// once the write started, and the channel gets the call when Go returns.
func blockWriter(c *Client, conn *gatedConn) <-chan *Call {
	done := make(chan *Call, 1)
	go func() {
		done <- c.Go(context.Background(), model.OperationCreateTransfers, 0,
			make([]byte, model.TransferSize), nil)
	}()
	<-conn.entered
	return done
}

// release lets the blocked write through, then every write that follows, until the
// writer is idle with an empty outbox.
func release(t *testing.T, c *Client, conn *gatedConn) {
	t.Helper()
	conn.gate <- struct{}{}
	deadline := time.Now().Add(waitLimit)
	for {
		select {
		case <-conn.entered:
			conn.gate <- struct{}{}
			continue
		default:
		}
		c.mu.Lock()
		idle := !c.writing && len(c.outbox) == 0
		c.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for the writer")
		}
		time.Sleep(time.Millisecond)
	}
}

func eventsBody(events int, pattern byte) []byte {
	return bytes.Repeat([]byte{pattern}, events*model.TransferSize)
}

// TestOverflowingCallerKeepsQueuedFormingRequest: a merged request A is admitted and
// queued (an outbox slot, filled when sealed) while a writer is busy in its syscall, so
// it stays open to joiners. A caller B whose events do not fit in A's room starts a new
// forming request of the same key. A must still be sealed and written when the writer
// takes the outbox: its callers wait for its reply. (Before c398162, submit replaced A in
// c.forming by B without closing A, so sealAllLocked never saw A again: its slot stayed nil,
// nothing was written for its number, and its callers waited forever.)
func TestOverflowingCallerKeepsQueuedFormingRequest(t *testing.T) {
	ctx := context.Background()
	conn, c, plainDone, key, a := formingBehindBusyWriter(t)
	b, err := c.submit(ctx, key, eventsBody(2, 0xb), 2, false) // 3+2 > 4: a new request.
	if err != nil {
		t.Fatal(err)
	}
	if a.call == b.call {
		t.Fatal("B joined A beyond CoalesceEventsMax")
	}
	release(t, c, conn) // The blocked write, then whatever the writer takes next.
	plain := <-plainDone
	written := conn.numbersWritten(t)
	c.mu.Lock()
	aFrame := a.call.frame != nil
	c.mu.Unlock()
	if !written[plain.Number] || !written[b.call.Number] || !written[a.call.Number] ||
		!aFrame {
		t.Fatalf("written request numbers %v; plain %d, A %d (frame sealed: %v), B %d",
			written, plain.Number, a.call.Number, aFrame, b.call.Number)
	}
}

// TestLeavingOverflowedRequestKeepsOthersFrames: the same orphaned request A (see
// above); later, with another plain request P queued behind a busy writer, A's only
// caller gives up. leave seals A into the outbox slot A was given long ago, an index
// into an outbox that has since been written and reused: P's frame is overwritten by
// A's, so P, an unrelated call, is never written (or the index is out of range and the
// caller panics holding the client's mutex).
func TestLeavingOverflowedRequestKeepsOthersFrames(t *testing.T) {
	ctx := context.Background()
	conn, c, first, key, a := formingBehindBusyWriter(t)
	if _, err := c.submit(ctx, key, eventsBody(2, 0xb), 2, false); err != nil {
		t.Fatal(err)
	}
	release(t, c, conn)
	<-first
	second := blockWriter(c, conn) // Busy again; P queues behind it.
	p := c.Go(ctx, model.OperationCreateTransfers, 0, eventsBody(1, 0xc), nil)
	leaveCtx, cancel := context.WithCancel(ctx)
	cancel()
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("A's caller leaving panicked: %v", r)
			}
		}()
		_, _ = a.wait(leaveCtx)
	}()
	release(t, c, conn)
	<-second
	if written := conn.numbersWritten(t); !written[p.Number] {
		t.Fatalf("request %d (P) never written; written %v", p.Number, written)
	}
}

// TestMergedFrameQueuedForResendNotReused: a merged request's frame queued again (a
// resend after a reconnect) when its reply arrives from the old connection stays off the
// formingFrames list: the next forming request does not start in it, and the queued
// copy still holds the request's bytes. (Passes on callers: recycleFrameLocked checks
// queuedLocked for merged frames too.)
func TestMergedFrameQueuedForResendNotReused(t *testing.T) {
	conn := &recordingConn{}
	c := newConnClient(conn)
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	defer c.endLifetime()
	ctx := context.Background()
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	a, err := c.submit(ctx, key, eventsBody(2, 0xa), 2, false)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	frame := a.call.frame
	want := bytes.Clone(frame)
	c.writing = true // A writer busy elsewhere: the resend stays queued.
	c.outbox = append(c.outbox, frame)
	c.mu.Unlock()
	c.complete(&wire.Frame{Kind: wire.KindReply, Operation: a.call.Operation,
		Number: a.call.Number, Status: uint32(model.StatusOK),
		Body: make([]byte, 2*model.EventResultSize)}, c.generation)
	if _, err := a.wait(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := c.submit(ctx, key, eventsBody(2, 0xb), 2, false)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if overlap(next.call.body, frame) || overlap(next.call.frame, frame) ||
		!bytes.Equal(c.outbox[0], want) {
		t.Fatal("a queued merged frame was reused by the next forming request")
	}
}

// formingBehindBusyWriter returns a client (merging up to 4 events) whose writer is
// blocked in its write syscall (done receives that plain request once it is through) and
// a merged request A of 3 events admitted behind it, still open to joiners under key.
func formingBehindBusyWriter(t *testing.T) (conn *gatedConn, c *Client,
	done <-chan *Call, key coalesceKey, a part) {
	t.Helper()
	conn = newGatedConn()
	c = newConnClient(conn)
	c.config.CoalesceEventsMax = 4
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	t.Cleanup(c.endLifetime)
	done = blockWriter(c, conn)
	key = coalesceKey{model.OperationCreateTransfers, 0, 0}
	a, err := c.submit(context.Background(), key, eventsBody(3, 0xa), 3, false)
	if err != nil {
		t.Fatal(err)
	}
	return conn, c, done, key, a
}
