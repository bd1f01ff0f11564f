package netio_test

import (
	"math"
	"testing"

	"sequent/netio/wire"
)

// TestReportSubscribeEdgeSequences (PROTOCOL.md sections 4 and 8) against a real shard
// holding reports 1..3: the subscribed answer to from_sequence 0, 1, next (4), and the
// largest u64, then one live report (4) on each connection, numbered as next_sequence
// said. from 0: next 4, oldest 0 (no replay asked), nothing replayed; from 1: 1..3
// replayed, oldest 1; from 4: nothing replayed, oldest 1, next 4; from the largest u64:
// the documented look of a loss (next 4 below it), not a wrap of from − 1.
func TestReportSubscribeEdgeSequences(t *testing.T) {
	server, replays := startPausedShardServer(t, func(int, int) bool { return false })
	maker := newReportMaker(t, server.Address())
	maker.make(t, 3)
	waitStored(t, replays.Shard, 3)
	type want struct {
		replayed              []uint64
		oldest, through, next uint64
	}
	cases := []struct {
		from uint64
		want want
	}{
		{0, want{nil, 0, 0, 4}},
		{1, want{[]uint64{1, 2, 3}, 1, 3, 4}},
		{4, want{nil, 1, 0, 4}},
		{math.MaxUint64, want{nil, 1, 0, 4}},
	}
	conns := make([]*rawConn, len(cases))
	for i, c := range cases {
		r := dialRaw(t, server.Address())
		r.login(clientAll, 1, secretOne, uint64(100+i))
		r.subscribeReports(uint64(100+i), c.from)
		var replayed []uint64
		frame := r.next()
		for frame.Kind == wire.KindReport {
			replayed = append(replayed, frame.Aux)
			frame = r.next()
		}
		if frame.Kind != wire.KindSubscribed || frame.Status != 0 {
			t.Fatalf("from %d: %s status %d, want subscribed 0", c.from, frame.Kind,
				frame.Status)
		}
		var body wire.Subscribed
		body.Decode(frame.Body)
		got := want{replayed, body.OldestSequence, body.ReplayedThrough, frame.Aux}
		if len(got.replayed) != len(c.want.replayed) || got.oldest != c.want.oldest ||
			got.through != c.want.through || got.next != c.want.next {
			t.Errorf("from %d: %+v, want %+v", c.from, got, c.want)
		}
		for j := range got.replayed {
			if got.replayed[j] != c.want.replayed[j] {
				t.Errorf("from %d: replayed %v, want %v", c.from, got.replayed,
					c.want.replayed)
				break
			}
		}
		conns[i] = r
	}
	maker.make(t, 1)
	for i, r := range conns {
		if frame := r.next(); frame.Kind != wire.KindReport || frame.Aux != 4 {
			t.Errorf("from %d: after the answer %s aux %d, want report 4", cases[i].from,
				frame.Kind, frame.Aux)
		}
	}
}
