package netio

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/wire"
)

// review50Conn stands in for a gnet.Conn for the perfnet50 review: tasks lent to it
// (AsyncWritev, AsyncWrite) are queued until run is called, as a loop's queue holds them;
// lendErr makes AsyncWritev fail (the engine stopping) without queuing; closed makes
// queued tasks run with the connection's error, as gnet runs them on a closed connection.
type review50Conn struct {
	gnet.Conn
	loop    *fakeLoop
	writes  [][]byte
	tasks   []gnet.AsyncCallback
	lendErr error
	closed  bool
}

func (c *review50Conn) EventLoop() gnet.EventLoop { return c.loop }
func (c *review50Conn) OutboundBuffered() int     { return 0 }
func (c *review50Conn) Context() any              { return nil }
func (c *review50Conn) Close() error              { c.closed = true; return nil }
func (c *review50Conn) SetLinger(int) error       { return nil }
func (c *review50Conn) Fd() int                   { return -1 }

func (c *review50Conn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *review50Conn) AsyncWritev(_ [][]byte, callback gnet.AsyncCallback) error {
	if c.lendErr != nil {
		return c.lendErr
	}
	c.tasks = append(c.tasks, callback)
	return nil
}

func (c *review50Conn) AsyncWrite(_ []byte, callback gnet.AsyncCallback) error {
	return c.AsyncWritev(nil, callback)
}

// run runs the queued tasks in order, each with the connection's error.
func (c *review50Conn) run() {
	tasks := c.tasks
	c.tasks = nil
	for _, task := range tasks {
		var err error
		if c.closed {
			err = net.ErrClosed
		}
		_ = task(c, err)
	}
}

// review50Server is a server (not started) with connectionCount logged-in fake
// connections on loopCount fake loops (connection k on loop k % loopCount).
func review50Server(t *testing.T, connectionCount, loopCount int,
	configure func(*Config)) (*Server, []*connection, []*review50Conn) {
	t.Helper()
	s := deliverTestServer(t, configure)
	s.log = newAsyncLogger(nil)
	t.Cleanup(s.log.close)
	loops := make([]*fakeLoop, loopCount)
	for i := range loops {
		loops[i] = &fakeLoop{id: i}
	}
	conns := make([]*connection, connectionCount)
	fakes := make([]*review50Conn, connectionCount)
	for k := range conns {
		fakes[k] = &review50Conn{loop: loops[k%loopCount]}
		conns[k] = activeConnection(t, s, fakes[k], uint64(k+1))
	}
	return s, conns, fakes
}

// review50Replies is one reply per entry of order, to conns[order[i]], numbered per
// connection from 1.
func review50Replies(conns []*connection, order []int) []backend.Reply {
	var body [model.EventResultSize]byte
	numbers := make([]uint64, len(conns))
	replies := make([]backend.Reply, 0, len(order))
	for _, k := range order {
		numbers[k]++
		replies = append(replies, backend.Reply{Connection: conns[k].id,
			Session: conns[k].session, Number: numbers[k],
			Operation: model.OperationCreateTransfers, Status: model.StatusOK,
			Op: numbers[k], Body: body[:]})
	}
	return replies
}

// review50Numbers decodes the reply numbers of every write made to c.
func review50Numbers(t *testing.T, c *review50Conn) []uint64 {
	t.Helper()
	var numbers []uint64
	for _, written := range c.writes {
		for len(written) > 0 {
			frame, err := wire.DecodeHeader(written)
			if err != nil {
				t.Fatal(err)
			}
			numbers = append(numbers, frame.Number)
			written = written[frame.FrameSize():]
		}
	}
	return numbers
}

// TestReview50DeliverLendFailureReleasesTheBound: when lending fails (the engine is
// stopping: AsyncWritev refuses the task, whose callback never runs), every admitted
// buffer's bytes leave the connection's outbound count, in each of Deliver's shapes:
// one connection (flushOne), one connection per loop (a lone buffer lent as its own
// task), several connections of one loop (a loopDelivery), and the mix.
func TestReview50DeliverLendFailureReleasesTheBound(t *testing.T) {
	for _, shape := range []struct {
		name             string
		connections, lps int
		order            []int
	}{
		{"one connection", 1, 1, []int{0, 0, 0}},
		{"lone per loop", 2, 2, []int{0, 1, 0, 1}},
		{"one loop", 3, 1, []int{0, 1, 2, 0}},
		{"mixed", 3, 2, []int{0, 1, 2, 1, 0}},
		{"beyond the scan", 12, 3, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 11}},
	} {
		t.Run(shape.name, func(t *testing.T) {
			s, conns, fakes := review50Server(t, shape.connections, shape.lps, nil)
			for _, fake := range fakes {
				fake.lendErr = errors.New("engine stopping")
			}
			s.Deliver(review50Replies(conns, shape.order))
			for k, conn := range conns {
				if queued := conn.queuedBytes.Load(); queued != 0 {
					t.Errorf("connection %d: %d bytes still counted as lent", k, queued)
				}
				if len(fakes[k].writes) != 0 {
					t.Errorf("connection %d: written", k)
				}
			}
			// Every buffer recycled once: distinct buffers come out of the pool next.
			seen := map[*outbound]bool{}
			for range 2 * shape.connections {
				o := s.takeOutbound(conns[0])
				if seen[o] {
					t.Fatalf("one outbound handed out twice: recycled twice")
				}
				seen[o] = true
			}
		})
	}
}

// TestReview50DeliverClosedBetweenAdmissionAndLending: a connection closed after the
// call's admission (the test hook) and before its loop runs the task gets nothing, and its
// bytes leave the outbound count, in each shape; the other connections get all of theirs,
// in order, and the hook runs once per call.
func TestReview50DeliverClosedBetweenAdmissionAndLending(t *testing.T) {
	for _, shape := range []struct {
		name             string
		connections, lps int
		order            []int
		closing          int
	}{
		{"one connection", 1, 1, []int{0, 0, 0}, 0},
		{"lone per loop", 2, 2, []int{0, 1, 0, 1}, 0},
		{"one loop carrier", 3, 1, []int{0, 1, 2, 0}, 0},
		{"one loop carried", 3, 1, []int{0, 1, 2, 0}, 1},
		{"mixed", 3, 2, []int{0, 1, 2, 1, 0}, 1},
		{"beyond the scan", 12, 3, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 11}, 9},
	} {
		t.Run(shape.name, func(t *testing.T) {
			s, conns, fakes := review50Server(t, shape.connections, shape.lps, nil)
			runs := 0
			hook := func() {
				runs++
				for k, conn := range conns {
					if conn.queuedBytes.Load() == 0 {
						t.Errorf("hook: connection %d not admitted yet", k)
					}
				}
				// Closed as OnClose would: out of the table, gnet's conn closed.
				conn := conns[shape.closing]
				conn.active.Store(false)
				s.table.remove(conn)
				fakes[shape.closing].closed = true
			}
			testHookDeliveryAdmitted.Store(&hook)
			t.Cleanup(func() { testHookDeliveryAdmitted.Store(nil) })
			replies := review50Replies(conns, shape.order)
			s.Deliver(replies)
			if runs != 1 {
				t.Fatalf("hook ran %d times, want 1", runs)
			}
			for _, fake := range fakes {
				fake.run()
			}
			want := make([]int, shape.connections)
			for _, k := range shape.order {
				want[k]++
			}
			for k, conn := range conns {
				if queued := conn.queuedBytes.Load(); queued != 0 {
					t.Errorf("connection %d: %d bytes still counted as lent", k, queued)
				}
				numbers := review50Numbers(t, fakes[k])
				if k == shape.closing {
					if len(numbers) != 0 {
						t.Errorf("closed connection %d got %v", k, numbers)
					}
					continue
				}
				if len(fakes[k].writes) != 1 || len(numbers) != want[k] {
					t.Fatalf("connection %d: %d writes, numbers %v, want one of %d", k,
						len(fakes[k].writes), numbers, want[k])
				}
				for i, number := range numbers {
					if number != uint64(i+1) {
						t.Fatalf("connection %d: numbers %v", k, numbers)
					}
				}
			}
		})
	}
}

// TestReview50DeliverSlowConsumerCutPerShape: a connection whose call's frames exceed
// the outbound bound is cut (closed as a slow consumer, nothing lent) in each shape, the
// cut one first, kept aside (the first connection), or later; the others still get
// theirs, with one loop task per loop that has any.
func TestReview50DeliverSlowConsumerCutPerShape(t *testing.T) {
	frameBytes := wire.HeaderSize + model.EventResultSize
	for _, shape := range []struct {
		name             string
		connections, lps int
		order            []int
		slow             int
	}{
		{"one connection", 1, 1, []int{0, 0, 0, 0}, 0},
		{"first of two", 2, 2, []int{0, 0, 0, 0, 1}, 0},
		{"second of two", 2, 1, []int{1, 0, 0, 0, 0}, 0},
		{"carrier of a loop", 3, 1, []int{0, 0, 0, 0, 1, 2}, 0},
	} {
		t.Run(shape.name, func(t *testing.T) {
			s, conns, fakes := review50Server(t, shape.connections, shape.lps, nil)
			// Below what Config.Validate accepts, set as the server reads it.
			s.config.OutboundBytesMax = 3 * frameBytes
			s.Deliver(review50Replies(conns, shape.order))
			if s.counters.slowConsumers.Load() != 1 {
				t.Fatalf("%d slow consumers, want 1", s.counters.slowConsumers.Load())
			}
			for _, fake := range fakes {
				fake.run()
			}
			for k, conn := range conns {
				if queued := conn.queuedBytes.Load(); queued != 0 {
					t.Errorf("connection %d: %d bytes still counted as lent", k, queued)
				}
				numbers := review50Numbers(t, fakes[k])
				if k == shape.slow {
					if len(numbers) != 0 {
						t.Errorf("slow connection got %v", numbers)
					}
					continue
				}
				if len(numbers) != 1 || numbers[0] != 1 {
					t.Errorf("connection %d got %v, want [1]", k, numbers)
				}
			}
		})
	}
}

// TestReview50DeliverReportsBeyondTheScanAcrossCalls: DeliverReports shares
// deliverScratch.batchFor with Deliver, and looks a connection's batch up once per report
// per subscriber. Nine subscribers of one client and twelve of another: a call to the
// first nine (indexed in the scratch's map at the ninth), then a call whose reports go to
// the twelve first and the nine after (beyond the ninth batch, found in the map, where
// the call before put them at other indexes: a map left filled by a call of exactly nine
// would send them to others). Each connection gets one write holding exactly its own
// reports, in sequence order.
func TestReview50DeliverReportsBeyondTheScanAcrossCalls(t *testing.T) {
	const firstCount, secondCount, reportsPerCall = deliverBatchesScannedMax + 1, 12, 3
	s, conns, fakes := review50Server(t, firstCount+secondCount, 3, nil)
	set := s.config.Keys.current.Load()
	for k, conn := range conns {
		client := uint64(1)
		if k >= firstCount {
			client = 2
		}
		conn.keysChecked.Store(&checkedKey{set: set, client: &Client{ID: client}})
		conn.reports.streams = make([]atomic.Pointer[reportStream], 1)
		conn.reports.streams[0].Store(&reportStream{session: conn.session})
		s.subscribersOf(client).connections.add(conn)
	}
	reports := func(client uint64, from uint64) []backend.Report {
		var out []backend.Report
		for sequence := from; sequence < from+reportsPerCall; sequence++ {
			out = append(out, backend.Report{Client: client, Sequence: sequence,
				Body: []byte{byte(sequence)}})
		}
		return out
	}
	check := func(call int, want func(k int) []uint64) {
		t.Helper()
		for k, fake := range fakes {
			var sequences []uint64
			for _, written := range fake.writes {
				for len(written) > 0 {
					frame, err := wire.DecodeHeader(written)
					if err != nil {
						t.Fatal(err)
					}
					if frame.Session != conns[k].session {
						t.Fatalf("call %d connection %d: a frame of session %d", call, k,
							frame.Session)
					}
					sequences = append(sequences, frame.Aux)
					written = written[frame.FrameSize():]
				}
			}
			if len(fake.writes) > 1 || fmt.Sprint(sequences) != fmt.Sprint(want(k)) {
				t.Fatalf("call %d connection %d: %d writes of %v, want one of %v", call, k,
					len(fake.writes), sequences, want(k))
			}
			fake.writes = nil
		}
	}
	s.DeliverReports(reports(1, 1))
	for _, fake := range fakes {
		fake.run()
	}
	check(1, func(k int) []uint64 {
		if k < firstCount {
			return []uint64{1, 2, 3}
		}
		return nil
	})
	s.DeliverReports(append(reports(2, 1), reports(1, 4)...))
	for _, fake := range fakes {
		fake.run()
	}
	check(2, func(k int) []uint64 {
		if k < firstCount {
			return []uint64{4, 5, 6}
		}
		return []uint64{1, 2, 3}
	})
}
