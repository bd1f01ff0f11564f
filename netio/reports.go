package netio

import (
	"log/slog"
	"math"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/wire"
)

// reportState is a connection's execution report subscriptions, one stream per shard
// of the backend (each shard numbers a client's reports on its own: PROTOCOL.md
// sections 8 and 18).
//
// streams is made by the event loop at the connection's first accepted subscription,
// before the connection is published to its client's subscribers, one slot per shard
// (reportShardCount, at most shardmap.ShardsMax): fixed from then on. A slot's stream is
// stored once by the event loop, fully set up, when that shard's subscription is
// accepted, and never replaced: the loop reads the slots alone to refuse a second
// subscription of a shard, and so never waits for mu. Everything in a stored stream,
// and pendingBytes, is guarded by connection.mu (the shard goroutine's DeliverReports
// and the replay goroutines).
type reportState struct {
	streams []atomic.Pointer[reportStream]
	// pendingBytes is the body bytes of the live reports held by every stream's replay,
	// bounded by OutboundBytesMax for the connection as a whole.
	pendingBytes int
}

// reportStream is one (connection, shard) subscription.
type reportStream struct {
	shard uint16 // The shard whose reports these are.
	// label is the subscribe frame's shard field as the client sent it, 0 or shard+1
	// (0 also for a field above shardmap.ShardsMax): the header number of its subscribed
	// and report frames, so that a client from before streams per shard, which sends 0,
	// reads 0 there as it always did (PROTOCOL.md section 4).
	label     uint16
	replaying bool   // The replay goroutine is sending retained reports.
	session   uint64 // The subscriber's session (frames carry it).
	// lastSent is the highest sequence sent (or held by the client); reports at or below
	// it are skipped. During a replay it counts only the replayed reports: where the
	// client's own reports end is known once the replay has told the client's next
	// sequence (replay), so the live reports meanwhile are all held.
	lastSent uint64
	pending  []report // Live reports that arrived during the replay.
}

// stream returns the connection's subscription to shard's reports, or nil.
func (r *reportState) stream(shard uint16) *reportStream {
	if int(shard) >= len(r.streams) {
		return nil
	}
	return r.streams[shard].Load()
}

// report is a live report kept while a replay runs (its body copied).
type report struct {
	sequence uint64
	body     []byte
}

// subscriberList is the set of connections subscribed to one client's reports, as an
// immutable slice behind an atomic pointer: DeliverReports reads it with one load; loops
// and replay goroutines replace it by compare-and-swap.
type subscriberList struct {
	connections atomicSlice
}

func (s *Server) subscribersOf(client uint64) *subscriberList {
	if list, ok := s.subscribers.Load(client); ok {
		return list.(*subscriberList)
	}
	list, _ := s.subscribers.LoadOrStore(client, &subscriberList{})
	return list.(*subscriberList)
}

// handleSubscribe starts a report subscription of one shard's reports. Without a replay
// (from 0) it is live at once; with one, a goroutine serves the replay (the backend's
// ReplayReports may take locks the loop must not wait on) and live reports are held
// until it is done.
func (s *Server) handleSubscribe(conn *connection, frame *wire.Frame) gnet.Action {
	if conn.phase != phaseActive {
		return s.fail(conn, wire.ErrorUnexpectedFrame, 0, "subscribe before login")
	}
	client, ok := s.keyInForce(conn)
	if !ok {
		return s.fail(conn, wire.ErrorKeyRevoked, 0, keyRevokedMessage)
	}
	var subscribe wire.Subscribe
	subscribe.Decode(frame.Body)
	// The field was reserved ("send 0; the server does not check it"): a value that
	// cannot name a shard (above shardmap.ShardsMax) still gets what every value got
	// before it, the default instrument shard's reports, so that a client that set
	// those bytes is answered as before (TestConformanceSessionFieldOutsideRequests).
	shard, label := s.reportShardDefault, uint16(0)
	if field := subscribe.Shard; field != 0 && field <= shardmap.ShardsMax {
		label = uint16(field)
		if field > uint64(s.reportShardCount) {
			// Not a shard of this node: refused, nothing subscribed (PROTOCOL.md section
			// 4), the field echoed in number as in any answer.
			s.refuseSubscription(conn, model.StatusInvalidBody, label)
			return gnet.None
		}
		shard = uint16(field - 1)
	}
	if conn.reports.stream(shard) != nil {
		return s.fail(conn, wire.ErrorUnexpectedFrame, 0, "already subscribed")
	}
	if s.reportShardFenced(shard) {
		// A fenced node numbers no report again: a subscription here would get
		// heartbeats only, and a resumption refused busy would be refused for ever (it
		// never catches up). Told as its subscribers are (closeFencedReportSubscribers):
		// the error frame shutting_down and the close, on which a client resumes at
		// another address (PROTOCOL.md section 8).
		return s.closeShuttingDown(conn, fencedReportsMessage)
	}
	if s.config.Admission != nil {
		if status := s.config.Admission.AdmitSubscription(client); status != model.StatusOK {
			s.refuseSubscription(conn, status, label)
			return gnet.None
		}
	}
	from := subscribe.FromSequence
	if from > 0 && !s.reportShardServing(shard) {
		// A standby (a fenced node was closed above) that has not given the client the
		// reports below from yet lags the primary that did: answered, the replay would
		// say that a failover lost them (next_sequence below from, PROTOCOL.md section
		// 8) and then send them again as new ones once this node applies its primary's
		// entries. Refused busy instead: asked again later, it is served once it has
		// caught up (or, promoted, as the primary it then is). next only grows on a
		// node, so one read here at or above from stays so for the replay.
		if _, next := s.replayReports(shard, conn.client.ID, math.MaxUint64,
			ignoreReports); next < from {
			s.refuseSubscription(conn, model.StatusBusy, label)
			return gnet.None
		}
	}
	if from > 0 {
		select {
		case s.replaySlots <- struct{}{}:
		default:
			s.refuseSubscription(conn, model.StatusBusy, label)
			return gnet.None
		}
	}
	stream := &reportStream{shard: shard, label: label, replaying: from > 0, session: conn.session}
	if conn.reports.streams == nil {
		// The first subscription: the connection is not a subscriber yet, so no other
		// goroutine reads streams; the list's compare-and-swap publishes it with the
		// connection.
		conn.reports.streams = make([]atomic.Pointer[reportStream], s.reportShardCount)
		conn.reports.streams[shard].Store(stream)
		s.subscribersOf(conn.client.ID).connections.add(conn)
	} else {
		conn.reports.streams[shard].Store(stream)
	}
	if from == 0 {
		// The client's next sequence at the shard, read after the stream was published:
		// every report numbered from it on is delivered to this connection live. The
		// client keeps next-1 as handled, so that a resumption after a disconnect replays
		// the reports made meanwhile instead of asking from 0 again (PROTOCOL.md section
		// 8). A from above any sequence replays nothing: the backend reads next under its
		// store's lock (held only briefly) and allocates nothing.
		_, next := s.replayReports(shard, conn.client.ID, math.MaxUint64, ignoreReports)
		var body [wire.SubscribedSize]byte
		conn.immediate = wire.AppendFrame(conn.immediate, &wire.Frame{Kind: wire.KindSubscribed,
			Session: conn.session, Number: uint64(label), Aux: next}, body[:])
		return gnet.None
	}
	go s.replay(conn, stream, conn.client.ID, from)
	return gnet.None
}

// replayReports replays shard's reports: through backend.ShardReportReplayer on a
// backend of several shards, else the backend's one stream.
func (s *Server) replayReports(shard uint16, client uint64, from uint64,
	fn func([]backend.Report)) (oldest uint64, next uint64) {
	if s.reportShards != nil {
		return s.reportShards.ReplayShardReports(shard, client, from, fn)
	}
	return s.backend.ReplayReports(client, from, fn)
}

// reportShardServing reports whether shard's node is primary, as its market-data feed
// is told (MarketDataConfig.Serving, per shard: failover is node-wide); a server without
// that word serves as a primary.
func (s *Server) reportShardServing(shard uint16) bool {
	feed := s.reportFeed(shard)
	return feed.config.Serving == nil || feed.config.Serving()
}

// reportFeed is the market-data feed whose words (Serving, Fenced) speak for shard's
// reports: that shard's own, or shard 0's when the server has fewer feeds than report
// shards (MarketDataConfig without Shards: one feed for the whole node).
func (s *Server) reportFeed(shard uint16) *marketData {
	if int(shard) < len(s.marketDataShards) {
		return s.marketDataShards[shard]
	}
	return s.marketData
}

// reportShardFenced reports whether shard's node is fenced (MarketDataConfig.Fenced, per
// shard as Serving); a server without that word is never fenced.
func (s *Server) reportShardFenced(shard uint16) bool {
	feed := s.reportFeed(shard)
	return feed.config.Fenced != nil && feed.config.Fenced()
}

// closeFencedReportSubscribers closes, with error shutting_down, every connection
// subscribed to the execution reports of a shard whose feed is feed (reportFeed: its
// own shard, and with one feed for the node every shard), once feed's node is fenced:
// it numbers no report again while the new primary numbers them, and a subscriber left
// open would be sent heartbeats only. Run by feed's publisher at each recheck while the
// node is fenced (dropIfDeposed), so that a subscription accepted just before the fence
// was seen is closed at the next one; a connection closed already is skipped (closeAsync
// claims a close once, and clears active).
func (s *Server) closeFencedReportSubscribers(feed *marketData) {
	s.subscribers.Range(func(_, list any) bool {
		for _, conn := range list.(*subscriberList).connections.load() {
			if conn.active.Load() && s.subscribedThrough(conn, feed) {
				s.closeAsync(conn, wire.ErrorShuttingDown, fencedReportsMessage)
			}
		}
		return true
	})
}

// subscribedThrough reports whether conn holds a report subscription of a shard whose
// feed is feed (reportFeed): feed's own shard, and for shard 0's feed every shard past
// the last feed (none when each shard has its own, as cmd/sequent serves a node). conn
// is a subscriber: its streams slots are fixed (reportState).
func (s *Server) subscribedThrough(conn *connection, feed *marketData) bool {
	if conn.reports.stream(feed.shard) != nil {
		return true
	}
	if feed != s.marketData {
		return false
	}
	for shard := len(s.marketDataShards); shard < len(conn.reports.streams); shard++ {
		if conn.reports.streams[shard].Load() != nil {
			return true
		}
	}
	return false
}

// fencedReportsMessage is the error frame's text for a report subscriber (or subscribe)
// at a fenced node.
const fencedReportsMessage = "this node is fenced: it numbers no execution report " +
	"again; reconnect and resume at another address"

// closeShuttingDown answers a frame on the connection's loop with the error frame
// shutting_down and closes the connection after it, as fail does, but counts no
// protocol error: the client did nothing wrong.
func (s *Server) closeShuttingDown(conn *connection, message string) gnet.Action {
	s.log.log(slog.LevelInfo, "netio: closing connection",
		slog.String("code", wire.ErrorShuttingDown.String()), slog.String("detail", message),
		slog.String("remote", addressString(conn.remote)))
	conn.immediate = errorFrame(conn.immediate, wire.ErrorShuttingDown, conn.session, 0,
		message)
	conn.phase = phaseClosing
	conn.active.Store(false)
	conn.closing.Store(true)
	return gnet.Close
}

// ignoreReports is the replay callback of a live subscription, which asks for none.
func ignoreReports([]backend.Report) {}

// refuseSubscription answers a subscribe frame with subscribed carrying status (busy,
// rate_limited: the client may subscribe again later; invalid_body: no such shard) and
// the subscribe frame's label in number (its shard field, 0 above shardmap.ShardsMax):
// nothing was subscribed.
func (s *Server) refuseSubscription(conn *connection, status model.Status, label uint16) {
	s.countRateLimited(status)
	var body [wire.SubscribedSize]byte
	conn.immediate = wire.AppendFrame(conn.immediate, &wire.Frame{Kind: wire.KindSubscribed,
		Status: uint32(status), Session: conn.session, Number: uint64(label)}, body[:])
}

// replay runs on its own goroutine: it sends the retained reports from `from` on, then
// the subscribed frame, then the live reports held meanwhile, and switches the
// subscription to live delivery, all in sequence order without duplicates.
//
// The client holds the reports before `from`, unless it asks from above its next
// sequence at this server (PROTOCOL.md section 8): a failover lost reports it had
// handled, and this server numbers new reports with their sequences. Those are sent
// from next on, after the subscribed frame that carries next (header aux), so that the
// client knows to take them as new. The held live reports come after that frame for the
// same reason; they are live reports, which the protocol sends after it in any case.
func (s *Server) replay(conn *connection, stream *reportStream, client uint64, from uint64) {
	defer func() { <-s.replaySlots }()
	var replayedThrough uint64
	oldest, next := s.replayReports(stream.shard, client, from,
		func(reports []backend.Report) {
			o := s.takeOutbound(conn)
			conn.mu.Lock()
			for i := range reports {
				if reports[i].Sequence > stream.lastSent {
					s.appendReport(o, stream, &reports[i])
					stream.lastSent = reports[i].Sequence
					replayedThrough = reports[i].Sequence
				}
			}
			conn.mu.Unlock()
			s.send(conn, o)
		})
	o := s.takeOutbound(conn)
	conn.mu.Lock()
	defer conn.mu.Unlock()
	// The client's reports end before `from`, or before next when it asked from above
	// it. Then the live reports held meanwhile are new to it even below next: this
	// server produced them as primary, after the failover that lost the client's (a
	// report is added to the backend's store before it is delivered, so one can be held
	// here and be below next), and the subscribed frame's next says where the new
	// reports start. next is at least 1 (backend.ReportReplayer); should a backend answer
	// 0, the client's word is taken rather than next-1 wrapping round.
	clientHolds := from - 1
	if next > 0 && next < from {
		clientHolds = next - 1
		if pending := stream.pending; len(pending) > 0 {
			clientHolds = min(clientHolds, pending[0].sequence-1)
		}
		next = clientHolds + 1
	}
	stream.lastSent = max(stream.lastSent, clientHolds)
	// Every report from the first one held live on goes to the client (below, then
	// live), so none from there is lost whatever the store's oldest says: after an
	// overrun (the ring overwrote reports before the replay reached them) the store
	// answers its next as the oldest, conservatively, and the live reports held may
	// reach further back.
	if pending := stream.pending; len(pending) > 0 {
		oldest = min(oldest, pending[0].sequence)
	}
	var body [wire.SubscribedSize]byte
	subscribed := wire.Subscribed{OldestSequence: oldest, ReplayedThrough: replayedThrough}
	subscribed.Encode(body[:])
	o.appendFrame(&wire.Frame{Kind: wire.KindSubscribed, Session: stream.session,
		Number: uint64(stream.label), Aux: next}, body[:])
	for _, held := range stream.pending {
		if held.sequence > stream.lastSent {
			s.appendReport(o, stream, &backend.Report{Client: client, Sequence: held.sequence,
				Body: held.body, Shard: stream.shard})
			stream.lastSent = held.sequence
		}
	}
	for _, held := range stream.pending {
		conn.reports.pendingBytes -= len(held.body)
	}
	stream.pending = nil
	stream.replaying = false
	// Sent under mu, so that DeliverReports (which waits for mu) queues its reports after
	// these: AsyncWrites to one connection run in the order they were queued.
	s.send(conn, o)
}

// appendReport encodes one report of stream's shard (header number: the stream's label).
func (s *Server) appendReport(o *outbound, stream *reportStream, r *backend.Report) {
	if len(r.Body) > wire.ReportBodyBytesMax {
		panic("netio: report body above wire.ReportBodyBytesMax") // A shard bug.
	}
	o.appendFrame(&wire.Frame{Kind: wire.KindReport, Session: stream.session,
		Number: uint64(stream.label), Aux: r.Sequence}, r.Body)
	s.counters.reportsSent.Add(1)
}

// unsubscribe removes a closing connection from its client's subscribers (loop).
func (s *Server) unsubscribe(conn *connection) {
	if list, ok := s.subscribers.Load(conn.client.ID); ok {
		list.(*subscriberList).connections.remove(conn)
	}
}

// DeliverReports implements backend.Replier: each report goes to every connection
// subscribed to its client's reports of its shard, one write per connection per call.
// Reports at or below a stream's last sent sequence are skipped (a replay already sent
// them).
func (s *Server) DeliverReports(reports []backend.Report) {
	scratch := s.scratch.Get().(*deliverScratch)
	for i := range reports {
		r := &reports[i]
		list, ok := s.subscribers.Load(r.Client)
		if !ok {
			continue
		}
		for _, conn := range list.(*subscriberList).connections.load() {
			stream := conn.reports.stream(r.Shard)
			if stream == nil || !conn.active.Load() {
				continue
			}
			if _, ok := s.keyInForce(conn); !ok {
				s.closeAsync(conn, wire.ErrorKeyRevoked, keyRevokedMessage)
				continue
			}
			conn.mu.Lock()
			s.deliverReport(scratch, conn, stream, r)
			conn.mu.Unlock()
		}
	}
	s.flush(scratch)
}

// deliverReport queues or holds one report for one stream; conn.mu is held.
func (s *Server) deliverReport(scratch *deliverScratch, conn *connection,
	stream *reportStream, r *backend.Report) {
	switch {
	case r.Sequence <= stream.lastSent:
	case stream.replaying:
		conn.reports.pendingBytes += len(r.Body)
		if conn.reports.pendingBytes > s.config.OutboundBytesMax {
			s.slowConsumer(conn, conn.reports.pendingBytes, nil)
			conn.reports.dropPending()
			return
		}
		stream.pending = append(stream.pending,
			report{sequence: r.Sequence, body: append([]byte(nil), r.Body...)})
	default:
		s.appendReport(scratch.batchFor(s, conn), stream, r)
		stream.lastSent = r.Sequence
	}
}

// dropPending forgets the live reports every stream's replay holds (the connection is
// closing as a slow consumer); conn.mu is held.
func (r *reportState) dropPending() {
	for index := range r.streams {
		if stream := r.streams[index].Load(); stream != nil {
			stream.pending = nil
		}
	}
	r.pendingBytes = 0
}

// logSubscription notes a subscription in the log (debug level).
func (s *Server) logSubscription(conn *connection, from uint64) {
	s.log.log(slog.LevelDebug, "netio: subscribe", slog.Uint64("from", from),
		slog.String("remote", addressString(conn.remote)))
}
