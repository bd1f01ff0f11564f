package client

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// scriptedPeer is the server's end of one connection of a scriptedServer, logged in.
type scriptedPeer struct {
	conn    net.Conn
	decoder *wire.Decoder
}

// request returns the next request the client sent (heartbeats skipped, a logout
// acknowledged so that Close need not wait for it), or false once the connection ends.
func (p *scriptedPeer) request() (wire.Frame, bool) {
	for {
		frame, err := readFrame(p.conn, p.decoder)
		if err != nil {
			return wire.Frame{}, false
		}
		switch frame.Kind {
		case wire.KindRequest:
			return frame, true
		case wire.KindLogout:
			_, _ = p.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogout}, nil))
		}
	}
}

// refuse sends an error frame with code and number, as the server does before it closes
// the connection.
func (p *scriptedPeer) refuse(code wire.ErrorCode, number uint64) {
	_, _ = p.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindError,
		Status: uint32(code), Number: number}, []byte(code.String())))
}

// answerAll answers every request ok (empty body) until the connection ends.
func (p *scriptedPeer) answerAll() {
	for {
		request, ok := p.request()
		if !ok {
			return
		}
		if _, err := p.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReply,
			Operation: request.Operation, Session: request.Session, Number: request.Number},
			nil)); err != nil {
			return
		}
	}
}

// startScriptedServer starts a fake server on a random loopback port that logs every
// connection in (challenge, login, login_accepted: no check of the signature) and hands
// it to script with its index (from 0, in accept order), closing it when script
// returns. It stops, and closes its connections, when the test ends. It returns the
// address.
func startScriptedServer(t *testing.T, script func(connection int, peer *scriptedPeer)) string {
	t.Helper()
	return startScriptedServerRefusing(t, nil, script)
}

// startScriptedServerRefusing is startScriptedServer whose login answer, for connection
// index, is the error refuse returns, when not 0 (refuse nil: none refused).
func startScriptedServerRefusing(t *testing.T, refuse func(connection int) wire.ErrorCode,
	script func(connection int, peer *scriptedPeer)) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var connections sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		listener.Close()
		mu.Lock()
		for _, conn := range open {
			conn.Close()
		}
		mu.Unlock()
		connections.Wait()
	})
	go func() {
		for index := 0; ; index++ {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			connections.Add(1)
			go func() {
				defer connections.Done()
				defer conn.Close()
				peer := &scriptedPeer{conn: conn, decoder: &wire.Decoder{}}
				challenge := make([]byte, wire.ChallengeSize)
				// Timers far beyond the hang guard: no heartbeat or silence in a test.
				(&wire.Challenge{HeartbeatIntervalMs: uint32(waitLimit.Milliseconds()),
					SilenceTimeoutMs: uint32(4 * waitLimit.Milliseconds())}).Encode(challenge)
				if _, err := conn.Write(wire.AppendFrame(nil,
					&wire.Frame{Kind: wire.KindChallenge}, challenge)); err != nil {
					return
				}
				if login, err := readFrame(conn, peer.decoder); err != nil ||
					login.Kind != wire.KindLogin {
					return
				}
				if refuse != nil && refuse(index) != 0 {
					peer.refuse(refuse(index), 0)
					return
				}
				accepted := make([]byte, wire.LoginAcceptedSize)
				(&wire.LoginAccepted{Client: 1, Permissions: ^uint32(0)}).Encode(accepted)
				if _, err := conn.Write(wire.AppendFrame(nil,
					&wire.Frame{Kind: wire.KindLoginAccepted}, accepted)); err != nil {
					return
				}
				script(index, peer)
			}()
		}
	}()
	return listener.Addr().String()
}

// dialScripted dials a scriptedServer and closes the client when the test ends.
func dialScripted(t *testing.T, address string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectOK waits (bounded by the hang guard) for call's reply and fails the test unless
// it is ok.
func expectOK(t *testing.T, call *Call, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	reply, err := call.Wait(ctx)
	if err != nil || reply.Status != model.StatusOK {
		t.Fatalf("%s (number %d): %v, want an ok reply after the reconnect's resend", what,
			call.Number, err)
	}
}

// TestBadChecksumNamingAnotherWriteDoesNotRefuseIt: the server answers a frame whose
// checksum did not verify with bad_checksum, its number field echoed from that damaged
// frame (PROTOCOL.md section 4, error): unverified. Here it names the first of two
// pending writes, whose own frame may have been fine, and applied (or about to be).
// Failing that write with the error says "not applied" of a write that may be; the
// client must instead treat the connection as damaged, reconnect with its session and
// resend every pending request with its number (the server applies each number once
// and answers a duplicate from its cache), as on any lost connection.
func TestBadChecksumNamingAnotherWriteDoesNotRefuseIt(t *testing.T) {
	address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		if connection > 0 {
			peer.answerAll()
			return
		}
		first, ok := peer.request()
		if !ok {
			return
		}
		if _, ok := peer.request(); !ok {
			return
		}
		peer.refuse(wire.ErrorBadChecksum, first.Number)
	})
	c := dialScripted(t, address)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	body := make([]byte, model.TransferSize)
	first := c.Go(ctx, model.OperationCreateTransfers, 0, body, nil)
	second := c.Go(ctx, model.OperationCreateTransfers, 0, body, nil)
	expectOK(t, first, "the write a damaged frame's number named")
	expectOK(t, second, "the other write")
}

// TestBadChecksumNamingNoRequestReconnects: a bad_checksum whose number names no pending
// request (0, as for a damaged kind byte, or any number a damaged field holds) is a
// damaged connection, not a protocol error of the client's: the client must reconnect
// and resend its pending requests, not stop for good with the error.
func TestBadChecksumNamingNoRequestReconnects(t *testing.T) {
	for _, named := range []uint64{0, 1 << 40} {
		address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
			if connection > 0 {
				peer.answerAll()
				return
			}
			if _, ok := peer.request(); ok {
				peer.refuse(wire.ErrorBadChecksum, named)
			}
		})
		c := dialScripted(t, address)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		call := c.Go(ctx, model.OperationCreateTransfers, 0,
			make([]byte, model.TransferSize), nil)
		expectOK(t, call, "a write pending when a bad_checksum named no request")
		// And the client goes on: a later call is answered too.
		expectOK(t, c.Go(ctx, model.OperationLookupAccounts, 0, make([]byte, model.IDSize),
			nil), "a later read")
		cancel()
	}
}

// TestBadChecksumRefusingAReconnectsLoginReconnects: the connection ends (the server
// closes it with a write unanswered), and the reconnect's login frame arrives damaged:
// the server refuses it bad_checksum. That says nothing of the client's credentials;
// the client must try again (with its back-off), not stop for good with the error.
func TestBadChecksumRefusingAReconnectsLoginReconnects(t *testing.T) {
	refuse := func(connection int) wire.ErrorCode {
		if connection == 1 {
			return wire.ErrorBadChecksum
		}
		return 0
	}
	address := startScriptedServerRefusing(t, refuse,
		func(connection int, peer *scriptedPeer) {
			if connection > 0 {
				peer.answerAll()
				return
			}
			_, _ = peer.request() // Then the connection ends, the write unanswered.
		})
	c := dialScripted(t, address)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	expectOK(t, c.Go(ctx, model.OperationCreateTransfers, 0,
		make([]byte, model.TransferSize), nil),
		"a write pending when a reconnect's login was refused bad_checksum")
}

// TestBadChecksumsInARowSpaceTheReconnectsOut: frames damaged on every connection (a
// broken link, or a client fault corrupting its own frames) must not make the client
// reconnect and resend as fast as the server refuses. A first bad_checksum reconnects at
// once; each further one in a row, with no reply in between, waits longer, doubling from
// ReconnectDelayMin; a reply resets the count, and an error read from a connection
// already replaced does not count. Run in a synctest bubble: the waits are on the
// bubble's clock, exact.
func TestBadChecksumsInARowSpaceTheReconnectsOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, peer := net.Pipe()
		defer conn.Close()
		defer peer.Close()
		c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
			stop: make(chan struct{}), conn: conn, generation: 2}
		waited := func() time.Duration {
			start := time.Now()
			if !c.waitAfterDamage() {
				t.Fatal("waitAfterDamage reported the client closed")
			}
			return time.Since(start)
		}
		refused := func(generation uint64) {
			frame := wire.Frame{Kind: wire.KindError, Status: uint32(wire.ErrorBadChecksum)}
			if err := c.handle(&frame, generation); err == nil {
				t.Fatal("a bad_checksum did not end the connection's reader")
			}
		}
		refused(2)
		if wait := waited(); wait != 0 {
			t.Fatalf("after a first bad_checksum the reconnect waited %s, want 0", wait)
		}
		refused(1) // From a connection already replaced: not counted.
		for _, want := range []time.Duration{ReconnectDelayMin, 2 * ReconnectDelayMin,
			4 * ReconnectDelayMin} {
			refused(2)
			if wait := waited(); wait != want {
				t.Fatalf("after bad_checksums in a row the reconnect waited %s, want %s",
					wait, want)
			}
		}
		c.complete(&wire.Frame{Kind: wire.KindReply, Number: 7}, 2) // Any reply.
		refused(2)
		if wait := waited(); wait != 0 {
			t.Fatalf("after a reply and one bad_checksum the reconnect waited %s, want 0",
				wait)
		}
	})
}
