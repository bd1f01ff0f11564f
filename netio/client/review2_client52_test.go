package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// Second-round review of session 52's client changes (client52, review-client52).

// goroutinesBackTo waits (bounded by the hang guard) for the goroutine count to fall to
// at most want, and fails the test with the count if it never does.
func goroutinesBackTo(t *testing.T, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d goroutines, want at most %d\n%s", what, n, want,
				buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBeatStartsNoGoroutinePerTickWhileItsWriteStalls_review2c52 — claim checked
// (writeBeatLocked): while the ticker's heartbeat write is blocked (the server not
// reading) and the stall is not yet past the silence timeout, the ticker starts no
// further writing goroutine per tick: at most the ticker and the one blocked writer.
// Method: a connection whose Write blocks until Close, the silence timeout an hour, the
// server heard from; 50 ticks counted by the heartbeats the ticker queued behind the
// blocked write; the goroutines counted then.
func TestBeatStartsNoGoroutinePerTickWhileItsWriteStalls_review2c52(t *testing.T) {
	conn := &stalledConn{writing: make(chan struct{}, 1), closed: make(chan struct{})}
	c := &Client{conn: conn, generation: 1, heartbeat: time.Millisecond,
		silence: time.Hour, lost: make(chan struct{}, 1),
		stop: make(chan struct{}), log: slog.New(slog.DiscardHandler)}
	c.lastRead.Store(math.MaxInt64 / 2)
	before := runtime.NumGoroutine()
	c.done.Add(1)
	go c.beat()
	defer func() {
		conn.Close()
		close(c.stop)
		c.done.Wait()
		goroutinesBackTo(t, before, "after the ticker stopped")
	}()
	select {
	case <-conn.writing:
	case <-time.After(waitLimit):
		t.Fatal("the ticker never wrote a heartbeat")
	}
	waitFor(t, c, "50 heartbeats queued behind the stalled one", func() bool {
		return len(c.outbox) >= 50
	})
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("%d goroutines after 50 ticks of a stalled heartbeat, want at most %d "+
			"(the ticker and one writer)", n, before+2)
	}
}

// silentReaderScript never reads what the client sends on its connections (receive
// buffer shrunk), until stop is closed.
type silentReaderScript struct{ stop chan struct{} }

func (s *silentReaderScript) run(_ int, peer *scriptedPeer) {
	_ = peer.conn.(*net.TCPConn).SetReadBuffer(4096)
	<-s.stop
}

// TestCloseWithAWriteBlockedForEver_review2c52 — claim checked: with no write deadline
// and a silence timeout of minutes, a caller's write blocked for good (the server not
// reading) does not hold Close: Close closes the connection, which ends the write, and
// leaves no goroutine behind (the ticker's heartbeat writer included). Method: a server
// that never reads; large Go or DoInto calls until one's write blocks, or an idle client
// whose heartbeats fill the socket buffers; Close; the goroutine count back to what it
// was before the Dial.
func TestCloseWithAWriteBlockedForEver_review2c52(t *testing.T) {
	script := &silentReaderScript{stop: make(chan struct{})}
	address := startScriptedServer(t, script.run)
	t.Cleanup(func() { close(script.stop) }) // Runs before the server's own cleanup.
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	// lone: the caller writing is a DoInto's with LoneReads; idle: no caller writes, the
	// blocked writer is the ticker's heartbeat goroutine (writeBeatLocked), the socket
	// buffers filled by heartbeats.
	for _, mode := range []string{"go", "lone", "idle"} {
		lone := mode == "lone"
		c, err := Dial(ctx, Config{Addresses: []string{address}, Client: 1, Key: 1,
			Secret: []byte("secret"), CoalesceEventsMax: -1, LoneReads: lone,
			HeartbeatInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		_ = c.conn.(*net.TCPConn).SetWriteBuffer(4096)
		c.mu.Unlock()
		body := make([]byte, 1024*model.TransferSize)
		writer := make(chan struct{})
		go func() {
			defer close(writer)
			for mode != "idle" && !c.isClosed() {
				if lone {
					_, _ = c.DoInto(context.Background(), model.OperationCreateTransfers, 0,
						body, nil)
				} else {
					c.Go(context.Background(), model.OperationCreateTransfers, 0, body, nil)
				}
			}
		}()
		waitFor(t, c, "a write blocked", func() bool {
			return c.writing && time.Now().UnixNano()-c.writeStartedNs > int64(
				50*time.Millisecond)
		})
		closed := make(chan struct{})
		go func() {
			c.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(waitLimit):
			t.Fatalf("%s: Close held by a write blocked for ever", mode)
		}
		select {
		case <-writer:
		case <-time.After(waitLimit):
			t.Fatalf("%s: the blocked writer never returned after Close", mode)
		}
	}
	// The server's goroutines of the three connections stay until cleanup.
	goroutinesBackTo(t, before+3, "after Close")
}

// isClosed reports whether Close was called (tests).
func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// onceServer is a scripted server with one exactly-once cache shared by its connections
// (a server restarting with its log): a request applied once is answered from the cache
// when resent. Every 5th new request is applied and its connection closed unanswered,
// every 7th is dropped unapplied with its connection; the replies echo the body.
type onceServer struct {
	mu      sync.Mutex
	applied map[uint64]int    // Times each number was applied.
	replies map[uint64][]byte // Cached reply bodies.
	seen    int
	conns   atomic.Int32
}

func (s *onceServer) run(_ int, peer *scriptedPeer) {
	s.conns.Add(1)
	for {
		request, ok := peer.request()
		if !ok {
			return
		}
		s.mu.Lock()
		body, cached := s.replies[request.Number]
		flags := uint8(0)
		cut := false
		if cached {
			flags = wire.ReplyFlagDuplicate
		} else {
			s.seen++
			if s.seen%7 == 0 {
				s.mu.Unlock()
				return // Dropped before it was applied.
			}
			body = bytes.Clone(request.Body)
			s.replies[request.Number] = body
			s.applied[request.Number]++
			cut = s.seen%5 == 0
		}
		s.mu.Unlock()
		if cut {
			return // Applied, the reply lost with the connection.
		}
		if _, err := peer.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReply,
			Operation: request.Operation, Session: request.Session, Number: request.Number,
			Flags: flags}, body)); err != nil {
			return
		}
	}
}

// TestLoneReadsExactlyOnceThroughRestarts_review2c52 — claim checked: with LoneReads,
// connections that end while a lone caller reads (its request applied or not, its reply
// lost) resume the session and resend: every request is applied once, and every lone
// caller, and a Go caller running beside, gets its own request's reply. Method: a server
// with one exactly-once cache for all its connections that cuts a connection every 5th
// and 7th new request (after and before applying it); 300 lone calls, Go calls beside.
func TestLoneReadsExactlyOnceThroughRestarts_review2c52(t *testing.T) {
	server := &onceServer{applied: map[uint64]int{}, replies: map[uint64][]byte{}}
	address := startScriptedServer(t, server.run)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1, LoneReads: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check := func(who string, id uint64, body []byte, reply *Reply, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s call %d: %v", who, id, err)
			return
		}
		if !bytes.Equal(reply.Body, body) {
			t.Errorf("%s call %d: another call's reply", who, id)
		}
	}
	var group sync.WaitGroup
	stop := make(chan struct{})
	group.Go(func() {
		for id := uint64(1 << 40); ; id++ {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Microsecond):
			}
			body := make([]byte, model.TransferSize)
			binary.LittleEndian.PutUint64(body, id)
			reply, err := c.Go(ctx, model.OperationCreateTransfers, 0, body, nil).Wait(ctx)
			check("Go", id, body, reply, err)
		}
	})
	for id := uint64(1); id <= 300 && !t.Failed(); id++ {
		body := make([]byte, model.TransferSize)
		binary.LittleEndian.PutUint64(body, id)
		reply, err := c.DoInto(ctx, model.OperationCreateTransfers, 0, body, nil)
		check("lone", id, body, reply, err)
	}
	close(stop)
	group.Wait()
	c.mu.Lock()
	reads := c.callerReads
	c.mu.Unlock()
	server.mu.Lock()
	defer server.mu.Unlock()
	for number, times := range server.applied {
		if times != 1 {
			t.Errorf("request %d applied %d times", number, times)
		}
	}
	if reads == 0 || server.conns.Load() < 10 {
		t.Fatalf("%d lone reads, %d connections: the test tested nothing", reads,
			server.conns.Load())
	}
	t.Logf("%d lone reads, %d connections, %d requests", reads, server.conns.Load(),
		len(server.applied))
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("hang guard")
	}
}
