package client

import (
	"context"
	"sync/atomic"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestReportResumptionRefusedBusyByANonPrimaryNodeReachesThePrimary (review of merge
// a09959e, netio/reports.go handleSubscribe): a node that is not primary now refuses
// busy a report resumption from above the client's next sequence there. A fenced node
// never becomes primary again (core/shard/role.go, Fence: "It never reverts") and
// numbers no more reports, and a standby started without its primary never catches up:
// for such a node that busy is for ever. The Go client retries a resumption refused busy
// on the connection that refused it (nextResubscribeDelay, up to 2 s apart), so a
// reports-only client whose reconnect reached that node first stays there for good,
// its reports stopped with no error, while the primary (the other address) numbers them.
// For market data the same merge made the client leave a node refusing not_primary
// (leaveNotPrimary); busy, which now also means "not primary and behind", is never left.
//
// Scripted: node A (the first address) refuses its first login (down at the time), so
// the client subscribes at node B, the primary, which sends reports 1 and 2 and then
// loses the connection. The reconnect reaches A first (the first address): A, fenced,
// answers the resumption from 3 as a fenced node now does (report44, PROTOCOL.md
// section 8: the error frame shutting_down and the close; it was busy, for ever), every
// time. B answers the resumption ok. The test fails if A is sent refusalsMax
// resumptions before B gets one. (A lagging standby still answers busy, and catches up:
// netio's TestReportStreamsOfAStandbyThatIsNotFencedStayLive.)
func TestReportResumptionRefusedBusyByANonPrimaryNodeReachesThePrimary(t *testing.T) {
	const refusalsMax = 5
	outcome := make(chan string, 4)
	var resumptionsAtTheFencedNode atomic.Int32
	// subscribed accepts a subscription from next (the fenced node no longer answers
	// busy, so no refusal is written here).
	subscribed := func(peer *scriptedPeer, next uint64) bool {
		frame := subscribedFrame(next, 1)
		_, err := peer.conn.Write(wire.AppendFrame(nil, frame, frame.Body))
		return err == nil
	}
	deposed := startScriptedServerRefusing(t, func(connection int) wire.ErrorCode {
		if connection == 0 {
			return wire.ErrorShuttingDown // Down when the client first dials.
		}
		return 0
	}, func(_ int, peer *scriptedPeer) {
		if _, ok := peer.frameOf(wire.KindSubscribe); !ok {
			return
		}
		if resumptionsAtTheFencedNode.Add(1) >= refusalsMax {
			outcome <- "closed shutting_down at the fenced node, again and again"
			peer.drain()
			return
		}
		peer.refuse(wire.ErrorShuttingDown, 0) // Then the close (the script returns).
	})
	primary := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		request, ok := peer.frameOf(wire.KindSubscribe)
		if !ok {
			return
		}
		if connection > 0 {
			var subscribe wire.Subscribe
			subscribe.Decode(request.Body)
			outcome <- "resumed at the primary"
			subscribed(peer, subscribe.FromSequence)
			peer.drain()
			return
		}
		if !subscribed(peer, 1) {
			return
		}
		for sequence := uint64(1); sequence <= 2; sequence++ {
			if _, err := peer.conn.Write(wire.AppendFrame(nil, &wire.Frame{
				Kind: wire.KindReport, Aux: sequence},
				make([]byte, model.ExecutionReportSize))); err != nil {
				return
			}
		}
		// The connection ends once the client has both reports (a lost link).
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{deposed, primary}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	handled := make(chan uint64, 8)
	if _, err := c.Subscribe(ctx, 0, func(r Report) { handled <- r.Sequence }); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 2; want++ {
		select {
		case got := <-handled:
			if got != want {
				t.Fatalf("handled report %d, want %d", got, want)
			}
		case <-ctx.Done():
			t.Fatal("reports 1 and 2 of the primary never reached the handler")
		}
	}
	select {
	case got := <-outcome:
		if got != "resumed at the primary" {
			t.Fatalf("after the connection to the primary was lost, the report resumption "+
				"from 3 was %s (%d times) and never reached the primary, the other "+
				"address: a fenced node never numbers reports again", got, refusalsMax)
		}
	case <-ctx.Done():
		t.Fatal("the report subscription was never resumed")
	}
}
