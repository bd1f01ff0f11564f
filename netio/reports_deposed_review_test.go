package netio_test

import (
	"testing"
	"time"

	"sequent/core"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/wire"
	"sequent/wal"
)

// TestReportSubscriberOfAFencedPrimaryIsTold (review of merge a09959e, the report
// analogue of TestHunt43MarketDataSubscriberOfADeposedPrimaryIsTold): the merge closes a
// deposed node's market-data subscribers with shutting_down, because a client that only
// reads a stream sends no request and so never meets a not_primary. A report
// subscription (a drop copy, a back office: the same kind of client) taken while the
// node was primary is left open once its shard is fenced: a fenced shard never applies
// or numbers anything again ("It never reverts", core/shard/role.go), while the new
// primary numbers the client's reports, and the subscriber is sent heartbeats only.
// The node does know it is not primary: the same merge makes it refuse a report
// resumption busy there. (A standby's report subscribers are another matter: a standby
// delivers reports as it applies its primary's entries.) Served as cmd/sequent serves a
// node; the test reads up to 30 heartbeats (50 ms apart, more than ten publisher
// rechecks of 100 ms) after the fence for anything telling the subscriber.
func TestReportSubscriberOfAFencedPrimaryIsTold(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	primary, err := shard.New(shard.Config{Epoch: 1, PulseInterval: time.Hour,
		CloseTimeout: time.Second, Logger: testLogger()},
		core.New(core.Config{RulesVersion: core.RulesVersionCurrent}), log)
	if err != nil {
		t.Fatal(err)
	}
	server, _ := startShardServerWith(t, primary, netio.MarketDataConfig{
		Serving: func() bool { return primary.Role() == shard.RolePrimary },
		Fenced:  func() bool { return primary.Role() == shard.RoleFenced }},
		func(config *netio.Config) {
			config.HeartbeatInterval = 50 * time.Millisecond
			config.SilenceTimeout = time.Minute
		})

	c := dialRaw(t, server.Address())
	c.login(clientAll, 1, secretOne, 7)
	c.subscribeReports(7, 0)
	if frame := c.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 {
		t.Fatalf("at the primary: %s status %d, want subscribed", frame.Kind, frame.Status)
	}
	primary.Fence(2, "") // A standby was promoted at epoch 2: it numbers reports now.
	other := dialRaw(t, server.Address())
	other.login(clientAll, 1, secretOne, 8)
	other.subscribeReports(8, 5)
	// The resumption at the fenced node is told as its subscribers are (report44: it was
	// refused busy, for ever at a fenced node): the error frame shutting_down, then the
	// close, so that the client tries its other addresses.
	expectShuttingDownThenClose(t, other, "a report resumption at the fenced node")
	if shutDownWithinHeartbeats(t, c, 7, 30) {
		return // Told, then closed: the client reconnects and resumes at the primary.
	}
	t.Fatalf("the node's shard was fenced (it closes report resumptions now), yet " +
		"the connection subscribed to reports before was sent 30 heartbeats and nothing " +
		"else: its reports stop without a sign while the new primary numbers them")
}

// expectShuttingDownThenClose reads c's next frame, which must be the error frame
// shutting_down, and then the end of the connection.
func expectShuttingDownThenClose(t *testing.T, c *rawConn, what string) {
	t.Helper()
	frame, err := c.nextAny()
	if err != nil {
		t.Fatalf("%s: the connection ended without the error frame shutting_down: %v",
			what, err)
	}
	if frame.Kind != wire.KindError || wire.ErrorCode(frame.Status) != wire.ErrorShuttingDown {
		t.Fatalf("%s: %s frame status %d, want the error frame shutting_down", what,
			frame.Kind, frame.Status)
	}
	if frame, err := c.nextAny(); err == nil {
		t.Fatalf("%s: a %s frame after the error frame, want the close", what, frame.Kind)
	}
}

// shutDownWithinHeartbeats reads c's frames, answering each heartbeat in session, until
// the error frame shutting_down, which must be followed by the close, and reports true;
// false once heartbeatsMax heartbeats came first. The end of the connection before the
// error frame, another error code or any other frame fails the test.
//
// The answer to a heartbeat may fail: the server may have sent more heartbeats, then the
// error frame, and closed, before this reads the first of them (a loaded machine). The
// first answer written after that close draws the server's reset, and the next one fails
// (broken pipe), while the frames the server sent before its close are still there to
// read; so a failed answer is not the test's verdict, the frames read after it are
// (TestShutDownWithinHeartbeatsReadsPastAFailedAnswer).
func shutDownWithinHeartbeats(t *testing.T, c *rawConn, session uint64,
	heartbeatsMax int) bool {
	t.Helper()
	for heartbeats := 0; heartbeats < heartbeatsMax; heartbeats++ {
		frame, err := c.nextAny()
		if err != nil {
			t.Fatalf("the connection ended without the error frame shutting_down: %v", err)
		}
		if frame.Kind == wire.KindError {
			if code := wire.ErrorCode(frame.Status); code != wire.ErrorShuttingDown {
				t.Fatalf("error frame %s, want shutting_down (reconnect and resume)", code)
			}
			if _, err := c.nextAny(); err == nil {
				t.Fatal("the connection stayed open after its error frame")
			}
			return true
		}
		if frame.Kind != wire.KindHeartbeat {
			t.Fatalf("unexpected %s frame", frame.Kind)
		}
		_, _ = c.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat,
			Session: session}, nil))
	}
	return false
}
