package client

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// messageCounter is a slog handler that counts the records whose message holds a text.
type messageCounter struct {
	text  string
	mu    *sync.Mutex
	count *int
}

func (h messageCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h messageCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h messageCounter) WithGroup(string) slog.Handler            { return h }
func (h messageCounter) Handle(_ context.Context, record slog.Record) error {
	if strings.Contains(record.Message, h.text) {
		h.mu.Lock()
		*h.count++
		h.mu.Unlock()
	}
	return nil
}

// TestConnectionLostForAnotherReasonAfterBadChecksumsReconnectsAtOnce: the back-off of
// waitAfterDamage is for the reconnect that follows a bad_checksum (frames damaged again
// and again), as waitBeforeFollowing's is for one that follows a redirect; a connection
// lost for another reason (the server closing it, a failover) reconnects at once. Here
// two bad_checksums in a row (no reply between) are followed by a connection that ends
// without any error frame, with the write unanswered: its reconnect must not wait. The
// count of bad_checksums, reset only by a reply, stays at 2 across that connection
// (it sent no reply), so the loss was taken for a third damage. Each wait is logged once
// ("waiting before reconnecting"), which is what this test counts: exactly one, after
// the second bad_checksum. No clock is read.
func TestConnectionLostForAnotherReasonAfterBadChecksumsReconnectsAtOnce(t *testing.T) {
	address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		if connection >= 3 {
			peer.answerAll()
			return
		}
		request, ok := peer.request()
		if !ok {
			return
		}
		if connection < 2 {
			peer.refuse(wire.ErrorBadChecksum, request.Number)
		}
		// Connection 2 closes with the write unanswered: no error frame, no damage.
	})
	var mu sync.Mutex
	waits := 0
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1,
		Logger: slog.New(messageCounter{text: "waiting before reconnecting", mu: &mu,
			count: &waits})})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expectOK(t, c.Go(ctx, model.OperationCreateTransfers, 0,
		make([]byte, model.TransferSize), nil), "a write resent on every reconnect")
	mu.Lock()
	defer mu.Unlock()
	if waits != 1 {
		t.Fatalf("%d reconnects waited as after damage, want 1 (after the second "+
			"bad_checksum; not after the connection that ended with no error frame)", waits)
	}
}

// TestBadChecksumReadAfterTheWriterDroppedTheConnectionCounts: the server closes the
// connection after its bad_checksum; a client pipelining writes meets the closed socket
// on its next write (EPIPE, ECONNRESET) and drops the connection (lostLocked) before its
// reader has handled the error frame it read. That frame is from the very connection
// that is being replaced, not from an older one: it must count among the bad_checksums
// in a row, or a link (or a client) that damages frames on every connection of a
// pipelining client is reconnected to as fast as it refuses, the back-off skipped
// whenever the writer is first. Run in a synctest bubble, as
// TestBadChecksumsInARowSpaceTheReconnectsOut.
func TestBadChecksumReadAfterTheWriterDroppedTheConnectionCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, peer := net.Pipe()
		defer peer.Close()
		c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
			stop: make(chan struct{}), conn: conn, generation: 2}
		refused := func(generation uint64) {
			frame := wire.Frame{Kind: wire.KindError, Status: uint32(wire.ErrorBadChecksum)}
			if err := c.handle(&frame, generation); err == nil {
				t.Fatal("a bad_checksum did not end the connection's reader")
			}
		}
		refused(2) // The first one: the reader first, as usual.
		c.mu.Lock()
		c.lostLocked(2, nil)
		c.mu.Unlock()
		if !c.waitAfterDamage() {
			t.Fatal("waitAfterDamage reported the client closed")
		}
		second, secondPeer := net.Pipe() // The reconnect's connection.
		defer secondPeer.Close()
		c.mu.Lock()
		c.conn, c.generation = second, 3
		c.lostLocked(3, syscall.EPIPE) // The writer meets the closed socket first...
		c.mu.Unlock()
		refused(3) // ...then the reader handles the bad_checksum it had read.
		start := time.Now()
		if !c.waitAfterDamage() {
			t.Fatal("waitAfterDamage reported the client closed")
		}
		if wait := time.Since(start); wait != ReconnectDelayMin {
			t.Fatalf("after a second bad_checksum in a row, read once the writer had "+
				"dropped its connection, the reconnect waited %s, want %s", wait,
				ReconnectDelayMin)
		}
	})
}
