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
// session 38, second round; FAILS at main 7b4ec5e, fixed on this branch: progress.accepted). A refused change is not
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
	s.lastOp = 40
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	accepted := make(chan error, 1) // Instrument 7, accepted on connection 1.
	go func() {
		_, err := c.SubscribeMarketData(context.Background(), 7, wire.ChannelBook, nil)
		accepted <- err
	}()
	waitForMarketDataWaiters(c, s, 7, 1)
	if err := c.handle(marketDataSubscribedFrame(7, wire.ChannelBook, 0), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-accepted:
		if err != nil {
			t.Fatalf("the call for instrument 7 returned %v", err)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds.
		t.Fatal("the call for instrument 7 was never answered")
	}
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

// TestMarketDataRetriedAdoptedInstrumentRefusedForGood: the adopted instrument's
// resumption is refused busy (retried on its connection), then the retry is refused
// session_limit: dropped, as with a first refusal for good. Unless a caller's
// subscription of it was accepted in between: then a server accepted it, and it stays.
func TestMarketDataRetriedAdoptedInstrumentRefusedForGood(t *testing.T) {
	for _, acceptedBetween := range []bool{false, true} {
		name := map[bool]string{false: "dropped", true: "accepted in between"}[acceptedBetween]
		t.Run(name, func(t *testing.T) {
			s := newMarketDataSubscription(func(MarketDataEvent) {})
			s.lastOp = 40
			c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
			var retries []func()
			testHookAfterDelay = func(_ time.Duration, retry func()) {
				retries = append(retries, retry)
			}
			t.Cleanup(func() { testHookAfterDelay = nil })
			calls := make(chan error, 2)
			call := func() {
				_, err := c.SubscribeMarketData(context.Background(), 9, wire.ChannelBook,
					func(MarketDataEvent) {})
				calls <- err
			}
			go call()
			waitForMarketDataWaiters(c, s, 9, 1)
			resumed := resumedMarketData(c) // Connection 2 adopts 9, from op 40.
			busy := marketDataSubscribedFrame(9, wire.ChannelBook, resumed[9].FromOp)
			busy.Status = uint32(model.StatusBusy)
			if err := c.handle(busy, 2); err != nil {
				t.Fatal(err)
			}
			receiveCall(t, calls) // Told busy (an answer to its instrument).
			if acceptedBetween {
				go call()
				waitForMarketDataWaiters(c, s, 9, 1)
				if err := c.handle(marketDataSubscribedFrame(9, wire.ChannelBook, 0), 2); err != nil {
					t.Fatal(err)
				}
				if err := receiveCall(t, calls); err != nil {
					t.Fatalf("the second call returned %v", err)
				}
			}
			if len(retries) != 1 {
				t.Fatalf("%d retries scheduled, want 1", len(retries))
			}
			retries[0]()
			refusal := marketDataSubscribedFrame(9, wire.ChannelBook, resumed[9].FromOp)
			refusal.Status = uint32(model.StatusSessionLimit)
			if err := c.handle(refusal, 2); err != nil {
				t.Fatal(err)
			}
			resumed = resumedMarketData(c) // Connection 3.
			if _, asked := resumed[9]; asked != acceptedBetween {
				t.Fatalf("connection 3 resumes %v: instrument 9 resumed %v, want %v", resumed,
					asked, acceptedBetween)
			}
		})
	}
}

// receiveCall returns what a SubscribeMarketData call answered returned.
func receiveCall(t *testing.T, calls <-chan error) error {
	t.Helper()
	select {
	case err := <-calls:
		return err
	case <-time.After(waitLimit): // A bound on a wait of microseconds.
		t.Fatal("the call was never answered")
		return nil
	}
}
