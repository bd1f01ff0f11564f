package client

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// stallFirstScript: the first connection is never read (its socket buffers shrunk), the
// server still heard from (heartbeats); later ones answer every request with its body's
// first 8 bytes, recording each number they see and whether each body came whole.
type stallFirstScript struct {
	connections atomic.Int32
	mu          sync.Mutex
	seen        map[uint64]int
	damaged     int
}

func (s *stallFirstScript) run(index int, peer *scriptedPeer) {
	s.connections.Add(1)
	if index == 0 {
		_ = peer.conn.(*net.TCPConn).SetReadBuffer(4096)
		beat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
		for {
			if _, err := peer.conn.Write(beat); err != nil {
				return // The client dropped the connection.
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	for {
		request, ok := peer.request()
		if !ok {
			return
		}
		id := request.Body[:8]
		s.mu.Lock()
		s.seen[request.Number]++
		if !bytes.Equal(request.Body[8:], bytes.Repeat(id[:1], len(request.Body)-8)) {
			s.damaged++
		}
		s.mu.Unlock()
		if _, err := peer.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReply,
			Operation: request.Operation, Session: request.Session, Number: request.Number},
			id)); err != nil {
			return
		}
	}
}

// TestStalledWritesResentWhole_review52c — review of client52, claim (1): with no write
// deadline, the ticker drops a connection whose write has blocked past the silence
// timeout, the write having gone out in part; the reconnect must resend every pending
// request whole, with its number, once, and each caller get its own reply. Method: a
// server that never reads the first connection (both socket buffers shrunk) while it
// sends heartbeats (no silence), 16 requests of 64 KiB written into it, then a second
// connection answering everything.
func TestStalledWritesResentWhole_review52c(t *testing.T) {
	script := &stallFirstScript{seen: map[uint64]int{}}
	address := startScriptedServer(t, script.run)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1,
		HeartbeatInterval: 5 * time.Millisecond, SilenceTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.mu.Lock()
	_ = c.conn.(*net.TCPConn).SetWriteBuffer(4096)
	c.mu.Unlock()
	const calls = 16
	var pending []*Call
	for i := range calls {
		body := bytes.Repeat([]byte{byte(i + 1)}, 512*model.TransferSize)
		pending = append(pending, c.Go(ctx, model.OperationCreateTransfers, 0, body, nil))
	}
	for i, call := range pending {
		reply, err := call.Wait(ctx)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if len(reply.Body) != 8 || reply.Body[0] != byte(i+1) {
			t.Fatalf("call %d got another call's reply %x", i, reply.Body)
		}
	}
	if n := script.connections.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the stalled one dropped, then one)", n)
	}
	script.mu.Lock()
	defer script.mu.Unlock()
	if len(script.seen) != calls || script.damaged != 0 {
		t.Fatalf("second connection: %d numbers (want %d), %d bodies damaged", len(script.seen),
			calls, script.damaged)
	}
	for number, times := range script.seen {
		if times != 1 {
			t.Fatalf("request %d sent %d times on the second connection", number, times)
		}
	}
}
