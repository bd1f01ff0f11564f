package netio_test

import (
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/client"
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

// reportingAdmission admits everything (Controls with no limits) but, once armed, makes
// reports in the next AdmitSubscription, on the event loop before the subscription is in
// place: exactly the reports a client misses while it reconnects.
type reportingAdmission struct {
	*netio.Controls
	armed       atomic.Bool
	makeReports func() // Set before arming.
}

func (a *reportingAdmission) AdmitSubscription(client *netio.Client) model.Status {
	if a.armed.CompareAndSwap(true, false) {
		a.makeReports()
	}
	return a.Controls.AdmitSubscription(client)
}

// TestLiveSubscriptionGetsTheReportsMadeWhileReconnecting: a Go client subscribed live
// (from 0) that has handled no report loses its connection; reports 1 and 2 are made
// before its resumed subscription is in place. It must get them: the live subscribed
// frame said next_sequence 1, so the resumption asks from 1 and they are replayed.
// Before the fix the resumption asked from 0 again, and they were skipped with no sign.
func TestLiveSubscriptionGetsTheReportsMadeWhileReconnecting(t *testing.T) {
	admission := &reportingAdmission{Controls: netio.NewControls(netio.ControlsConfig{})}
	h := newHarness(t, harnessOptions{config: func(config *netio.Config) {
		config.Admission = admission
	}})
	admission.makeReports = func() {
		h.backend.Report(clientAll, []byte{1})
		h.backend.Report(clientAll, []byte{2})
	}
	p := newProxy(t, h.server.Address())
	ctx := background(t)
	c, err := client.Dial(ctx, client.Config{Addresses: []string{p.address()},
		Client: clientAll, Key: 1, Secret: secretOne, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	got := make(chan uint64, 16)
	subscribed, err := c.Subscribe(ctx, 0, func(r client.Report) { got <- r.Sequence })
	if err != nil {
		t.Fatal(err)
	}
	if subscribed.NextSequence != 1 {
		t.Fatalf("Subscribed.NextSequence %d, want 1", subscribed.NextSequence)
	}
	admission.armed.Store(true)
	p.cut()
	for want := uint64(1); want <= 2; want++ {
		select {
		case sequence := <-got:
			if sequence != want {
				t.Fatalf("report %d, want %d", sequence, want)
			}
		case <-time.After(waitLimit):
			t.Fatalf("report %d, made while the client reconnected, never arrived", want)
		}
	}
}
