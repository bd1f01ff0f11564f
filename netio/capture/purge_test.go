package capture

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/tools/natstest"
)

// operatorJetStream connects to the nats-server at url as an operator's tool or a
// consumer would, apart from any capture; the caller closes the connection (tests count
// the server's connections, so it must not outlive its use).
func operatorJetStream(t *testing.T, url string) (jetstream.JetStream, func()) {
	t.Helper()
	connection, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(connection)
	if err != nil {
		connection.Close()
		t.Fatal(err)
	}
	return js, connection.Close
}

// onStream runs use on the shard's stream (a purge, a deletion, a read) from a
// connection of its own, as an operator's tool would, failing the test on its error.
func onStream(t *testing.T, url string, use func(jetstream.Stream) error) {
	t.Helper()
	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	stream, err := js.Stream(context.Background(), StreamDefault+"_0")
	if err == nil {
		err = use(stream)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// awaitSequence waits until c has stored the stream's message sequence, or reports an
// error (then the caller's checks say what went wrong).
func awaitSequence(t *testing.T, c *Capture, sequence uint64) Stats {
	t.Helper()
	return awaitStats(t, c, func(s Stats) bool { return s.StreamSequence >= sequence })
}

// lostStream is the set-up of the tests of a stream that lost messages: a node alone
// whose log holds ops 1 (grants), 2 (accounts 1, 2), 3 (3, 4) and 4 (5, 6), a stream on
// an embedded nats-server, and a capture Config whose released op the test sets
// (3 at the start). The shard it stands for had recovered op 3 when it started (its
// RecoveredOp: op 4 came later), so a lost position is settled without waiting for op 4.
type lostStream struct {
	url      string
	config   Config
	released *atomic.Uint64
}

func newLostStream(t *testing.T) lostStream {
	t.Helper()
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	alone := openReplica(t, dir+"/alone")
	alone.serve("", 1, []uint64{1, 2}, []uint64{3, 4}, []uint64{5, 6})
	released := &atomic.Uint64{}
	released.Store(3)
	return lostStream{url: url, released: released, config: Config{URL: url, Log: alone.log,
		Machine: testMachine, Released: released.Load, RecoveredOp: 3,
		Epoch: func() uint64 { return 1 }}}
}

// run starts a capture, waits until it stored the stream's message sequence (or failed)
// and stops it. The stats are read once it stopped: a capture_gap is counted just after
// its acknowledgement moved the sequence.
func (l lostStream) run(t *testing.T, sequence uint64) Stats {
	t.Helper()
	c := New(l.config)
	c.Start()
	stats := awaitSequence(t, c, sequence)
	c.Close()
	if stats.LastError == "" {
		stats = c.Stats()
	}
	return stats
}

// awaitGap waits until c has stored the stream's message sequence and counted a gap
// marker (counted just after its acknowledgement moved the sequence), or reports an
// error.
func awaitGap(t *testing.T, c *Capture, sequence uint64) Stats {
	t.Helper()
	return awaitStats(t, c, func(s Stats) bool { return s.StreamSequence >= sequence && s.Gaps > 0 })
}

// TestStreamThatLostItsLastMessage: capture published ops 2 and 3 (messages 1-4), then
// the stream lost its last message while capture was stopped: an operator purged it, or
// deleted that message (a max age expires messages the same way). JetStream keeps the
// last sequence (4) and answers "not found" for its message, so the position is
// unknown. The restarted capture must not fail at every session for good (it did: no
// message was ever published again): it publishes capture_gap naming the ops consumers
// may have missed, from the op of the newest message left (its later events may be
// among the removed; op 1 when none is left) to the released op (nothing beyond it was
// published), resumes after that, and publishes the next op released (4) as usual. A
// standby meanwhile watches without failing and holds the log from the newest message
// left that its log agrees with (all of it when none is left).
func TestStreamThatLostItsLastMessage(t *testing.T) {
	cases := []struct {
		name     string
		remove   func(jetstream.Stream) error
		gapFrom  uint64
		accounts []string // Of the messages left, then op 4's.
		// standbyHeld is the op after which a standby holds the log.
		standbyHeld uint64
	}{
		{"purged", func(s jetstream.Stream) error { return s.Purge(context.Background()) },
			1, []string{"5", "6"}, 0},
		{"last message deleted", func(s jetstream.Stream) error {
			return s.DeleteMsg(context.Background(), 4)
		}, 3, []string{"1", "2", "3", "5", "6"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lost := newLostStream(t)
			url, config, released := lost.url, lost.config, lost.released
			if stats := lost.run(t, 4); stats.LastError != "" || stats.PublishedOp != 3 {
				t.Fatalf("first run: %+v", stats)
			}
			onStream(t, url, tc.remove)

			// A standby watching the stream reads it without failing, and holds the log
			// from no later than the newest message left (all of it when none is).
			watching := config
			watching.Serving = func() bool { return false }
			standby := New(watching)
			standby.Start()
			stats := awaitSequence(t, standby, 4)
			standby.Close()
			if held, _ := standby.HeldOp(); stats.LastError != "" || held != tc.standbyHeld {
				t.Fatalf("standby: %+v, holding the log after op %d, want after op %d", stats,
					held, tc.standbyHeld)
			}

			second := New(config)
			second.Start()
			defer second.Close()
			stats = awaitGap(t, second, 5) // The gap marker.
			if stats.LastError != "" || stats.Gaps != 1 || stats.PublishedOp != 3 {
				t.Fatalf("after the removal: %+v; want capture_gap through op 3", stats)
			}
			released.Store(4) // Op 4 is released now: its two events follow the marker.
			stats = awaitSequence(t, second, 7)
			messages := streamMessages(t, url)
			gaps := gapMarkers(messages)
			if stats.LastError != "" || stats.PublishedOp != 4 || len(gaps) != 1 ||
				gaps[0].ID != "0:3:gap:1" || gaps[0].FromOp != tc.gapFrom || gaps[0].ToOp != 3 ||
				!slices.Equal(accountsCreated(messages), tc.accounts) {
				t.Fatalf("stats %+v; messages %+v", stats, messages)
			}
		})
	}
}

// awaitStats waits until done holds for c's stats, or c reports an error (then the
// caller's checks say what went wrong). When its hang guard fires it shows where every
// publisher was waiting: a stall seen once under load is diagnosed from that output.
func awaitStats(t *testing.T, c *Capture, done func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for {
		stats := c.Stats()
		if done(stats) || stats.LastError != "" {
			return stats
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reached: %+v\n%s", stats, publisherStacks())
		}
		time.Sleep(time.Millisecond)
	}
}

// publisherStacks returns the stacks of the goroutines running a Capture's methods.
func publisherStacks() string {
	const stacksBytesMax = 1 << 20
	buffer := make([]byte, stacksBytesMax)
	buffer = buffer[:runtime.Stack(buffer, true)]
	var publishers []string
	for _, stack := range strings.Split(string(buffer), "\n\n") {
		if strings.Contains(stack, "capture.(*Capture)") {
			publishers = append(publishers, stack)
		}
	}
	return strings.Join(publishers, "\n\n")
}

// TestStreamThatLostItsLostPositionMarker: a session found the stream purged and
// published capture_gap 0:3:gap (message 5); nothing was released since, and the stream
// was purged again within the duplicate window. The next session's marker for the same
// released op has the same id, so JetStream answers it as a duplicate of message 5,
// which is exactly the stream's lost last message: the position is known again (after
// op 3) and publishing must go on. It failed every session instead ('duplicate true'),
// for the whole duplicate window, and no event was published meanwhile.
func TestStreamThatLostItsLostPositionMarker(t *testing.T) {
	lost := newLostStream(t)
	url, config, released := lost.url, lost.config, lost.released
	run := func(sequence uint64) Stats { return lost.run(t, sequence) }
	purge := func(s jetstream.Stream) error { return s.Purge(context.Background()) }
	if stats := run(4); stats.LastError != "" {
		t.Fatalf("first run: %+v", stats)
	}
	onStream(t, url, purge)
	if stats := run(5); stats.LastError != "" || stats.Gaps != 1 {
		t.Fatalf("after the first purge: %+v", stats)
	}
	onStream(t, url, purge)

	third := New(config)
	third.Start()
	defer third.Close()
	// The duplicate acknowledged settles the position after op 3 (checked). The marker
	// was stored (and counted) by the session before: no event was lost since, and none
	// may be counted again.
	waitUntil(t, "the lost marker acknowledged as a duplicate (op 3 checked)", func() bool {
		return third.checkedOp.Load() >= 3 || third.Stats().LastError != ""
	}, func() any { return third.Stats() })
	if stats := third.Stats(); stats.LastError != "" || stats.Gaps != 0 {
		t.Fatalf("after the second purge: %+v; want no error, no gap counted", stats)
	}
	released.Store(4) // Op 4's two events follow the lost marker (messages 6, 7).
	stats := awaitSequence(t, third, 7)
	messages := streamMessages(t, url)
	if stats.LastError != "" || stats.PublishedOp != 4 ||
		!slices.Equal(accountsCreated(messages), []string{"5", "6"}) {
		t.Fatalf("stats %+v; messages %+v", stats, messages)
	}
}

// TestNewestHeldAfterManyRemovals: the stream's last message and the 1000 before it
// were removed together (a purge of one subject: an operator's filler, or one kind of
// event), so the newest message left (op 3's last event) is 1000 sequences before the
// last. Finding it must cost JetStream a bounded number of requests, not one or two per
// removed message: a standby does it at every poll, a primary at every session. The
// walk back asked for every removed sequence (over 2000 requests here).
func TestNewestHeldAfterManyRemovals(t *testing.T) {
	const removed = 1000
	lost := newLostStream(t)
	url, config := lost.url, lost.config
	if stats := lost.run(t, 4); stats.LastError != "" {
		t.Fatalf("first run: %+v", stats)
	}
	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	ctx := context.Background()
	for range removed {
		if _, err := js.Publish(ctx, SubjectPrefixDefault+".0.filler", nil); err != nil {
			t.Fatal(err)
		}
	}
	onStream(t, url, func(s jetstream.Stream) error {
		return s.Purge(ctx, jetstream.WithPurgeSubject(SubjectPrefixDefault+".0.filler"))
	})
	requests := func() uint64 {
		info, err := js.AccountInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.API.Total
	}
	before := requests()
	second := New(config)
	second.Start()
	defer second.Close()
	stats := awaitSequence(t, second, removed+5) // The gap marker.
	used := requests() - before
	messages := streamMessages(t, url)
	last := messages[len(messages)-1]
	if stats.LastError != "" || used > 100 || last.Kind != "capture_gap" || last.FromOp != 3 ||
		last.ToOp != 3 {
		t.Fatalf("%d JetStream requests; stats %+v; last message %+v", used, stats, last)
	}
}

// TestLostMessageAfterAGapMarker: the newest message left is a capture_gap through op 3
// (0:3:gap, message 5), the shard released nothing since, and the message after it (an
// operator's test message, 6) was deleted. Op 3 is settled by the marker and nothing
// later was released, so no event of this node can be missing: capture resumes after
// the marker and publishes op 4 once released. It published a second 0:3:gap instead,
// which JetStream answered as a duplicate of message 5: every session failed for the
// duplicate window.
func TestLostMessageAfterAGapMarker(t *testing.T) {
	lost := newLostStream(t)
	url, config, released := lost.url, lost.config, lost.released
	run := func(sequence uint64) Stats { return lost.run(t, sequence) }
	if stats := run(4); stats.LastError != "" {
		t.Fatalf("first run: %+v", stats)
	}
	onStream(t, url, func(s jetstream.Stream) error { return s.Purge(context.Background()) })
	if stats := run(5); stats.LastError != "" || stats.Gaps != 1 {
		t.Fatalf("after the purge: %+v", stats)
	}
	onStream(t, url, func(s jetstream.Stream) error {
		connection, err := nats.Connect(url)
		if err != nil {
			return err
		}
		defer connection.Close()
		js, _ := jetstream.New(connection)
		if _, err := js.Publish(context.Background(), SubjectPrefixDefault+".0.test", nil); err != nil {
			return err
		}
		return s.DeleteMsg(context.Background(), 6)
	})

	third := New(config)
	third.Start()
	defer third.Close()
	// Settled at the marker (op 3 checked), then op 4 is released: its two events
	// follow the marker (messages 7, 8).
	awaitStats(t, third, func(s Stats) bool { return s.Connected && s.LagOps == 0 })
	released.Store(4)
	stats := awaitSequence(t, third, 8)
	messages := streamMessages(t, url)
	if stats.LastError != "" || stats.PublishedOp != 4 || stats.Gaps != 0 ||
		!slices.Equal(accountsCreated(messages), []string{"5", "6"}) {
		t.Fatalf("stats %+v; messages %+v", stats, messages)
	}
}
