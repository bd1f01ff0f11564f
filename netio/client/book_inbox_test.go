package client

import (
	"context"
	"testing"

	"sequent/core/model"
)

// TestBookInboxIsBounded: a FollowBook's inbox never holds more than bookInboxUpdatesMax
// update records however long its reader is away (blocked in GetBook or onChange); past
// the bound it drops the queued updates, keeps the answers (they name the instrument's
// shard), and the next wait says so, which makes FollowBook rebuild from a snapshot.
func TestBookInboxIsBounded(t *testing.T) {
	inbox := &bookInbox{wake: make(chan struct{}, 1)}
	frame := make([]model.MarketDataUpdate, 128)
	answer := &MarketDataSubscribed{Shard: 1}
	inbox.put(MarketDataEvent{Subscribed: answer})
	for range bookInboxUpdatesMax / len(frame) {
		inbox.put(MarketDataEvent{Updates: frame})
	}
	if inbox.overflowed || inbox.updates != bookInboxUpdatesMax {
		t.Fatalf("at the bound: overflowed %v, %d updates held", inbox.overflowed,
			inbox.updates)
	}
	inbox.put(MarketDataEvent{Updates: frame[:1]}) // One more: past the bound.
	if inbox.updates > bookInboxUpdatesMax {
		t.Fatalf("%d updates held, bound %d", inbox.updates, bookInboxUpdatesMax)
	}
	events, overflowed, err := inbox.wait(context.Background())
	if err != nil || !overflowed {
		t.Fatalf("wait after the overflow: overflowed %v, error %v", overflowed, err)
	}
	if len(events) != 2 || events[0].Subscribed != answer || len(events[1].Updates) != 1 {
		t.Fatalf("after the overflow: %d events, want the answer and the one update after it",
			len(events))
	}
	inbox.put(MarketDataEvent{Updates: frame[:1]})
	if _, overflowed, _ := inbox.wait(context.Background()); overflowed {
		t.Fatal("the overflow was reported twice")
	}
}
