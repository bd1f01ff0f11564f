package client

import (
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestFirstSubscribeResumptionRefusedBusyIsRetried (review reviewclient2, session 38,
// second round; FAILS at main 7b4ec5e, fixed on this branch in subscribedLocked). The first Subscribe's connection is lost after
// its replay handed reports 1..3 to the handler; the resumption on connection 2 (from
// 4) is answered busy, as every resumption may be right after a failover when every
// client reconnects at once. subscribedLocked treats the answer as a resumption's for
// the gaps (askedFrom != callerFrom) but decides the retry on established alone: the
// subscription is dropped and Subscribe returns busy, though the handler was given
// reports. A caller that sends Subscribe again from the sequence it asked (busy reads as
// "nothing happened") has the handler given 1..3 a second time. A resumption refused
// busy is retried on its connection, as after an established subscription, and the
// caller keeps waiting for the replay to complete.
func TestFirstSubscribeResumptionRefusedBusyIsRetried(t *testing.T) {
	s := &subscription{callerFrom: 1, ready: make(chan Subscribed, 1),
		status: make(chan error, 1), handler: func(Report) {}}
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, subscription: s}
	var retries []func()
	testHookAfterDelay = func(_ time.Duration, retry func()) { retries = append(retries, retry) }
	t.Cleanup(func() { testHookAfterDelay = nil })
	c.mu.Lock()
	s.frame(c.session) // Subscribe's own frame, from 1, on connection 1.
	c.mu.Unlock()
	for sequence := uint64(1); sequence <= 3; sequence++ {
		if err := c.handle(&wire.Frame{Kind: wire.KindReport, Aux: sequence}, 1); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	c.generation++ // install: connection 2, resuming from 4.
	s.frame(c.session)
	c.mu.Unlock()
	refused := &wire.Frame{Kind: wire.KindSubscribed, Status: uint32(model.StatusBusy)}
	if err := c.handle(refused, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.status:
		t.Fatalf("Subscribe returns %v after its handler was given reports 1..3: sent again "+
			"from 1, it hands them over twice", err)
	default:
	}
	c.mu.Lock()
	kept := c.subscription == s
	c.mu.Unlock()
	if !kept || len(retries) != 1 {
		t.Fatalf("after the busy resumption: subscription kept %v, %d retries scheduled; "+
			"want kept, 1", kept, len(retries))
	}
	retries[0]() // Sent again on connection 2, from 4; answered: 4 on are retained.
	body := make([]byte, wire.SubscribedSize)
	(&wire.Subscribed{OldestSequence: 1, ReplayedThrough: 5}).Encode(body)
	if err := c.handle(&wire.Frame{Kind: wire.KindSubscribed, Aux: 6, Body: body}, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case subscribed := <-s.ready:
		want := Subscribed{OldestSequence: 1, ReplayedThrough: 5, NextSequence: 6}
		if subscribed != want {
			t.Fatalf("Subscribe answered %+v, want %+v", subscribed, want)
		}
	default:
		t.Fatal("the retried resumption's answer did not answer Subscribe")
	}
}
