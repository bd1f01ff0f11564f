package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"sequent/netio/wire"
)

// startSilentLoginServer starts a server on a random loopback port that sends its
// challenge, reads the login and never answers it, and returns its address and a
// channel that receives once a login has been read (the client then waits for
// login_accepted). It stops when the test ends.
func startSilentLoginServer(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	loginRead := make(chan struct{}, 1)
	accepted := make(chan net.Conn, 1)
	t.Cleanup(func() {
		listener.Close()
		select {
		case conn := <-accepted:
			conn.Close()
		default:
		}
	})
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		accepted <- conn
		body := make([]byte, wire.ChallengeSize)
		(&wire.Challenge{HeartbeatIntervalMs: 1000, SilenceTimeoutMs: 3000}).Encode(body)
		if _, err := conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindChallenge},
			body)); err != nil {
			return
		}
		if _, err := readFrame(conn, &wire.Decoder{}); err == nil {
			loginRead <- struct{}{}
		}
	}()
	return listener.Addr().String(), loginRead
}

// silentLoginConfig is a client's configuration for address, with a DialTimeout far
// beyond the hang guard, so that only the caller's context can end the handshake.
func silentLoginConfig(address string) Config {
	return Config{Addresses: []string{address}, Client: 1, Key: 1, Secret: []byte("secret"),
		DialTimeout: 10 * waitLimit}
}

// TestDialCancelledDuringLoginSaysCancelled: a caller cancels Dial while the server has
// read the login and not answered. The handshake ends at once (its deadline is set in
// the past), and its read fails with an i/o timeout; Dial must say why it ended: the
// caller's context was cancelled (errors.Is context.Canceled), inside ErrUnreachable,
// not a timeout the caller never set.
func TestDialCancelledDuringLoginSaysCancelled(t *testing.T) {
	address, loginRead := startSilentLoginServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-loginRead:
		case <-time.After(waitLimit):
		}
		cancel()
	}()
	_, err := Dial(ctx, silentLoginConfig(address))
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial cancelled during the login: %v, want ErrUnreachable and "+
			"context.Canceled", err)
	}
}

// TestDialPastItsDeadlineDuringLoginSaysDeadlineExceeded: the caller's deadline passes
// while the server has read the login and not answered: Dial's error must say so
// (errors.Is context.DeadlineExceeded), inside ErrUnreachable. The deadline is short so
// that the test is quick; nothing is asserted about when Dial returns.
func TestDialPastItsDeadlineDuringLoginSaysDeadlineExceeded(t *testing.T) {
	address, _ := startSilentLoginServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, silentLoginConfig(address))
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial past its deadline during the login: %v, want ErrUnreachable and "+
			"context.DeadlineExceeded", err)
	}
}
