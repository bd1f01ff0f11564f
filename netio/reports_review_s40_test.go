package netio_test

import (
	"sync"
	"testing"

	"sequent/netio/wire"
)

// TestReviewOldSubscriptionHeaderNumberZero: a client written from the PROTOCOL.md
// before streams per shard subscribes as it was told (shard field 0, "send 0"). Its
// header table gave `subscribed` and `report` frames a `number` of 0 ("else 0"), and
// section 3 has every header field a kind does not use be 0, which a strict client
// checks of the server's frames as the server checks the client's. Such a client on a
// node of several shards whose default instrument shard is not shard 0 (shard 1 here)
// got number 0 from the server before this session; it must still, or it trips on a
// frame it was promised would not carry anything there. Fails on main: number is the
// default shard (1) in the subscribed answer and in every report.
func TestReviewOldSubscriptionHeaderNumberZero(t *testing.T) {
	h, shards := newTwoReportShards(t) // Default shard 1.
	shards.other.Report(clientAll, []byte{0xB1})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	r.write(subscribeFrame(1, 1, 0)) // As an old client: from 1, field 0.
	r.expectReport(0, 1, 0xB1)
	r.expectSubscribed(0, 2, wire.Subscribed{OldestSequence: 1, ReplayedThrough: 1})
	shards.other.Report(clientAll, []byte{0xB2})
	r.expectReport(0, 2, 0xB2)
}

// TestReviewTwoShardsReplaysUnderConcurrentLiveReports: both shards make reports from
// their own goroutines (as a node's shards deliver theirs, each on its own goroutine)
// while one connection subscribes to each shard with a replay from 1 and another
// connection subscribes to shard 1 live; each shard's reports reach the replaying
// connection exactly once each, 1..reportsPerShard in order, whatever was replayed and
// whatever was held live. Run with -race: the loop publishes streams while both shards'
// DeliverReports and both replays touch them.
func TestReviewTwoShardsReplaysUnderConcurrentLiveReports(t *testing.T) {
	const reportsPerShard = 400
	h, shards := newTwoReportShards(t)
	for range 20 { // Some to replay before the subscription.
		shards.Report(clientAll, []byte{0xA0})
		shards.other.Report(clientAll, []byte{0xB0})
	}
	live := dialRaw(t, h.server.Address())
	live.login(clientAll, 1, secretOne, 2)
	live.write(subscribeFrame(2, 0, 2))
	if frame := live.next(); frame.Kind != wire.KindSubscribed || frame.Number != 1 ||
		frame.Aux != 21 {
		t.Fatalf("live subscription: %s number %d aux %d", frame.Kind, frame.Number,
			frame.Aux)
	}
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	var producers sync.WaitGroup
	for _, produce := range []func(){
		func() { shards.Report(clientAll, []byte{0xA0}) },
		func() { shards.other.Report(clientAll, []byte{0xB0}) },
	} {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for range reportsPerShard - 20 {
				produce()
			}
		}()
	}
	r.write(subscribeFrame(1, 1, 1)) // Shard 0 from 1.
	r.write(subscribeFrame(1, 1, 2)) // Shard 1 from 1.
	last := map[uint64]uint64{}
	subscribed := map[uint64]bool{}
	for last[0] < reportsPerShard || last[1] < reportsPerShard || !subscribed[0] ||
		!subscribed[1] {
		frame := r.next()
		switch {
		case frame.Kind == wire.KindSubscribed && frame.Status == 0 && frame.Number <= 1 &&
			!subscribed[frame.Number]:
			subscribed[frame.Number] = true
		case frame.Kind == wire.KindReport && frame.Number <= 1 &&
			frame.Aux == last[frame.Number]+1:
			last[frame.Number] = frame.Aux
		default:
			t.Fatalf("%s status %d number %d aux %d after %v (subscribed %v)", frame.Kind,
				frame.Status, frame.Number, frame.Aux, last, subscribed)
		}
	}
	producers.Wait()
	// The live connection got shard 1's from 21 on, none of shard 0's.
	for sequence := uint64(21); sequence <= reportsPerShard; sequence++ {
		live.expectReport(1, sequence, 0xB0)
	}
}
