package netio

import (
	"testing"

	"github.com/panjf2000/gnet/v2"
	gnetErrors "github.com/panjf2000/gnet/v2/pkg/errors"

	"sequent/core/backend"
	"sequent/core/model"
)

// TestDeliverToALoneConnectionCountsItsBytes: a Deliver call whose replies all go to one
// connection (a lone caller's, sent without a deliverScratch) is admitted as any other:
// its bytes count as queued to the connection until its loop has written them (back to
// 0 then) and in the server's bytes queued, in one write and one loop task. A call whose
// only connection has closed writes nothing, lends nothing and counts its replies
// dropped.
func TestDeliverToALoneConnectionCountsItsBytes(t *testing.T) {
	s := deliverTestServer(t, nil)
	fake := &loopRecordingConn{loop: &fakeLoop{}}
	conn := activeConnection(t, s, fake, 1)
	var body [model.EventResultSize]byte
	replies := func() []backend.Reply {
		return []backend.Reply{
			{Connection: conn.id, Session: 1, Number: 1, Op: 1, Body: body[:],
				Operation: model.OperationCreateTransfers, Status: model.StatusOK},
			{Connection: conn.id, Session: 1, Number: 2, Op: 2, Body: body[:],
				Operation: model.OperationCreateTransfers, Status: model.StatusOK},
		}
	}
	queuedBefore, tasksBefore := s.counters.bytesQueued.Load(), s.counters.loopTasks.Load()
	s.Deliver(replies())
	if len(fake.writes) != 1 {
		t.Fatalf("%d writes, want 1", len(fake.writes))
	}
	written := uint64(len(fake.writes[0]))
	if queued := s.counters.bytesQueued.Load() - queuedBefore; queued != written {
		t.Errorf("bytes queued counted %d, want the %d written", queued, written)
	}
	if queued := conn.queuedBytes.Load(); queued != 0 {
		t.Errorf("connection's bytes queued %d once written, want 0", queued)
	}
	if tasks := s.counters.loopTasks.Load() - tasksBefore; tasks != 1 {
		t.Errorf("%d loop tasks, want 1", tasks)
	}

	conn.active.Store(false)
	droppedBefore, tasksBefore := s.counters.repliesDropped.Load(), s.counters.loopTasks.Load()
	s.Deliver(replies())
	if len(fake.writes) != 1 || s.counters.loopTasks.Load() != tasksBefore {
		t.Errorf("closed connection: %d writes, %d loop tasks more", len(fake.writes)-1,
			s.counters.loopTasks.Load()-tasksBefore)
	}
	if dropped := s.counters.repliesDropped.Load() - droppedBefore; dropped != 2 {
		t.Errorf("closed connection: %d replies dropped, want 2", dropped)
	}
}

// TestDeliverStampsEachConnectionsLastBytesQueued: every connection a Deliver call
// queues replies to has them recorded as its last bytes sent at the call's clock reading,
// one connection or several: the heartbeat ticker sends a heartbeat only to a connection
// that has been sent nothing for an interval, and one stamped 0 would get one at once
// after its replies.
func TestDeliverStampsEachConnectionsLastBytesQueued(t *testing.T) {
	for _, connectionCount := range []int{1, 2, deliverBatchesScannedMax + 1} {
		s := deliverTestServer(t, nil)
		conns := make([]*connection, connectionCount)
		var body [model.EventResultSize]byte
		var replies []backend.Reply
		for k := range conns {
			conns[k] = activeConnection(t, s, &loopRecordingConn{loop: &fakeLoop{id: k % 2}},
				uint64(k+1))
			replies = append(replies, backend.Reply{Connection: conns[k].id,
				Session: conns[k].session, Number: 1, Op: uint64(k + 1), Body: body[:],
				Operation: model.OperationCreateTransfers, Status: model.StatusOK})
		}
		before := s.now()
		s.Deliver(replies)
		after := s.now()
		for k, conn := range conns {
			if sent := conn.sent.Load(); sent < before || sent > after {
				t.Errorf("%d connections: connection %d's last bytes sent at %d, want "+
					"within the call (%d..%d)", connectionCount, k, sent, before, after)
			}
		}
	}
}

// stoppingConn stands in for a gnet.Conn whose engine is stopping: a lent callback is
// refused and never runs.
type stoppingConn struct {
	loopRecordingConn
}

func (c *stoppingConn) AsyncWritev(_ [][]byte, _ gnet.AsyncCallback) error {
	return gnetErrors.ErrEngineShutdown
}

// TestDeliverWhileTheEngineStopsReleasesItsBytes: replies whose loop task the stopping
// engine refuses are never written, and every connection's bytes queued go back to what
// they were (nothing lent stays counted against OutboundBytesMax): a lone connection, two
// on one loop (one task carrying both), two on two loops.
func TestDeliverWhileTheEngineStopsReleasesItsBytes(t *testing.T) {
	for _, c := range []struct {
		name  string
		loops []int // Each connection's loop.
	}{{"one connection", []int{0}}, {"two on one loop", []int{0, 0}},
		{"two on two loops", []int{0, 1}}, {"three on one loop", []int{0, 0, 0}}} {
		s := deliverTestServer(t, nil)
		loops := []*fakeLoop{{id: 0}, {id: 1}}
		var body [model.EventResultSize]byte
		var replies []backend.Reply
		conns := make([]*connection, len(c.loops))
		fakes := make([]*stoppingConn, len(c.loops))
		for k, loop := range c.loops {
			fakes[k] = &stoppingConn{loopRecordingConn{loop: loops[loop]}}
			conns[k] = activeConnection(t, s, fakes[k], uint64(k+1))
			replies = append(replies, backend.Reply{Connection: conns[k].id,
				Session: conns[k].session, Number: 1, Op: uint64(k + 1), Body: body[:],
				Operation: model.OperationCreateTransfers, Status: model.StatusOK})
		}
		s.Deliver(replies)
		for k, conn := range conns {
			if queued := conn.queuedBytes.Load(); queued != 0 || len(fakes[k].writes) != 0 {
				t.Errorf("%s: connection %d: %d bytes still queued, %d writes", c.name, k,
					queued, len(fakes[k].writes))
			}
		}
	}
}
