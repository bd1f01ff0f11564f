package netio

import (
	"fmt"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/wire"
)

// fakeLoop stands in for a gnet event loop: only its identity is used (flush groups
// connections by loop).
type fakeLoop struct {
	gnet.EventLoop
	id int
}

// deliverTestServer is a server (not started) with an empty keyring over nullBackend,
// its Config changed by configure when given.
func deliverTestServer(t *testing.T, configure func(*Config)) *Server {
	t.Helper()
	keys, err := NewKeyring(KeysFile{Version: KeysFileVersion})
	if err != nil {
		t.Fatal(err)
	}
	config := Config{Keys: keys}
	if configure != nil {
		configure(&config)
	}
	s, err := NewServer(config, nullBackend{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// activeConnection is an active connection over c with the session, in s's table.
func activeConnection(t *testing.T, s *Server, c gnet.Conn, session uint64) *connection {
	t.Helper()
	conn := &connection{conn: c, session: session}
	if !s.table.insert(conn) {
		t.Fatal("connection table full")
	}
	conn.active.Store(true)
	return conn
}

// loopRecordingConn stands in for a gnet.Conn whose loop runs a lent callback at once and
// whose socket takes every byte; it records each Write.
type loopRecordingConn struct {
	gnet.Conn
	loop   *fakeLoop
	writes [][]byte
}

func (c *loopRecordingConn) EventLoop() gnet.EventLoop { return c.loop }
func (c *loopRecordingConn) OutboundBuffered() int     { return 0 }

func (c *loopRecordingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *loopRecordingConn) AsyncWritev(_ [][]byte, callback gnet.AsyncCallback) error {
	return callback(c, nil)
}

// TestDeliverGroupsEveryConnectionsRuns: one Deliver call whose replies come in runs that
// return to each connection several times writes each connection's replies in one write,
// in the order given, to that connection alone, with one loop task per event loop;
// whether the call's connections are few (found by comparing each) or more than
// deliverBatchesScannedMax (indexed in the scratch's map from the first beyond), and
// over calls that reuse the scratch.
func TestDeliverGroupsEveryConnectionsRuns(t *testing.T) {
	const runsPerConnection, repliesPerRun, loopCount = 3, 2, 3
	for _, connectionCount := range []int{1, 2, deliverBatchesScannedMax,
		deliverBatchesScannedMax + 1, deliverBatchesScannedMax + 2, 40} {
		t.Run(fmt.Sprint("connections=", connectionCount), func(t *testing.T) {
			s := deliverTestServer(t, nil)
			loops := make([]*fakeLoop, loopCount)
			for i := range loops {
				loops[i] = &fakeLoop{id: i}
			}
			conns := make([]*connection, connectionCount)
			fakes := make([]*loopRecordingConn, connectionCount)
			for k := range conns {
				fakes[k] = &loopRecordingConn{loop: loops[k%loopCount]}
				conns[k] = activeConnection(t, s, fakes[k], uint64(k+1))
			}
			// The same connections in each call, first seen in another order each time: the
			// scratch, back from its pool, must not find a connection where the call
			// before put it.
			for call := range 3 {
				for _, fake := range fakes {
					fake.writes = nil
				}
				var body [model.EventResultSize]byte
				var replies []backend.Reply
				numbers := make([]uint64, connectionCount)
				for run := range runsPerConnection {
					for j := range connectionCount {
						// Each round visits the connections in another order.
						k := (j*7 + run*3 + call*5) % connectionCount
						if connectionCount%7 == 0 {
							k = (j + run + call*5) % connectionCount
						}
						for range repliesPerRun {
							numbers[k]++
							replies = append(replies, backend.Reply{Connection: conns[k].id,
								Session: conns[k].session, Number: numbers[k],
								Operation: model.OperationCreateTransfers,
								Status:    model.StatusOK, Op: numbers[k], Body: body[:]})
						}
					}
				}
				tasksBefore := s.counters.loopTasks.Load()
				s.Deliver(replies)
				loopsUsed := min(connectionCount, loopCount)
				if tasks := s.counters.loopTasks.Load() - tasksBefore; tasks != uint64(loopsUsed) {
					t.Errorf("call %d: %d loop tasks, want %d (one per loop)", call, tasks,
						loopsUsed)
				}
				for k, fake := range fakes {
					if len(fake.writes) != 1 {
						t.Fatalf("call %d connection %d: %d writes, want 1", call, k,
							len(fake.writes))
					}
					written := fake.writes[0]
					for number := uint64(1); number <= runsPerConnection*repliesPerRun; number++ {
						frame, err := wire.DecodeHeader(written)
						if err != nil {
							t.Fatalf("call %d connection %d frame %d: %v", call, k, number, err)
						}
						if frame.Kind != wire.KindReply || frame.Session != conns[k].session ||
							frame.Number != number {
							t.Fatalf("call %d connection %d: %s session %d number %d, want "+
								"reply session %d number %d", call, k, frame.Kind,
								frame.Session, frame.Number, conns[k].session, number)
						}
						if err := wire.CheckChecksum(written[:frame.FrameSize()]); err != nil {
							t.Fatalf("call %d connection %d frame %d: %v", call, k, number, err)
						}
						written = written[frame.FrameSize():]
					}
					if len(written) != 0 {
						t.Fatalf("call %d connection %d: %d bytes after its replies", call, k,
							len(written))
					}
				}
			}
		})
	}
}
