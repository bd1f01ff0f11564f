package netio_test

import (
	"sync"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// TestReview50DeliverFromTwoShardsAtOnce: two goroutines (two shards' turns) call
// Deliver at once, to the same connections on two event loops, in every shape a call
// takes since perfnet50 (one connection: its batch kept aside without a scratch; two;
// runs that come back A, B, A; more connections than deliverBatchesScannedMax), sharing
// the server's pools of buffers, scratches and loop deliveries. Each connection then
// reads every reply of each goroutine exactly once, each goroutine's in the order it
// delivered them (only the two goroutines' interleaving is free). Run with -race.
func TestReview50DeliverFromTwoShardsAtOnce(t *testing.T) {
	const connectionCount, callsPerGoroutine, goroutines = 11, 60, 2
	recorder := newConnectionRecorder()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) { c.EventLoops = 2 },
		wrap: func(fake *fakeshard.Backend) backend.Backend {
			recorder.Backend = fake
			return recorder
		}})
	raws := make([]*rawConn, connectionCount)
	ids := make([]uint64, connectionCount)
	for k := range raws {
		session := uint64(700 + k)
		raws[k] = dialRaw(t, h.server.Address())
		raws[k].login(clientAll, 1, secretOne, session)
		raws[k].write(requestFrame(session, 1, model.OperationLookupAccounts, encodeIDs(1)))
		if frame := raws[k].next(); frame.Kind != wire.KindReply || frame.Number != 1 {
			t.Fatalf("connection %d: %s %d, want the reply to request 1", k, frame.Kind,
				frame.Number)
		}
		ids[k] = recorder.of(session)
	}
	// The shapes of the calls, as lists of connection indexes in delivery order.
	shapes := [][]int{{3}, {3, 3, 3}, {0, 1}, {0, 1, 0}, {5, 2, 5, 2, 7},
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 10}, {10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9}}
	var body [model.EventResultSize]byte
	sent := make([][goroutines]int, connectionCount) // Replies per connection per goroutine.
	calls := make([][][]backend.Reply, goroutines)
	for g := range goroutines {
		for call := range callsPerGoroutine {
			shape := shapes[(call+g)%len(shapes)]
			var replies []backend.Reply
			for _, k := range shape {
				sent[k][g]++
				// Number: the goroutine in the high bits, its count for k below.
				number := uint64(g+1)<<32 | uint64(sent[k][g])
				replies = append(replies, backend.Reply{Connection: ids[k], Client: clientAll,
					Session: uint64(700 + k), Number: number,
					Operation: model.OperationCreateTransfers, Status: model.StatusOK, Op: 1,
					Body: body[:]})
			}
			calls[g] = append(calls[g], replies)
		}
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, replies := range calls[g] {
				h.server.Deliver(replies)
			}
		}()
	}
	wg.Wait()
	for k, raw := range raws {
		var next [goroutines]uint64
		for range sent[k][0] + sent[k][1] {
			frame := raw.next()
			g := int(frame.Number>>32) - 1
			if frame.Kind != wire.KindReply || frame.Session != uint64(700+k) || g < 0 ||
				g >= goroutines || frame.Number&(1<<32-1) != next[g]+1 {
				t.Fatalf("connection %d: %s session %d number %#x (next of each: %v)", k,
					frame.Kind, frame.Session, frame.Number, next)
			}
			next[g]++
		}
		// Nothing more: the answer to a new request comes next.
		raw.write(requestFrame(uint64(700+k), 2, model.OperationLookupAccounts,
			encodeIDs(1)))
		if frame := raw.next(); frame.Kind != wire.KindReply || frame.Number != 2 {
			t.Fatalf("connection %d: %s number %#x after its replies, want the reply to 2",
				k, frame.Kind, frame.Number)
		}
	}
}
