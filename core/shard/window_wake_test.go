package shard

import (
	"testing"
	"time"

	"sequent/core/model"
)

// TestQueuedRequestsTakenWhenTheWindowOpens: requests queued while the in-flight window
// is full (durability held) are taken as soon as the window opens, with no other
// submission and no pulse to wake the sequencer. Before, the turn that found the window
// full took nothing, the release after it opened the window, and the sequencer went to
// sleep with the requests in the ring: they waited for the next submission or pulse
// (100 ms by default; here an hour, so the test waits out its hang guard).
func TestQueuedRequestsTakenWhenTheWindowOpens(t *testing.T) {
	ts := startTradingShard(t, nil)
	ts.fillRing()
	queued := ts.expected
	// The sequencer has consumed every wake-up the queued requests sent (it runs a turn
	// that finds the window full, then waits for durability).
	deadline := time.Now().Add(waitMax)
	for len(ts.shard.wake) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sequencer never woke")
		}
		time.Sleep(time.Millisecond)
	}
	ts.log.Release()
	replies := ts.replies.waitFor(t, queued)
	for _, reply := range replies[len(replies)-queued:] {
		if reply.Status != model.StatusOK {
			t.Fatalf("queued write answered %s", reply.Status)
		}
	}
}
