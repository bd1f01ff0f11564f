package netio_test

// Session 41 (errdrain): a connection's last frame (an error frame, or the logout answer)
// reaches a client that is behind on its reading, within the outbound bound
// (PROTOCOL.md sections 6 and 9): the server lets gnet's buffer drain before it closes,
// bounded in time.

import (
	"testing"
	"time"

	"sequent/netio"
	"sequent/netio/wire"
)

// TestLoopLastFrameReachesClientBehindOnReading: the last frame the connection's own
// loop writes (an error frame for a malformed frame, the answer to a logout) waits in
// gnet's buffer behind 16 MiB of replies B has not read; B, reading everything now, must
// find it after those replies, as its last frame. FAILS without closeOrDrain in
// OnTraffic (the loop returned gnet.Close, whose close sends what the socket takes at
// once and drops the rest of gnet's buffer, the last frame with it).
func TestLoopLastFrameReachesClientBehindOnReading(t *testing.T) {
	const sessionSetup, sessionB = 1, 7
	for _, c := range []struct {
		name  string
		frame wire.Frame // What B sends once its replies wait unread.
		want  wire.Kind
	}{
		{"error frame", wire.Frame{Kind: wire.KindHeartbeat, Status: 1}, wire.KindError},
		{"logout", wire.Frame{Kind: wire.KindLogout, Session: sessionB}, wire.KindLogout},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{config: func(config *netio.Config) {
				config.OutboundBytesMax = 64 << 20 // The unread replies stay within it.
				config.DrainTimeout = waitLimit    // A loaded machine may take seconds to read it all.
				config.SilenceTimeout = waitLimit  // Only B's frame may close B.
			}})
			setup := dialRaw(t, h.server.Address())
			b := dialRawSmallReceiveBuffer(t, h.server.Address())
			b.login(clientAll, 1, secretOne, sessionB)
			last := fillUnread(t, h, setup, sessionSetup, b, sessionB)
			b.write(wire.AppendFrame(nil, &c.frame, nil))

			var replies uint64
			frame := b.next()
			for frame.Kind == wire.KindReply || frame.Kind == wire.KindHeartbeat {
				if frame.Kind == wire.KindReply {
					replies++
				}
				frame = b.next()
			}
			if frame.Kind != c.want {
				t.Fatalf("B: %s (status %d) after %d replies, want %s", frame.Kind,
					frame.Status, replies, c.want)
			}
			if c.want == wire.KindError &&
				wire.ErrorCode(frame.Status) != wire.ErrorReservedNotZero {
				t.Fatalf("B: error %s, want reserved_not_zero", wire.ErrorCode(frame.Status))
			}
			if replies != last {
				t.Fatalf("B: %d replies before its last frame, want %d", replies, last)
			}
			expectNothingMore(t, b)
		})
	}
}

// TestDrainingConnectionClosedWhenUnread: a client that has stopped reading must not keep
// a draining connection (and gnet's buffer of it) open for ever: B's error frame waits
// behind 16 MiB of replies B never reads, and the server aborts the connection once
// Config.DrainTimeout has passed (here 200 ms; 5 s by default). FAILS (after the minute of
// waitFor) without the timeout in drainOverdue. It asserts no duration, only that the
// close comes.
func TestDrainingConnectionClosedWhenUnread(t *testing.T) {
	const sessionSetup, sessionB = 1, 7
	h := newHarness(t, harnessOptions{config: func(config *netio.Config) {
		config.OutboundBytesMax = 64 << 20
		config.DrainTimeout = 200 * time.Millisecond
		config.SilenceTimeout = waitLimit // Only the takeover may close B.
	}})
	setup := dialRaw(t, h.server.Address())
	b := dialRawSmallReceiveBuffer(t, h.server.Address())
	b.login(clientAll, 1, secretOne, sessionB)
	fillUnread(t, h, setup, sessionSetup, b, sessionB)
	taker := dialRaw(t, h.server.Address())
	taker.login(clientAll, 1, secretOne, sessionB)
	// Setup and the taker stay; B, never read, goes.
	waitFor(t, "B's connection closed", func() bool {
		return h.server.Stats().ConnectionsOpen == 2
	})
}
