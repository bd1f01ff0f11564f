package netio_test

import (
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestShutdownWithAPartialFrameIsNoProtocolError: a server that stops closes every
// connection, including one whose client was in the middle of sending a frame (a large
// request is many segments). The frame was cut by the server, not by the client: the
// server must not answer the close with truncated_frame, a protocol error that a client
// may not retry (wire.ErrorCode.Retry), which made the Go client stop for good on a
// graceful restart of its server instead of reconnecting and resending. Here one write
// carries a whole request and the first bytes of the next, so the reply to the first
// shows the server read the partial one too.
func TestShutdownWithAPartialFrameIsNoProtocolError(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	whole := requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1))
	next := requestFrame(1, 2, model.OperationLookupAccounts, encodeIDs(2))
	r.write(append(whole, next[:len(next)-3]...))
	if reply := r.next(); reply.Number != 1 {
		t.Fatalf("reply to request %d, want 1", reply.Number)
	}
	if err := h.server.Shutdown(background(t)); err != nil {
		t.Fatal(err)
	}
	for {
		frame, err := r.nextAny()
		if err != nil {
			return // Closed: the client reconnects and resends request 2.
		}
		code := wire.ErrorCode(frame.Status)
		if frame.Kind == wire.KindError && !code.Retryable() {
			t.Fatalf("server stopping answered a frame it cut with %s, which a client "+
				"may not retry", code)
		}
	}
}
