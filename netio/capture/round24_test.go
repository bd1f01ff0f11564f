package capture

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/tools/natstest"
)

// Tests for the survivors of the sample of seed 20261212 (RESULTS.md, second round of
// netio/capture and core/node/router).

// TestDemotionIsNotAnError: a session that ends because the node stopped being the
// primary is not a failure: the next session watches as a standby, and LastError (shown
// by /healthz and the status page) stays empty.
func TestDemotionIsNotAnError(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	alone := openReplica(t, dir+"/alone")
	alone.serve("", 1, []uint64{1, 2})
	var calls atomic.Int64
	c := New(Config{URL: url, Log: alone.log, Machine: testMachine,
		// Primary for Start's reading of the role (primaryAtStart) and the first session's,
		// then demoted.
		Released: func() uint64 { return 2 }, Serving: func() bool { return calls.Add(1) <= 2 }})
	c.Start()
	defer c.Close()
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for calls.Load() < 4 {                  // The next session has asked for the role: the first one ended.
		if time.Now().After(deadline) {
			t.Fatal("no second session")
		}
		time.Sleep(time.Millisecond)
	}
	if text := c.lastError.Load(); text != nil {
		t.Fatalf("a demotion was reported as an error: %s", *text)
	}
}

// TestPromotionOverAHistoryItNeverShared: the promoted node's log disagrees with every
// event in the stream, which still holds its first message: capture publishes
// capture_superseded resuming from the very start, then its whole history.
func TestPromotionOverAHistoryItNeverShared(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3; epoch 1.
	other := openReplica(t, dir+"/other")
	// Its own ops 1 to 4, epoch 2 (beyond the stream's op 3, so that serve waits for them).
	stats := other.serve(url, 2, []uint64{5, 6}, []uint64{7}, []uint64{8})
	messages := streamMessages(t, url)
	if stats.Superseded != 1 || stats.LastError != "" || len(messages) != 9 ||
		messages[4].Kind != "capture_superseded" || messages[4].FromOp != 2 ||
		messages[4].ToOp != 3 || messages[4].Op != 0 ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "3", "4", "5", "6", "7", "8"}) {
		t.Fatalf("stats %+v; messages %+v", stats, messages)
	}
}

// TestDivergenceWalkSkipsDeletedMessages: as TestPromotionAfterDivergence, with the
// voided op's first message deleted from the stream: the walk back skips it (it names
// nothing) and resumes after op 2, the newest message that stands. Taking the deleted
// message for one that stands would resume from the start and publish op 2's events
// again, which JetStream drops as duplicates for good.
func TestDivergenceWalkSkipsDeletedMessages(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Messages 1-4: ops 2 and 3.
	onStream(t, url, func(stream jetstream.Stream) error {
		return stream.DeleteMsg(context.Background(), 3) // Op 3's first event.
	})
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2)
	// Ops 3 and 4 of epoch 2 (serve waits until capture has handled the last op; one
	// beyond the old primary's last stored op makes that wait end only once the new
	// history is published, whatever counts as handled before the position is checked).
	stats := promoted.serve(url, 2, []uint64{5, 6}, []uint64{7})
	messages := streamMessages(t, url)
	if stats.Superseded != 1 || stats.LastError != "" ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "4", "5", "6", "7"}) {
		t.Fatalf("stats %+v; messages %+v", stats, messages)
	}
	for _, m := range messages {
		if m.Kind == "capture_superseded" && (m.Op != 2 || m.FromOp != 3 || m.ToOp != 3) {
			t.Fatalf("superseded marker %+v: want resuming after op 2, voiding op 3", m)
		}
	}
}

// TestSchemaOneEventAgrees: the stream's last message is an event of schema 1, whose id
// has no epoch (shard:op:index): it cannot be checked against the log and counts as
// agreeing, so capture resumes after it without a capture_superseded message.
func TestSchemaOneEventAgrees(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	alone := openReplica(t, dir+"/alone")
	alone.serve("", 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3; epoch 1.
	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: StreamDefault + "_0",
		Subjects: []string{"sequent.0.>"}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"0:2:0", "0:2:1"} { // Op 2's events, as schema 1 named them.
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "sequent.0.old", Data: []byte("{}"),
			Header: nats.Header{jetstream.MsgIDHeader: []string{id}}}); err != nil {
			t.Fatal(err)
		}
	}
	c := New(Config{URL: url, Log: alone.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 1 }})
	c.Start()
	defer c.Close()
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for c.Stats().StreamSequence < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("op 3 never published: %+v", c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if stats := c.Stats(); stats.Superseded != 0 || stats.StreamSequence != 4 ||
		stats.PublishedOp != 3 {
		t.Fatalf("stats %+v: want op 3's two events after the schema-1 ones", stats)
	}
}
