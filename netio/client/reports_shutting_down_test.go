package client

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"sequent/netio/wire"
)

// TestReportSubscriptionsClosedShuttingDownAgainSpaceTheReconnectsOut (report44): a
// fenced node closes a report subscription, and answers a report subscribe, with the
// error frame shutting_down (PROTOCOL.md section 8). With one address (a proxy, or the
// others down) the client can only reconnect there: with no back-off it logged in and
// subscribed at the fenced node in a tight loop, at loopback speed, for as long as the
// node stayed fenced. The second and later such losses in a row now wait
// (waitAfterReportsShutDown, logged once per wait, which is what this test counts; no
// clock is read), and an accepted report subscription starts the row again.
//
// Scripted, one address: connection 0 accepts the subscription and is then closed
// shutting_down (the first in a row: no wait); connections 1 to 3 are closed
// shutting_down on the resumption (the second to fourth in a row: three waits);
// connection 4 accepts the resumption and is then closed shutting_down (the row started
// again by the acceptance: no wait); connection 5 accepts it. Three waits, not four.
func TestReportSubscriptionsClosedShuttingDownAgainSpaceTheReconnectsOut(t *testing.T) {
	resumedAtTheEnd := make(chan struct{})
	address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		if _, ok := peer.frameOf(wire.KindSubscribe); !ok {
			return
		}
		if connection >= 1 && connection <= 3 {
			peer.refuse(wire.ErrorShuttingDown, 0)
			return
		}
		frame := subscribedFrame(1, 0)
		if _, err := peer.conn.Write(wire.AppendFrame(nil, frame, frame.Body)); err != nil {
			return
		}
		if connection == 5 {
			close(resumedAtTheEnd)
			peer.drain()
			return
		}
		peer.refuse(wire.ErrorShuttingDown, 0)
	})
	var mu sync.Mutex
	waits := 0
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1,
		Logger: slog.New(messageCounter{text: "closed shutting_down again", mu: &mu,
			count: &waits})})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Subscribe(ctx, 0, func(Report) {}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-resumedAtTheEnd:
	case <-ctx.Done():
		t.Fatal("the report subscription never reached connection 5")
	}
	mu.Lock()
	defer mu.Unlock()
	if waits != 3 {
		t.Fatalf("%d reconnects waited after shutting_down, want 3 (after the second to "+
			"fourth in a row; none after the first, nor after the one that followed an "+
			"accepted subscription)", waits)
	}
}
