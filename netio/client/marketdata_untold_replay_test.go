package client

import (
	"fmt"
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestUntoldResumeGapIsToldBeforeAnyUpdateOfTheInstrument: connection 2's resumption of
// instrument 1 from op 99 (the last update handled, sequence 99: the book holds a bid at
// 500 that a lossy failover took back) is answered market_data_resume_gap, and the
// event is dropped with connection 2. Connection 3's resumption reaches the new primary
// once its log is at op 120: whatever it asks from, the server answers ok, and if that
// from_op is one its log holds it first replays the instrument's updates from there (its
// own: op 110, sequence 100, an ask at 700). PROTOCOL.md 8a says a 230 replays nothing,
// so a book built by step 5 takes every update before the answer as exact: here op 110
// follows sequence 99 and is applied on top of the lost bid, and FollowBook's onChange
// is handed a book the engine never had. The client knows the gap is pending: it must
// not have a replay handed over ahead of telling it. Before the fix connection 3 asked
// from op 99 again and the handler applied op 110 as exact.
func TestUntoldResumeGapIsToldBeforeAnyUpdateOfTheInstrument(t *testing.T) {
	h := newHandlerOrderClient(0)
	builder := &BookBuilder{Book: Book{Instrument: 1}}
	builder.Snapshot(model.BookHeader{Instrument: 1, Sequence: 98, Op: 98, BidCount: 1},
		[]model.DepthLevel{{Price: 500, Quantity: model.Uint128{Lo: 3}, OrderCount: 1,
			Side: model.SideBuy}})
	exactChanges := 0
	_, resumed := dropResumeGap(t, h, 99, 61, func(event MarketDataEvent) {
		if event.Subscribed != nil {
			h.log(fmt.Sprintf("subscribed %d", event.Subscribed.Status))
		}
		builder.handle(event, 1, func(*BookBuilder, []model.MarketDataUpdate) {
			exactChanges++
			h.log(fmt.Sprintf("onChange at sequence %d", builder.Book.Sequence))
		})
	})
	h.calls = h.calls[:0]
	changesBefore := exactChanges

	// The new primary, its log at op 120, holding instrument 1's update at op 110.
	fromOp := resumed[1].FromOp
	if fromOp != 0 && fromOp <= 110 {
		body := make([]byte, model.MarketDataUpdateSize)
		(&model.MarketDataUpdate{Instrument: 1, Sequence: 100, Op: 110,
			Kind: model.MarketDataLevel, Side: model.SideSell, Price: 700,
			Quantity: model.Uint128{Lo: 1}, OrderCount: 1}).Encode(body)
		if err := h.c.handle(&wire.Frame{Kind: wire.KindMarketData, Body: body}, 3); err != nil {
			t.Fatal(err)
		}
	}
	whole := marketDataSubscribedFrame(1, wire.ChannelBook, fromOp)
	whole.Status, whole.Aux = uint32(model.StatusOK), 121
	if err := h.c.handle(whole, 3); err != nil {
		t.Fatal(err)
	}
	told := fmt.Sprintf("subscribed %d", model.StatusMarketDataResumeGap)
	if len(h.calls) == 0 || h.calls[len(h.calls)-1] != told {
		t.Fatalf("connection 3 (asked from op %d): handler calls %q, want the gap told",
			fromOp, h.calls)
	}
	if exactChanges != changesBefore {
		t.Fatalf("connection 3 (asked from op %d): handler calls %q: the book holding the "+
			"lost bid was handed over as exact with the new primary's update applied",
			fromOp, h.calls)
	}
	if builder.Synced {
		t.Fatalf("after the gap was told the book is still taken as exact at sequence %d",
			builder.Book.Sequence)
	}
}

// TestUntoldResumeGapOutlivesARefusedResumption: connection 2's resumption of instrument
// 1 is answered market_data_resume_gap and the event is dropped with connection 2 (as
// above). Connection 3's resumption is refused permission_denied (the key's grants were
// reloaded without read meanwhile): the handler is given that refusal, which says
// nothing of the updates lost, and the instrument stays subscribed (its channels were
// accepted before), so connection 4 resumes it once read is granted again and is
// answered ok. The handler must have been told market_data_resume_gap by then: its book
// still holds what the failover took back. Before the fix the refusal's event counted
// as the telling and the gap was never told.
func TestUntoldResumeGapOutlivesARefusedResumption(t *testing.T) {
	h := newHandlerOrderClient(0)
	_, resumed := dropResumeGap(t, h, 99, 61, logAnswers(h))
	refused := marketDataSubscribedFrame(1, wire.ChannelBook, resumed[1].FromOp)
	refused.Status = uint32(model.StatusPermissionDenied)
	if err := h.c.handle(refused, 3); err != nil {
		t.Fatal(err)
	}
	resumed = resumedMarketData(h.c) // Connection 4.
	if _, ok := resumed[1]; !ok {
		t.Fatalf("connection 4 does not resume instrument 1 (resumed %v)", resumed)
	}
	whole := marketDataSubscribedFrame(1, wire.ChannelBook, resumed[1].FromOp)
	whole.Status, whole.Aux = uint32(model.StatusOK), 121
	if err := h.c.handle(whole, 4); err != nil {
		t.Fatal(err)
	}
	told := fmt.Sprintf("subscribed %d", model.StatusMarketDataResumeGap)
	if !slices.Contains(h.calls, told) {
		t.Fatalf("handler calls %q: the gap answered on connection 2 was never told", h.calls)
	}
}
