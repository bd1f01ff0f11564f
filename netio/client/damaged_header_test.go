package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// headerDamageCodes are the error codes of the header checks the server makes before
// the checksum (PROTOCOL.md section 3), and truncated_frame: after the login the same
// damage that gives bad_checksum in a body gives one of these in a header.
var headerDamageCodes = []wire.ErrorCode{wire.ErrorBadMagic, wire.ErrorBadVersion,
	wire.ErrorFrameTooLarge, wire.ErrorBadBodyLength, wire.ErrorUnknownKind,
	wire.ErrorReservedNotZero, wire.ErrorTruncatedFrame}

// answerMarked answers every request ok (empty body) with aux set to mark, until the
// connection ends, so that a test can tell which connection a reply came from.
func (p *scriptedPeer) answerMarked(mark uint64) {
	for {
		request, ok := p.request()
		if !ok {
			return
		}
		if _, err := p.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReply,
			Operation: request.Operation, Session: request.Session, Number: request.Number,
			Aux: mark}, nil)); err != nil {
			return
		}
	}
}

// TestHeaderDamageAfterLoginReconnects: the server checks a frame's header (magic,
// version, length bounds, kind, reserved bytes) before its checksum, so damage that
// lands in a header byte of a request is refused with one of those codes, not with
// bad_checksum; its number is 0 (nothing of the header is trusted) or, for
// reserved_not_zero, the request's. Once this connection's login was accepted, every
// frame on it came from the client's own encoder, which just produced valid ones: the
// error is damage to the connection, as bad_checksum is. The client must reconnect with
// its session and resend the request under its number, and the call completes with the
// reply to that resend on the new connection: not stop for good, and not fail the call.
func TestHeaderDamageAfterLoginReconnects(t *testing.T) {
	const newConnectionMark = 77 // The aux of replies from the reconnect's connection.
	for _, code := range headerDamageCodes {
		for _, namesTheRequest := range []bool{false, true} {
			name := code.String() + "/number_0"
			if namesTheRequest {
				name = code.String() + "/number_of_the_request"
			}
			t.Run(name, func(t *testing.T) {
				address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
					if connection > 0 {
						peer.answerMarked(newConnectionMark)
						return
					}
					request, ok := peer.request()
					if !ok {
						return
					}
					number := uint64(0)
					if namesTheRequest {
						number = request.Number
					}
					peer.refuse(code, number)
				})
				c := dialScripted(t, address)
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				reply, err := c.Do(ctx, model.OperationCreateTransfers, 0,
					make([]byte, model.TransferSize))
				if err != nil || reply.Status != model.StatusOK ||
					reply.Op != newConnectionMark {
					t.Fatalf("the write got %+v, %v; want the ok reply (op %d) to its "+
						"resend on the reconnect's connection", reply, err, newConnectionMark)
				}
				// And the client goes on: a later call is answered too.
				expectOK(t, c.Go(ctx, model.OperationLookupAccounts, 0,
					make([]byte, model.IDSize), nil), "a later read")
			})
		}
	}
}

// loginDamageCodes are the codes a login may be refused with when it arrived damaged:
// the header checks made before its checksum (a bit flipped in about 14 of its 96
// bytes), and unexpected_frame, decided from the header alone before a login (its kind
// byte flipped from login to request).
var loginDamageCodes = append(slices.Clone(headerDamageCodes), wire.ErrorUnexpectedFrame)

// TestHeaderDamageRefusingALoginTriesTheNextAddress: a login refused as malformed
// arrived damaged (the client's encoder built it afresh, in the version of the
// challenge it just verified): Dial takes it as it takes bad_checksum, and tries the
// next address, which accepts the login. bad_version too, the first time (see
// TestLoginsRefusedBadVersionTwiceStop). The first address refuses the login with the
// code; the second accepts it.
func TestHeaderDamageRefusingALoginTriesTheNextAddress(t *testing.T) {
	for _, code := range loginDamageCodes {
		refusing := startScriptedServerRefusing(t,
			func(int) wire.ErrorCode { return code },
			func(int, *scriptedPeer) {})
		accepting := startScriptedServer(t, func(_ int, peer *scriptedPeer) {
			peer.answerAll()
		})
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		c, err := Dial(ctx, Config{Addresses: []string{refusing, accepting}, Client: 1,
			Key: 1, Secret: []byte("secret"), CoalesceEventsMax: -1})
		if err != nil {
			cancel()
			t.Fatalf("%s refusing the login of Dial's first address: Dial returned %v, "+
				"want a connection to the second", code, err)
		}
		expectOK(t, c.Go(ctx, model.OperationCreateTransfers, 0,
			make([]byte, model.TransferSize), nil), "a write on the second address")
		cancel()
		c.Close()
	}
}

// TestHeaderDamageRefusingAReconnectsLoginIsRetried: a live client's reconnect whose
// login is refused as malformed (damaged on the way) logs in again, as after
// bad_checksum, and resends the pending write, which completes: one damaged login must
// not stop a client for good (every pending call failed). Connection 0 ends with the
// write unanswered; connection 1's login is refused with the code; connection 2 answers.
func TestHeaderDamageRefusingAReconnectsLoginIsRetried(t *testing.T) {
	for _, code := range loginDamageCodes {
		t.Run(code.String(), func(t *testing.T) {
			refuse := func(connection int) wire.ErrorCode {
				if connection == 1 {
					return code
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
				"a write pending across a reconnect whose first login was refused "+code.String())
		})
	}
}

// TestLoginsRefusedBadVersionTwiceStop: bad_version is also what a server that does not
// speak the client's protocol version answers every login with. Taken for damage once,
// it must not be retried for ever: the second login refused bad_version with no login
// accepted between stops the client with the *ServerError, at Dial (two addresses, both
// refusing: the error itself, not ErrUnreachable) and on a reconnect (the pending write
// fails with its outcome unknown, the *ServerError inside).
func TestLoginsRefusedBadVersionTwiceStop(t *testing.T) {
	alwaysBadVersion := func(int) wire.ErrorCode { return wire.ErrorBadVersion }
	first := startScriptedServerRefusing(t, alwaysBadVersion, func(int, *scriptedPeer) {})
	second := startScriptedServerRefusing(t, alwaysBadVersion, func(int, *scriptedPeer) {})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{first, second}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1})
	var refused *ServerError
	if err == nil {
		c.Close()
		t.Fatal("two addresses refusing the login bad_version: Dial connected")
	}
	if !errors.As(err, &refused) || wire.ErrorCode(refused.Code) != wire.ErrorBadVersion ||
		errors.Is(err, ErrUnreachable) {
		t.Fatalf("two addresses refusing the login bad_version: Dial returned %v, want "+
			"the *ServerError itself", err)
	}

	refuseAfterFirst := func(connection int) wire.ErrorCode {
		if connection > 0 {
			return wire.ErrorBadVersion
		}
		return 0
	}
	address := startScriptedServerRefusing(t, refuseAfterFirst,
		func(_ int, peer *scriptedPeer) {
			_, _ = peer.request() // Then the connection ends, the write unanswered.
		})
	c = dialScripted(t, address)
	_, err = c.Do(ctx, model.OperationCreateTransfers, 0, make([]byte, model.TransferSize))
	var unknown *OutcomeUnknownError
	if !errors.As(err, &refused) || wire.ErrorCode(refused.Code) != wire.ErrorBadVersion ||
		!errors.As(err, &unknown) {
		t.Fatalf("every reconnect's login refused bad_version: the pending write got %v, "+
			"want its outcome unknown with the *ServerError", err)
	}
}

// TestAnAddressAcceptingTheLoginOutranksBadVersions: in a cluster in the middle of an
// upgrade, some nodes may refuse version 1 logins bad_version while another accepts
// them. Two such refusals in one round of addresses must not stop the client before it
// has tried the address that accepts: Dial, given two refusing addresses first, connects
// to the third.
func TestAnAddressAcceptingTheLoginOutranksBadVersions(t *testing.T) {
	alwaysBadVersion := func(int) wire.ErrorCode { return wire.ErrorBadVersion }
	first := startScriptedServerRefusing(t, alwaysBadVersion, func(int, *scriptedPeer) {})
	second := startScriptedServerRefusing(t, alwaysBadVersion, func(int, *scriptedPeer) {})
	accepting := startScriptedServer(t, func(_ int, peer *scriptedPeer) {
		peer.answerAll()
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{first, second, accepting}, Client: 1,
		Key: 1, Secret: []byte("secret"), CoalesceEventsMax: -1})
	if err != nil {
		t.Fatalf("two addresses refusing the login bad_version, the third accepting it: "+
			"Dial returned %v, want a connection to the third", err)
	}
	defer c.Close()
	expectOK(t, c.Go(ctx, model.OperationCreateTransfers, 0,
		make([]byte, model.TransferSize), nil), "a write on the third address")
}

// TestDamagedLoginsCountInTheRowOfDamage: logins refused as damaged count among the
// damaged frames in a row (no reply between) with those refused after a login, and the
// client stops at the same bound, damageRefusalsMax, with an error wrapping the last
// refusal: a link that damages every login must not be logged in to for ever. bad_version
// is left out here (its own bound is 2). No network: loginRefusal is asked directly.
func TestDamagedLoginsCountInTheRowOfDamage(t *testing.T) {
	codes := append([]wire.ErrorCode{wire.ErrorBadChecksum}, loginDamageCodes...)
	codes = slices.DeleteFunc(codes, func(code wire.ErrorCode) bool {
		return code == wire.ErrorBadVersion
	})
	c := &Client{log: slog.New(slog.DiscardHandler)}
	c.refusedAsDamaged = 3 // Three frames refused as damaged after a login, no reply since.
	for refusal := c.refusedAsDamaged + 1; refusal <= damageRefusalsMax; refusal++ {
		code := codes[refusal%len(codes)]
		stop := c.loginRefusal(&ServerError{Code: uint32(code), Name: code.String()})
		if (stop != nil) != (refusal == damageRefusalsMax) {
			t.Fatalf("login refused %s, damage %d of %d in a row: stop %v", code, refusal,
				damageRefusalsMax, stop)
		}
		var refused *ServerError
		if stop != nil && (!errors.As(stop, &refused) || refused.Code != uint32(code)) {
			t.Fatalf("stopped with %v, want an error wrapping the last refusal", stop)
		}
	}
}

// TestHeaderDamageInARowSpacesTheReconnectsOut: header damage counts with bad_checksum
// among the refusals in a row that space the reconnects out (waitAfterDamage), or a link
// that damages every connection's frames in their headers would be reconnected to as
// fast as the server refuses. The codes alternate with bad_checksum; no reply between.
// Run in a synctest bubble, as TestBadChecksumsInARowSpaceTheReconnectsOut.
func TestHeaderDamageInARowSpacesTheReconnectsOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, peer := net.Pipe()
		defer conn.Close()
		defer peer.Close()
		// endLifetime and lost for a client that wrongly stops (failFatal's shutdown).
		c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
			stop: make(chan struct{}), conn: conn, generation: 2,
			endLifetime: func() {}, lost: make(chan struct{}, 1)}
		codes := append([]wire.ErrorCode{wire.ErrorBadChecksum}, headerDamageCodes...)
		for index, code := range codes {
			frame := wire.Frame{Kind: wire.KindError, Status: uint32(code)}
			if err := c.handle(&frame, 2); err == nil {
				t.Fatalf("%s did not end the connection's reader", code)
			}
			c.mu.Lock()
			stopped := c.closed
			c.mu.Unlock()
			if stopped {
				t.Fatalf("%s, refusal %d in a row, stopped the client for good", code,
					index+1)
			}
			start := time.Now()
			if !c.waitAfterDamage() {
				t.Fatalf("%s: the client stopped (or waitAfterDamage reported it closed)",
					code)
			}
			want := time.Duration(0)
			if index > 0 {
				want = doubling(ReconnectDelayMin, ReconnectDelayMax, index-1)
			}
			if wait := time.Since(start); wait != want {
				t.Fatalf("after %s, refusal %d in a row, the reconnect waited %s, want %s",
					code, index+1, wait, want)
			}
		}
	})
}

// TestDamageRefusalsInARowStopTheClientAtTheirBound: damage is answered by a new
// connection, but not for ever: a frame the server refuses each time it is resent (or a
// link that corrupts every frame) would keep the client reconnecting once a second, its
// calls blocked behind it, with nothing at Error. At damageRefusalsMax refusals in a row
// with no reply between, the client stops with an error that wraps the last refusal.
func TestDamageRefusalsInARowStopTheClientAtTheirBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, peer := net.Pipe()
		defer conn.Close()
		defer peer.Close()
		c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
			stop: make(chan struct{}), conn: conn, generation: 2,
			endLifetime: func() {}, lost: make(chan struct{}, 1)}
		for refusal := 1; refusal <= damageRefusalsMax; refusal++ {
			frame := wire.Frame{Kind: wire.KindError, Status: uint32(wire.ErrorBadVersion)}
			_ = c.handle(&frame, 2)
			c.mu.Lock()
			stopped, fatal := c.closed, c.fatal
			c.mu.Unlock()
			if stopped != (refusal == damageRefusalsMax) {
				t.Fatalf("refusal %d of %d in a row: stopped %v", refusal, damageRefusalsMax,
					stopped)
			}
			var refused *ServerError
			if stopped && (!errors.As(fatal, &refused) ||
				refused.Code != uint32(wire.ErrorBadVersion)) {
				t.Fatalf("stopped with %v, want an error wrapping the last refusal", fatal)
			}
		}
	})
}
