package replication

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"sequent/core/shard"
	"sequent/tools/testcert"
	"sequent/wal"
)

// TestWitnessLogsOversizedRequestsOnce: a peer without the key that announces an
// oversized request on connection after connection gets one log line from the witness,
// not one per connection. Refusing such a request costs the peer a connection and a
// 32-byte header and the witness nothing else (no handshake wait), so a line per
// connection let anyone who can connect write the witness's log at their connection
// rate; the witness already says a v3 request that fails its mac once for that reason.
// Sequential connections, each read to its end: the witness logs before it closes.
func TestWitnessLogsOversizedRequestsOnce(t *testing.T) {
	var logged lockedBuffer
	_, address := startWitnessLogging(t, time.Minute, slog.New(slog.NewTextHandler(&logged, nil)))
	const connections = 3
	for i := range connections {
		conn, err := net.Dial("tcp", address)
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

// TestLargestFirstFramesAreServed: the largest first frame a node sends to its peer's
// replication port passes the unauthenticated bound and is acted on, over plain TCP and
// over mutual TLS: a hello of recentChainsMax points is welcomed, and a fence carrying a
// client address of clientAddressBytesMax bytes fences the primary. The frames are built
// here as the standby (standby.go) and the promoted node (fencePeerOnce) build them; a
// bound below either would refuse a real peer.
func TestLargestFirstFramesAreServed(t *testing.T) {
	authority := testcert.NewAuthority(t, "sequent test CA")
	for _, secured := range []bool{false, true} {
		address := freeAddress(t)
		config := nodeConfig(t.TempDir(), address, "")
		var clientTLS *tls.Config
		if secured {
			config.TLS = NewTLS(authority.Issue(t), authority.Pool())
			clientTLS = NewTLS(authority.Issue(t), authority.Pool()).Client
		}
		primary := startNode(t, config)
		exchange := func(kind frameType, epoch uint64, payload func(nonce []byte) []byte) (frame, error) {
			t.Helper()
			conn, err := dialLink(context.Background(), address, clientTLS, time.Minute)
			if err != nil {
				t.Fatalf("TLS %v: dial: %v", secured, err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute)) // A hang guard only.
			reader, writer := newFrameReader(conn), bufio.NewWriter(conn)
			challenge, err := reader.read()
			if err != nil || challenge.kind != frameChallenge {
				t.Fatalf("TLS %v: challenge: %+v (%v)", secured, challenge, err)
			}
			nonce := challenge.body[:nonceSize]
			body := payload(nonce)
			body = append(mac(testKey, kind, nonce, epoch, body), body...)
			if err := writeFrame(writer, kind, epoch, body); err != nil {
				t.Fatal(err)
			}
			if err := writer.Flush(); err != nil {
				t.Fatal(err)
			}
			return reader.read()
		}
		session := primary.primary0()
		h := hello{shards: session.config.Shards, mapChecksum: session.config.MapChecksum}
		for i := range recentChainsMax {
			h.points = append(h.points, wal.ChainPoint{LastOp: uint64(1000 + i)})
		}
		epoch := primary.Epoch()
		welcome, err := exchange(frameHello, epoch, func([]byte) []byte { return h.encodePayload() })
		if err != nil || welcome.kind != frameWelcome {
			t.Fatalf("TLS %v: a hello of %d points (%d bytes): %+v %q (%v), want a welcome",
				secured, recentChainsMax, 32+len(h.encodePayload()), welcome.kind,
				welcome.body, err)
		}
		fencer := strings.Repeat("f", clientAddressBytesMax)
		exchange(frameFence, epoch+1, func([]byte) []byte { return []byte(fencer) })
		waitFor(t, "the fence of the longest client address to land", func() bool {
			return primary.Role() != shard.RolePrimary &&
				primary.Shard().PrimaryAddress() == fencer
		})
		primary.Close()
	}
}
