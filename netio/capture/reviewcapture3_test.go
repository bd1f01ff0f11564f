package capture

import (
	"context"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"sequent/tools/natstest"
)

// Review of session 32's change capture fixes (reviewcapture3).

// TestGapMarkerOfADiscardedHistory: the old primary (epoch 1) published ops 2 and 3
// (accounts 1-4); the stream lost op 3's last message and the old primary's next session
// published capture_gap through op 3, its released op, as the stream's last message.
// An async failover then promoted a standby that had ops 1 and 2 only, which wrote its
// own op 3 (account 7, epoch 2). The stream holds op 3's first event of the discarded
// history (account 3): the promoted node must void it (capture_superseded) and publish
// its own op 3. While a capture_gap carried no epoch it counted as agreeing with any
// log, and the new primary resumed after op 3: account 3 stayed in the stream as if it
// happened, account 7 was never published (found by the review, older than session 32;
// fixed by the gap's epoch: id shard:op:gap:epoch, the entry's at its op).
func TestGapMarkerOfADiscardedHistory(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3: messages 1-4.
	onStream(t, url, func(s jetstream.Stream) error {
		return s.DeleteMsg(context.Background(), 4) // Op 3's last event (account 4).
	})
	old.serve(url, 1) // Publishes capture_gap through op 3 (the lost position).
	if messages := streamMessages(t, url); len(gapMarkers(messages)) != 1 ||
		messages[len(messages)-1].Kind != "capture_gap" {
		t.Fatalf("the old primary's stream %+v: want it to end with capture_gap", messages)
	}
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2)
	stats := promoted.serve(url, 2, []uint64{7}) // Its own op 3, published by its capture.
	messages := streamMessages(t, url)
	kinds := make([]string, 0, len(messages))
	for _, m := range messages {
		kinds = append(kinds, m.Kind)
	}
	if stats.LastError != "" || !slices.Contains(kinds, "capture_superseded") ||
		!slices.Contains(accountsCreated(messages), "7") {
		t.Fatalf("stats %+v; kinds %v; accounts %v: want op 3 of epoch 1 superseded, then "+
			"account 7", stats, kinds, accountsCreated(messages))
	}
}
