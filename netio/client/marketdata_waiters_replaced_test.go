package client

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"sequent/netio/wire"
)

// TestMarketDataTwoCallersOfOneInstrumentAnsweredAcrossReplacement: two
// SubscribeMarketData calls for one instrument (a change of channels, say) wait on
// connection 1 when it is replaced. Their answers, read late, are ignored as stale; the
// new connection's resumption asks once per instrument, so one answer comes for the two
// callers, and each must get it. Left waiting for the late answers, the second waited
// for ever (or for its context), and its waiter then took the next call's answer.
func TestMarketDataTwoCallersOfOneInstrumentAnsweredAcrossReplacement(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	results := make(chan error, 2)
	for _, channels := range []uint32{wire.ChannelBook, wire.ChannelTop} {
		go func() {
			_, err := c.SubscribeMarketData(context.Background(), 7, channels, nil)
			results <- err
		}()
	}
	waitForMarketDataWaiters(c, s, 7, 2)
	c.mu.Lock()
	c.generation++ // Connection 2 (install): its resumption asks for instrument 7 once.
	s.resume(c.session)
	latest := s.instruments[7] // The channels of whichever call came last.
	c.mu.Unlock()
	for _, answer := range []struct {
		channels   uint32
		generation uint64
	}{{wire.ChannelBook, 1}, {wire.ChannelTop, 1}, {latest, 2}} { // Two late, the resumption's.
		if err := c.handle(marketDataSubscribedFrame(7, answer.channels, 0),
			answer.generation); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		select {
		case err := <-results:
			if err != nil {
				t.Fatalf("subscription answered %v", err)
			}
		case <-time.After(waitLimit): // A bound on a wait of microseconds (a hang guard).
			t.Fatal("a caller was never answered: one resumption answer for two waiters")
		}
	}
}
