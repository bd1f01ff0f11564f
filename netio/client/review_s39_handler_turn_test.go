package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestHandlerSubscribingEndsWithItsContextBehindTheResumptionsReplay: SubscribeMarketData
// called from a market-data handler, as a server actually answers the resumption. The
// resumption of the adopted instrument 9 asks from op 1 (the last op read), so the server
// sends the replay of instrument 9 (op 3 here) before the md_subscribed that answers the
// caller (netio/marketdata.go order: replay, then answer; PROTOCOL.md 8a). Connection 2's
// reader takes the replayed update first and waits for its turn, that is for connection
// 1's handler to return; that handler waits for the answer the same reader holds behind
// the update. The same happens when the frame ahead of the answer is a report (the
// report subscription's resumption replays too, on the same connection). Handler calls
// are ordered per client (doc.go), so the call cannot be answered there: the documented
// behaviour (SubscribeMarketData's doc) is that it ends with its context, after which
// the new reader hands over what it holds, in order, and the client goes on. Found by
// the session 39 review (at ee54df0, without the turn wait, the caller was answered but
// the handlers of both connections overlapped).
func TestHandlerSubscribingEndsWithItsContextBehindTheResumptionsReplay(t *testing.T) {
	replay := make([]byte, model.MarketDataUpdateSize)
	(&model.MarketDataUpdate{Sequence: 1, Instrument: 9, Op: 3}).Encode(replay)
	for _, test := range []struct {
		name  string
		ahead *wire.Frame
		call  string
	}{{"replayed_update", &wire.Frame{Kind: wire.KindMarketData, Body: replay}, "update 9/3"},
		{"replayed_report", &wire.Frame{Kind: wire.KindReport, Aux: 1}, "report 1"}} {
		t.Run(test.name, func(t *testing.T) {
			subscribingBehindAFrame(t, test.ahead, test.call)
		})
	}
}

func subscribingBehindAFrame(t *testing.T, ahead *wire.Frame, aheadCall string) {
	h := newHandlerOrderClient(0)
	h.c.subscription.handler = func(report Report) {
		h.log(fmt.Sprintf("report %d", report.Sequence))
	}
	s := h.c.marketData
	answered := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiting := make(chan struct{}, 4)
	testHookHandlerTurnWait = func() { waiting <- struct{}{} }
	defer func() { testHookHandlerTurnWait = nil }()
	s.handler = func(event MarketDataEvent) {
		switch {
		case event.Subscribed != nil:
			h.log(fmt.Sprintf("subscribed %d", event.Subscribed.Instrument))
		case event.Updates[0].Op == 1:
			h.log("start update 1")
			_, err := h.c.SubscribeMarketData(ctx, 9, wire.ChannelBook, nil)
			answered <- err
			h.log("end update 1")
		default:
			h.log(fmt.Sprintf("update %d/%d", event.Updates[0].Instrument,
				event.Updates[0].Op))
		}
	}
	oldDone := h.handleOn(t, handlerOrderFrame(wire.KindMarketData, 1), 1)
	waitForMarketDataWaiters(h.c, s, 9, 1)
	resumed := resumedMarketData(h.c) // Connection 2; instrument 9 adopted.
	if resumed[9].FromOp != 1 {
		t.Fatalf("instrument 9 resumed from op %d, want 1 (the last op read)",
			resumed[9].FromOp)
	}
	// Connection 2's reader: the frame ahead, then instrument 9's answer, one after the
	// other on one goroutine, as the connection's reader hands them over.
	newDone := make(chan struct{})
	go func() {
		defer close(newDone)
		for _, frame := range []*wire.Frame{
			ahead,
			marketDataSubscribedFrame(9, wire.ChannelBook, resumed[9].FromOp),
		} {
			if err := h.c.handle(frame, 2); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-waiting: // Connection 2's reader waits for connection 1's handler.
	case err := <-answered:
		t.Fatalf("SubscribeMarketData inside connection 1's handler returned %v before "+
			"connection 2's reader waited for its turn", err)
	case <-newDone:
		t.Fatal("connection 2's reader handed its frames over while connection 1's " +
			"handler ran")
	}
	cancel() // The caller gives up, as its context says.
	if err := <-answered; !errors.Is(err, context.Canceled) {
		t.Fatalf("SubscribeMarketData inside connection 1's handler returned %v, want "+
			"context.Canceled (its answer is behind the replay the reader holds)", err)
	}
	<-oldDone // Both readers return before the test does (hooks are global).
	<-newDone
	want := []string{"start update 1", "end update 1", aheadCall, "subscribed 9"}
	if !slices.Equal(h.calls, want) {
		t.Fatalf("handler calls %q, want %q", h.calls, want)
	}
}
