package client

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"sequent/netio/wire"
)

// TestCloseInterruptsAReconnectsLogin: the connection was lost and the reconnector has
// reached a server that sends its challenge, reads the login and never answers it (hung,
// or too loaded to). Close must end that handshake at once: it waits for the
// reconnector, which waited in the login's read until DialTimeout, the context Close
// cancels ending only the dial itself. Loopback, a random port; DialTimeout is far beyond the hang guard,
// which is what fails the test (no timing is asserted).
func TestCloseInterruptsAReconnectsLogin(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	loginRead := make(chan net.Conn, 1)
	go func() { // A server that sends its challenge, reads the login, never answers.
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		body := make([]byte, wire.ChallengeSize)
		(&wire.Challenge{HeartbeatIntervalMs: 1000, SilenceTimeoutMs: 3000}).Encode(body)
		login := make([]byte, 1)
		if _, err := conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindChallenge},
			body)); err == nil {
			if _, err := conn.Read(login); err == nil {
				loginRead <- conn // The client waits for login_accepted now.
				return
			}
		}
		conn.Close()
	}()
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}),
		logoutSeen: make(chan struct{}),
		config: Config{Addresses: []string{listener.Addr().String()},
			DialTimeout: 10 * waitLimit}}
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	c.done.Add(1)
	go c.maintain()
	c.lost <- struct{}{} // The connection ended: reconnect.
	select {
	case server := <-loginRead:
		defer server.Close()
	case <-time.After(waitLimit):
		t.Fatal("the reconnector never logged in")
	}
	closed := make(chan struct{})
	go func() {
		_ = c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatal("Close waits for a reconnect's login until DialTimeout")
	}
}
