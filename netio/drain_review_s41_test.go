package netio_test

// Session 41 review of errdrain (reviewdrain): what a draining connection does to its
// session.

import (
	"bytes"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// TestLogoutEndsSessionBeforeItsAnswerIsRead: PROTOCOL.md section 5, cancel-on-disconnect:
// the server cancels the session's open orders whenever its connection ends, for any
// reason, logout included, unless another connection has taken the session over;
// section 4: a later login with the same session id resumes it. B, logged in with
// cancel-on-disconnect and behind on its reading, logs out; once the server has handled
// the logout, the same session logs in again on a new connection, as a client that
// resumes at once does (it may read its logout answer first: the drain then ends at
// the ticker's next check, up to 100 ms later, a window the Go client's 10 ms reconnect
// falls into). The session must have ended (SessionClosed, cancelling orders), as it
// had before session 41, when the loop closed the connection right after the answer.
//
// FAILS at main (13918eb): the draining connection keeps holding the session until its
// drain ends (here up to 5 s: B reads nothing), so the new login takes the session over
// and the drained connection's close ends nothing: no SessionClosed at all, the orders
// stay open although the client logged out with cancel-on-disconnect. The same holds
// for an error frame written behind unread bytes. Fixed by endSession in closeOrDrain.
//
// Deterministic: one event loop; the server has handled B's logout once D's round trip
// is answered (B's logout reached the server's socket before D's request did, and the
// loop reads every ready socket before it runs the tasks that write D's reply).
func TestLogoutEndsSessionBeforeItsAnswerIsRead(t *testing.T) {
	const sessionSetup, sessionB, sessionD = 1, 7, 8
	h := newHarness(t, harnessOptions{config: func(config *netio.Config) {
		config.EventLoops = 1
		config.OutboundBytesMax = 64 << 20 // The unread replies stay within it.
		config.DrainTimeout = waitLimit    // A loaded machine may take seconds to read it all.
		config.SilenceTimeout = waitLimit  // Only B's logout may close B.
	}})
	setup := dialRaw(t, h.server.Address())
	b := dialRawSmallReceiveBuffer(t, h.server.Address())
	b.write(b.loginFrame(clientAll, 1, secretOne, sessionB, wire.LoginCancelOnDisconnect))
	if frame := b.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("B login: %s (%s)", frame.Kind, wire.ErrorCode(frame.Status))
	}
	d := dialRaw(t, h.server.Address())
	d.login(clientAll, 1, secretOne, sessionD)
	fillUnread(t, h, setup, sessionSetup, b, sessionB)
	b.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogout, Session: sessionB}, nil))
	d.roundTripOn(sessionD, 1, model.OperationLookupAccounts, encodeIDs(1))

	// B's logout is handled: its connection has ended. Resume the session.
	resumed := dialRaw(t, h.server.Address())
	resumed.write(resumed.loginFrame(clientAll, 1, secretOne, sessionB,
		wire.LoginCancelOnDisconnect))
	if frame := resumed.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("resume: %s (%s)", frame.Kind, wire.ErrorCode(frame.Status))
	}
	want := fakeshard.SessionEnd{Client: clientAll, Session: sessionB, CancelOrders: true}
	ended := false
	for _, end := range h.backend.SessionEnds() {
		ended = ended || end == want
	}
	if !ended {
		t.Fatalf("session ends %+v when the session was resumed: B's logout "+
			"(cancel-on-disconnect) ended nothing, want %+v", h.backend.SessionEnds(), want)
	}
	// B still gets its replies and the logout answer, last.
	frame := b.next()
	for frame.Kind == wire.KindReply {
		frame = b.next()
	}
	if frame.Kind != wire.KindLogout {
		t.Fatalf("B: %s (status %d), want the logout answer", frame.Kind, frame.Status)
	}
	expectNothingMore(t, b)
}

// TestLogoutAnswerReachesClientThatSendsWhileReading: PROTOCOL.md sections 4 and 9
// (session 41): a client behind on its reading gets everything the server sent before its
// logout answer, and the answer; meanwhile "frames the client sends are discarded
// unread". B, behind on its reading, logs out and reads its backlog at a steady pace;
// like any client it keeps sending (a heartbeat, as section 5 asks of an idle sender)
// and sends one as soon as the server has closed its side. It must still read
// everything up to the logout answer.
//
// FAILS at main (13918eb): the drain ends when gnet's buffer is empty, not when the
// client has the bytes: the kernel's send buffer may still hold megabytes. The server
// closes the socket then, and the kernel answers the next bytes the client sends on a
// closed socket with a reset (RFC 1122), dropping what it still held: B reads a reset
// after part of its replies, never the logout answer. Fixed in drainOverdue (it waits
// for the kernel's send queue too: unsentBytes).
func TestLogoutAnswerReachesClientThatSendsWhileReading(t *testing.T) {
	const sessionSetup, sessionB = 1, 7
	h := newHarness(t, harnessOptions{config: func(config *netio.Config) {
		config.OutboundBytesMax = 64 << 20 // The unread replies stay within it.
		config.DrainTimeout = waitLimit    // A loaded machine may take seconds to read it all.
		config.SilenceTimeout = waitLimit  // Only B's logout may close B.
	}})
	setup := dialRaw(t, h.server.Address())
	b := dialRawSmallReceiveBuffer(t, h.server.Address())
	b.login(clientAll, 1, secretOne, sessionB)
	fillUnread(t, h, setup, sessionSetup, b, sessionB)
	b.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogout, Session: sessionB}, nil))
	answer := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogout, Session: sessionB}, nil)

	var received []byte
	chunk := make([]byte, 16<<10)
	heartbeatSent := false
	deadline := time.Now().Add(waitLimit)
	var readErr error
	for time.Now().Before(deadline) {
		_ = b.conn.SetReadDeadline(deadline)
		n, err := b.conn.Read(chunk)
		received = append(received, chunk[:n]...)
		if err != nil {
			readErr = err
			break
		}
		if !heartbeatSent && h.server.Stats().ConnectionsOpen == 1 {
			// The server has closed B's connection: B sends as a client does.
			heartbeatSent = true
			_, _ = b.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat},
				nil))
			time.Sleep(20 * time.Millisecond) // Let the server's kernel answer it.
		}
		time.Sleep(time.Millisecond) // Behind on its reading: a steady pace.
	}
	t.Logf("B read %d bytes then %v; heartbeat sent after the server's close: %v",
		len(received), readErr, heartbeatSent)
	if !bytes.HasSuffix(received, answer) {
		t.Fatalf("B read %d bytes then %v (heartbeat sent after the close: %v), without "+
			"the logout answer at the end", len(received), readErr, heartbeatSent)
	}
}
