package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// TestReviewTwoFollowedBooksOnOneClient (review reviewmd, session 40; FAILS on main
// without the fix in netio/client, marketDataSubscription.books). Market data now
// covers every shard, and README and PROTOCOL.md say that client.FollowBook works on
// any shard's instrument; a client following one book per shard (instrument 7 on shard
// 1, instrument 5 on shard 0) on one connection is the use the change invites. But a
// client's market-data subscriptions shared the first call's handler, so the second
// FollowBook's inbox was never given an event: its book was built from its snapshot,
// reported exact, and never moved again (no gap, no md_stale, nothing told it). Older
// than this change (one shard had the same trap with two instruments); found while
// checking FollowBook across shards.
func TestReviewTwoFollowedBooksOnOneClient(t *testing.T) {
	running, dev, run, _ := twoShardNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialDev(t, ctx, running.server.Address(), dev)
	var mutex sync.Mutex
	sequences := map[uint32]uint64{} // Each followed book's sequence while exact.
	for _, instrument := range []uint32{7, 5} {
		synced := make(chan struct{}, 1)
		go func() {
			_ = client.FollowBook(ctx, c, instrument, func(b *client.BookBuilder,
				_ []model.MarketDataUpdate) {
				mutex.Lock()
				sequences[instrument] = b.Book.Sequence
				mutex.Unlock()
				select {
				case synced <- struct{}{}:
				default:
				}
			})
		}()
		select {
		case <-synced: // Built from its snapshot.
		case <-ctx.Done():
			t.Fatalf("instrument %d's book was never built", instrument)
		}
	}
	placeOrder(run, "1", "7", "buy", "100")
	placeOrder(run, "2", "5", "buy", "100")
	placeOrder(run, "3", "7", "sell", "105")
	placeOrder(run, "4", "5", "sell", "105")
	for _, instrument := range []uint32{7, 5} {
		header, _, err := c.GetBook(ctx, instrument, model.DepthLevelsPerSideMax)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second) // A bound on a wait of milliseconds.
		for {
			mutex.Lock()
			sequence := sequences[instrument]
			mutex.Unlock()
			if sequence == header.Sequence {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the book of instrument %d followed on the same client stays at "+
					"sequence %d, get_book at %d: its FollowBook is never given an update",
					instrument, sequence, header.Sequence)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
