package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests in this file pin what a peer without the replication key can make a node or
// a witness hold: the first frame of a connection is read before its MAC can be checked,
// so its body is bounded by unauthenticatedFrameBytesMax, not by frameBodyBytesMax (an
// entry's 2.1 MiB, allocated for each connection that announced it).

// writeFrameHeader writes only the header of a frame announcing a body of length bytes
// (its CRC is not computed: the body never follows).
func writeFrameHeader(t *testing.T, conn net.Conn, kind frameType, length uint32) {
	t.Helper()
	var header [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(header[frameOffsetMagic:], frameMagic)
	binary.LittleEndian.PutUint16(header[frameOffsetVersion:], frameVersion)
	header[frameOffsetType] = byte(kind)
	binary.LittleEndian.PutUint64(header[frameOffsetEpoch:], 1)
	binary.LittleEndian.PutUint32(header[frameOffsetLength:], length)
	if _, err := conn.Write(header[:]); err != nil {
		t.Fatal(err)
	}
}

// TestFirstFrameOverTheUnauthenticatedBoundIsRefusedUnread: a peer that announces a
// first frame larger than any a node sends before its MAC is checked (here 1 MiB, under
// frameBodyBytesMax) and then sends nothing is answered an error at once and the
// connection closed; before, the primary allocated the whole body and waited for it
// until handshakeTimeout, so that connections opened in a loop held 2.1 MiB each. The
// largest first frame a node sends (a hello of recentChainsMax points) still fits.
func TestFirstFrameOverTheUnauthenticatedBoundIsRefusedUnread(t *testing.T) {
	if helloBytes := 32 + helloHeaderSize + recentChainsMax*40; helloBytes > unauthenticatedFrameBytesMax {
		t.Fatalf("a hello of %d points is %d bytes, over the bound %d", recentChainsMax,
			helloBytes, unauthenticatedFrameBytesMax)
	}
	if fence := 32 + clientAddressBytesMax; fence > unauthenticatedFrameBytesMax {
		t.Fatalf("a fence of the longest client address is %d bytes, over the bound %d",
			fence, unauthenticatedFrameBytesMax)
	}
	address := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), address, ""))
	defer primary.Close()
	for _, kind := range []frameType{frameHello, frameFence} {
		conn, err := net.Dial("tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		// A hang guard only: the answer comes as soon as the header is read.
		conn.SetDeadline(time.Now().Add(time.Minute))
		reader := newFrameReader(conn)
		if challenge, err := reader.read(); err != nil || challenge.kind != frameChallenge {
			t.Fatalf("challenge: %+v (%v)", challenge, err)
		}
		writeFrameHeader(t, conn, kind, 1<<20)
		answer, err := reader.read()
		if err != nil || answer.kind != frameError || !strings.Contains(string(answer.body), "at most") {
			t.Fatalf("a first frame (type %d) announcing 1 MiB: %+v (%v), want an error frame "+
				"sent before its body", kind, answer, err)
		}
		if _, err := reader.read(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the error: %v, want the connection closed", err)
		}
		conn.Close()
	}
}

// TestNodeConfigRefusesAClientAddressNoFenceCarries: a client address too long for a
// fence's first frame is refused at open, not discovered as a fence that never lands.
func TestNodeConfigRefusesAClientAddressNoFenceCarries(t *testing.T) {
	config := nodeConfig(t.TempDir(), "", "")
	config.ClientAddress = strings.Repeat("a", clientAddressBytesMax+1)
	if err := config.withDefaults(); err == nil || !strings.Contains(err.Error(), "client address") {
		t.Fatalf("a client address of %d bytes: %v, want refused", len(config.ClientAddress), err)
	}
	config.ClientAddress = strings.Repeat("a", clientAddressBytesMax)
	if err := config.withDefaults(); err != nil {
		t.Fatalf("a client address of %d bytes: %v, want accepted", clientAddressBytesMax, err)
	}
}

// lockedBuffer is a log destination several goroutines write.
type lockedBuffer struct {
	mutex  sync.Mutex
	buffer bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	return b.buffer.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	return b.buffer.String()
}

// TestWitnessRefusesAnOversizedRequestUnread: a witness answers a request announcing
// 1 MiB (no lease request is over a few hundred bytes) by closing the connection at
// once, logged, without reading or allocating its body; before, it allocated the body
// and waited for it until handshakeTimeout.
func TestWitnessRefusesAnOversizedRequestUnread(t *testing.T) {
	var logged lockedBuffer
	_, address := startWitnessLogging(t, time.Minute, slog.New(slog.NewTextHandler(&logged, nil)))
	conn, err := net.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute)) // A hang guard only.
	reader := newFrameReader(conn)
	if challenge, err := reader.read(); err != nil || challenge.kind != frameChallenge {
		t.Fatalf("challenge: %+v (%v)", challenge, err)
	}
	writeFrameHeader(t, conn, frameLeaseRequestSigned, 1<<20)
	if answer, err := reader.read(); !errors.Is(err, io.EOF) {
		t.Fatalf("a request announcing 1 MiB: %+v (%v), want the connection closed", answer, err)
	}
	// The witness logs before it closes the connection.
	if text := logged.String(); !strings.Contains(text, "request too large") {
		t.Fatalf("witness log %q, want the oversized request refused unread", text)
	}
}

// openUntilRefused opens connections to address, from one peer address, each read up to
// its first frame (the challenge of a connection served), until one is closed instead of
// challenged, and returns how many were challenged before it (-1: none was refused in
// attempts). The ones challenged stay open until the test ends (or the server's
// handshake deadline closes them: then more are challenged before the refusal, which is
// why the test opens until refused rather than exactly the bound plus one).
func openUntilRefused(t *testing.T, address string, attempts int) int {
	t.Helper()
	for challenged := 0; challenged < attempts; challenged++ {
		conn, err := net.Dial("tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(time.Minute)) // A hang guard only.
		first, err := newFrameReader(conn).read()
		if err != nil {
			if !errors.Is(err, io.EOF) && !isConnectionReset(err) {
				t.Fatalf("connection %d: %v, want a challenge or the connection closed", challenged, err)
			}
			return challenged
		}
		if first.kind != frameChallenge {
			t.Fatalf("connection %d: first frame %d, want a challenge", challenged, first.kind)
		}
	}
	return -1
}

// isConnectionReset reports a connection the server closed with data unread.
func isConnectionReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// TestGateBoundsThePeersConnections: one peer address can hold at most
// gateConnectionsPerPeerMax connections open to a node's replication port; the next is
// closed unanswered. Before, there was no bound: any peer could open connections in a
// loop, each holding a goroutine and 128 KiB of buffers for handshakeTimeout.
func TestGateBoundsThePeersConnections(t *testing.T) {
	address := freeAddress(t)
	config := nodeConfig(t.TempDir(), address, "")
	// The connections opened first stay open (unanswered) until the last is refused,
	// however slowly this machine opens a thousand of them: the bound is what is counted,
	// not how fast connections arrive.
	config.gateHandshakeTimeout = 10 * time.Minute
	primary := startNode(t, config)
	// Registered before the connections' cleanups, so run after them: Close waits for
	// the connections it serves, which would otherwise end at their handshake deadline.
	t.Cleanup(func() { primary.Close() })
	if challenged := openUntilRefused(t, address, 2*gateConnectionsPerPeerMax); challenged < gateConnectionsPerPeerMax {
		t.Fatalf("%d connections challenged before one was refused, want at least %d and then "+
			"a refusal (-1: none refused)", challenged, gateConnectionsPerPeerMax)
	}
}

// TestWitnessBoundsThePeersConnections: the same of a witness, at
// witnessConnectionsPerPeerMax.
func TestWitnessBoundsThePeersConnections(t *testing.T) {
	_, address := startTestWitness(t, time.Minute)
	if challenged := openUntilRefused(t, address, 2*witnessConnectionsPerPeerMax); challenged < witnessConnectionsPerPeerMax {
		t.Fatalf("%d connections challenged before one was refused, want at least %d and then "+
			"a refusal (-1: none refused)", challenged, witnessConnectionsPerPeerMax)
	}
}
