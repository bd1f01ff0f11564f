package client

import (
	"log/slog"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"sequent/netio/wire"
)

// TestDamageSpreadOverHealthyConnectionsIsForgotten: a client that only receives (a
// report or market-data subscriber: no calls, so no replies) on a link that damages a
// frame now and then. Each connection carries the server's frames for a while, verified,
// and then one of the client's frames (a heartbeat, a resubscription) arrives damaged.
// That damage is in passing, like the first of a row: the reconnect must not wait, and
// damage spread over hours must not add up to damageRefusalsMax and stop the client.
// The count of damage in a row was reset only by a reply; a connection that has carried
// verified frames for damageForgottenAfter since its login now resets it too. Each round
// runs the connection's reader on a net.Pipe in a synctest bubble (the clock moves only
// when every goroutine waits), so the waits compared are exact.
func TestDamageSpreadOverHealthyConnectionsIsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := bareClient()
		heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
		damaged := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindError,
			Status: uint32(wire.ErrorBadChecksum)}, nil)
		for round := 1; round <= 2*damageRefusalsMax; round++ {
			peer, ended := pipeConnection(c, nil)
			// The server's frames, verified, across damageForgottenAfter; then a
			// refusal of a damaged frame of the client's, and the connection ends.
			for _, frame := range [][]byte{heartbeat, nil, heartbeat, damaged} {
				if frame == nil {
					time.Sleep(damageForgottenAfter)
					continue
				}
				if _, err := peer.Write(frame); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			<-ended
			peer.Close()
			c.mu.Lock()
			stopped := c.closed
			c.mu.Unlock()
			if stopped {
				t.Fatalf("round %d: the client stopped, after one damaged frame per "+
					"connection, each connection healthy for %s before it", round,
					damageForgottenAfter)
			}
			start := time.Now()
			if !c.waitAfterDamage() {
				t.Fatalf("round %d: waitAfterDamage reported the client closed", round)
			}
			if wait := time.Since(start); wait != 0 {
				t.Fatalf("round %d: the reconnect after damage in passing (the connection "+
					"healthy for %s before it) waited %s, want none", round,
					damageForgottenAfter, wait)
			}
			select {
			case <-c.lost:
			default:
			}
		}
	})
}

// TestDamageOnYoungConnectionsStillAddsUp: the reset of the count of damage in a row by
// a healthy connection (TestDamageSpreadOverHealthyConnectionsIsForgotten) must not
// cover a connection that refuses damage soon after its login: a frame the server
// refuses each time it is resent, or a link that damages every connection, would
// otherwise be reconnected to as fast as it refuses, for ever, even when the server's
// answers to other frames (a resubscription's subscribed, reports) arrive before the
// refusal. Here each connection carries a heartbeat then the refusal, at once: the
// reconnects wait as before, and the client stops at damageRefusalsMax.
func TestDamageOnYoungConnectionsStillAddsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := bareClient()
		heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
		damaged := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindError,
			Status: uint32(wire.ErrorBadChecksum)}, nil)
		for round := 1; round <= damageRefusalsMax; round++ {
			peer, ended := pipeConnection(c, nil)
			for _, frame := range [][]byte{heartbeat, damaged} {
				if _, err := peer.Write(frame); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			<-ended
			peer.Close()
			c.mu.Lock()
			stopped := c.closed
			c.mu.Unlock()
			if stopped != (round == damageRefusalsMax) {
				t.Fatalf("round %d of %d: stopped %v", round, damageRefusalsMax, stopped)
			}
			if stopped {
				break
			}
			start := time.Now()
			if !c.waitAfterDamage() {
				t.Fatalf("round %d: waitAfterDamage reported the client closed", round)
			}
			want := time.Duration(0)
			if round > 1 {
				want = doubling(ReconnectDelayMin, ReconnectDelayMax, round-2)
			}
			if wait := time.Since(start); wait != want {
				t.Fatalf("round %d: the reconnect waited %s, want %s", round, wait, want)
			}
			select {
			case <-c.lost:
			default:
			}
		}
	})
}

// bareClient is a client with no connection and no goroutine, for tests that drive its
// reader by hand (pipeConnection).
func bareClient() *Client {
	return &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		stop: make(chan struct{}), endLifetime: func() {}, lost: make(chan struct{}, 1)}
}

// pipeConnection installs a net.Pipe as c's next connection, as install would (under
// the client's mutex, also running installed, when not nil), and starts its reader. It
// returns the server's end and a channel closed when the reader returns.
func pipeConnection(c *Client, installed func()) (peer net.Conn, ended <-chan struct{}) {
	conn, peer := net.Pipe()
	c.mu.Lock()
	c.generation++
	c.conn = conn
	c.readers++
	if installed != nil {
		installed()
	}
	generation := c.generation
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.read(conn, &wire.Decoder{}, generation)
	}()
	return peer, done
}
