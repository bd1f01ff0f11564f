package client

import (
	"context"
	"errors"
	"testing"

	"sequent/netio/wire"
)

// Second review of reporthunt50 (review2-report50), the reviewer's open item: Subscribe,
// SubscribeShard and SubscribeMarketData called with a context that has already ended
// returned its error, yet installed the subscription and sent its frame: the server
// subscribed the client, the handler was given reports or updates of a call that said
// it failed, and for reports a later Subscribe (the caller's retry with a live context)
// returned ErrSubscribed. A call whose context has ended must do nothing.
//
// Method: a scripted server records the first subscribe (or md_subscribe) frame of its
// connection and answers it ok. The client calls with a canceled context, then again
// with a live one: the second call must succeed, and the server's first frame must be
// the second call's (its from_sequence, or its instrument).

// TestReview50bEndedContextSubscribeInstallsNothing (claim 6, reports).
func TestReview50bEndedContextSubscribeInstallsNothing(t *testing.T) {
	first := make(chan wire.Subscribe, 1)
	address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		frame, ok := peer.frameOf(wire.KindSubscribe)
		if !ok {
			return
		}
		var subscribe wire.Subscribe
		subscribe.Decode(frame.Body)
		first <- subscribe
		answer := subscribedFrame(subscribe.FromSequence, subscribe.FromSequence)
		if _, err := peer.conn.Write(wire.AppendFrame(nil, answer, answer.Body)); err != nil {
			return
		}
		peer.drain()
	})
	c := dialScripted(t, address)
	bound, cancelBound := context.WithTimeout(context.Background(), waitLimit)
	defer cancelBound()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Subscribe(ended, 5, func(Report) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe with an ended context returned %v, want context.Canceled", err)
	}
	if _, err := c.Subscribe(bound, 7, func(Report) {}); err != nil {
		t.Fatalf("Subscribe after the one whose context had ended returned %v", err)
	}
	if subscribe := <-first; subscribe.FromSequence != 7 {
		t.Errorf("the server's first subscribe asked from %d, want 7 (the ended call's "+
			"frame was sent)", subscribe.FromSequence)
	}
}

// TestReview50bEndedContextSubscribeMarketDataSendsNothing (claim 6, market data).
func TestReview50bEndedContextSubscribeMarketDataSendsNothing(t *testing.T) {
	first := make(chan wire.MarketDataSubscribe, 1)
	address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		for {
			frame, ok := peer.frameOf(wire.KindMarketDataSubscribe)
			if !ok {
				return
			}
			var subscribe wire.MarketDataSubscribe
			subscribe.Decode(frame.Body)
			select {
			case first <- subscribe:
			default: // Not the first.
			}
			answer := marketDataSubscribedFrame(subscribe.Instrument, subscribe.Channels, 0)
			if _, err := peer.conn.Write(wire.AppendFrame(nil, answer,
				answer.Body)); err != nil {
				return
			}
		}
	})
	c := dialScripted(t, address)
	bound, cancelBound := context.WithTimeout(context.Background(), waitLimit)
	defer cancelBound()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.SubscribeMarketData(ended, 3, wire.ChannelBook, func(MarketDataEvent) {})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("SubscribeMarketData with an ended context returned %v, want "+
			"context.Canceled", err)
	}
	_, err = c.SubscribeMarketData(bound, 4, wire.ChannelBook, func(MarketDataEvent) {})
	if err != nil {
		t.Fatalf("SubscribeMarketData after the one whose context had ended returned %v", err)
	}
	if subscribe := <-first; subscribe.Instrument != 4 {
		t.Errorf("the server's first md_subscribe was of instrument %d, want 4 (the ended "+
			"call's frame was sent)", subscribe.Instrument)
	}
}
