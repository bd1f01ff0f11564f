package netio

import (
	"os"
	"strings"
	"testing"
)

// TestMarketDataCommandsBoundDocumented: PROTOCOL.md sections 8a and 14 give the number of
// md_subscribe frames that may wait for a feed before the next is answered busy (hunt46b:
// 4,096 sent in one write, 3,071 busy); this keeps the number the one the feed's queue
// has (marketDataCommandsMax), and that queue that size.
func TestMarketDataCommandsBoundDocumented(t *testing.T) {
	document, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	const documented = "1,024"
	if marketDataCommandsMax != 1024 {
		t.Fatalf("marketDataCommandsMax is %d: PROTOCOL.md says %s (sections 8a and 14)",
			marketDataCommandsMax, documented)
	}
	for _, claim := range []string{
		"at most " + documented + " md_subscribe\nframes wait to be served at once per feed",
		"| md_subscribe frames waiting to be served | " + documented + " per feed",
	} {
		if !strings.Contains(string(document), claim) {
			t.Fatalf("PROTOCOL.md no longer says %q", claim)
		}
	}
	feed := newMarketData(&Server{}, MarketDataConfig{}, 0)
	if cap(feed.commands) != marketDataCommandsMax {
		t.Fatalf("a feed queues %d md_subscribe frames, want %d", cap(feed.commands),
			marketDataCommandsMax)
	}
}
