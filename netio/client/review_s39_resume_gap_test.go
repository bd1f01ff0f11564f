package client

import (
	"fmt"
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestResumeGapAnswerOfAConnectionReplacedWhileItWaitsIsStillTold: connection 2's
// resumption of instrument 1 (from op 10) is answered market_data_resume_gap with
// live_from_op 50 (the server no longer holds ops 10 to 49) while connection 1's reader
// is still inside the handler. The answer is applied at once (the instrument's from_op
// becomes 50), and its event waits for its turn; connection 2 is replaced meanwhile, so
// the event is dropped. Connection 3 then resumes from op 50, which the server holds:
// answered ok, so the handler is never told that updates 10 to 49 were lost (a
// trades-only or top-of-book handler has no sequence gap to see it by; the handler's doc
// promises the stream stays exact unless the answer is market_data_resume_gap). At
// ee54df0 the applied answer's event was handed over (and the op stayed at 10, so
// connection 3 was answered the gap again).
func TestResumeGapAnswerOfAConnectionReplacedWhileItWaitsIsStillTold(t *testing.T) {
	const heldFromOp = 50 // The server holds every update from this op on.
	h := newHandlerOrderClient(0)
	second, resumed := dropResumeGap(t, h, 10, heldFromOp, logAnswers(h))
	if second[1].FromOp != 10 {
		t.Fatalf("connection 2 resumes instrument 1 from op %d, want 10", second[1].FromOp)
	}
	// Connection 3's server answers as netio/marketdata.go does: the gap again if asked
	// from below what it holds, else ok.
	status := model.StatusOK
	if resumed[1].FromOp < heldFromOp {
		status = model.StatusMarketDataResumeGap
	}
	answer := marketDataSubscribedFrame(1, wire.ChannelBook, resumed[1].FromOp)
	answer.Status, answer.Aux = uint32(status), heldFromOp+5
	if err := h.c.handle(answer, 3); err != nil {
		t.Fatal(err)
	}
	told := fmt.Sprintf("subscribed %d", model.StatusMarketDataResumeGap)
	if !slices.Contains(h.calls, told) {
		t.Fatalf("handler calls %q (connection 3 resumed from op %d): the updates from op "+
			"10 to %d were lost and the handler was never given market_data_resume_gap",
			h.calls, resumed[1].FromOp, heldFromOp-1)
	}
}
