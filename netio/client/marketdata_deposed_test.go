package client

import (
	"context"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestMarketDataLeavesADeposedNodeForTheOtherAddress: node A (the first address) serves
// instrument 7's subscription, then stops being primary: it closes the connection with
// shutting_down (PROTOCOL.md 8a, "A node that stops being primary") and refuses every
// later md_subscribe not_primary, with no address to follow. The client reconnects to
// the first address, A again; its resumption is refused not_primary. It must then try
// node B, the other address, the new primary. Before the fix it retried the resumption
// on A's connection for ever (a back-off, never another node): a market-data-only
// client kept a stale book while B traded. Here A counts the resumptions its second
// connection is sent: a third one there fails the test.
func TestMarketDataLeavesADeposedNodeForTheOtherAddress(t *testing.T) {
	const refusalsMax = 3
	outcome := make(chan string, 4)
	deposed := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		request, ok := peer.frameOf(wire.KindMarketDataSubscribe)
		if !ok {
			return
		}
		if connection == 0 {
			if answerMarketDataSubscribe(peer, request, model.StatusOK) {
				peer.refuse(wire.ErrorShuttingDown, 0) // Deposed: the subscriber is told.
			}
			return
		}
		for refusals := 1; ; refusals++ {
			if !answerMarketDataSubscribe(peer, request, model.StatusNotPrimary) {
				return
			}
			if request, ok = peer.frameOf(wire.KindMarketDataSubscribe); !ok {
				return
			}
			if refusals+1 >= refusalsMax {
				outcome <- "retried at the deposed node"
				peer.drain()
				return
			}
		}
	})
	primary := startScriptedServer(t, func(_ int, peer *scriptedPeer) {
		request, ok := peer.frameOf(wire.KindMarketDataSubscribe)
		if !ok {
			return
		}
		outcome <- "resumed at the new primary"
		answerMarketDataSubscribe(peer, request, model.StatusOK)
		peer.drain()
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{deposed, primary}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.SubscribeMarketData(ctx, 7, wire.ChannelBook,
		func(MarketDataEvent) {}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-outcome:
		if got != "resumed at the new primary" {
			t.Fatalf("after node A stopped being primary, the market-data resumption was %s "+
				"(%d not_primary refusals on one connection) and never reached node B, "+
				"the other address", got, refusalsMax)
		}
	case <-ctx.Done():
		t.Fatal("the subscription was never resumed at node A or node B")
	}
}

// answerMarketDataSubscribe answers the md_subscribe request with status (its book
// channel, from the op asked) and reports whether it could: false for a request of
// another size or a connection already closed.
func answerMarketDataSubscribe(peer *scriptedPeer, request wire.Frame, status model.Status) bool {
	if len(request.Body) != wire.MarketDataSubscribeSize {
		return false
	}
	var subscribe wire.MarketDataSubscribe
	subscribe.Decode(request.Body)
	frame := marketDataSubscribedFrame(subscribe.Instrument, wire.ChannelBook,
		subscribe.FromOp)
	frame.Status = uint32(status)
	_, err := peer.conn.Write(wire.AppendFrame(nil, frame, frame.Body))
	return err == nil
}
