package netio_test

import (
	"net"
	"testing"
	"time"

	"sequent/netio"
	"sequent/netio/wire"
)

// TestAPI53LockedOutAddressIsToldItsWaitWhileTheServerIsFull: an address whose
// connections without a login fill the minute's limit gets too_many_attempts with the
// wait in aux (PROTOCOL.md section 5) whether or not the server has a free slot. While
// every slot was taken it got connection_limit with no wait, which a client retries at
// once, only to meet the lockout when a slot freed. The clock of the controls is
// stopped, so the minute cannot end during the test; the wait said is what is left of it.
func TestAPI53LockedOutAddressIsToldItsWaitWhileTheServerIsFull(t *testing.T) {
	const attemptsMax = 1
	stopped := time.Now()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.ConnectionsMax = 2
		c.Admission = netio.NewControls(netio.ControlsConfig{
			LoginAttemptsPerMinute: attemptsMax, Now: func() time.Time { return stopped }})
	}})
	holder := dialRaw(t, h.server.Address())
	holder.login(clientAll, 1, secretOne, 1)  // Its count is given back by its login.
	stalled := dialRaw(t, h.server.Address()) // Counted, never logs in: the limit is reached.
	expectLockedOut := func(what string) {
		t.Helper()
		conn, err := net.DialTimeout("tcp", h.server.Address(), waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		refused := &rawConn{t: t, conn: conn}
		frame := refused.next()
		if frame.Kind != wire.KindError || wire.ErrorCode(frame.Status) != wire.ErrorTooManyAttempts {
			t.Fatalf("%s: %s (%s), want error too_many_attempts", what, frame.Kind,
				wire.ErrorCode(frame.Status))
		}
		if wait := time.Duration(frame.Aux) * time.Millisecond; wait <= 0 || wait > time.Minute {
			t.Fatalf("%s: too_many_attempts with aux %d ms, want the wait, within a minute",
				what, frame.Aux)
		}
	}
	expectLockedOut("a locked-out address, every slot taken")
	expectLockedOut("a locked-out address, every slot taken, again")
	stalled.conn.Close()
	waitFor(t, "the stalled connection's slot freed", func() bool {
		return h.server.Stats().ConnectionsOpen == 1
	})
	expectLockedOut("a locked-out address, a slot free")
}
