package client

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"sequent/netio/wire"
)

// TestMarketDataUnsubscribeAnsweredAcrossReplacement: an unsubscription (channels 0)
// whose md_subscribed is read on a connection just replaced must still answer its
// caller. The resumption on the new connection covers only the instruments still
// subscribed, so no answer for this one ever comes there; dropping the late answer
// (as a stale frame) leaves the caller waiting for ever (or for its context), and its
// channel stays first in line for the instrument, so the next SubscribeMarketData of it
// has its answer taken by the abandoned waiter.
func TestMarketDataUnsubscribeAnsweredAcrossReplacement(t *testing.T) {
	s := &marketDataSubscription{instruments: map[uint32]uint32{7: wire.ChannelBook},
		waiters: map[uint32][]chan MarketDataSubscribed{},
		handler: func(MarketDataEvent) {}}
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	result := make(chan error, 1)
	go func() {
		_, err := c.SubscribeMarketData(context.Background(), 7, 0, nil)
		result <- err
	}()
	waitForMarketDataWaiters(c, s, 7, 1)
	// The reconnector installs connection 2; its resumption asks for the instruments
	// still subscribed, which 7 no longer is.
	c.mu.Lock()
	c.generation++
	c.mu.Unlock()
	if err := c.handle(marketDataSubscribedFrame(7), 1); err != nil { // Connection 1's answer, read late.
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("unsubscription answered %v", err)
		}
	case <-time.After(10 * time.Second): // A bound on a wait of microseconds, not a timing.
		t.Fatal("the unsubscription was never answered: its answer was dropped as stale " +
			"and the new connection's resumption does not cover the instrument")
	}
}
