package netio_test

// Session 41 review (reviewerr) of the error-frame change: PROTOCOL.md section 9 says the
// server closes the connection right after the error frame, and section 6 says a
// connection is closed without one only past the outbound bound (slow_consumer). The
// error frame must therefore reach a client that is merely behind on its reading, well
// within the bound.

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestErrorFrameReachesClientBehindOnReading: client B pipelines lookups whose replies
// (16 MiB in all) outgrow what the kernel buffers on loopback (B's receive buffer is set
// small; the server's send buffer grows to 4 MiB at most), so most of them wait in gnet's
// outbound buffer, well under OutboundBytesMax (64 MiB here). Another connection then
// takes B's session over. B, reading everything now, must find the session_taken_over
// error frame as its last frame, after whole frames only.
//
// FAILS at main (and failed before session 41 too: the close gnet queued flushed the
// same way): the close sends what the socket takes at once and drops the rest of gnet's
// buffer, the error frame with it; B's stream ends after the kernel's bytes, inside a
// reply, with no error frame. Fixed in session 41 (errdrain): the connection drains
// first, bounded (closeOrDrain, drainOverdue), and every write is made by a callback on
// the loop that skips a draining connection (lendTo), so frames lent behind the error
// frame are still dropped.
func TestErrorFrameReachesClientBehindOnReading(t *testing.T) {
	const (
		lookups      = 16 // Each of all the accounts: 1 MiB of reply.
		sessionSetup = 1
		sessionB     = 7
	)
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.OutboundBytesMax = 64 << 20
		c.DrainTimeout = waitLimit   // A loaded machine may take seconds to read it all.
		c.SilenceTimeout = waitLimit // Only the takeover may close B.
	}})
	setup := dialRaw(t, h.server.Address())
	ids := createLookupAccounts(t, setup, sessionSetup)

	b := dialRawSmallReceiveBuffer(t, h.server.Address())
	b.login(clientAll, 1, secretOne, sessionB)
	lookup := encodeIDs(ids...)
	for number := uint64(1); number <= lookups; number++ {
		b.write(requestFrame(sessionB, number, model.OperationLookupAccounts, lookup))
	}
	// Every reply admitted (queued to B's loop ahead of the takeover's error frame).
	waitFor(t, "B's replies queued", func() bool {
		return h.server.Stats().RepliesSent >= 1+lookups
	})

	taker := dialRaw(t, h.server.Address())
	taker.login(clientAll, 1, secretOne, sessionB)

	replies := 0
read:
	for {
		frame, err := b.nextAny()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				t.Fatalf("B's connection ended after %d whole replies without the "+
					"session_taken_over error frame (%v)", replies, err)
			}
			t.Fatalf("B: %v after %d replies (a frame cut short?)", err, replies)
		}
		switch frame.Kind {
		case wire.KindReply:
			replies++
			continue read
		case wire.KindHeartbeat:
			continue read
		case wire.KindError:
			if wire.ErrorCode(frame.Status) != wire.ErrorSessionTakenOver {
				t.Fatalf("B: error %s, want session_taken_over",
					wire.ErrorCode(frame.Status))
			}
		default:
			t.Fatalf("B: unexpected %s", frame.Kind)
		}
		break read
	}
	expectNothingMore(t, b)
}

// dialRawSmallReceiveBuffer is dialRaw with a 4 KiB receive buffer set before the
// connection is made (so the window the server sees stays small).
func dialRawSmallReceiveBuffer(t *testing.T, address string) *rawConn {
	t.Helper()
	dialer := net.Dialer{Timeout: waitLimit, Control: func(_, _ string, raw syscall.RawConn) error {
		var optionErr error
		if err := raw.Control(func(fd uintptr) {
			optionErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF,
				4<<10)
		}); err != nil {
			return err
		}
		return optionErr
	}}
	conn, err := dialer.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	return newRawConn(t, conn)
}
