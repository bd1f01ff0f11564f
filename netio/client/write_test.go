package client

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// recordingConn is a net.Conn that keeps what is written (the writer's path, no socket).
type recordingConn struct {
	net.Conn // Unused methods panic (nil).
	written  bytes.Buffer
}

func (r *recordingConn) Write(p []byte) (int, error)      { return r.written.Write(p) }
func (r *recordingConn) SetWriteDeadline(time.Time) error { return nil }
func (r *recordingConn) SetDeadline(time.Time) error      { return nil }
func (r *recordingConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (r *recordingConn) Close() error                     { return nil }
func (r *recordingConn) SetReadDeadline(time.Time) error  { return nil }
func (r *recordingConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }

// TestWriteLockedAllocatesNothing checks the one-request path's write: whoever finds the
// writer idle writes the outbox in order, and in steady state the write allocates
// nothing (the batch handed to net.Buffers.WriteTo is the client's field; a local one
// escapes to the heap on every call).
func TestWriteLockedAllocatesNothing(t *testing.T) {
	conn := &recordingConn{}
	c := &Client{conn: conn, silence: time.Minute}
	first, second := []byte("first frame;"), []byte("second frame;")
	write := func() {
		c.mu.Lock()
		c.outbox = append(c.outbox, first, second)
		c.writeLocked()
		c.mu.Unlock()
	}
	write()
	if got := conn.written.String(); got != "first frame;second frame;" {
		t.Fatalf("written %q", got)
	}
	if c.writing || len(c.outbox) != 0 || c.writeBatch != nil {
		t.Fatalf("after the write: writing %v, outbox %d, batch %v", c.writing,
			len(c.outbox), c.writeBatch)
	}
	conn.written.Grow(1 << 20) // The recorder's own growth is not the client's.
	if allocs := testing.AllocsPerRun(100, write); allocs != 0 {
		t.Fatalf("%v allocations per write, want 0", allocs)
	}
}
