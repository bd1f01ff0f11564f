package client

import (
	"log/slog"
	"testing"

	"sequent/netio/wire"
)

// TestLiveSubscriptionWithNothingHandledResumesFromNext: a live subscription (Subscribe
// from 0) answered with next_sequence 4 (reports 1..3 were made before it) disconnects
// before it has handled any report. Its resumption must ask from 4, so that the reports
// made while it was disconnected are replayed; before, it asked from 0 again (no replay),
// and they were skipped with no sign (no ReportsLost: a live subscription is told no
// oldest_sequence). The first Subscribe's caller sees next in NextSequence.
func TestLiveSubscriptionWithNothingHandledResumesFromNext(t *testing.T) {
	s := &subscription{live: true, ready: make(chan Subscribed, 1),
		status: make(chan error, 1), handler: func(Report) {}}
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, subscription: s}
	c.mu.Lock()
	s.frame(c.session) // The first Subscribe's frame: from 0.
	c.mu.Unlock()
	if err := c.handle(subscribedFrame(4, 0), 1); err != nil {
		t.Fatal(err)
	}
	if subscribed := <-s.ready; subscribed.NextSequence != 4 {
		t.Fatalf("Subscribed.NextSequence %d, want 4", subscribed.NextSequence)
	}
	// The reconnector installs connection 2 and builds the resumption.
	c.mu.Lock()
	c.generation++
	frame := s.frame(c.session)
	c.mu.Unlock()
	var subscribe wire.Subscribe
	subscribe.Decode(frame[wire.HeaderSize:])
	if subscribe.FromSequence != 4 {
		t.Fatalf("the resumption of a live subscription answered next_sequence 4, with "+
			"nothing handled, asks from %d, want 4 (0 skips the reports made while "+
			"disconnected)", subscribe.FromSequence)
	}
}

// TestLiveSubscriptionFromAnOlderServerStaysLive: a server that predates next_sequence
// answers a live subscription with aux 0; the client keeps asking for live reports only
// (from 0) until it has handled one, as before (it cannot know where to resume from).
func TestLiveSubscriptionFromAnOlderServerStaysLive(t *testing.T) {
	s := &subscription{live: true, ready: make(chan Subscribed, 1),
		status: make(chan error, 1), handler: func(Report) {}}
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, subscription: s}
	c.mu.Lock()
	s.frame(c.session)
	c.mu.Unlock()
	if err := c.handle(subscribedFrame(0, 0), 1); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	frame := s.frame(c.session)
	c.mu.Unlock()
	var subscribe wire.Subscribe
	subscribe.Decode(frame[wire.HeaderSize:])
	if subscribe.FromSequence != 0 {
		t.Fatalf("after aux 0 the resumption asks from %d, want 0", subscribe.FromSequence)
	}
}
