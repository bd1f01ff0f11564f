package netio

import (
	"slices"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/wire"
)

// The Server is the shard's Replier.
var _ backend.Replier = (*Server)(nil)

// outbound is a buffer of encoded frames for one connection, lent to the connection's
// loop: the callback of an empty AsyncWritev (lendTo) writes it there and gives it back
// (recycle: as the connection's spare, or to the pool). Buffers are never shared between
// connections or reused while lent.
type outbound struct {
	server  *Server
	conn    *connection
	buffer  []byte
	written gnet.AsyncCallback // o.writeLent, bound once so lending allocates nothing.
}

func newOutbound(s *Server) *outbound {
	o := &outbound{server: s}
	o.written = o.writeLent
	return o
}

// lendTo lends callback to conn's loop, which runs it there: an AsyncWritev of nothing,
// whose callback makes the write (writeLent, writeHeartbeat, writeLastFrame). gnet
// writes the bytes of an AsyncWrite before its callback runs, unconditionally on an open
// connection; lent so, the loop decides instead, and writes nothing behind a
// connection's last frame while gnet still sends what came before it (draining). An empty AsyncWritev costs no system call (gnet's
// writev of no buffers returns at once), and the same task hook as an AsyncWrite.
func lendTo(conn *connection, callback gnet.AsyncCallback) error {
	return conn.conn.AsyncWritev(nil, callback)
}

// writeLent runs on the connection's loop, as the callback lendTo lent (err: the
// connection is closed). It writes o's bytes unless the connection's last frame is
// written already (draining: they are dropped, as on a closed connection), then
// accounts for them (afterWrite).
func (o *outbound) writeLent(c gnet.Conn, err error) error {
	if err == nil && !o.conn.draining.Load() {
		_, err = c.Write(o.buffer) // gnet keeps what the socket does not take.
	}
	return o.afterWrite(c, err)
}

// appendFrame appends a frame whose body is copied from body.
func (o *outbound) appendFrame(frame *wire.Frame, body []byte) {
	start := len(o.buffer)
	o.buffer = slices.Grow(o.buffer, wire.HeaderSize+len(body))
	o.buffer = o.buffer[:start+wire.HeaderSize+len(body)]
	copy(o.buffer[start+wire.HeaderSize:], body)
	wire.PutFrame(o.buffer[start:], frame, len(body))
}

// afterWrite runs on the connection's loop once gnet has written (or buffered) the bytes.
// It records what the socket did not take and closes a connection beyond the bound:
// OutboundBuffered is exact here, on the loop.
func (o *outbound) afterWrite(c gnet.Conn, err error) error {
	s, conn := o.server, o.conn
	conn.queuedBytes.Add(-int64(len(o.buffer)))
	if err == nil {
		buffered := c.OutboundBuffered()
		conn.bufferedSeen.Store(int64(buffered))
		if buffered > s.config.OutboundBytesMax {
			s.slowConsumer(conn, buffered, c)
			_ = c.Close()
		}
	}
	s.recycle(o)
	return nil
}

// takeOutbound returns an empty buffer for conn's frames: conn's spare when it has one
// (recycle), else one from the pool.
func (s *Server) takeOutbound(conn *connection) *outbound {
	o := conn.spare.Swap(nil)
	if o == nil {
		o = s.outbound.Get().(*outbound)
	}
	o.conn = conn
	return o
}

// recycle empties o and keeps it as its connection's spare when the connection has none
// and o's buffer is at most outboundSpareBytesMax, else gives it back to the pool. A
// connection's next batch then takes its own buffer with one atomic swap: a pool round
// trip (Get, Put, each pinning the P) cost ~110 instructions per lone caller's reply
// (callgrind, BenchmarkServerOneTransferRequest). The swap and the compare-and-swap make
// the spare one goroutine's at a time (the shard's Deliver, a feed's fan-out, the
// loop's afterWrite), so a buffer is never shared.
func (s *Server) recycle(o *outbound) {
	conn := o.conn
	o.conn = nil
	if cap(o.buffer) > outboundPooledBytesMax {
		o.buffer = nil
	}
	o.buffer = o.buffer[:0]
	if conn != nil && cap(o.buffer) <= outboundSpareBytesMax && conn.spare.CompareAndSwap(nil, o) {
		return
	}
	s.outbound.Put(o)
}

// send lends o's frames to the connection's loop with one task (lendTo). send takes
// ownership of o.
func (s *Server) send(conn *connection, o *outbound) {
	if !s.admit(conn, o, s.now()) {
		return
	}
	s.lendOne(conn, o)
}

// lendOne lends o, admitted, to conn's loop alone (lendTo). It takes ownership of o.
func (s *Server) lendOne(conn *connection, o *outbound) {
	s.counters.loopTasks.Add(1)
	if err := lendTo(conn, o.written); err != nil {
		conn.queuedBytes.Add(-int64(len(o.buffer))) // The engine is stopping: the callback never runs.
		s.recycle(o)
	}
}

// admit counts o's bytes as lent to conn's loop, or recycles o and reports false when
// there is nothing to send or conn is gone or would exceed its bound. Bytes already
// lent and not yet written plus these must stay within OutboundBytesMax (the loop's own
// check in afterWrite covers what the socket has not taken); beyond it the connection is
// a slow consumer and is closed. now is the connection clock's reading (s.now) to record
// as conn's last bytes queued.
func (s *Server) admit(conn *connection, o *outbound, now int64) bool {
	length := int64(len(o.buffer))
	if length == 0 || !conn.active.Load() {
		s.recycle(o)
		return false
	}
	if queued := conn.queuedBytes.Add(length); queued > int64(s.config.OutboundBytesMax) {
		conn.queuedBytes.Add(-length)
		s.slowConsumer(conn, int(queued), nil)
		s.recycle(o)
		return false
	}
	conn.sent.Store(now)
	s.counters.bytesQueued.Add(uint64(length))
	return true
}

// loopDelivery carries one Deliver (or DeliverReports) call's frames for every
// connection of one event loop in one loop task, when two or more of the loop's
// connections have frames (loopBatches): the task lent for the first connection's buffer
// (lendTo), whose callback (on the loop) writes it and the others'.
// One task per connection woke the loop through gnet's eventfd again whenever the loop
// had drained its task queue before the next one came (under 32 connections x 16
// one-transfer requests, ~5 eventfd writes per released entry, each one more epoll round
// for the loop), and allocated gnet's task hook per connection.
//
// Order per connection holds: every frame to a connection goes through its loop's one
// task queue (gnet runs AsyncWrite and AsyncWritev tasks, one queue, in the order
// queued), and a buffer here is written when its carrier's task runs, where its own
// task would have run.
type loopDelivery struct {
	server  *Server
	loop    gnet.EventLoop
	carrier *outbound   // Its loop task (lendTo) runs written.
	rest    []*outbound // Written on the loop, in order, after the carrier.
	written gnet.AsyncCallback
}

// afterWrite runs on the loop as the callback of the carrier's task (lendTo; err: the
// carrier's connection is closed). It writes the carrier's bytes (writeLent), then the
// others' the same way: only to a connection still open (OnClose, which runs on this
// loop, takes it out of the table before gnet closes the socket, so a connection found
// here is open, and its socket is its own) and not draining.
func (d *loopDelivery) afterWrite(c gnet.Conn, err error) error {
	s := d.server
	_ = d.carrier.writeLent(c, err)
	for i, o := range d.rest {
		d.rest[i] = nil
		conn := o.conn
		if s.table.find(conn.id) != conn {
			conn.queuedBytes.Add(-int64(len(o.buffer)))
			s.recycle(o)
			continue
		}
		_ = o.writeLent(conn.conn, nil)
	}
	s.recycleDelivery(d)
	return nil
}

func (s *Server) recycleDelivery(d *loopDelivery) {
	d.loop, d.carrier, d.rest = nil, nil, d.rest[:0]
	s.deliveries.Put(d)
}

// loopBatches is one event loop's admitted buffers of one flush: the carrier, first, and
// the loop's delivery once a second connection of the loop has frames (nil until then:
// a loop with one connection's buffer is lent that buffer alone, as send lends it, whose
// callback does what the delivery's would with nothing after the carrier, without a
// loopDelivery's pool round trip).
type loopBatches struct {
	loop     gnet.EventLoop
	carrier  *outbound
	delivery *loopDelivery
}

// lend hands every loop's buffers to the loop, one task each (lendTo; lendOne for a
// loop with one buffer), and clears loops' entries.
func (s *Server) lend(loops []loopBatches) {
	for i := range loops {
		carrier, d := loops[i].carrier, loops[i].delivery
		loops[i] = loopBatches{}
		if d == nil {
			s.lendOne(carrier.conn, carrier)
			continue
		}
		s.counters.loopTasks.Add(1)
		conn := carrier.conn
		if err := lendTo(conn, d.written); err != nil {
			// The engine is stopping: the callback never runs.
			conn.queuedBytes.Add(-int64(len(carrier.buffer)))
			s.recycle(carrier)
			for j, o := range d.rest {
				o.conn.queuedBytes.Add(-int64(len(o.buffer)))
				s.recycle(o)
				d.rest[j] = nil
			}
			s.recycleDelivery(d)
		}
	}
}

// deliverBatchesScannedMax is how many connections' batches a deliverScratch finds by
// comparing each (batchFor) before it indexes them in its map: a call to a few
// connections (one client's reply at low load) then pays no map insert and no map clear
// (whose reseeding of the hash cost ~120 instructions per call), and a call to many finds
// each in constant time. Deliver looks a batch up once per run of one connection's
// replies; DeliverReports once per report per subscribed connection.
const deliverBatchesScannedMax = 8

// deliverScratch groups one Deliver call's frames by connection, so that each
// connection gets one write per call.
type deliverScratch struct {
	batches []*outbound
	// index maps a connection id to its index in batches, filled only once batches
	// holds more than deliverBatchesScannedMax.
	index map[uint64]int
	loops []loopBatches // One per event loop among the batches' connections.
}

func (d *deliverScratch) batchFor(s *Server, conn *connection) *outbound {
	if len(d.batches) <= deliverBatchesScannedMax {
		for _, o := range d.batches {
			if o.conn == conn {
				return o
			}
		}
	} else if i, ok := d.index[conn.id]; ok {
		return d.batches[i]
	}
	o := s.takeOutbound(conn)
	d.batches = append(d.batches, o)
	switch {
	case len(d.batches) == deliverBatchesScannedMax+1:
		for i, batch := range d.batches {
			d.index[batch.conn.id] = i
		}
	case len(d.batches) > deliverBatchesScannedMax+1:
		d.index[conn.id] = len(d.batches) - 1
	}
	return o
}

// flush sends every batch, one loop task per event loop (loopBatches), and returns the
// scratch to its pool.
func (s *Server) flush(d *deliverScratch) {
	var now int64
	if len(d.batches) > 0 {
		now = s.now() // One clock reading for every connection's last bytes queued.
	}
	for i, o := range d.batches {
		d.batches[i] = nil
		if !s.admit(o.conn, o, now) {
			continue
		}
		loop := o.conn.conn.EventLoop()
		var batches *loopBatches
		for j := range d.loops {
			if d.loops[j].loop == loop {
				batches = &d.loops[j]
				break
			}
		}
		if batches == nil {
			d.loops = append(d.loops, loopBatches{loop: loop, carrier: o})
			continue
		}
		if batches.delivery == nil {
			batches.delivery = s.deliveries.Get().(*loopDelivery)
			batches.delivery.loop, batches.delivery.carrier = loop, batches.carrier
		}
		batches.delivery.rest = append(batches.delivery.rest, o)
	}
	deliveryAdmitted()
	s.lend(d.loops)
	d.loops = d.loops[:0]
	if len(d.batches) > deliverBatchesScannedMax {
		clear(d.index)
	}
	d.batches = d.batches[:0]
	s.scratch.Put(d)
}

// testHookDeliveryAdmitted, when set by a test, runs in flush (or flushOne) once every
// connection's frames are admitted and before any is lent to its loop: a close claimed
// meanwhile queues its error frame ahead of them. One atomic load per Deliver or
// DeliverReports call.
var testHookDeliveryAdmitted atomic.Pointer[func()]

// deliveryAdmitted runs testHookDeliveryAdmitted if a test has set it.
func deliveryAdmitted() {
	if hook := testHookDeliveryAdmitted.Load(); hook != nil {
		(*hook)()
	}
}

// flushOne sends the one batch of a Deliver call whose replies all go to one connection,
// as flush would (admitted, then lent with one loop task), without a deliverScratch.
func (s *Server) flushOne(o *outbound) {
	admitted := o != nil && s.admit(o.conn, o, s.now())
	deliveryAdmitted()
	if admitted {
		s.lendOne(o.conn, o)
	}
}

// batchOf returns conn's batch in one Deliver call: the call's first connection's batch
// is kept in *first, without a scratch, until a second connection has replies; then
// *scratch is taken from its pool and holds both and every later one. A lone caller's
// reply (a call to one connection) then costs no scratch pool round trip.
func (s *Server) batchOf(scratch **deliverScratch, first **outbound,
	conn *connection) *outbound {
	if *scratch == nil {
		switch {
		case *first == nil:
			*first = s.takeOutbound(conn)
			return *first
		case (*first).conn == conn:
			return *first
		}
		*scratch = s.scratch.Get().(*deliverScratch)
		(*scratch).batches = append((*scratch).batches, *first)
	}
	return (*scratch).batchFor(s, conn)
}

// Deliver implements backend.Replier. It is called from a shard's goroutine with replies in
// release order; bodies are copied before it returns. Replies for connections that have
// closed are dropped: the client resends after reconnecting and gets the cached answer.
func (s *Server) Deliver(replies []backend.Reply) {
	var scratch *deliverScratch // Taken once a second connection has replies (batchOf).
	var first *outbound         // The first connection's batch.
	dropped := 0
	// Replies come in runs to one connection (the ring holds requests in the order the
	// event loop read them, up to a read's worth from one connection in a row), so the
	// previous reply's connection and batch are kept: a run looks its connection up in the
	// table and its batch once (batchOf: the first connection's is kept aside, a later
	// one's found in the scratch by comparing, or in its map beyond
	// deliverBatchesScannedMax). Every reply still checks that its connection is active (a
	// close clears active before it leaves the table).
	var conn *connection
	var batch *outbound
	// One frame for every reply: each sets every field its header carries (Body and
	// BodyLength are not read by PutFrame), which costs less than building a new one.
	frame := wire.Frame{Kind: wire.KindReply}
	for i := range replies {
		reply := &replies[i]
		if len(reply.Body) > wire.BodyBytesMax {
			panic("netio: reply body above model.ReplyBodyBytesMax") // A shard bug.
		}
		if conn == nil || conn.id != reply.Connection {
			conn, batch = s.table.find(reply.Connection), nil
		}
		if conn == nil || !conn.active.Load() {
			dropped++
			continue
		}
		frame.Operation, frame.Status = reply.Operation, uint32(reply.Status)
		frame.Session, frame.Number, frame.Aux = reply.Session, reply.Number, reply.Op
		frame.Flags = 0
		if reply.Duplicate {
			frame.Flags = wire.ReplyFlagDuplicate
		}
		body := reply.Body
		if reply.Status == model.StatusNotPrimary && len(body) == 0 {
			body = s.redirect(reply.Status)
		}
		if batch == nil {
			batch = s.batchOf(&scratch, &first, conn)
		}
		batch.appendFrame(&frame, body)
	}
	s.counters.repliesSent.Add(uint64(len(replies) - dropped))
	s.counters.repliesDropped.Add(uint64(dropped))
	if scratch != nil {
		s.flush(scratch)
	} else {
		s.flushOne(first)
	}
	s.requestsDone(len(replies))
}
