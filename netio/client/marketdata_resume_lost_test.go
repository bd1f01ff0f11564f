package client

import (
	"fmt"
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestResumeGapPastTheLogDroppedWithItsConnectionIsToldOnTheNextAnswer: connection 2's
// resumption of instrument 1 from op 99 (the last update handled) reaches a new primary whose log ends at op 60
// (a failover lost entries): market_data_resume_gap, live_from_op 61. Its event waits
// for its turn (connection 1's handler is busy) and is dropped when connection 2 is
// replaced. Connection 3 asks again (live only, so that no replay comes before the gap
// is told), and by then the new primary has logged op 98 and on with its own updates: a
// resumption from op 99 would no longer show the gap either (PROTOCOL.md 8a, "Resuming
// past the server's log"); it answers ok. The handler must still be given
// market_data_resume_gap for instrument 1: its book holds levels the new primary never
// had. Without the fix it was given status 0 alone and kept the wrong book.
func TestResumeGapPastTheLogDroppedWithItsConnectionIsToldOnTheNextAnswer(t *testing.T) {
	h := newHandlerOrderClient(0)
	second, resumed := dropResumeGap(t, h, 99, 61, logAnswers(h))
	if second[1].FromOp != 99 {
		t.Fatalf("connection 2 resumes instrument 1 from op %d, want 99", second[1].FromOp)
	}
	if resumed[1].FromOp != 0 {
		t.Fatalf("connection 3 resumes instrument 1 from op %d, want 0 (live: the gap "+
			"untold is told with the answer, before any replay)", resumed[1].FromOp)
	}
	whole := marketDataSubscribedFrame(1, wire.ChannelBook, 0)
	whole.Status, whole.Aux = uint32(model.StatusOK), 121 // Its log is at op 120 now.
	if err := h.c.handle(whole, 3); err != nil {
		t.Fatal(err)
	}
	told := fmt.Sprintf("subscribed %d", model.StatusMarketDataResumeGap)
	if !slices.Contains(h.calls, told) {
		t.Fatalf("handler calls %q: the updates read up to op 99 were lost in the failover "+
			"and the handler was never given market_data_resume_gap", h.calls)
	}
	// Told once: a later answer for the instrument is handed over as it is.
	again := marketDataSubscribedFrame(1, wire.ChannelBook, 0)
	if err := h.c.handle(again, 3); err != nil {
		t.Fatal(err)
	}
	if last := h.calls[len(h.calls)-1]; last != "subscribed 0" {
		t.Fatalf("handler calls %q: the answer after the told gap was not handed over as it is",
			h.calls)
	}
}

// dropResumeGap drives what the tests of an untold market_data_resume_gap share:
// connection 1's reader hands instrument 1's update of op blockedOp to the market-data
// handler (handler, then held there); connection 2's resumption is answered
// market_data_resume_gap with live_from_op liveFromOp, applied at once, and its event
// waits for its turn; connection 3 replaces connection 2 before connection 1's handler
// returns, so that event is dropped. It returns connections 2's and 3's resumptions,
// once both readers have returned.
func dropResumeGap(t *testing.T, h *handlerOrderClient, blockedOp, liveFromOp uint64,
	handler func(MarketDataEvent)) (second, third map[uint32]wire.MarketDataSubscribe) {
	t.Helper()
	release := make(chan struct{})
	entered := make(chan struct{})
	h.c.marketData.handler = func(event MarketDataEvent) {
		handler(event)
		if len(event.Updates) > 0 && event.Updates[0].Op == blockedOp {
			close(entered)
			<-release
		}
	}
	applied := make(chan struct{}, 4)
	testHookAnswerApplied = func(wire.Kind) { applied <- struct{}{} }
	t.Cleanup(func() { testHookAnswerApplied = nil })

	oldDone := h.handleOn(t, handlerOrderFrame(wire.KindMarketData, blockedOp), 1)
	<-entered
	second = resumedMarketData(h.c) // Connection 2.
	gap := marketDataSubscribedFrame(1, wire.ChannelBook, second[1].FromOp)
	gap.Status, gap.Aux = uint32(model.StatusMarketDataResumeGap), liveFromOp
	newDone := h.handleOn(t, gap, 2)
	<-applied
	third = resumedMarketData(h.c) // Connection 3, before connection 1's handler returned.
	close(release)
	<-oldDone
	<-newDone
	return second, third
}

// logAnswers is a market-data handler logging each answer's status ("subscribed N").
func logAnswers(h *handlerOrderClient) func(MarketDataEvent) {
	return func(event MarketDataEvent) {
		if event.Subscribed != nil {
			h.log(fmt.Sprintf("subscribed %d", event.Subscribed.Status))
		}
	}
}
