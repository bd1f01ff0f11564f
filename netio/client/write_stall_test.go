package client

import (
	"errors"
	"log/slog"
	"math"
	"net"
	"sync"
	"testing"
	"time"
)

// stalledConn is a connection whose Write blocks until Close (a server that stopped
// reading: its socket buffers full) and then fails; Close is recorded.
type stalledConn struct {
	net.Conn // Unused methods panic (nil).
	writing  chan struct{}
	closed   chan struct{}
	once     sync.Once
}

func (s *stalledConn) Write([]byte) (int, error) {
	select {
	case s.writing <- struct{}{}:
	default:
	}
	<-s.closed
	return 0, net.ErrClosed
}
func (s *stalledConn) Close() error                     { s.once.Do(func() { close(s.closed) }); return nil }
func (s *stalledConn) SetWriteDeadline(time.Time) error { return nil }
func (s *stalledConn) SetDeadline(time.Time) error      { return nil }
func (s *stalledConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// TestBeatDropsAConnectionWhoseWriteStalls: a write that has not returned after the
// silence timeout ends its connection, from the heartbeat's ticker (writeStalledLocked),
// while the server is still heard from (the read silence never fires here). Writes carry no deadline of their own: without the ticker's check
// the write, and every caller behind it, would wait for ever.
func TestBeatDropsAConnectionWhoseWriteStalls(t *testing.T) {
	conn := &stalledConn{writing: make(chan struct{}, 1), closed: make(chan struct{})}
	c := &Client{conn: conn, generation: 1, heartbeat: 4 * time.Millisecond,
		silence: 40 * time.Millisecond, lost: make(chan struct{}, 1),
		stop: make(chan struct{}), log: slog.New(slog.DiscardHandler)}
	// The server is heard from all along (a read stamped in the future): only the
	// stalled write may end the connection, whatever the machine's load.
	c.lastRead.Store(math.MaxInt64 / 2)
	c.lastWrite.Store(time.Now().UnixNano())
	written := make(chan struct{})
	go func() {
		defer close(written)
		c.mu.Lock()
		c.outbox = append(c.outbox, []byte("a frame the server never reads"))
		c.writeLocked()
		c.mu.Unlock()
	}()
	select {
	case <-conn.writing:
	case <-time.After(waitLimit):
		t.Fatal("the write never began")
	}
	c.done.Add(1)
	go c.beat()
	defer func() {
		close(c.stop)
		c.done.Wait()
	}()
	select {
	case <-written:
	case <-time.After(waitLimit):
		t.Fatalf("a write blocked for %v is still blocked (silence timeout %v)",
			waitLimit, c.silence)
	}
	select {
	case <-c.lost:
	default:
		t.Fatal("the connection ended without waking the reconnector")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil || c.writing {
		t.Fatalf("after the stall: conn %v, writing %v; want the connection dropped",
			c.conn, c.writing)
	}
}

// TestWriteStalledOnlyPastTheSilenceTimeout: a write in progress for less than the
// silence timeout, or no write at all, is not a stall.
func TestWriteStalledOnlyPastTheSilenceTimeout(t *testing.T) {
	c := &Client{silence: time.Second}
	if c.writeStalledLocked(int64(time.Hour)) {
		t.Fatal("no write in progress taken for a stall")
	}
	c.writing, c.writeStartedNs = true, int64(time.Hour)
	if c.writeStalledLocked(int64(time.Hour + time.Second)) {
		t.Fatal("a write as long as the silence timeout taken for a stall")
	}
	if !c.writeStalledLocked(int64(time.Hour+time.Second) + 1) {
		t.Fatal("a write longer than the silence timeout not taken for a stall")
	}
	if errors.Is(errWriteStalled, errSilence) {
		t.Fatal("a stalled write reported as the server's silence")
	}
}
