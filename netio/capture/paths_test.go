package capture

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/event"
	"sequent/core/model"
	"sequent/tools/natstest"
)

// TestValidateNames: every character class the stream name and the subject prefix
// refuse, with the boundaries (' ' refused, '!' allowed; 0x7f refused, '~' allowed), and
// an empty token anywhere in the prefix.
func TestValidateNames(t *testing.T) {
	for _, test := range []struct {
		stream, prefix string
		refused        string // "" accepted, else the part of the error expected
	}{
		{"SEQUENT", "sequent", ""},
		{"A-b_1!~", "a.b-c.d!~", ""},
		{"", "sequent", "stream name"},
		{"a b", "sequent", "stream name"},
		{"a\x1f", "sequent", "stream name"},
		{"a\x7f", "sequent", "stream name"},
		{"a.b", "sequent", "stream name"},
		{"a*", "sequent", "stream name"},
		{"a>", "sequent", "stream name"},
		{"a/b", "sequent", "stream name"},
		{"a\\b", "sequent", "stream name"},
		{"SEQUENT", "", "subject prefix"},
		{"SEQUENT", "a..b", "subject prefix"},
		{"SEQUENT", ".a", "subject prefix"},
		{"SEQUENT", "a.", "subject prefix"},
		{"SEQUENT", "a b", "subject prefix"},
		{"SEQUENT", "a.\tb", "subject prefix"},
		{"SEQUENT", "a\x7f", "subject prefix"},
		{"SEQUENT", "a.*", "subject prefix"},
		{"SEQUENT", "a.>", "subject prefix"},
		{"SEQUENT", "a.b*", "subject prefix"},
	} {
		err := ValidateNames(test.stream, test.prefix)
		switch {
		case test.refused == "" && err != nil:
			t.Errorf("%q %q refused: %v", test.stream, test.prefix, err)
		case test.refused != "" && (err == nil || !strings.Contains(err.Error(), test.refused)):
			t.Errorf("%q %q: error %v, want one about the %s", test.stream, test.prefix, err,
				test.refused)
		}
	}
}

// TestPublishMarksEachEntry publishes, in one batch, the events of two entries of
// different epochs (a promoted primary's queue may hold a replicated entry then its
// own), one acknowledgement at a time (BatchMax 1): each message carries its own entry's
// epoch in its id, each entry's last event records one lag measurement, and the position
// follows. Publishing again what the stream holds is answered as a duplicate, and a
// publish expecting the wrong last sequence is refused: both end the session with an
// error (the next one resynchronizes from the stream).
func TestPublishMarksEachEntry(t *testing.T) {
	url := natstest.Start(t, t.TempDir(), "127.0.0.1:0").ClientURL()
	c := New(Config{URL: url, BatchMax: 1, Released: func() uint64 { return 100 }})
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	defer c.disconnect()
	var buffer event.Buffer
	buffer.BeginOp(5)
	buffer.AppendAccount(&model.Account{ID: model.U128(1), Ledger: 1, Code: 1}, 7)
	buffer.AppendAccount(&model.Account{ID: model.U128(2), Ledger: 1, Code: 1}, 7)
	buffer.BeginOp(6)
	buffer.AppendAccount(&model.Account{ID: model.U128(3), Ledger: 1, Code: 1}, 7)
	releasedAt := time.Now().UnixNano()
	releases := []release{{end: 2, at: releasedAt - 1, epoch: 1}, {end: 3, at: releasedAt, epoch: 2}}
	if err := c.publish(&buffer, releases); err != nil {
		t.Fatal(err)
	}
	if err := c.awaitAll(); err != nil {
		t.Fatal(err)
	}
	messages := streamMessages(t, url)
	var ids []string
	for _, m := range messages {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, " ") != "0:5:0:1 0:5:1:1 0:6:0:2" {
		t.Fatalf("ids %v: want op 5's two events of epoch 1, then op 6's of epoch 2", ids)
	}
	if _, count := c.LagQuantiles(0.5, 0.99); count != 2 {
		t.Fatalf("%d lag measurements, want one per entry (2)", count)
	}
	if stats := c.Stats(); stats.PublishedOp != 6 || stats.PublishedIndex != 0 ||
		stats.StreamSequence != 3 || stats.Published != 3 || stats.LagOps != 94 ||
		c.caughtUpAt.Load() != releasedAt {
		t.Fatalf("stats %+v, caught up at %d (want %d)", stats, c.caughtUpAt.Load(), releasedAt)
	}

	// The same events again, as if the stream's position were not known: JetStream
	// stores nothing and answers duplicate.
	c.sent, c.expected = position{}, 3
	err := c.publish(&buffer, releases)
	if err == nil {
		err = c.awaitAll()
	}
	if err == nil || !strings.Contains(err.Error(), "duplicate true") {
		t.Fatalf("republishing: %v, want a duplicate answer", err)
	}
	// A new event expecting a stale last sequence: refused by the stream.
	c.inflight = c.inflight[:0]
	buffer.Reset()
	buffer.BeginOp(7)
	buffer.AppendAccount(&model.Account{ID: model.U128(4), Ledger: 1, Code: 1}, 7)
	c.sent, c.expected = position{op: 6}, 2
	err = c.publish(&buffer, []release{{end: 1, epoch: 2}})
	if err == nil {
		err = c.awaitAll()
	}
	if err == nil || !strings.Contains(err.Error(), "capture: publish to SEQUENT_0") {
		t.Fatalf("stale expected sequence: %v, want the stream's refusal", err)
	}
	if got := len(streamMessages(t, url)); got != 3 {
		t.Fatalf("the stream holds %d messages, want still 3", got)
	}
}

// TestStandbyOnlyWatches: a capture whose node is not the primary reads the stream's
// position (to hold the log its successor will need) and publishes nothing; it counts
// everything released as handled (no lag) and reports itself as not publishing.
func TestStandbyOnlyWatches(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	primary := openReplica(t, dir+"/primary")
	primary.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3.
	standby := New(Config{URL: url, Log: primary.log, Released: func() uint64 { return 9 },
		Serving: func() bool { return false }})
	standby.Start()
	defer standby.Close()
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	// The position read, then checked against the log (watch): only then is it held.
	checked := func() bool { op, _ := standby.HeldOp(); return op != 0 }
	for standby.Stats().StreamSequence != 4 || !checked() {
		if time.Now().After(deadline) {
			t.Fatalf("the standby never read and checked the stream's position: %+v",
				standby.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	stats := standby.Stats()
	if stats.Publishing || !stats.Connected || stats.PublishedOp != 3 || stats.LagOps != 0 ||
		stats.Published != 0 || stats.Rebuilds != 0 {
		t.Fatalf("standby stats %+v", stats)
	}
	if handled := standby.ConsumerStats().HandledOp; handled != 9 {
		t.Fatalf("standby handled op %d, want the released op 9", handled)
	}
	if op, ok := standby.HeldOp(); op != 2 || !ok {
		t.Fatalf("standby holds the log after op %d (%v), want after op 2", op, ok)
	}
	standby.Close()
	if got := len(streamMessages(t, url)); got != 4 {
		t.Fatalf("the stream holds %d messages after the standby, want 4", got)
	}
}

// TestSessionStartFailures: a capture that cannot start a session reports why
// (Stats.LastError) and publishes nothing: no NATS server at the URL, a stream it cannot
// create (another stream already captures its subjects), and a stream whose last message
// carries an id capture did not write (it cannot tell where to resume).
func TestSessionStartFailures(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "nats://" + listener.Addr().String()
	listener.Close()
	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER",
		Subjects: []string{"taken.0.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FOREIGN_0",
		Subjects: []string{"foreign.0.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "foreign.0.x", Data: []byte("{}"),
		Header: nats.Header{jetstream.MsgIDHeader: []string{"not-an-event"}}}); err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		name, url, stream, prefix, want string
	}{
		{"no server", closed, "", "", "capture: connect to " + closed},
		{"subjects taken", url, "", "taken", "capture: stream SEQUENT_0"},
		{"a foreign last message", url, "FOREIGN", "foreign", "capture: the last message of FOREIGN_0"},
	} {
		c := New(Config{URL: test.url, Stream: test.stream, SubjectPrefix: test.prefix,
			Released: func() uint64 { return 3 }})
		if stats := runUntilError(t, c, test.name); !strings.Contains(stats.LastError, test.want) ||
			stats.Published != 0 || stats.Connected {
			t.Fatalf("%s: stats %+v, want error %q, nothing published, disconnected",
				test.name, stats, test.want)
		}
	}
}
