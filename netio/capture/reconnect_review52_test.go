package capture

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"sequent/tools/natstest"
)

// TestAwaitEndsWhenTheServerGoesAwayInAList (review52, claim: the session's ack wait ends
// when its connection closes, and MaxReconnects(0) was taken to mean it closes when its
// server goes away; but with more than one server, a --cdc-nats list or the peers a
// clustered nats-server advertises, nats.go drops the lost server from its pool and
// reconnects to another: the connection never closes, the answers to the messages sent
// before are lost, and the oldest message in flight is waited for until
// publishAckTimeout (10 s, the default lag warning) instead of at once as the jetstream
// client's futures, failed on RECONNECTING, did before session 52).
func TestAwaitEndsWhenTheServerGoesAwayInAList(t *testing.T) {
	first := natstest.Start(t, t.TempDir()+"/nats", "127.0.0.1:0")
	second := natstest.Start(t, t.TempDir()+"/nats", "127.0.0.1:0")
	c := New(Config{URL: first.ClientURL() + "," + second.ClientURL(),
		Released: func() uint64 { return 5 }})
	t.Cleanup(c.disconnect)
	startSessionByHand(t, c)
	// In flight under a token no message was sent with: no answer ever comes.
	c.inflight = append(c.inflight, pendingAck{token: c.ackToken + 1000, at: position{op: 1},
		expected: c.expected})
	connected := c.connection.ConnectedUrl()
	switch connected {
	case first.ClientURL():
		first.Shutdown()
	case second.ClientURL():
		second.Shutdown()
	default:
		t.Fatalf("connected to %q, neither %s nor %s", connected, first.ClientURL(),
			second.ClientURL())
	}
	err := c.awaitOne()
	if err == nil || strings.Contains(err.Error(), "no acknowledgement") {
		t.Fatalf("awaitOne returned %v, want the session ended as its server went away", err)
	}
}

// TestAwaitAfterAReconnectWhileIdle (review52, the fix above must not overreach): a
// session that moved to another server of its list while nothing was in flight waits
// for the answers to what it sends after: they come, over the new connection. Only the
// messages sent before a disconnection lose their answers.
func TestAwaitAfterAReconnectWhileIdle(t *testing.T) {
	first := natstest.Start(t, t.TempDir()+"/nats", "127.0.0.1:0")
	second := natstest.Start(t, t.TempDir()+"/nats", "127.0.0.1:0")
	c := New(Config{URL: first.ClientURL() + "," + second.ClientURL(),
		Released: func() uint64 { return 5 }})
	t.Cleanup(c.disconnect)
	// The stream, empty, on both servers (capture makes it on the one it reaches).
	for _, server := range []string{first.ClientURL(), second.ClientURL()} {
		maker := New(Config{URL: server})
		if err := maker.connect(); err != nil {
			t.Fatal(err)
		}
		maker.disconnect()
	}
	startSessionByHand(t, c)
	gone, other := first, second
	if c.connection.ConnectedUrl() == second.ClientURL() {
		gone, other = second, first
	}
	gone.Shutdown()
	for deadline := time.Now().Add(20 * time.Second); c.connection.ConnectedUrl() !=
		other.ClientURL() || c.connection.Status() != nats.CONNECTED; {
		if time.Now().After(deadline) {
			t.Fatalf("status %v at %q, want connected to %s", c.connection.Status(),
				c.connection.ConnectedUrl(), other.ClientURL())
		}
		time.Sleep(time.Millisecond)
	}
	buffer := sampleTransferBuffer()
	token, err := c.publishOne(buffer, &buffer.Events[0], 1, c.expected)
	if err != nil {
		t.Fatal(err)
	}
	c.inflight = append(c.inflight, pendingAck{token: token,
		disconnects: c.sendDisconnects, at: position{op: buffer.Events[0].Op},
		expected: c.expected})
	if err := c.awaitOne(); err != nil {
		t.Fatalf("awaitOne after the reconnection: %v, want the answer", err)
	}
}
