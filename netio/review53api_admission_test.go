package netio_test

import (
	"net"
	"testing"
	"time"

	"sequent/netio"
	"sequent/netio/wire"
)

// TestReview53apiLockedOutWhileFullIsNotCounted (review-api53, claim 2, checked fine): the
// connections of a locked-out address refused too_many_attempts while the server is full
// are not counted against it: once its stalled connection has logged in (its count given
// back) and a slot is free, its next connection gets a challenge. Counted, the three
// refusals would have kept it locked out for the rest of the minute.
func TestReview53apiLockedOutWhileFullIsNotCounted(t *testing.T) {
	stopped := time.Now()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.ConnectionsMax = 2
		c.Admission = netio.NewControls(netio.ControlsConfig{
			LoginAttemptsPerMinute: 1, Now: func() time.Time { return stopped }})
	}})
	holder := dialRaw(t, h.server.Address())
	holder.login(clientAll, 1, secretOne, 1)
	stalled := dialRaw(t, h.server.Address()) // Counted: the address is at its limit.
	for range 3 {
		conn, err := net.DialTimeout("tcp", h.server.Address(), waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		refused := &rawConn{t: t, conn: conn}
		if frame := refused.next(); frame.Kind != wire.KindError ||
			wire.ErrorCode(frame.Status) != wire.ErrorTooManyAttempts {
			t.Fatalf("while full: %s (%s), want too_many_attempts", frame.Kind,
				wire.ErrorCode(frame.Status))
		}
		conn.Close()
	}
	stalled.login(clientAll, 1, secretOne, 2) // Gives its count back.
	holder.conn.Close()
	waitFor(t, "the holder's slot freed", func() bool {
		return h.server.Stats().ConnectionsOpen == 1
	})
	dialRaw(t, h.server.Address()) // Fails the test unless it gets a challenge.
}
