package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sync/semaphore"

	"sequent/core/model"
	"sequent/netio/wire"
)

// testSession is the session id of the clients built without a server below.
const testSession = 7

// newConnClient is a Client on conn without a login, reader or heartbeat: the test
// plays the server, writing replies with complete and reading frames from the other end.
func newConnClient(conn net.Conn) *Client {
	config := Config{InflightMax: 16, InflightBytesMax: 64 << 20,
		BusyRetryDelay: time.Hour}.withDefaults()
	return &Client{config: config, session: testSession, log: config.Logger,
		window:      semaphore.NewWeighted(int64(config.InflightMax)),
		windowBytes: newWeighted(int64(config.InflightBytesMax)),
		next:        1, pending: map[uint64]*Call{}, forming: map[coalesceKey]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: conn, generation: 1,
		silence: time.Minute}
}

// fullBody is a full create_transfers body filled with pattern.
func fullBody(pattern byte) []byte {
	return bytes.Repeat([]byte{pattern}, model.RequestBodyBytesMax)
}

// expectedFrame is the frame Go must write for body as request number.
func expectedFrame(number uint64, body []byte) []byte {
	return wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindRequest,
		Operation: model.OperationCreateTransfers, Session: testSession, Number: number}, body)
}

// replyTo answers call ok, as the server would (with no results: none are read here).
func replyTo(c *Client, call *Call) {
	c.complete(&wire.Frame{Kind: wire.KindReply, Operation: call.Operation,
		Number: call.Number, Status: uint32(model.StatusOK)}, c.generation)
	<-call.complete
}

func arrayOf(b []byte) *byte { return unsafe.SliceData(b) }

// TestLargeFrameBufferReused: sequential full-batch calls build their frames in one
// buffer, returned to the free list when each reply arrives, and each call writes its
// own exact frame; in steady state a call allocates far less than its frame (before
// issue 15's change every call allocated a fresh 1 MiB frame). The caller's body is
// copied, never kept: it is not the reused buffer and is not changed.
func TestLargeFrameBufferReused(t *testing.T) {
	conn := &recordingConn{}
	c := newConnClient(conn)
	ctx := context.Background()
	first := fullBody(0x11)
	call := c.Go(ctx, model.OperationCreateTransfers, 0, first, nil)
	if !bytes.Equal(conn.written.Bytes(), expectedFrame(call.Number, first)) {
		t.Fatal("first frame written differs from its encoding")
	}
	replyTo(c, call)
	if len(c.freeFrames) != 1 || cap(c.freeFrames[0]) != frameReuseCapacity || call.frame != nil {
		t.Fatalf("after the first reply: %d free buffers, call keeps %d bytes of frame",
			len(c.freeFrames), len(call.frame))
	}
	buffer := arrayOf(c.freeFrames[0][:1])

	second := fullBody(0x22)
	conn.written.Reset()
	call = c.Go(ctx, model.OperationCreateTransfers, 0, second, nil)
	if arrayOf(call.frame) != buffer || len(c.freeFrames) != 0 {
		t.Fatal("the second call did not take the first call's buffer")
	}
	if !bytes.Equal(conn.written.Bytes(), expectedFrame(call.Number, second)) {
		t.Fatal("second frame written differs from its encoding")
	}
	replyTo(c, call)
	if len(c.freeFrames) != 1 || arrayOf(c.freeFrames[0][:1]) != buffer {
		t.Fatal("the buffer did not come back after the second reply")
	}
	if overlap(c.freeFrames[0], first) || overlap(c.freeFrames[0], second) ||
		!bytes.Equal(first, fullBody(0x11)) || !bytes.Equal(second, fullBody(0x22)) {
		t.Fatal("a caller's body was kept or changed")
	}

	run := func() {
		conn.written.Reset()
		replyTo(c, c.Go(ctx, model.OperationCreateTransfers, 0, second, nil))
	}
	const runs = 20
	allocations := testing.AllocsPerRun(runs, run)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		run()
	}
	runtime.ReadMemStats(&after)
	perCall := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("%v allocations, %d bytes per full-batch call", allocations, perCall)
	if perCall >= frameReuseBytesMin {
		t.Fatalf("%d bytes allocated per full-batch call: the frame is not reused", perCall)
	}
}

// TestSmallFramesNotPooled: frames below frameReuseBytesMin keep plain allocations and
// never enter the free list.
func TestSmallFramesNotPooled(t *testing.T) {
	c := newConnClient(&recordingConn{})
	call := c.Go(context.Background(), model.OperationCreateTransfers, 0,
		make([]byte, model.TransferSize), nil)
	replyTo(c, call)
	if len(c.freeFrames) != 0 {
		t.Fatalf("%d free buffers after a one-transfer call", len(c.freeFrames))
	}
}

// TestQueuedFrameSurvivesItsReply: a reply may overtake a queued copy of its request's
// frame (an old connection's reader delivers the reply of a request that the reconnect
// already queued again for the new connection). That frame must not be reused while
// the copy waits or is being written: the next request would overwrite it, and the
// server would read the other request's bytes in its place. The connection is a pipe
// the test reads at its own pace, so the writer blocks mid-write.
func TestQueuedFrameSurvivesItsReply(t *testing.T) {
	for _, where := range []string{"being written", "in the outbox"} {
		t.Run(where, func(t *testing.T) {
			ours, server := net.Pipe()
			defer ours.Close()
			defer server.Close()
			c := newConnClient(ours)
			ctx := context.Background()
			var wantFrames [][]byte
			var writers sync.WaitGroup
			send := func(pattern byte) *Call {
				body := fullBody(pattern)
				number := uint64(len(wantFrames) + 1) // Calls are numbered from 1, in turn.
				// Go writes when it finds the writer idle, and then blocks on the pipe.
				writers.Go(func() { c.Go(ctx, model.OperationCreateTransfers, 0, body, nil) })
				waitFor(t, c, "the call queued", func() bool { return c.pending[number] != nil })
				c.mu.Lock()
				call := c.pending[number]
				c.mu.Unlock()
				wantFrames = append(wantFrames, expectedFrame(number, body))
				return call
			}
			if where == "in the outbox" {
				send(0x0F) // Holds the writer, so the next frame stays in the outbox.
			}
			overtaken := send(0xA1)
			waitFor(t, c, "the writer busy", func() bool { return c.writing })
			replyTo(c, overtaken) // The reply comes before the queued copy is written.
			c.mu.Lock()
			kept := overtaken.frame != nil && len(c.freeFrames) == 0
			c.mu.Unlock()
			if !kept {
				t.Fatal("a frame still queued went back to the free list")
			}
			send(0xC3) // Takes a buffer while the overtaken frame still waits.
			for i, want := range wantFrames {
				got := make([]byte, len(want))
				if _, err := io.ReadFull(server, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("frame %d on the wire differs from the request's own bytes", i+1)
				}
			}
			writers.Wait()
		})
	}
}

// TestLargeCallsResentIntactAcrossReconnects: concurrent full-batch calls through one
// client while the connection is dropped again and again: requests in flight at a drop
// are resent whole, with their numbers and original bytes (the server checks every
// frame's checksum, and a corrupted frame fails its call), while other calls complete
// and recycle their buffers. Every transfer is created once and every request is
// applied once.
func TestLargeCallsResentIntactAcrossReconnects(t *testing.T) {
	s := startTestServer(t)
	c := s.dial(t, nil)
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const callers, callsEach, drops = 3, 4, 6
	var group sync.WaitGroup
	for caller := range callers {
		group.Go(func() {
			for call := range callsEach {
				base := uint64(1+caller*callsEach+call) << 20
				body := make([]byte, model.RequestBodyBytesMax)
				for i := range model.EventsPerRequestMax {
					transfer := transfer(base+uint64(i), 1, 2, 1, 0)
					transfer.Encode(body[i*model.TransferSize:])
				}
				reply, err := c.Do(ctx, model.OperationCreateTransfers, 0, body)
				if err != nil {
					t.Errorf("caller %d call %d: %v", caller, call, err)
					return
				}
				for _, result := range appendEventResults(nil, reply.Body) {
					if result.Status != model.StatusOK {
						t.Errorf("caller %d call %d: %s", caller, call, result.Status)
						return
					}
				}
			}
		})
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for range drops {
			time.Sleep(3 * time.Millisecond)
			c.mu.Lock()
			if c.conn != nil {
				c.lostLocked(c.generation, errors.New("test: connection dropped"))
			}
			c.mu.Unlock()
		}
	}()
	group.Wait()
	<-stopped
	c.mu.Lock()
	connections := c.generation
	c.mu.Unlock()
	t.Logf("%d connections", connections)
	next := c.NextNumber()
	for number := c.config.FirstNumber + 1; number < next; number++ {
		if applied := s.backend.Applications(1, c.Session(), number); applied != 1 {
			t.Fatalf("request %d applied %d times", number, applied)
		}
	}
	ids := make([]model.Uint128, 0, callers*callsEach)
	for call := range callers * callsEach {
		ids = append(ids, model.U128(uint64(1+call)<<20+model.EventsPerRequestMax-1))
	}
	found, err := c.LookupTransfers(ctx, ids)
	if err != nil || len(found) != len(ids) {
		t.Fatalf("found %d of the %d last transfers of each call: %v", len(found), len(ids), err)
	}
}

// TestFormingFramesReused: a merged request that outgrows its buffer moves to one twice
// the size and leaves the old one on the formingFrames list; the frame it is written
// with holds every caller's events in order (nothing lost in the moves); with the reply
// its buffer joins the list, and the next merged request starts in it (the largest).
func TestFormingFramesReused(t *testing.T) {
	conn := &recordingConn{}
	c := newConnClient(conn)
	c.lifetime, c.endLifetime = context.WithCancel(context.Background()) // For admit.
	defer c.endLifetime()
	ctx := context.Background()
	if err := c.window.Acquire(ctx, int64(c.config.InflightMax)); err != nil {
		t.Fatal(err) // A full window: the callers below merge into one forming request.
	}
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	const callers = 3 * coalesceFirstEvents // Two moves: 8 events, 16, then 32.
	var body []byte
	parts := make([]part, callers)
	for i := range parts {
		event := bytes.Repeat([]byte{byte(i + 1)}, model.TransferSize)
		body = append(body, event...)
		p, err := c.submit(ctx, key, event, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		parts[i] = p
	}
	call := parts[0].call
	c.mu.Lock()
	left := len(c.formingFrames)
	c.mu.Unlock()
	if left != 2 || parts[callers-1].call != call {
		t.Fatalf("%d buffers left on the list by the moves, want 2 (one request)", left)
	}
	c.window.Release(1)
	waitFor(t, c, "the merged request written", func() bool {
		return call.frame != nil && !c.writing && len(c.outbox) == 0
	})
	if !bytes.Equal(conn.written.Bytes(), expectedFrame(call.Number, body)) {
		t.Fatal("the merged frame written differs from its callers' events in order")
	}
	frame := arrayOf(call.frame)
	results := make([]byte, callers*model.EventResultSize)
	for i := range callers {
		results[i*model.EventResultSize] = byte(i)
	}
	c.complete(&wire.Frame{Kind: wire.KindReply, Operation: call.Operation,
		Number: call.Number, Status: uint32(model.StatusOK), Body: results}, c.generation)
	for i := range parts {
		body, err := parts[i].wait(ctx)
		if err != nil || len(body) != model.EventResultSize || body[0] != byte(i) {
			t.Fatalf("caller %d: %v %v", i, body, err)
		}
	}
	c.mu.Lock()
	kept := len(c.formingFrames)
	c.mu.Unlock()
	if kept != 3 || call.frame != nil {
		t.Fatalf("after the reply: %d buffers on the list, want 3", kept)
	}
	next, err := c.submit(ctx, key, body[:model.TransferSize], 1, false)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	reused := arrayOf(next.call.frame) == frame // Admitted at once: already sealed.
	c.mu.Unlock()
	if !reused {
		t.Fatal("the next merged request did not start in the largest buffer")
	}
}
