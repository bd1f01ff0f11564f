package netio

import (
	"sync"
	"testing"
)

// Scenario tests of review2-netio53 (checked fine): the md_subscribe queue's per-slot
// reserve (queueOrder, nextOrder, connectionTable.marketDataWaiting) when a slot is
// reused while a feed still holds the previous connection's frames, on a node of two
// feeds, and with the publisher serving while two event loops queue.

func review2Feed() *marketData {
	return &marketData{ordersWake: make(chan struct{}, 1)}
}

func review2Queue(m *marketData, conn *connection, count int) (queued int) {
	for range count {
		order := marketDataOrder{conn: conn}
		if m.queueOrder(&order) {
			queued++
		}
	}
	return queued
}

func review2Serve(t *testing.T, m *marketData, count int, table *connectionTable) {
	t.Helper()
	for range count {
		if _, ok := m.nextOrder(); !ok {
			t.Fatal("nextOrder: nothing waiting")
		}
		for slot := range table.marketDataWaiting {
			if n := table.marketDataWaiting[slot].Load(); n < 0 {
				t.Fatalf("slot %d counter %d, below zero", slot, n)
			}
		}
	}
}

// TestReview2Netio53SlotReusedWhileItsFramesWait: a connection that takes the slot of one
// that closed with 16 frames queued past the full queue gets no reserve until the feed
// has served them, then exactly what they freed; the slot's counter never goes below
// zero and is back to 0 once all is served.
func TestReview2Netio53SlotReusedWhileItsFramesWait(t *testing.T) {
	table := newConnectionTable(2)
	flooder, closing := &connection{}, &connection{}
	if !table.insert(flooder) || !table.insert(closing) {
		t.Fatal("insert")
	}
	feed := review2Feed()
	if got := review2Queue(feed, flooder, marketDataCommandsMax+100); got != marketDataCommandsMax {
		t.Fatalf("flooder queued %d, want %d", got, marketDataCommandsMax)
	}
	if got := review2Queue(feed, closing, 20); got != marketDataCommandsPerConnectionReserved {
		t.Fatalf("second connection queued %d past the full queue, want %d", got,
			marketDataCommandsPerConnectionReserved)
	}
	table.remove(closing)
	next := &connection{}
	if !table.insert(next) || uint32(next.id) != uint32(closing.id) {
		t.Fatal("the new connection did not take the closed one's slot")
	}
	if got := review2Queue(feed, next, 1); got != 0 {
		t.Fatalf("new connection queued %d while its slot's 16 wait on a full queue", got)
	}
	// The flooder's frames, then 5 of the closed connection's.
	review2Serve(t, feed, marketDataCommandsMax+5, table)
	// The queue now holds 11 (< 1,024): anything goes in; fill it to the bound again.
	review2Queue(feed, flooder, marketDataCommandsMax)
	if got := review2Queue(feed, next, 20); got != 5 {
		t.Fatalf("new connection queued %d past the full queue, want the 5 freed", got)
	}
	waiting := len(feed.orders) - feed.ordersHead
	if bound := marketDataCommandsMax + 2*marketDataCommandsPerConnectionReserved; waiting > bound {
		t.Fatalf("%d waiting, above %d", waiting, bound)
	}
	review2Serve(t, feed, waiting, table)
	for slot := range table.marketDataWaiting {
		if n := table.marketDataWaiting[slot].Load(); n != 0 {
			t.Fatalf("slot %d counter %d once all is served, want 0", slot, n)
		}
	}
	if _, ok := feed.nextOrder(); ok {
		t.Fatal("an order left")
	}
}

// TestReview2Netio53ReserveIsOverEveryFeed: on a node of two feeds the reserve is the
// connection's over both (PROTOCOL.md 8a, "over every feed together"): 16 frames waiting
// on one feed leave none past another feed's full queue, and serving them gives it back.
func TestReview2Netio53ReserveIsOverEveryFeed(t *testing.T) {
	table := newConnectionTable(2)
	flooder, client := &connection{}, &connection{}
	if !table.insert(flooder) || !table.insert(client) {
		t.Fatal("insert")
	}
	shard0, shard1 := review2Feed(), review2Feed()
	review2Queue(shard0, flooder, marketDataCommandsMax)
	if got := review2Queue(shard1, client, marketDataCommandsPerConnectionReserved); got !=
		marketDataCommandsPerConnectionReserved {
		t.Fatalf("queued %d on the idle feed", got)
	}
	if got := review2Queue(shard0, client, 1); got != 0 {
		t.Fatalf("queued %d past shard 0's full queue with 16 waiting on shard 1", got)
	}
	review2Serve(t, shard1, 1, table)
	if got := review2Queue(shard0, client, 2); got != 1 {
		t.Fatalf("queued %d past shard 0's full queue with 15 waiting on shard 1, want 1", got)
	}
}

// TestReview2Netio53QueueAndServeConcurrently (-race): two connections on two event
// loops queue while the publisher serves; every frame queued is served once and the
// counters end at 0.
func TestReview2Netio53QueueAndServeConcurrently(t *testing.T) {
	table := newConnectionTable(2)
	a, b := &connection{}, &connection{}
	if !table.insert(a) || !table.insert(b) {
		t.Fatal("insert")
	}
	feed := review2Feed()
	var queued [2]int
	var loops sync.WaitGroup
	for index, conn := range []*connection{a, b} {
		loops.Add(1)
		go func() {
			defer loops.Done()
			queued[index] = review2Queue(feed, conn, 3*marketDataCommandsMax)
		}()
	}
	served := 0
	done := make(chan struct{})
	go func() { loops.Wait(); close(done) }()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		case <-feed.ordersWake:
		}
		for {
			if _, ok := feed.nextOrder(); !ok {
				break
			}
			served++
		}
	}
	if served != queued[0]+queued[1] {
		t.Fatalf("served %d, queued %d", served, queued[0]+queued[1])
	}
	if a.marketDataWaiting.Load() != 0 || b.marketDataWaiting.Load() != 0 {
		t.Fatalf("counters %d and %d, want 0", a.marketDataWaiting.Load(),
			b.marketDataWaiting.Load())
	}
	if cap(feed.orders) > 4*(marketDataCommandsMax+2*marketDataCommandsPerConnectionReserved) {
		t.Fatalf("capacity %d", cap(feed.orders))
	}
}
