package client

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"sequent/netio/wire"
)

// TestOldReaderLeavesANewerConnectionsHeldFrame_review2c52 — review2 of client52 (lone
// reads): a frame a lone caller hands over (heldFrame: a subscribed answer, a report)
// belongs to the reader goroutine of the caller's connection, but takeHeld took it
// whatever the generation. The reader of a replaced connection, parked in lend while a
// caller of its connection read, wakes only when that caller gives the role back
// (readOwnReply's token on the old readBack); if that comes late (the old caller or
// reader not yet scheduled while the reconnect, a lone call and a Subscribe go on), the
// old reader took the new connection's held frame and handled it as its own generation's:
// subscribed drops an old generation's answer, and the new connection's Subscribe never
// got it. Method: the old connection's readFrames parked in lend, its role taken by a
// (simulated) caller; the connection replaced and a frame held for the new one; the old
// caller's token sent; the held frame must still be there for the new reader.
func TestOldReaderLeavesANewerConnectionsHeldFrame_review2c52(t *testing.T) {
	oldConn, oldPeer := net.Pipe()
	defer oldPeer.Close()
	newConn, newPeer := net.Pipe()
	defer newConn.Close()
	defer newPeer.Close()
	oldBack := make(chan struct{}, 1)
	c := &Client{conn: oldConn, generation: 1, lastAnsweredLone: true, readBack: oldBack,
		config:      Config{LoneReads: true},
		readDecoder: &wire.Decoder{}, lost: make(chan struct{}, 1), stop: make(chan struct{}),
		log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{}}
	c.readers = 1
	returned := make(chan error, 1)
	go func() { returned <- c.readFrames(oldConn, c.readDecoder, 1, oldBack) }()
	waitFor(t, c, "the old reader lending", func() bool { return c.readRole == roleFree })

	c.mu.Lock()
	c.readRole = roleCaller // A lone caller of connection 1 reads (readOwnReply).
	// Connection 1 lost (lostLocked: its wake is a no-op, the role being the caller's),
	// connection 2 installed (startReaderLocked), its reader lending, a lone caller of
	// connection 2 handing it a subscribed answer (readUntil: errHandedOver).
	_ = c.conn.Close()
	c.conn = nil
	c.generation, c.conn, c.readRole = 2, newConn, roleReader
	c.readBack = make(chan struct{}, 1)
	c.mu.Unlock()
	go func() {
		_, _ = newPeer.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindSubscribed,
			Number: 7}, make([]byte, wire.SubscribedSize)))
	}()
	lone := &Call{complete: make(chan struct{})}
	if err := c.readUntil(newConn, &wire.Decoder{}, 2, lone); err != errHandedOver {
		t.Fatalf("connection 2's caller read: %v, want the subscribed answer handed over", err)
	}
	oldBack <- struct{}{} // Connection 1's caller gives its role back, late.

	select {
	case <-returned:
	case <-time.After(waitLimit):
		t.Fatal("the old reader did not return")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding || c.heldFrame.Number != 7 {
		t.Fatal("connection 1's reader took the frame held for connection 2's reader " +
			"(and dropped it as an old generation's)")
	}
}
