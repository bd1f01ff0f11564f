package netio

import (
	"os"
	"strings"
	"testing"
)

// TestMarketDataCommandsBoundDocumented: PROTOCOL.md sections 8a and 14 give the number of
// md_subscribe frames that may wait for a feed before the next is answered busy (hunt46b:
// 4,096 sent in one write, 3,071 busy) and the frames each connection may have waiting
// beyond it (hunt53b); this keeps the numbers the ones the feed's queue applies
// (marketDataCommandsMax, marketDataCommandsPerConnectionReserved), and checks that it
// applies them.
func TestMarketDataCommandsBoundDocumented(t *testing.T) {
	document, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	const documented, reserved = "1,024", "16"
	if marketDataCommandsMax != 1024 || marketDataCommandsPerConnectionReserved != 16 {
		t.Fatalf("marketDataCommandsMax is %d, marketDataCommandsPerConnectionReserved %d: "+
			"PROTOCOL.md says %s and %s (sections 8a and 14)", marketDataCommandsMax,
			marketDataCommandsPerConnectionReserved, documented, reserved)
	}
	for _, claim := range []string{
		"at most " + documented + " md_subscribe\nframes wait to be served at once per feed",
		"each connection may still have " + reserved + " of its own\nmd_subscribe frames waiting",
		"| md_subscribe frames waiting to be served | " + documented + " per feed",
		"except to a connection with fewer than " + reserved + " of its own waiting |",
	} {
		if !strings.Contains(string(document), claim) {
			t.Fatalf("PROTOCOL.md no longer says %q", claim)
		}
	}
	feed := newMarketData(&Server{}, MarketDataConfig{}, 0)
	flooder, other := &connection{id: 1}, &connection{id: 2}
	for index := range marketDataCommandsMax {
		if !feed.queueOrder(&marketDataOrder{conn: flooder}) {
			t.Fatalf("frame %d of one connection refused, want %d queued", index,
				marketDataCommandsMax)
		}
	}
	if feed.queueOrder(&marketDataOrder{conn: flooder}) {
		t.Fatalf("one connection queued more than %d frames", marketDataCommandsMax)
	}
	for index := range marketDataCommandsPerConnectionReserved {
		if !feed.queueOrder(&marketDataOrder{conn: other}) {
			t.Fatalf("another connection's frame %d refused behind a full queue, want %d "+
				"queued", index, marketDataCommandsPerConnectionReserved)
		}
	}
	if feed.queueOrder(&marketDataOrder{conn: other}) {
		t.Fatalf("another connection queued more than %d frames behind a full queue",
			marketDataCommandsPerConnectionReserved)
	}
	// Served in the order queued, and each served frame frees its connection's count.
	for index := range marketDataCommandsMax + marketDataCommandsPerConnectionReserved {
		order, ok := feed.nextOrder()
		want := flooder
		if index >= marketDataCommandsMax {
			want = other
		}
		if !ok || order.conn != want {
			t.Fatalf("order %d: connection %v (%v), want %d", index, order.conn, ok, want.id)
		}
	}
	if _, ok := feed.nextOrder(); ok {
		t.Fatal("an order left after every queued one was served")
	}
	if flooder.marketDataWaiting.Load() != 0 || other.marketDataWaiting.Load() != 0 {
		t.Fatalf("waiting counts %d and %d once served, want 0",
			flooder.marketDataWaiting.Load(), other.marketDataWaiting.Load())
	}
	if !feed.queueOrder(&marketDataOrder{conn: other}) {
		t.Fatal("a frame refused once the queue was served")
	}
	// A queue that never empties (one served, one queued, for ever) keeps its size.
	for range marketDataCommandsMax {
		feed.queueOrder(&marketDataOrder{conn: flooder})
	}
	for range 64 * marketDataCommandsMax {
		if _, ok := feed.nextOrder(); !ok {
			t.Fatal("the queue emptied")
		}
		if !feed.queueOrder(&marketDataOrder{conn: flooder}) {
			t.Fatal("a frame refused after one was served")
		}
	}
	if capacity := cap(feed.orders); capacity > 4*(marketDataCommandsMax+1) {
		t.Fatalf("a queue never empty grew to %d orders, waiting at most %d", capacity,
			marketDataCommandsMax+1)
	}
}
