package client

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestMarketDataAdoptedChannelChangeRefusedForGoodKeepsTheAcceptedChannels: instrument
// 7 was accepted with the book channels; a caller asks for trades only, and connection
// 1 is replaced before the answer. The resumption adopts the change (its caller gets
// the resumption's answer) and connection 2 refuses it for good (permission_denied: not
// retried), which the caller is told. A refused change changes nothing: connection 3
// must resume 7 with the channels a server accepted, the book. Before the fix it kept
// the trades-only channels adopted, which no server accepted and the caller was told
// were refused (a book builder then sees sequence jumps it takes for gaps).
func TestMarketDataAdoptedChannelChangeRefusedForGoodKeepsTheAcceptedChannels(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	subscribeLiveOn(t, c, 7, 1, 0)
	result := make(chan error, 1)
	go func() {
		_, err := c.SubscribeMarketData(context.Background(), 7, wire.ChannelTrades, nil)
		result <- err
	}()
	waitForMarketDataWaiters(c, s, 7, 1)
	resumed := resumedMarketData(c) // Connection 2 adopts the unanswered change.
	if resumed[7].Channels != wire.ChannelTrades {
		t.Fatalf("connection 2 resumes instrument 7 with channels %d, want the latest "+
			"asked (%d)", resumed[7].Channels, wire.ChannelTrades)
	}
	refusal := marketDataSubscribedFrame(7, wire.ChannelTrades, resumed[7].FromOp)
	refusal.Status = uint32(model.StatusPermissionDenied)
	if err := c.handle(refusal, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		var refused *StatusError
		if !errors.As(err, &refused) || refused.Status != model.StatusPermissionDenied {
			t.Fatalf("the trades-only call returned %v, want permission_denied", err)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds.
		t.Fatal("the trades-only call was never answered")
	}
	if resumed = resumedMarketData(c); resumed[7].Channels != wire.ChannelBook {
		t.Fatalf("connection 3 resumes instrument 7 with channels %d (%v), want the "+
			"book's (%d), the ones a server accepted", resumed[7].Channels, resumed,
			wire.ChannelBook)
	}
}
