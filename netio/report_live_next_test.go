package netio_test

import (
	"testing"

	"sequent/netio/wire"
)

// TestLiveSubscribedCarriesNextSequence (PROTOCOL.md section 8): a subscription from 0
// (live reports only) is answered with the client's next sequence in the subscribed
// frame's aux, so that a client that disconnects before it has handled a report can
// resume from there and be replayed the reports made meanwhile. Before, aux was 0, and
// such a client resumed from 0 again: every report made while it was disconnected was
// skipped, with no sign. Reports 1..3 are made before the subscription: aux 4, and the
// next report, live, is 4.
func TestLiveSubscribedCarriesNextSequence(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for range 3 {
		h.backend.Report(clientAll, []byte{1})
	}
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 2)
	r.subscribeReports(2, 0)
	frame := r.next()
	if frame.Kind != wire.KindSubscribed || frame.Status != 0 || frame.Aux != 4 {
		t.Fatalf("live subscribed after reports 1..3: %s status %d aux %d, want subscribed "+
			"status 0 aux 4 (the client's next sequence)", frame.Kind, frame.Status, frame.Aux)
	}
	h.backend.Report(clientAll, []byte{2})
	if frame := r.next(); frame.Kind != wire.KindReport || frame.Aux != 4 {
		t.Fatalf("after the subscription: %s aux %d, want report 4", frame.Kind, frame.Aux)
	}
}
