package client

import (
	"context"
	"sync/atomic"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestReviewr44MarketDataPassesTwoDeposedNodesToReachThePrimary (review r44; the
// market-data analogue of TestReviewr44ReportSubscriptionPassesTwoFencedNodesToReachThePrimary,
// code of merge a09959e, leaveNotPrimary): a deposed node refuses a market-data
// resumption not_primary naming nobody, and the client then tries that address last —
// one address only (triedLast). After two failovers, A and B both deposed (fenced until
// restarted) and C primary, the addresses [A, B, C] are tried A, B, A, B, ...: each
// refusal moves the refusing node last and puts the other deposed one first, and C is
// never dialed. The market-data-only client keeps a stale book, reconnecting at up to
// one connection per RedirectDelayMax (50 ms) for ever.
//
// Scripted: A takes the first subscription and closes it shutting_down (deposed); from
// then on A and B refuse every md_subscribe not_primary; C accepts. The test fails once
// A and B together have refused refusalsMax resumptions before C got one.
func TestReviewr44MarketDataPassesTwoDeposedNodesToReachThePrimary(t *testing.T) {
	const refusalsMax = 8
	outcome := make(chan string, 4)
	var refusals atomic.Int32
	deposed := func(first bool) func(int, *scriptedPeer) {
		return func(connection int, peer *scriptedPeer) {
			for {
				request, ok := peer.frameOf(wire.KindMarketDataSubscribe)
				if !ok {
					return
				}
				if first && connection == 0 {
					if answerMarketDataSubscribe(peer, request, model.StatusOK) {
						peer.refuse(wire.ErrorShuttingDown, 0) // Deposed: told.
					}
					return
				}
				if refusals.Add(1) == refusalsMax {
					outcome <- "refused not_primary by the two deposed nodes, again and again"
				}
				if !answerMarketDataSubscribe(peer, request, model.StatusNotPrimary) {
					return
				}
			}
		}
	}
	nodeA := startScriptedServer(t, deposed(true))
	nodeB := startScriptedServer(t, deposed(false))
	nodeC := startScriptedServer(t, func(_ int, peer *scriptedPeer) {
		request, ok := peer.frameOf(wire.KindMarketDataSubscribe)
		if !ok {
			return
		}
		outcome <- "resumed at the primary"
		answerMarketDataSubscribe(peer, request, model.StatusOK)
		peer.drain()
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{nodeA, nodeB, nodeC}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.SubscribeMarketData(ctx, 7, wire.ChannelBook,
		func(MarketDataEvent) {}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-outcome:
		if got != "resumed at the primary" {
			t.Fatalf("the market-data resumption was %s (%d times) and never reached the "+
				"primary, the third address", got, refusalsMax)
		}
	case <-ctx.Done():
		t.Fatal("the market-data subscription was never resumed")
	}
}
