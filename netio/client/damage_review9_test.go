package client

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"sequent/netio/wire"
)

// TestDialToOneAddressRefusingBadVersionFails: a single server that does not speak
// protocol version 1 refuses every login bad_version. Taken for damage once (a flipped
// version byte), the first refusal must not leave Dial with ErrUnreachable, the error an
// application retries on ("no server up yet"): it would retry for ever against a server
// that will never accept it, where before session 36 it got the *ServerError. Dial has
// no later round to see a second refusal in, so it logs in again at once to the same
// address; the second bad_version is the server's protocol and Dial returns it.
func TestDialToOneAddressRefusingBadVersionFails(t *testing.T) {
	address := startScriptedServerRefusing(t,
		func(int) wire.ErrorCode { return wire.ErrorBadVersion },
		func(int, *scriptedPeer) {})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1})
	if err == nil {
		c.Close()
		t.Fatal("a server refusing every login bad_version: Dial connected")
	}
	var refused *ServerError
	if !errors.As(err, &refused) || wire.ErrorCode(refused.Code) != wire.ErrorBadVersion ||
		errors.Is(err, ErrUnreachable) {
		t.Fatalf("one address refusing every login bad_version: Dial returned %v, want "+
			"the *ServerError itself, not ErrUnreachable", err)
	}
}

// TestSlowRefusalOfAResendStillAddsUp: a write the server refuses each time it is
// resent, refused only after the connection has carried the server's heartbeat at one
// second (a loaded server, or a round trip above a second). The reset of the row by a
// connection's age (damageForgotten) is for damage in passing on a healthy connection;
// here the resend written at the login is still unanswered when the connection turns
// one second old, so nothing shows that the client's frames get through: the row must
// still reach damageRefusalsMax and stop the client, not reconnect at once for ever.
// Each round is what install leaves (the write queued, unanswered) and the reader on a
// net.Pipe in a synctest bubble.
func TestSlowRefusalOfAResendStillAddsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := bareClient()
		write := &Call{Number: 1, complete: make(chan struct{})}
		c.pending[1] = write
		heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
		refusal := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindError,
			Status: uint32(wire.ErrorReservedNotZero), Number: 1}, nil)
		for round := 1; round <= 2*damageRefusalsMax; round++ {
			peer, ended := pipeConnection(c, func() {
				write.unanswered = 1 // Resent by install, as on every connection.
			})
			time.Sleep(damageForgottenAfter)
			for _, frame := range [][]byte{heartbeat, refusal} {
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
				if round != damageRefusalsMax {
					t.Fatalf("stopped at round %d, want %d", round, damageRefusalsMax)
				}
				return
			}
			if !c.waitAfterDamage() {
				t.Fatalf("round %d: waitAfterDamage reported the client closed", round)
			}
			select {
			case <-c.lost:
			default:
			}
		}
		t.Fatalf("a resend refused on every connection, after a heartbeat at %s: %d "+
			"connections and the client still reconnects (the row of damage reset each "+
			"time), want it stopped at %d", damageForgottenAfter, 2*damageRefusalsMax,
			damageRefusalsMax)
	})
}
