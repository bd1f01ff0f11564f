package netio_test

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"sequent/netio"
	"sequent/netio/wire"
)

// TestReview2Netio53AdmissionWhileFullOnSeveralLoops (review2-netio53, checked fine; run
// with -race): with three event loops and every slot taken, connections opened at once
// from a locked-out address (127.0.0.1) each get too_many_attempts with the wait, and
// those from an address without a window (127.0.0.2) connection_limit with none; none
// of them is counted or takes a window: once the stalled connection has logged in (its
// count given back) and a slot is free, 127.0.0.1 gets a challenge, and so does
// 127.0.0.2 once another slot is free.
func TestReview2Netio53AdmissionWhileFullOnSeveralLoops(t *testing.T) {
	stopped := time.Now()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.EventLoops = 3
		c.ConnectionsMax = 2
		c.LoginTimeout = time.Hour
		c.Admission = netio.NewControls(netio.ControlsConfig{
			LoginAttemptsPerMinute: 1, Now: func() time.Time { return stopped }})
	}})
	address := h.server.Address()
	holder := dialRaw(t, address)
	holder.login(clientAll, 1, secretOne, 1)
	stalled := dialRaw(t, address) // Counted: 127.0.0.1 is at its limit.

	const each = 8
	other := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	errs := make(chan error, 2*each)
	var dials sync.WaitGroup
	for i := range 2 * each {
		dials.Add(1)
		go func() {
			defer dials.Done()
			var local net.Addr
			want := wire.ErrorTooManyAttempts
			if i%2 == 1 {
				local, want = other, wire.ErrorConnectionLimit
			}
			dialer := net.Dialer{Timeout: waitLimit, LocalAddr: local}
			conn, err := dialer.Dial("tcp", address)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			frame, err := (&rawConn{t: t, conn: conn}).nextAny()
			switch {
			case err != nil:
				errs <- err
			case frame.Kind != wire.KindError || wire.ErrorCode(frame.Status) != want:
				errs <- fmt.Errorf("dial %d: %s %s, want %s", i, frame.Kind,
					wire.ErrorCode(frame.Status), want)
			case want == wire.ErrorTooManyAttempts && (frame.Aux == 0 || frame.Aux > 60000):
				errs <- fmt.Errorf("dial %d: too_many_attempts with aux %d", i, frame.Aux)
			case want == wire.ErrorConnectionLimit && frame.Aux != 0:
				errs <- fmt.Errorf("dial %d: connection_limit with aux %d", i, frame.Aux)
			}
		}()
	}
	dials.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	stalled.login(clientAll, 1, secretOne, 2) // Gives its count back.
	holder.conn.Close()
	waitFor(t, "the holder's slot freed", func() bool {
		return h.server.Stats().ConnectionsOpen == 1
	})
	dialRaw(t, address) // Fails the test unless it gets a challenge.
	stalled.conn.Close()
	waitFor(t, "the stalled connection's slot freed", func() bool {
		return h.server.Stats().ConnectionsOpen == 1
	})
	dialer := net.Dialer{Timeout: waitLimit, LocalAddr: other}
	conn, err := dialer.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if frame := (&rawConn{t: t, conn: conn}).next(); frame.Kind != wire.KindChallenge {
		t.Fatalf("127.0.0.2 once a slot is free: %s (%s), want a challenge", frame.Kind,
			wire.ErrorCode(frame.Status))
	}
}
