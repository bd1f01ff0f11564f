package client

import (
	"testing"
	"time"

	"sequent/netio/wire"
)

// TestReaderReadsWithoutTheLockWhenLoneReadsOff_review2c52 — review2 of client52: "with
// LoneReads off (the default) the read path is as before session 52". It was not quite:
// readFrames called lend before every read, which took the client's mutex to learn that
// the connection may not be lent (lendableLocked), so the reader of every client waited
// for each holder of mu (writers, callers entering the window, the ticker) before each
// read, where before it read with no lock. Method: LoneReads off; the test holds mu
// while the server sends a heartbeat: the reader must still read it (lastRead moves).
func TestReaderReadsWithoutTheLockWhenLoneReadsOff_review2c52(t *testing.T) {
	send := make(chan struct{})
	address := startScriptedServer(t, func(_ int, peer *scriptedPeer) {
		select {
		case <-send:
		case <-time.After(2 * waitLimit):
			return
		}
		_, _ = peer.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat},
			nil))
		peer.request() // Until the connection ends.
	})
	c := dialScripted(t, address)
	c.mu.Lock()
	before := c.lastRead.Load()
	close(send)
	deadline := time.Now().Add(waitLimit)
	for c.lastRead.Load() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	read := c.lastRead.Load() != before
	c.mu.Unlock()
	if !read {
		t.Fatal("LoneReads off: the reader did not read while the client's mutex was held " +
			"(lend took it before every read)")
	}
}
