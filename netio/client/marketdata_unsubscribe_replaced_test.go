package client

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"sequent/netio/wire"
)

// TestMarketDataUnsubscribeAnsweredAcrossReplacement: an unsubscription (channels 0)
// waiting for its md_subscribed when the connection is replaced must still be answered.
// The resumption on the new connection covers only the instruments still subscribed, so
// no answer for this one ever comes there, and whether the old connection's answer will
// be read (its reader may hold it buffered) or not (the connection died first) is not
// known: install (resume) answers it ErrReconnected, and the old answer, read late, is
// ignored. Once dropped as stale with nothing else to answer it, the caller waited for
// ever (or for its context), and its channel stayed first in line for the instrument,
// so the next SubscribeMarketData of it had its answer taken by the abandoned waiter.
func TestMarketDataUnsubscribeAnsweredAcrossReplacement(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7] = wire.ChannelBook
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
	s.resume(c.session)
	c.mu.Unlock()
	// Connection 1's answer, read late.
	if err := c.handle(marketDataSubscribedFrame(7, 0, 0), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if !errors.Is(err, ErrReconnected) {
			t.Fatalf("unsubscription answered %v, want ErrReconnected", err)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds, not a timing.
		t.Fatal("the unsubscription was never answered: the new connection's resumption " +
			"does not cover the instrument")
	}
}
