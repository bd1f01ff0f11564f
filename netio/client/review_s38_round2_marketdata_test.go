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

// TestMarketDataRefusedAdoptedInstrumentIsNotResumedAgain (review reviewclient2,
// session 38, second round; FAILS at main 7b4ec5e, not fixed). A refused change is not
// recorded (acceptLocked; TestMarketDataRefusedNewInstrumentIsNotResumed), but a new
// instrument whose SubscribeMarketData was still unanswered when its connection was
// replaced is recorded by resume() before any server accepted it ("install adopts the
// latest channels asked"). If the new connection refuses that resumption with a status
// that is not retried (session_limit here: the connection's instrument bound;
// permission_denied likewise), the caller is told so, yet the instrument stays in the
// subscription: every later reconnect asks for it again, refused again each time (a
// request of the client's rate, one of the connection's bounded instruments), and a
// server that accepts it then hands its updates to the handler of a caller that was
// told it was refused.
func TestMarketDataRefusedAdoptedInstrumentIsNotResumedAgain(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7], s.lastOp = wire.ChannelBook, 40
	s.progress[7] = marketDataProgress{fromOp: 40}
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	result := make(chan error, 1)
	go func() {
		_, err := c.SubscribeMarketData(context.Background(), 9, wire.ChannelBook, nil)
		result <- err
	}()
	waitForMarketDataWaiters(c, s, 9, 1)
	resumed := resumedMarketData(c) // Connection 2: 7 and the unanswered 9, from op 40.
	if _, asked := resumed[9]; !asked {
		t.Fatalf("connection 2 resumes %v, want 9 among them (its call is unanswered)",
			resumed)
	}
	refusal := marketDataSubscribedFrame(9, wire.ChannelBook, resumed[9].FromOp)
	refusal.Status = uint32(model.StatusSessionLimit)
	if err := c.handle(refusal, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		var refused *StatusError
		if !errors.As(err, &refused) || refused.Status != model.StatusSessionLimit {
			t.Fatalf("the call for instrument 9 returned %v, want session_limit", err)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds.
		t.Fatal("the call for instrument 9 was never answered")
	}
	resumed = resumedMarketData(c) // Connection 3.
	if _, asked := resumed[9]; asked || len(resumed) != 1 {
		t.Fatalf("connection 3 resumes %v, want instrument 7 alone: 9's caller was told "+
			"session_limit, and no server accepted it", resumed)
	}
}
