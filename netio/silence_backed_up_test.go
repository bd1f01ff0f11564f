package netio_test

import (
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestHeartbeatsKeepBackedUpConnectionOpen: PROTOCOL.md section 4 (heartbeat): bytes that
// reach the server's socket count as received, also while the server's output to that
// client is backed up. A client asks for about 8 MiB of replies (within OutboundBytesMax,
// so the slow-consumer rule of section 6 does not apply; TestSlowReaderCutOff pins that
// one), reads none of them while it writes a heartbeat every 20 ms for more than three
// silence timeouts, and must then still be open and get every reply (heartbeats go on
// while it reads). Counts bound the test; a client stalled for a whole silence timeout
// (2 s) between two heartbeats would be silent indeed, the only way it fails without a
// bug. Written for the suspicion (session 48) that the server stops reading, or stops
// counting, a connection whose outbound buffer is large: gnet reads it (its loop handles
// EPOLLOUT then EPOLLIN of one event) and OnTraffic stamps every read. A server that
// stamped received only with an empty outbound buffer fails here (silence timeouts 1).
func TestHeartbeatsKeepBackedUpConnectionOpen(t *testing.T) {
	const silenceTimeout = 2 * time.Second
	const outboundBytesMax = 64 << 20
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.SilenceTimeout = silenceTimeout
		c.HeartbeatInterval = silenceTimeout / 4
		c.OutboundBytesMax = outboundBytesMax
	}})
	good := h.dial(nil)
	ids := make([]uint64, model.EventsPerRequestMax)
	accounts := make([]model.Account, len(ids))
	for i := range ids {
		ids[i] = uint64(i + 1)
		accounts[i] = account(ids[i])
	}
	if _, err := good.CreateAccounts(background(t), accounts); err != nil {
		t.Fatal(err)
	}
	slow := dialRaw(t, h.server.Address())
	slow.login(clientAll, 1, secretOne, 1)
	// Each reply is about 1 MiB: eight of them are twice what the kernel's socket buffers
	// hold for a client that does not read (the server's send buffer grows to 4 MiB at
	// most, the client's receive buffer stays at its first size until it reads), so
	// gnet's buffer holds the rest, far below the bound.
	const requests = 8
	lookup := encodeIDs(ids...)
	var burst []byte
	for number := uint64(1); number <= requests; number++ {
		burst = append(burst, requestFrame(1, number, model.OperationLookupAccounts, lookup)...)
	}
	slow.write(burst)
	heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
	// Heartbeats one every 20 ms from another goroutine while the test waits and then
	// reads (a trickle through the small buffer: it takes seconds). Bounded by count.
	const heartbeatsBeforeReading = 7 * int(silenceTimeout/(40*time.Millisecond))
	const heartbeatsMax = 20 * heartbeatsBeforeReading
	waited := make(chan struct{})
	waitedClosed := false // Only the goroutine below reads or writes it.
	stop := make(chan struct{})
	finished := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			if !waitedClosed {
				close(waited) // Closed by the server early: the test does not wait on.
			}
			finished <- err
		}()
		for sent := range heartbeatsMax {
			if sent == heartbeatsBeforeReading {
				close(waited)
				waitedClosed = true
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err = slow.conn.Write(heartbeat); err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		if err := <-finished; err != nil {
			t.Errorf("heartbeat: %v", err)
		}
	}()
	<-waited // Three and a half silence timeouts of heartbeats, nothing read.
	if stats := h.server.Stats(); stats.SilenceTimeouts != 0 || stats.SlowConsumers != 0 {
		t.Fatalf("silence timeouts %d, slow consumers %d while the client sent heartbeats; "+
			"want 0 and 0", stats.SilenceTimeouts, stats.SlowConsumers)
	}
	for replies := 0; replies < requests; {
		frame, err := slow.nextAny()
		if err != nil {
			t.Fatalf("after %d replies: %v (server %+v)", replies, err, h.server.Stats())
		}
		if frame.Kind == wire.KindHeartbeat {
			continue
		}
		if frame.Kind != wire.KindReply {
			t.Fatalf("frame kind %s status %d after %d replies", frame.Kind, frame.Status,
				replies)
		}
		replies++
	}
}
