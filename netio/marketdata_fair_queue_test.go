package netio_test

import (
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestMarketDataFloodingConnectionCannotMakeAnotherBusy (Session 52 leftover, hunt53b):
// a feed's md_subscribe queue (1,024 frames) was shared by every connection, so one
// connection writing thousands of md_subscribe frames at once (a client without a rate
// limit) filled it and every other connection's md_subscribe was answered busy until the
// publisher had served the flood. Each connection now has a few frames of its own that
// may wait beyond the shared bound: the flooder still gets busy past the shared 1,024,
// the other connection's frame waits and is served.
//
// The publisher is held on the flood's first frame (the order hook), so the queue is
// full when the second connection subscribes; that connection's request sent after its
// md_subscribe is answered only once its loop has handled the md_subscribe (frames of a
// connection are handled in order), so its reply shows the md_subscribe's fate without
// any timing.
func TestMarketDataFloodingConnectionCannotMakeAnotherBusy(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	held, releaseOnce := holdMarketDataPublisher(t)

	flooder := dialRaw(t, h.server.Address())
	flooder.login(clientAll, 1, secretOne, 7)
	const flood = 2000
	const sharedMax = 1024 // PROTOCOL.md 8a: frames waiting per feed, every connection's.
	var frames []byte
	body := make([]byte, wire.MarketDataSubscribeSize)
	for index := range flood {
		(&wire.MarketDataSubscribe{Instrument: uint32(index + 1),
			Channels: wire.ChannelLevels}).Encode(body)
		frames = wire.AppendFrame(frames, &wire.Frame{Kind: wire.KindMarketDataSubscribe,
			Session: 7}, body)
	}
	flooder.write(frames)
	select {
	case <-held:
	case <-time.After(waitLimit):
		t.Fatal("the publisher never took the flood's first md_subscribe")
	}
	// One frame is on the publisher, sharedMax wait, every other one is busy at once.
	for busy := 0; busy < flood-1-sharedMax; busy++ {
		frame := flooder.next()
		if frame.Kind != wire.KindMarketDataSubscribed ||
			frame.Status != uint32(model.StatusBusy) {
			t.Fatalf("flood answer %d: %s status %d, want md_subscribed busy", busy,
				frame.Kind, frame.Status)
		}
	}

	other := dialRaw(t, h.server.Address())
	other.login(clientAll, 1, secretOne, 8)
	other.marketDataSubscribe(8, 500000, wire.ChannelLevels, 0)
	other.write(requestFrame(8, 1, model.OperationLookupAccounts, encodeIDs(1)))
	frame := other.next()
	if frame.Kind == wire.KindMarketDataSubscribed {
		t.Fatalf("another connection's md_subscribe, sent while one connection's flood "+
			"filled the feed's queue: status %s, want it to wait and be served",
			model.Status(frame.Status))
	}
	if frame.Kind != wire.KindReply || frame.Number != 1 {
		t.Fatalf("got %s number %d, want the reply to request 1", frame.Kind, frame.Number)
	}
	releaseOnce()
	_, answer := other.untilSubscribed()
	if answer.Status != uint32(model.StatusOK) {
		t.Fatalf("the other connection's md_subscribe: status %s, want ok",
			model.Status(answer.Status))
	}
	var subscribed wire.MarketDataSubscribed
	subscribed.Decode(answer.Body)
	if subscribed.Instrument != 500000 {
		t.Fatalf("answer for instrument %d, want 500000", subscribed.Instrument)
	}
	// The flood's queued frames are all served too (none lost to the change); one more
	// of them may have been busy (the publisher took the first before the queue filled).
	ok, busy := 0, 0
	for range flood - (flood - 1 - sharedMax) {
		frame := flooder.next()
		switch {
		case frame.Kind != wire.KindMarketDataSubscribed:
			t.Fatalf("flood answer: %s, want md_subscribed", frame.Kind)
		case frame.Status == uint32(model.StatusOK):
			ok++
		case frame.Status == uint32(model.StatusBusy):
			busy++
		default:
			t.Fatalf("flood answer: status %s", model.Status(frame.Status))
		}
	}
	if ok < sharedMax || busy > 1 {
		t.Fatalf("flood: %d more served, %d more busy; want at least %d served", ok, busy,
			sharedMax)
	}
}

// holdMarketDataPublisher holds the market-data publisher on the first subscription change
// it takes (the order hook): held is closed once it is held, releaseOnce lets it go on
// (any number of times; at cleanup too, and after waitLimit should the test fail).
func holdMarketDataPublisher(t *testing.T) (held <-chan struct{}, releaseOnce func()) {
	t.Helper()
	holding, release := make(chan struct{}), make(chan struct{})
	first := true
	netio.SetTestHookMarketDataOrder(t, func() {
		if first {
			first = false
			close(holding)
			select {
			case <-release:
			case <-time.After(waitLimit): // The test failed: do not hold the publisher.
			}
		}
	})
	releaseOnce = sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	return holding, releaseOnce
}
