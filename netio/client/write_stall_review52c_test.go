package client

import (
	"log/slog"
	"math"
	"testing"
	"time"
)

// TestBeatDropsAStallOfItsOwnHeartbeat_review52c — review of client52, claim (1): "the
// heartbeat's ticker drops a connection whose write has blocked past the silence
// timeout". The ticker is also a writer: on an idle connection it writes the heartbeat
// itself (beat → writeLocked), on its own goroutine. When that write blocks (the server
// stopped reading with the socket buffers full), the ticker is the blocked writer and
// never ticks again: neither the stall check nor the silence check runs, and the
// connection (and every call without a deadline) waits for ever. Before client52 the
// write deadline (the silence timeout) ended that write. Method: a connection whose
// Write blocks until Close, the server heard from all along, nothing written for a
// heartbeat interval: the ticker's own heartbeat is the stalled write, and the
// connection must still be dropped.
func TestBeatDropsAStallOfItsOwnHeartbeat_review52c(t *testing.T) {
	conn := &stalledConn{writing: make(chan struct{}, 1), closed: make(chan struct{})}
	c := &Client{conn: conn, generation: 1, heartbeat: 4 * time.Millisecond,
		silence: 40 * time.Millisecond, lost: make(chan struct{}, 1),
		stop: make(chan struct{}), log: slog.New(slog.DiscardHandler)}
	c.lastRead.Store(math.MaxInt64 / 2) // The server is heard from: only the stall may end it.
	// lastWrite is zero: the first tick sends a heartbeat, and the ticker writes it.
	c.done.Add(1)
	go c.beat()
	defer func() {
		conn.Close() // Ends a write still blocked, so that the ticker can return.
		close(c.stop)
		c.done.Wait()
	}()
	select {
	case <-conn.writing:
	case <-time.After(waitLimit):
		t.Fatal("the ticker never wrote a heartbeat")
	}
	select {
	case <-conn.closed:
	case <-time.After(waitLimit):
		t.Fatalf("the ticker's own heartbeat blocked for %v and the connection was not "+
			"dropped (silence timeout %v)", waitLimit, c.silence)
	}
	select {
	case <-c.lost:
	case <-time.After(waitLimit):
		t.Fatal("the connection ended without waking the reconnector")
	}
}
