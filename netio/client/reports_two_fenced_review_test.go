package client

import (
	"context"
	"sync/atomic"
	"testing"

	"sequent/netio/wire"
)

// TestReviewr44ReportSubscriptionPassesTwoFencedNodesToReachThePrimary (review of merge
// 5d73b46, report44): a fenced node never reverts until restarted (core/shard/role.go),
// so after two failovers with neither deposed node restarted yet — A primary, then B,
// now C — both A and B are fenced, and each closes a report subscription (and answers a
// report subscribe) with shutting_down. The client, on such a close, tries "its other
// addresses before that one" (PROTOCOL.md section 8), but remembers only the last
// address that closed (triedLast, one slot): with the addresses [A, B, C] it goes A,
// then B (A moved last: [B, C, A]), then A again (B moved last: [A, C, B]), and so on
// for ever, both fenced nodes accepting every login, and never dials C, the primary,
// which numbers the client's reports. A reports-only client (a drop copy: no request
// whose not_primary would name C) has its reports stopped for good, backing off to one
// connection a second between the two deposed nodes.
//
// Scripted: A and B close every report subscribe shutting_down; C accepts it. The test
// fails once A and B together have been sent refusalsMax subscribes before C got one
// (with C tried after the first two closes at the latest, C gets the third).
func TestReviewr44ReportSubscriptionPassesTwoFencedNodesToReachThePrimary(t *testing.T) {
	const refusalsMax = 6
	outcome := make(chan string, 4)
	var refusals atomic.Int32
	fenced := func(_ int, peer *scriptedPeer) {
		if _, ok := peer.frameOf(wire.KindSubscribe); !ok {
			return
		}
		if refusals.Add(1) == refusalsMax {
			outcome <- "closed shutting_down by the two fenced nodes, again and again"
		}
		peer.refuse(wire.ErrorShuttingDown, 0) // Then the close (the script returns).
	}
	fencedFirst := startScriptedServer(t, fenced)
	fencedSecond := startScriptedServer(t, fenced)
	primary := startScriptedServer(t, func(_ int, peer *scriptedPeer) {
		if _, ok := peer.frameOf(wire.KindSubscribe); !ok {
			return
		}
		outcome <- "subscribed at the primary"
		frame := subscribedFrame(1, 0)
		if _, err := peer.conn.Write(wire.AppendFrame(nil, frame, frame.Body)); err != nil {
			return
		}
		peer.drain()
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{fencedFirst, fencedSecond, primary},
		Client: 1, Key: 1, Secret: []byte("secret"), CoalesceEventsMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() { _, _ = c.Subscribe(ctx, 0, func(Report) {}) }() // Answered by the primary.
	select {
	case got := <-outcome:
		if got != "subscribed at the primary" {
			t.Fatalf("the report subscription was %s (%d times) and never reached the "+
				"primary, the third address", got, refusalsMax)
		}
	case <-ctx.Done():
		t.Fatal("the report subscription was never answered")
	}
}
