package replication

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// TestWitnessLogsOversizedRequestsOnce: a peer without the key that announces an
// oversized request on connection after connection gets one log line from the witness,
// not one per connection. Refusing such a request costs the peer a connection and a
// 32-byte header and the witness nothing else (no handshake wait), so a line per
// connection let anyone who can connect write the witness's log at their connection
// rate; the witness already says a v3 request that fails its mac once for that reason.
// Sequential connections, each read to its end: the witness logs before it closes.
func TestWitnessLogsOversizedRequestsOnce(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logged lockedBuffer
	witness := StartWitness(WitnessConfig{Listener: listener, Key: testKey,
		LeaseDuration: time.Minute, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	defer witness.Close()
	const connections = 3
	for i := range connections {
		conn, err := net.Dial("tcp", listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(time.Minute)) // A hang guard only.
		reader := newFrameReader(conn)
		if challenge, err := reader.read(); err != nil || challenge.kind != frameChallenge {
			t.Fatalf("connection %d: challenge: %+v (%v)", i, challenge, err)
		}
		writeFrameHeader(t, conn, frameLeaseRequestIdentified, 1<<20)
		if answer, err := reader.read(); !errors.Is(err, io.EOF) {
			t.Fatalf("connection %d: %+v (%v), want the connection closed", i, answer, err)
		}
		conn.Close()
	}
	if lines := strings.Count(logged.String(), "request too large"); lines != 1 {
		t.Fatalf("%d oversized requests from a peer without the key: %d log lines, want 1:\n%s",
			connections, lines, logged.String())
	}
}
