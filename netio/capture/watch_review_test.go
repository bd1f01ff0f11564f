package capture

import "testing"

// TestStandbyTrailingTheStreamStillHoldsACheckedPosition: an async standby under a steady
// load often trails its primary's stream: each time it reads the stream's last message
// (once a second), its primary has already published an op its log has not received yet.
// The position read the poll before, which its log has reached since, is a message the
// stream holds and can be checked now, as the successor's settleDivergence would. Watch
// used to check only the message just read: a standby one entry behind the stream at
// every poll never checked a position and held all of its log for good (until the shard's
// LogHoldBytesMax, past which the hold is dropped altogether).
func TestStandbyTrailingTheStreamStillHoldsACheckedPosition(t *testing.T) {
	dir := t.TempDir()
	primary := openReplica(t, dir+"/primary")
	// Ops 1 (grants) and 2 to 7, epoch 1.
	primary.serve("", 1, []uint64{1}, []uint64{2}, []uint64{3}, []uint64{4}, []uint64{5},
		[]uint64{6})
	standby := openReplica(t, dir+"/standby")
	c := New(Config{Log: standby.log, Released: func() uint64 { return standby.log.Durable() },
		Epoch: func() uint64 { return 1 }, Serving: func() bool { return false }})
	for op := uint64(2); op <= 7; op++ {
		standby.copyRange(primary, op-2, op-1) // The standby one entry behind the stream.
		c.last = messageName{at: position{op: op}, epoch: 1}
		c.storePosition(c.last.at, op) // One message per op: sequence op.
		if err := c.watch(); err != nil {
			t.Fatal(err)
		}
	}
	// At the last poll the log held op 6, the position read at the poll before.
	if op, held := c.HeldOp(); op != 5 || !held {
		t.Fatalf("a standby one entry behind the stream at every poll holds the log after "+
			"op %d (%v; 0: all of it), want after op 5 (the previous poll's position, in its log since)",
			op, held)
	}
}
