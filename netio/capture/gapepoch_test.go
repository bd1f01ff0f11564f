package capture

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"sequent/tools/natstest"
)

// TestDeposedPrimaryReadsItsSuccessorsGap: the old primary (epoch 1) published ops 2 to
// 4 (accounts 1-5). The promoted standby (epoch 2, ops 1 and 2 only) voided ops 3 and 4
// and published its own op 3 (account 7); the stream lost that event, so its next
// session published capture_gap through op 3, of its entry there (epoch 2). The deposed
// primary, not fenced yet, believes it serves: the stream's last message comes from a
// newer epoch, so it must publish nothing. Before gaps carried the epoch, the marker
// counted as agreeing with any log: the deposed primary resumed after op 3 and
// published its op 4 over its successor's history (its copy of account 5's event,
// dropped as a duplicate within JetStream's window only).
func TestDeposedPrimaryReadsItsSuccessorsGap(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}, []uint64{5}) // Messages 1-5.
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2)
	promoted.serve(url, 2, []uint64{7}) // capture_superseded (6), account 7 (7).
	onStream(t, url, func(s jetstream.Stream) error {
		return s.DeleteMsg(context.Background(), 7) // Account 7's event.
	})
	// Its next session, with its released op fixed at 3 (a capture without a shard; one
	// just restarted waits until its shard counts op 3 released: TestLostPositionAfterARestart).
	successor := New(Config{URL: url, Log: promoted.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 2 }})
	successor.Start()
	waitUntil(t, "the successor's capture_gap", func() bool {
		return successor.Stats().Gaps == 1
	}, func() any { return successor.Stats() })
	successor.Close()
	messages := streamMessages(t, url)
	if last := messages[len(messages)-1]; last.Kind != "capture_gap" || last.ToOp != 3 {
		t.Fatalf("the promoted primary's stream %+v: want it to end with capture_gap "+
			"through op 3", messages)
	}

	deposed := New(Config{URL: url, Log: old.log, Machine: testMachine,
		Released: func() uint64 { return 4 }, Epoch: func() uint64 { return 1 }})
	deposed.Start()
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for {
		text := deposed.lastError.Load()
		if text != nil && strings.Contains(*text, "newer epoch") {
			break
		}
		after := streamMessages(t, url)
		if text != nil || len(after) != len(messages) || time.Now().After(deadline) {
			deposed.Close()
			t.Fatalf("the deposed capture never saw the newer epoch (%+v); it published %+v",
				deposed.Stats(), after[len(messages):])
		}
		time.Sleep(10 * time.Millisecond)
	}
	deposed.Close()
	if after := streamMessages(t, url); len(after) != len(messages) {
		t.Fatalf("the deposed primary published %+v", after[len(messages):])
	}
}

// TestStandbyWatchesAGapOfADiscardedHistory: the stream ends with the old primary's
// capture_gap through op 3 (epoch 1's entry there); the new primary (epoch 2) wrote its
// own op 3 and has published nothing yet (NATS was down). Its standby, which holds that
// op 3, must not count the marker as checked: its successor as primary will void it, and
// needs the log after op 2 to publish its history. Before gaps carried the epoch, the
// standby's watch took the marker as agreeing, and its log hold moved past op 2.
func TestStandbyWatchesAGapOfADiscardedHistory(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3: messages 1-4.
	onStream(t, url, func(s jetstream.Stream) error {
		return s.DeleteMsg(context.Background(), 4) // Op 3's last event (account 4).
	})
	old.serve(url, 1) // Publishes capture_gap through op 3.
	standby := openReplica(t, dir+"/standby")
	standby.copyFrom(old, 2)
	standby.serve("", 2, []uint64{7}) // The new primary's op 3, as its standby holds it.

	c := New(Config{URL: url, Log: standby.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Serving: func() bool { return false },
		Epoch: func() uint64 { return 2 }})
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	defer c.disconnect()
	for poll := 0; poll < 2; poll++ { // The second poll checks the unchecked message again.
		if err := c.readPosition(); err != nil {
			t.Fatal(err)
		}
		if err := c.watch(); err != nil {
			t.Fatal(err)
		}
	}
	if held, _ := c.HeldOp(); c.last.at.op != 3 || c.checkedOp.Load() != 0 || held != 0 {
		t.Fatalf("last message %+v, checked op %d, log held after op %d: want the gap "+
			"through op 3 read and unchecked, all of the log held", c.last,
			c.checkedOp.Load(), held)
	}
}
