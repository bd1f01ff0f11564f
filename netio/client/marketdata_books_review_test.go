package client

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestReviewBookAndALaterHandlerEachGetEveryEvent (review reviewmd, session 40): a
// FollowBook's inbox registered first (no handler given), then a SubscribeMarketData
// with a handler, while the reader hands updates over: the inbox is given every update
// from its registration on, in order, and the handler every update read after its call
// was answered. Before, the first call's handler (FollowBook's inbox) was the only one:
// the later handler was never called, and a second FollowBook never given an update
// (TestReviewTwoFollowedBooksOnOneClient in cmd/sequent). (The handler is now set
// after the subscription exists, so the reader takes it under mu; the race detector
// rarely sees the window of a read outside mu, so this test does not prove that part.)
func TestReviewBookAndALaterHandlerEachGetEveryEvent(t *testing.T) {
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1}
	book := &bookInbox{wake: make(chan struct{}, 1)}
	subscribe := func(instrument uint32, handler func(MarketDataEvent), inbox *bookInbox) {
		t.Helper()
		result := make(chan error, 1)
		go func() {
			_, err := c.subscribeMarketData(context.Background(), instrument, wire.ChannelBook,
				handler, inbox)
			result <- err
		}()
		for waiting := false; !waiting; runtime.Gosched() {
			c.mu.Lock()
			waiting = c.marketData != nil && len(c.marketData.asked[instrument]) == 1
			c.mu.Unlock()
		}
		if err := c.handle(marketDataSubscribedFrame(instrument, wire.ChannelBook, 0), 1); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-result:
			if err != nil {
				t.Fatalf("instrument %d: %v", instrument, err)
			}
		case <-time.After(waitLimit): // A bound on a wait of microseconds.
			t.Fatalf("instrument %d was never answered", instrument)
		}
	}
	read := func(sequence uint64) {
		t.Helper()
		body := make([]byte, model.MarketDataUpdateSize)
		(&model.MarketDataUpdate{Instrument: 3, Sequence: sequence, Op: sequence}).Encode(body)
		if err := c.handle(&wire.Frame{Kind: wire.KindMarketData, Body: body}, 1); err != nil {
			t.Fatal(err)
		}
	}
	subscribe(3, nil, book)
	var mutex sync.Mutex
	var handled []uint64
	handler := func(event MarketDataEvent) {
		mutex.Lock()
		defer mutex.Unlock()
		for _, u := range event.Updates {
			handled = append(handled, u.Sequence)
		}
	}
	reader := make(chan struct{})
	go func() { // The one reader: updates while the handler is given, then its answer.
		defer close(reader)
		for sequence := uint64(1); sequence <= 50; sequence++ {
			read(sequence)
		}
		for waiting := false; !waiting; runtime.Gosched() {
			c.mu.Lock()
			waiting = len(c.marketData.asked[5]) == 1
			c.mu.Unlock()
		}
		if err := c.handle(marketDataSubscribedFrame(5, wire.ChannelBook, 0), 1); err != nil {
			t.Error(err)
		}
		read(51)
	}()
	answered := make(chan error, 1)
	go func() {
		_, err := c.subscribeMarketData(context.Background(), 5, wire.ChannelBook, handler, nil)
		answered <- err
	}()
	<-reader
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds.
		t.Fatal("instrument 5 was never answered")
	}
	var booked []uint64
	book.mutex.Lock()
	for _, event := range book.events {
		for _, u := range event.Updates {
			booked = append(booked, u.Sequence)
		}
	}
	book.mutex.Unlock()
	for i, sequence := range booked {
		if sequence != uint64(i+1) {
			t.Fatalf("the book's inbox holds sequences %v, want 1 to 51", booked)
		}
	}
	mutex.Lock()
	defer mutex.Unlock()
	if len(booked) != 51 || len(handled) == 0 || handled[len(handled)-1] != 51 {
		t.Fatalf("the book's inbox got %d updates (want 51), the later handler %v (want "+
			"at least the one read after its answer, 51)", len(booked), handled)
	}
}
