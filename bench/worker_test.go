package bench

import (
	"context"
	"testing"

	"sequent/core/model"
	"sequent/netio/client"
)

// TestOutcomeUnknownCountsUnderItsStatus: a call that ends with a
// *client.OutcomeUnknownError (a write an earlier copy of which may be applied, its
// resend refused with a status no resend cures, or the client stopped while it was on
// its way) is no refusal: its transfers must be looked up at the end, like those of a
// request without a reply, and the request counted under the error's status in the
// report's unknown outcomes (never with the refusals among the request statuses), not
// as a bare no_reply. The
// control, a plain error (no reply at all), still counts as no_reply, and so does a
// call whose context ended, wrapped in an *client.OutcomeUnknownError or not.
func TestOutcomeUnknownCountsUnderItsStatus(t *testing.T) {
	config := Config{Addresses: []string{"x"}, Events: 3, Count: 1}.WithDefaults()
	r := newRun(config)
	for _, test := range []struct {
		name   string
		err    error
		status model.Status // StatusOK: counted as no_reply.
	}{
		{"resend_refused", &client.OutcomeUnknownError{
			Operation: model.OperationCreateTransfers, Number: 7,
			Status: model.StatusPermissionDenied}, model.StatusPermissionDenied},
		{"closed_on_its_way", &client.OutcomeUnknownError{
			Operation: model.OperationCreateTransfers, Number: 7,
			Status: model.StatusOutcomeUnknown, Err: client.ErrClosed},
			model.StatusOutcomeUnknown},
		{"no_reply", client.ErrClosed, model.StatusOK},
		// A call abandoned at the drain deadline (or the run interrupted) with a copy on
		// its way: the client says its outcome is unknown, wrapping the context's error,
		// but the report counts it as no_reply, as it always has (endedWith).
		{"context_ended_on_its_way", &client.OutcomeUnknownError{
			Operation: model.OperationCreateTransfers, Number: 7,
			Status: model.StatusOutcomeUnknown, Err: context.Canceled}, model.StatusOK},
	} {
		t.Run(test.name, func(t *testing.T) {
			w := newWorker(0, r, nil, &recorder{interval: newSample()})
			index := w.free[len(w.free)-1]
			w.free = w.free[:len(w.free)-1]
			s := &w.slots[index]
			s.kind, s.measured = KindSingle, true
			w.buildSingle(s)
			call := &client.Call{Operation: model.OperationCreateTransfers, Err: test.err}
			w.calls[call] = index
			w.outstanding++
			w.complete(call)
			tally := w.recorder.interval
			var unknown, refused uint64 // Counted under any status.
			for i := range tally.unknownOutcomes {
				unknown += tally.unknownOutcomes[i]
				refused += tally.requestStatuses[i]
			}
			wantUnknown, wantNoReply := uint64(1), uint64(0)
			if test.status == model.StatusOK {
				wantUnknown, wantNoReply = 0, 1
			}
			if tally.requestsFailed != 1 || tally.noReply != wantNoReply || refused != 0 ||
				unknown != wantUnknown ||
				tally.unknownOutcomes[statusSlot(test.status)] != wantUnknown {
				t.Fatalf("%v: failed %d, no reply %d, as a refusal %d, unknown %d (under %s "+
					"%d); want 1, %d, 0, %d (%d)", test.err, tally.requestsFailed,
					tally.noReply, refused, unknown, test.status,
					tally.unknownOutcomes[statusSlot(test.status)], wantNoReply, wantUnknown,
					wantUnknown)
			}
			if len(w.unknown) != s.events {
				t.Fatalf("%v: %d transfers to look up, want the request's %d", test.err,
					len(w.unknown), s.events)
			}
		})
	}
}
