package netio

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/wire"
)

// The market-data feed (PROTOCOL.md section 8a). The shard's sequencer hands every
// released entry to Consume, which copies the entry's market-data updates into a bounded
// queue and returns; one publisher goroutine takes them, appends them to a bounded
// history (for subscribers that resume by op after a reconnect or a failover) and fans
// them out to the subscribed connections, one AsyncWrite per connection per batch. The
// publisher also serves subscriptions (queued to it by the event loops), so a replay from
// the history and the live updates that follow it leave in one order.
//
// Nothing here can slow the engine or another subscriber: a queue that overflows (the
// publisher is starved) drops updates and tells every subscriber to resnapshot
// (md_stale); a subscriber whose unsent bytes pass SubscriberBytesMax is skipped until it
// has drained, then told to resnapshot the same way. Resnapshot was chosen over
// conflation: conflating would drop trades and need per-subscriber books on the server,
// while a snapshot plus the gap-free sequence lets the client rebuild exactly.

// marketData is one shard's feed (a node of several shards has one per shard, each a
// consumer of its own shard's release, with its own publisher). Consume runs on that
// shard's sequencer goroutine, handleMarketDataSubscribe on event loops (it only queues a
// command to the feed of the instrument's shard), everything else on the publisher.
//
// What a connection holds across the feeds (its instruments subscribed one by one, its
// unsent bytes) is counted under the connection's marketDataMutex, which a publisher
// holds from reading the connection's unsent bytes until it has handed its write over:
// the feeds' writes to one connection never interleave, and each sees the others' bytes
// (exact bounds whatever the number of feeds; uncontended with one).
type marketData struct {
	server *Server
	config MarketDataConfig
	shard  uint16 // The shard whose release this feed consumes (ops are its log's).

	mutex       sync.Mutex
	queue       []model.MarketDataUpdate // From Consume to the publisher, bounded.
	spare       []model.MarketDataUpdate // The publisher's previous batch, reused.
	lost        bool                     // Updates were dropped since the last take.
	lostFromOp  uint64                   // First op whose updates were dropped.
	lostUntilOp uint64                   // Last op whose updates were dropped.
	consumedOp  uint64                   // Last op handed to Consume (pastLog reads it).
	taken       bool                     // Updates or a loss taken, not yet in handledOp.

	wake    chan struct{} // Capacity 1: the queue has updates.
	stop    chan struct{}
	done    chan struct{}
	started atomic.Bool

	// Subscription changes from the event loops (queueOrder), served one at a time in
	// the order queued (nextOrder). ordersMutex is never taken by the sequencer.
	ordersMutex sync.Mutex
	orders      []marketDataOrder // Waiting from ordersHead on; reused.
	ordersHead  int
	ordersWake  chan struct{} // Capacity 1: orders are waiting.

	handledOp  atomic.Uint64 // Last op whose updates were fanned out or dropped.
	fellBehind atomic.Uint64 // Queue overflows.
	stale      atomic.Uint64 // md_stale notices sent to slow subscribers.
	sent       atomic.Uint64 // Update records sent.
	count      atomic.Int64  // Subscribed connections.

	// Publisher-owned.
	history         marketDataHistory
	subscribers     []*marketDataSubscriber
	byConn          map[uint64]*marketDataSubscriber
	replayPositions []uint64 // replayPlan's result, reused.
}

// MarketDataConfig sizes the feed; zero values take the defaults in limits.go.
type MarketDataConfig struct {
	// StartOp is the first op whose updates the feed will see (the machine's last op
	// plus one when the server starts): resumes from before it answer resume_gap.
	StartOp uint64
	// QueueUpdatesMax bounds the updates waiting between the sequencer and the publisher.
	QueueUpdatesMax int
	// HistoryUpdatesMax bounds the updates kept for resuming subscribers.
	HistoryUpdatesMax int
	// SubscriberBytesMax: a subscriber is sent no update that would take its unsent bytes
	// past it (the rest is skipped) and, once it has drained, is told to resnapshot; a
	// resume whose replay would pass it is answered market_data_resume_gap.
	SubscriberBytesMax int
	// Serving reports whether subscriptions are taken (the node is primary): a standby
	// must not show updates that its primary has not released. Nil: always.
	Serving func() bool
	// Fenced reports whether the node is fenced: deposed for good (it saw a higher epoch,
	// or fenced itself), it applies and numbers nothing more until restarted as a
	// standby. A node that is not Serving but not Fenced is a standby, whose report
	// streams are live (it delivers reports as it applies its primary's entries); a
	// fenced node's are dead, so it closes its report subscribers with shutting_down and
	// answers a report subscribe likewise (PROTOCOL.md section 8), as it does its
	// market-data subscribers. Nil: never fenced.
	Fenced func() bool
	// Shards, on a node of several shards, gives each shard's feed (index = shard) its
	// StartOp, Serving and Fenced; those above are then not used. Empty: one feed
	// (shard 0), from StartOp, Serving and Fenced.
	Shards []MarketDataShard
	// InstrumentShard names the shard of an instrument (the node's shard map), whose feed
	// serves its subscriptions; required with more than one entry in Shards.
	InstrumentShard func(instrument uint32) uint16
}

// MarketDataShard is one shard's feed on a node of several shards.
type MarketDataShard struct {
	StartOp uint64      // That shard's recovered last op + 1 (its log's positions).
	Serving func() bool // As MarketDataConfig.Serving (failover is node-wide).
	Fenced  func() bool // As MarketDataConfig.Fenced.
}

// feedConfigs returns the configuration of each shard's feed, in shard order.
func (c MarketDataConfig) feedConfigs() []MarketDataConfig {
	if len(c.Shards) == 0 {
		return []MarketDataConfig{c}
	}
	feeds := make([]MarketDataConfig, len(c.Shards))
	for index, shard := range c.Shards {
		feed := c
		feed.StartOp, feed.Serving, feed.Fenced, feed.Shards = shard.StartOp, shard.Serving,
			shard.Fenced, nil
		feeds[index] = feed
	}
	return feeds
}

func (c MarketDataConfig) withDefaults() MarketDataConfig {
	if c.QueueUpdatesMax <= 0 {
		c.QueueUpdatesMax = MarketDataQueueUpdatesMaxDefault
	}
	if c.HistoryUpdatesMax <= 0 {
		c.HistoryUpdatesMax = MarketDataHistoryUpdatesMaxDefault
	}
	if c.SubscriberBytesMax <= 0 {
		c.SubscriberBytesMax = MarketDataSubscriberBytesMaxDefault
	}
	if c.StartOp == 0 {
		c.StartOp = 1
	}
	return c
}

// marketDataOrder is a subscription change queued by an event loop.
type marketDataOrder struct {
	conn      *connection
	session   uint64
	subscribe wire.MarketDataSubscribe
}

// marketDataSubscriber is one connection's subscriptions (publisher-owned).
type marketDataSubscriber struct {
	conn        *connection
	session     uint64
	all         uint32               // Channels for every instrument.
	instruments map[uint32]uint32    // Channels per instrument.
	tops        map[uint32]topOfBook // Top of book last sent per instrument (ChannelTop).
	staleFromOp uint64               // Non-zero: updates from this op were dropped.
	output      *outbound            // Being filled during one fan-out.
	frameStart  int                  // Offset of the open md_update frame in output.
	frameCount  int                  // Records in the open frame.
}

type topOfBook struct {
	bidPrice, askPrice       uint64
	bidQuantity, askQuantity model.Uint128
}

func topOf(u *model.MarketDataUpdate) topOfBook {
	return topOfBook{bidPrice: u.BidPrice, askPrice: u.AskPrice, bidQuantity: u.BidQuantity,
		askQuantity: u.AskQuantity}
}

// channels returns what s wants of instrument's updates.
func (s *marketDataSubscriber) channels(instrument uint32) uint32 {
	return s.all | s.instruments[instrument]
}

// wants reports whether u goes to s (and records the top it will have seen).
func (s *marketDataSubscriber) wants(u *model.MarketDataUpdate) bool {
	channels := s.channels(u.Instrument)
	if channels == 0 {
		return false
	}
	send := (u.Kind == model.MarketDataLevel && channels&wire.ChannelLevels != 0) ||
		(u.Kind == model.MarketDataTrade && channels&wire.ChannelTrades != 0)
	if channels&wire.ChannelTop != 0 {
		top := topOf(u)
		if last, seen := s.tops[u.Instrument]; !seen || last != top {
			s.tops[u.Instrument] = top
			send = true
		}
	} else if send && len(s.tops) != 0 {
		// Sent without the top channel: its top is not recorded, so the one recorded
		// before is no longer what this connection was last sent. Forgotten, the top
		// channel, taken again, sends its next update whatever its top (PROTOCOL.md 8a;
		// TestMarketDataTopChannelComparesWithWhatWasLastSent: it was compared with the
		// older top and an update that changed the top was skipped).
		delete(s.tops, u.Instrument)
	}
	return send
}

func newMarketData(server *Server, config MarketDataConfig, shard uint16) *marketData {
	config = config.withDefaults()
	m := &marketData{server: server, config: config, shard: shard, wake: make(chan struct{}, 1),
		ordersWake: make(chan struct{}, 1),
		stop:       make(chan struct{}), done: make(chan struct{}),
		byConn: map[uint64]*marketDataSubscriber{}}
	m.history.init(config.HistoryUpdatesMax, config.StartOp, marketDataInstrumentsLeftMax)
	m.consumedOp = config.StartOp - 1
	m.handledOp.Store(config.StartOp - 1)
	return m
}

var _ backend.Consumer = (*marketData)(nil)

// Consume copies a released entry's market-data updates into the bounded queue (the
// sequencer's goroutine: it never blocks).
func (m *marketData) Consume(ready *backend.Ready) {
	events := ready.Events
	m.mutex.Lock()
	m.consumedOp = ready.LastOp
	queued := false
	for i := range events.Events {
		e := &events.Events[i]
		if !e.Kind.MarketData() {
			continue
		}
		if m.lost || len(m.queue) >= m.config.QueueUpdatesMax {
			if !m.lost {
				m.lost, m.lostFromOp = true, e.Op
				m.fellBehind.Add(1)
			}
			m.lostUntilOp = e.Op
			continue
		}
		m.queue = append(m.queue, *events.MarketDataOf(e))
		m.queue[len(m.queue)-1].Shard = m.shard // Whose log its op is in (PROTOCOL.md 18).
		queued = true
	}
	m.mutex.Unlock()
	if queued {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// ConsumerStats implements backend.Consumer.
func (m *marketData) ConsumerStats() backend.ConsumerStats {
	m.mutex.Lock()
	buffered := len(m.queue)
	// Idle: nothing queued, lost, or taken by the publisher and still being fanned out
	// (handledOp counts a batch only once it is out: TestReview50ConsumerStatsCounts-
	// TheBatchBeingPublished).
	idle := buffered == 0 && !m.lost && !m.taken
	consumed := m.consumedOp
	m.mutex.Unlock()
	handled := m.handledOp.Load()
	if idle {
		handled = max(handled, consumed) // Entries without updates cost the feed nothing.
	}
	return backend.ConsumerStats{Name: "market_data", HandledOp: handled, Buffered: buffered,
		BufferMax: m.config.QueueUpdatesMax, FellBehind: m.fellBehind.Load()}
}

// start runs the publisher until close.
func (m *marketData) start() {
	if m.started.CompareAndSwap(false, true) {
		go m.run()
	}
}

// close stops the publisher and waits for it.
func (m *marketData) close() {
	if m.started.Load() {
		close(m.stop)
		<-m.done
	}
}

func (m *marketData) run() {
	defer close(m.done)
	recheck := time.NewTicker(marketDataRecheckInterval)
	defer recheck.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-m.ordersWake:
			if order, ok := m.nextOrder(); ok {
				m.order(&order)
			}
		case <-m.wake:
			m.publish()
		case <-recheck.C:
			m.dropIfDeposed()
			// Stale subscribers that drained get their notice now, not with the next
			// update (a quiet market may have none): PROTOCOL.md 8a, "When it comes,
			// exactly"; TestMarketDataDrainedSubscriberIsToldStaleInAQuietMarket.
			m.publish()
		}
	}
}

// dropIfDeposed closes, with error shutting_down, every connection subscribed to this
// feed once the node is no longer primary (Serving false: fenced, or its witness lease
// ran out). Its feed gets no update from then on while the new primary publishes: a
// connection left subscribed would be sent heartbeats only, and a client that only
// reads market data would keep a stale book with no sign of it. shutting_down is a
// code every client already reconnects and resumes on (PROTOCOL.md 13); its resumption
// reaching this node again is answered not_primary, as a new md_subscribe is here, and
// sends it to the other node. A node that was never primary holds no subscriber (its
// md_subscribe frames are refused), so this only ever ends subscriptions taken while
// the node was primary. A fenced node (Fenced) closes the connections subscribed to
// this shard's execution reports the same way (closeFencedReportSubscribers): it numbers
// no report again, while a standby's report streams stay live. Runs on the publisher,
// which owns the market-data subscribers.
func (m *marketData) dropIfDeposed() {
	if m.config.Fenced != nil && m.config.Fenced() {
		m.server.closeFencedReportSubscribers(m)
	}
	if len(m.subscribers) == 0 || m.config.Serving == nil || m.config.Serving() {
		return
	}
	for _, s := range m.subscribers {
		if s.conn.active.Load() {
			m.server.closeAsync(s.conn, wire.ErrorShuttingDown, deposedMessage)
		}
		delete(m.byConn, s.conn.id)
	}
	clear(m.subscribers)
	m.subscribers = m.subscribers[:0]
	m.count.Store(0)
}

// deposedMessage is the error frame's text for a market-data subscriber of a node that
// stopped being primary (dropIfDeposed).
const deposedMessage = "this node is no longer primary: its market data stopped; " +
	"reconnect and resume at the primary"

// take swaps out the queued updates and the loss marker.
func (m *marketData) take() (batch []model.MarketDataUpdate, lost bool, lostFrom, lostUntil uint64) {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	batch, m.queue, m.spare = m.queue, m.spare[:0], nil
	lost, lostFrom, lostUntil = m.lost, m.lostFromOp, m.lostUntilOp
	m.lost = false
	m.taken = len(batch) > 0 || lost // ConsumerStats: not idle until publish counts them.
	return batch, lost, lostFrom, lostUntil
}

// publish fans the queued updates out, keeps them in the history, and handles a loss.
func (m *marketData) publish() {
	batch, lost, lostFrom, lostUntil := m.take()
	for i := range batch {
		m.history.add(&batch[i])
	}
	m.fanOut(batch)
	if lost {
		m.history.reset(lostUntil + 1)
		for _, s := range m.subscribers {
			if s.staleFromOp == 0 {
				s.staleFromOp = lostFrom
			}
		}
		m.fanOut(nil) // Sends the notices to those that can take them now.
	}
	// Handled: fanned out, or dropped (every dropped op comes after the batch's ops).
	// Counting only the fanned-out ones would leave HandledOp short of the feed's last
	// op for good after an overflow, as if it still owed those updates.
	switch {
	case lost:
		m.handledOp.Store(lostUntil)
	case len(batch) > 0:
		m.handledOp.Store(batch[len(batch)-1].Op)
	}
	m.mutex.Lock()
	m.taken = false
	if m.spare == nil {
		m.spare = batch[:0]
	}
	m.mutex.Unlock()
}

// fanOut sends each subscriber the updates it wants, one write per subscriber; a slow
// one is skipped and marked stale, a stale one that drained gets md_stale first.
func (m *marketData) fanOut(batch []model.MarketDataUpdate) {
	live := m.subscribers[:0]
	for _, s := range m.subscribers {
		if s.conn.active.Load() {
			if _, ok := m.server.keyInForce(s.conn); !ok {
				m.server.closeAsync(s.conn, wire.ErrorKeyRevoked, keyRevokedMessage)
			}
		}
		if !s.conn.active.Load() {
			delete(m.byConn, s.conn.id)
			continue
		}
		live = append(live, s)
		s.conn.marketDataMutex.Lock()
		m.fanOutTo(s, batch)
		s.conn.marketDataMutex.Unlock()
	}
	clear(m.subscribers[len(live):])
	m.subscribers = live
	m.count.Store(int64(len(live)))
}

// fanOutTo writes to one subscriber; the caller holds its connection's marketDataMutex.
func (m *marketData) fanOutTo(s *marketDataSubscriber, batch []model.MarketDataUpdate) {
	unsent := int(s.conn.queuedBytes.Load() + s.conn.bufferedSeen.Load())
	if s.staleFromOp != 0 && unsent > m.config.SubscriberBytesMax/2 {
		// Still draining: nothing until it can take the notice and what follows. gnet's
		// buffer is only seen on the loop, so lend the loop a look at it when nothing else
		// is on its way (one at a time). The look writes nothing: a heartbeat written as
		// the probe stayed in the buffer of a subscriber that reads nothing, one per
		// publish, until the connection was closed as a slow consumer (hunt52d).
		if s.conn.queuedBytes.Load() == 0 && s.conn.unsentProbeLent.CompareAndSwap(false, true) {
			if lendTo(s.conn, m.server.unsentProbe) != nil {
				s.conn.unsentProbeLent.Store(false) // The engine is stopping.
			}
		}
		return
	}
	if unsent > m.config.SubscriberBytesMax {
		for i := range batch {
			if s.wants(&batch[i]) {
				s.staleFromOp = batch[i].Op
				return
			}
		}
		return
	}
	s.output = m.server.takeOutbound(s.conn)
	if s.staleFromOp != 0 {
		m.appendStale(s)
	}
	for i := range batch {
		if !s.wants(&batch[i]) {
			continue
		}
		added := model.MarketDataUpdateSize // And the header of the frame it opens, if any.
		if s.frameCount == 0 || s.frameCount == wire.MarketDataUpdatesPerFrameMax {
			added += wire.HeaderSize
		}
		if unsent+len(s.output.buffer)+added > m.config.SubscriberBytesMax {
			// This update would take it past its bound: it and the rest are dropped for
			// it, and it is told so once it has drained (PROTOCOL.md 8a; review test
			// TestMarketDataUpdateThatWouldPassTheBoundIsDropped).
			s.staleFromOp = batch[i].Op
			break
		}
		m.appendUpdate(s, &batch[i])
	}
	m.send(s)
}

// probeUnsent runs on a stale market-data subscriber's loop, the callback a feed lent
// it (s.unsentProbe; err: the connection is closed): it records gnet's outbound buffer
// as seen (bufferedSeen), so that the feed learns that a subscriber which reads without
// writing has drained, and writes nothing.
func (s *Server) probeUnsent(c gnet.Conn, err error) error {
	conn, _ := c.Context().(*connection)
	if conn == nil {
		return nil
	}
	if err == nil {
		conn.bufferedSeen.Store(int64(c.OutboundBuffered()))
	}
	conn.unsentProbeLent.Store(false)
	return nil
}

// appendStale writes an md_stale frame and clears the subscriber's stale mark.
func (m *marketData) appendStale(s *marketDataSubscriber) {
	var body [wire.MarketDataStaleSize]byte
	(&wire.MarketDataStale{Shard: uint32(m.shard), DroppedFromOp: s.staleFromOp}).Encode(body[:])
	s.output.appendFrame(&wire.Frame{Kind: wire.KindMarketDataStale, Session: s.session,
		Status: uint32(model.StatusMarketDataFellBehind)}, body[:])
	s.staleFromOp = 0
	clear(s.tops) // The top channel starts again from what it sends next.
	m.stale.Add(1)
}

// appendUpdate adds one record to the subscriber's open md_update frame.
func (m *marketData) appendUpdate(s *marketDataSubscriber, u *model.MarketDataUpdate) {
	o := s.output
	if s.frameCount == wire.MarketDataUpdatesPerFrameMax {
		m.sealFrame(s)
	}
	if s.frameCount == 0 {
		s.frameStart = len(o.buffer)
		o.buffer = append(o.buffer, make([]byte, wire.HeaderSize)...)
	}
	start := len(o.buffer)
	o.buffer = append(o.buffer, make([]byte, model.MarketDataUpdateSize)...)
	u.Encode(o.buffer[start:])
	s.frameCount++
}

// sealFrame writes the header of the open md_update frame.
func (m *marketData) sealFrame(s *marketDataSubscriber) {
	if s.frameCount == 0 {
		return
	}
	wire.PutFrame(s.output.buffer[s.frameStart:], &wire.Frame{Kind: wire.KindMarketData,
		Session: s.session}, s.frameCount*model.MarketDataUpdateSize)
	m.sent.Add(uint64(s.frameCount))
	s.frameCount = 0
}

// send seals the open frame and lends the subscriber's output to its connection.
func (m *marketData) send(s *marketDataSubscriber) {
	m.sealFrame(s)
	o := s.output
	s.output = nil
	m.server.send(s.conn, o)
}

// order applies a subscription change queued by an event loop, replaying history when
// asked, and answers md_subscribed.
func (m *marketData) order(order *marketDataOrder) {
	if hook := testHookMarketDataOrder.Load(); hook != nil {
		(*hook)()
	}
	order.conn.marketDataMutex.Lock()
	defer order.conn.marketDataMutex.Unlock()
	request := &order.subscribe
	answer := wire.MarketDataSubscribed{Instrument: request.Instrument,
		Channels: request.Channels, FromOp: request.FromOp, OldestOp: m.history.fromOp}
	status := model.StatusOK
	switch {
	case request.Channels&^wire.SubscribeBitsKnown != 0:
		status = model.StatusInvalidBody
	case m.config.Serving != nil && !m.config.Serving():
		status = model.StatusNotPrimary
	case !order.conn.active.Load():
		return
	case !m.roomFor(order.conn, request):
		status = model.StatusSessionLimit
	}
	if status != model.StatusOK {
		m.answer(order, &answer, status, nil)
		return
	}
	s := m.subscriber(order)
	delivered := request.Channels & wire.ChannelsKnown // Bits 3 and 4 deliver nothing.
	if request.Instrument == 0 {
		s.all = delivered
	} else {
		hold(s, request.Instrument, delivered)
	}
	s.output = m.server.takeOutbound(s.conn)
	if request.FromOp != 0 {
		// A replay that does not fit the subscriber's bound is refused like one the
		// history no longer holds: written at once, it would grow the connection's unsent
		// bytes by up to the whole history (the client rebuilds from a snapshot instead).
		status = model.StatusMarketDataResumeGap
		if !m.pastLog(request.FromOp, request.Channels&wire.ChannelFromOpRead != 0) &&
			m.history.holdsFrom(request.Instrument, request.FromOp) {
			if positions, fits := m.replayPlan(s, request); fits {
				if s.staleFromOp != 0 {
					// Skipped as slow: the notice of what it missed goes before any
					// update of a later op, or a client that loses the connection before
					// reading it resumes past the missed ones (the order per connection,
					// PROTOCOL.md 8a step 8, that a client resumes on).
					m.appendStale(s)
				}
				status = model.StatusOK
				answer.ReplayedThroughOp = m.replay(s, positions)
			}
		}
	}
	m.sealFrame(s)
	m.answer(order, &answer, status, s)
}

// hold sets the channels s (one feed's subscriber of its connection) has of instrument,
// 0 dropping it. The connection's subscriber on another feed that held the instrument
// loses it first (md_subscribe with and without channel bit 3 of an instrument of a shard
// other than 0 go to two feeds), so that no update of it is sent twice and the
// connection's count stays exact; that subscriber's top of book for it is forgotten, so
// that the top channel starts again from what it sends if the instrument comes back.
// The caller holds the connection's marketDataMutex, which guards every feed's
// subscriber maps of the connection.
func hold(s *marketDataSubscriber, instrument, channels uint32) {
	conn := s.conn
	if holder, held := conn.marketDataHolders[instrument]; held && holder != s {
		delete(holder.instruments, instrument)
		delete(holder.tops, instrument)
		delete(conn.marketDataHolders, instrument)
	}
	if channels == 0 {
		delete(s.instruments, instrument)
		delete(conn.marketDataHolders, instrument)
		return
	}
	if conn.marketDataHolders == nil {
		conn.marketDataHolders = map[uint32]*marketDataSubscriber{}
	}
	conn.marketDataHolders[instrument] = s
	s.instruments[instrument] = channels
}

// pastLog reports whether fromOp is beyond every op this node's log has released to the
// feed, plus one: then the updates the client read up to fromOp came from another node
// (a primary before a failover) and this node's log lost them, so it will give their ops
// and sequences to other updates, which a client resuming from fromOp would skip as
// duplicates by sequence while keeping the lost levels (PROTOCOL.md 8a,
// market_data_resume_gap). Publisher goroutine.
//
// consumedOp is the log position, not the publisher's progress (handledOp), which lags
// it by the queue and does not move on entries without updates: a resumption from an op
// this node released but has not published yet is whole (the replay is empty, the
// updates follow live from liveFromOp), and must stay ok.
//
// On the node that published what the client read, fromOp <= consumedOp+1 always holds,
// so a resumption is never refused here without a loss:
//   - an update leaves the publisher only after Consume queued it, and Consume sets
//     consumedOp to the entry's last op first, under the same mutex; Consume runs in log
//     order, so consumedOp never goes down: every op read is <= consumedOp;
//   - a live_from_op this node gave is max(handledOp+1, history.fromOp): handledOp is
//     the op of an update taken from the queue or dropped in a loss (<= consumedOp),
//     and history.fromOp is StartOp (consumedOp's first value + 1), an evicted update's
//     op + 1, or a lost update's op + 1 (both <= consumedOp + 1);
//   - after a restart of that node, consumedOp starts at the recovered log's last op
//     (StartOp - 1), and every op it published before was released, so durable in that
//     log: the same bounds hold (and a from_op below StartOp is a gap anyway, sinceOp).
//
// After a failover that lost nothing, the new primary's log holds every op the old one
// released (sync mode: acknowledged before released), and its feed is handed them as
// its own release follows its durability; a resumption that comes between the two is
// answered a gap it did not need (one snapshot more, never a wrong book).
//
// What it cannot see: once this node's log has reached fromOp-1 with other entries, the
// resumption looks whole (as next_sequence for reports, PROTOCOL.md 8).
//
// With read (channel bit 4, wire.ChannelFromOpRead) the client says it read an update
// at fromOp: then fromOp itself must be in this node's log, not only fromOp-1, or the
// entry it read there was lost (the hunt43 test of a resumption from the op of an
// update the new primary lost). The bounds above hold for it: every op read is <=
// consumedOp.
func (m *marketData) pastLog(fromOp uint64, read bool) bool {
	m.mutex.Lock()
	consumed := m.consumedOp
	m.mutex.Unlock()
	if read {
		return fromOp > consumed
	}
	return fromOp > consumed+1
}

// testHookMarketDataOrder, when set by a test, runs on the publisher before it takes a
// subscription change (a test releases entries there that the publisher has not
// published when it answers). One atomic load per md_subscribe.
var testHookMarketDataOrder atomic.Pointer[func()]

// liveFromOp is the first op whose updates a subscription taken now is sent live (the
// md_subscribed header's aux, PROTOCOL.md 8a): every update with a lower op was
// published before (the publisher takes subscriptions between batches, and an op's
// updates are in one batch: Consume queues an entry's updates at once), or dropped in a
// loss, after which the history holds nothing below its fromOp. Publisher goroutine.
func (m *marketData) liveFromOp() uint64 {
	return max(m.handledOp.Load()+1, m.history.fromOp)
}

// roomFor reports whether the connection may take request: a new instrument only while
// it holds fewer than MarketDataInstrumentsPerConnectionMax, counted over every feed; one
// it holds, on this feed or another, may change (the caller holds the connection's
// marketDataMutex).
func (m *marketData) roomFor(conn *connection, request *wire.MarketDataSubscribe) bool {
	if request.Instrument == 0 || request.Channels&wire.ChannelsKnown == 0 {
		return true
	}
	if _, held := conn.marketDataHolders[request.Instrument]; held {
		return true
	}
	return len(conn.marketDataHolders) < MarketDataInstrumentsPerConnectionMax
}

// subscriber returns the connection's subscriber, creating it.
func (m *marketData) subscriber(order *marketDataOrder) *marketDataSubscriber {
	if s, ok := m.byConn[order.conn.id]; ok {
		return s
	}
	s := &marketDataSubscriber{conn: order.conn, session: order.session,
		instruments: map[uint32]uint32{}, tops: map[uint32]topOfBook{}}
	m.byConn[order.conn.id] = s
	m.subscribers = append(m.subscribers, s)
	m.count.Store(int64(len(m.subscribers)))
	return s
}

// replayPlan returns the history positions a replay of request to s would send from
// (oldest last), and whether sending them keeps s's unsent bytes within
// SubscriberBytesMax. It counts every update of the subscribed instruments from FromOp
// on (the top channel may send fewer: a bound, not the exact size).
//
// Its cost is bounded by what fits, not by the history: it walks back from the newest
// update, along the instrument's own chain for one instrument (marketDataHistory), and
// stops as soon as the count passes what fits. A client repeating md_subscribe with an
// old from_op on a quiet instrument used to make the publisher read the whole history
// (2^18 updates by default) twice per frame. For instrument 0 every update walked is
// counted, also those of instruments s does not take (only possible when the request
// unsubscribes from every instrument's channels): a bound, as above.
func (m *marketData) replayPlan(s *marketDataSubscriber, request *wire.MarketDataSubscribe) (
	positions []uint64, fits bool) {
	unsent := int(s.conn.queuedBytes.Load() + s.conn.bufferedSeen.Load())
	fitting := func(updates int) bool {
		frames := (updates + wire.MarketDataUpdatesPerFrameMax - 1) /
			wire.MarketDataUpdatesPerFrameMax
		return unsent+updates*model.MarketDataUpdateSize+frames*wire.HeaderSize <=
			m.config.SubscriberBytesMax
	}
	positions = m.replayPositions[:0]
	fits = true
	if request.Instrument == 0 || s.channels(request.Instrument) != 0 {
		m.history.newestFirst(request.Instrument, request.FromOp, func(position uint64) bool {
			positions = append(positions, position)
			fits = fitting(len(positions))
			return fits
		})
	}
	m.replayPositions = positions
	return positions, fits
}

// replay sends the updates at positions (replayPlan's, newest first) that s wants,
// oldest first, and returns the op of the last one sent.
func (m *marketData) replay(s *marketDataSubscriber, positions []uint64) uint64 {
	last := uint64(0)
	for i := len(positions) - 1; i >= 0; i-- {
		if u := m.history.at(positions[i]); s.wants(u) {
			m.appendUpdate(s, u)
			last = u.Op
		}
	}
	return last
}

// answer sends md_subscribed (after whatever s's output holds: the replay); with s (the
// subscription was taken: ok or market_data_resume_gap) its aux is liveFromOp.
func (m *marketData) answer(order *marketDataOrder, answer *wire.MarketDataSubscribed,
	status model.Status, s *marketDataSubscriber) {
	o := m.server.takeOutbound(order.conn)
	if s != nil {
		o, s.output = s.output, nil
	}
	var body [wire.MarketDataSubscribedSize]byte
	answer.Encode(body[:])
	liveFromOp := uint64(0) // Only for an accepted subscription (s is its subscriber).
	if s != nil {
		liveFromOp = m.liveFromOp()
	}
	o.appendFrame(&wire.Frame{Kind: wire.KindMarketDataSubscribed, Session: order.session,
		Status: uint32(status), Number: uint64(m.shard), Aux: liveFromOp}, body[:])
	m.server.send(order.conn, o)
}

// handleMarketDataSubscribe queues a subscription change for the publisher (event loop).
func (s *Server) handleMarketDataSubscribe(conn *connection, frame *wire.Frame) gnet.Action {
	if conn.phase != phaseActive {
		return s.fail(conn, wire.ErrorUnexpectedFrame, 0, "md_subscribe before login")
	}
	client, ok := s.keyInForce(conn)
	if !ok {
		return s.fail(conn, wire.ErrorKeyRevoked, 0, keyRevokedMessage)
	}
	order := marketDataOrder{conn: conn, session: conn.session}
	order.subscribe.Decode(frame.Body)
	status := model.StatusOK
	switch {
	case !client.Allows(model.OperationGetBook):
		status = model.StatusPermissionDenied
	case s.config.Admission != nil:
		status = s.config.Admission.AdmitSubscription(client)
	}
	feed := s.marketDataFeed(&order.subscribe)
	if status == model.StatusOK {
		if feed.queueOrder(&order) {
			return gnet.None
		}
		status = model.StatusBusy
	}
	s.countRateLimited(status)
	var body [wire.MarketDataSubscribedSize]byte
	(&wire.MarketDataSubscribed{Instrument: order.subscribe.Instrument,
		Channels: order.subscribe.Channels, FromOp: order.subscribe.FromOp}).Encode(body[:])
	conn.immediate = wire.AppendFrame(conn.immediate, &wire.Frame{
		Kind: wire.KindMarketDataSubscribed, Session: conn.session, Status: uint32(status),
		Number: uint64(feed.shard)}, body[:])
	return gnet.None
}

// queueOrder queues a subscription change for the publisher, or reports that there is
// no room (the caller answers busy). Room: fewer than marketDataCommandsMax waiting on
// this feed, every connection's together, or fewer than
// marketDataCommandsPerConnectionReserved of this connection's waiting on any feed. The
// second keeps one connection that writes thousands of md_subscribe frames at once from
// getting every other connection's answered busy until the feed has served its flood
// (the Session 52 leftover; TestMarketDataFloodingConnectionCannotMakeAnotherBusy); it
// bounds what waits by marketDataCommandsMax plus the reserve per connection slot (the
// count is the slot's, connection.marketDataWaiting). Event loop of order.conn (the only
// writer that adds to its count: a slot's connections follow one another).
func (m *marketData) queueOrder(order *marketDataOrder) bool {
	conn := order.conn
	if conn.marketDataWaiting == nil {
		conn.marketDataWaiting = new(atomic.Int32) // Built without the table (tests).
	}
	m.ordersMutex.Lock()
	waiting := len(m.orders) - m.ordersHead
	if waiting >= marketDataCommandsMax &&
		conn.marketDataWaiting.Load() >= marketDataCommandsPerConnectionReserved {
		m.ordersMutex.Unlock()
		return false
	}
	if len(m.orders) == cap(m.orders) && m.ordersHead >= len(m.orders)/2 {
		// Full, at least half of it served: move the waiting ones to the front rather
		// than grow (a queue that never empties would otherwise grow for ever). Waiting
		// for half keeps the copy's cost per frame constant under a flood that keeps the
		// queue full (compacting at the first served frame copied the whole queue, ~32
		// KB under the mutex, for every frame queued), and the capacity stays below four
		// times the frames that may wait: it grows only while fewer than half are served.
		kept := copy(m.orders, m.orders[m.ordersHead:])
		clear(m.orders[kept:])
		m.orders, m.ordersHead = m.orders[:kept], 0
	}
	m.orders = append(m.orders, *order)
	conn.marketDataWaiting.Add(1)
	m.ordersMutex.Unlock()
	select {
	case m.ordersWake <- struct{}{}:
	default:
	}
	return true
}

// nextOrder takes the oldest waiting subscription change, if any, and wakes the
// publisher again while more wait (one is served per turn, so that updates keep flowing
// between them as they did). Publisher goroutine.
func (m *marketData) nextOrder() (order marketDataOrder, ok bool) {
	m.ordersMutex.Lock()
	defer m.ordersMutex.Unlock()
	if m.ordersHead == len(m.orders) {
		return order, false
	}
	order = m.orders[m.ordersHead]
	m.orders[m.ordersHead] = marketDataOrder{} // Holds no connection once served.
	m.ordersHead++
	if m.ordersHead == len(m.orders) {
		m.orders, m.ordersHead = m.orders[:0], 0
	} else {
		select {
		case m.ordersWake <- struct{}{}:
		default:
		}
	}
	order.conn.marketDataWaiting.Add(-1)
	return order, true
}

// marketDataFeed returns the feed serving request: that of the instrument's shard (the
// node's shard map) when the client keeps a resume op per shard (channel bit 3,
// PROTOCOL.md 18); shard 0's otherwise, as before market data covered every shard (an
// instrument of another shard then gets no update), and for every instrument's (0). Any
// goroutine.
func (s *Server) marketDataFeed(request *wire.MarketDataSubscribe) *marketData {
	if request.Instrument == 0 || len(s.marketDataShards) == 1 ||
		request.Channels&wire.ChannelShardOps == 0 {
		return s.marketData
	}
	return s.marketDataShards[s.config.MarketData.InstrumentShard(request.Instrument)]
}

// MarketData returns shard 0's feed as a shard consumer (give it to the shard's Config):
// a one-shard node's only feed.
func (s *Server) MarketData() backend.Consumer { return s.marketData }

// MarketDataOf returns the feed of shard (MarketDataConfig.Shards) as that shard's
// consumer.
func (s *Server) MarketDataOf(shard int) backend.Consumer { return s.marketDataShards[shard] }

// MarketDataStats are a feed's counters.
type MarketDataStats struct {
	Subscribers  int64  `json:"subscribers"`
	UpdatesSent  uint64 `json:"updates_sent"`
	StaleNotices uint64 `json:"stale_notices"` // md_stale sent to slow subscribers.
	FellBehind   uint64 `json:"fell_behind"`   // Queue overflows (every subscriber resnapshots).
	HandledOp    uint64 `json:"handled_op"`    // Last op whose updates were sent or dropped.
}

// MarketDataStats returns shard 0's feed's counters (a one-shard node's only feed). Any
// goroutine.
func (s *Server) MarketDataStats() MarketDataStats { return s.marketData.stats() }

// MarketDataShardStats returns each shard's feed's counters, in shard order (Subscribers
// counts the connections subscribed on that feed). Any goroutine.
func (s *Server) MarketDataShardStats() []MarketDataStats {
	stats := make([]MarketDataStats, len(s.marketDataShards))
	for index, feed := range s.marketDataShards {
		stats[index] = feed.stats()
	}
	return stats
}

func (m *marketData) stats() MarketDataStats {
	return MarketDataStats{Subscribers: m.count.Load(), UpdatesSent: m.sent.Load(),
		StaleNotices: m.stale.Load(), FellBehind: m.fellBehind.Load(),
		HandledOp: m.handledOp.Load()}
}

// marketDataHistory is the ring of recent updates, in op order (publisher-owned). Each
// update added since the last reset has a position (0, 1, 2, …) and sits in slot
// position % max while held. Each also links to the previous held update of its
// instrument, so that a resume of one instrument walks that instrument's updates only,
// however busy the others are.
//
// It also remembers, per instrument, the op of the newest update that left the ring since
// the last reset (leftOp), so that a resume is refused only for what the instrument
// itself lost (holdsFrom): a quiet instrument of a busy feed keeps resuming exactly long
// after the ring has moved past its from_op on other instruments' updates.
type marketDataHistory struct {
	updates  []model.MarketDataUpdate
	previous []uint64          // Per slot: position+1 of the instrument's previous update; 0: none.
	newest   map[uint32]uint64 // Per instrument held: position+1 of its newest update.
	added    uint64            // Positions given since the last reset.
	max      int               // Capacity.
	fromOp   uint64            // Every update with op >= fromOp is held.
	// sinceOp is fromOp as the last reset (or init) set it: nothing is known of the
	// updates with a lower op; every one added since, with op >= sinceOp, is either held
	// or counted in leftOp.
	sinceOp uint64
	// leftOp: per instrument (at most init's leftInstrumentsMax of them), the op of its
	// newest update that left the ring since the last reset. Evictions go in op order, so each
	// figure only grows.
	leftOp          marketDataLeftOps
	leftOpUntracked uint64 // The same over the instruments leftOp had no room for.
	walked          uint64 // Updates newestFirst has visited (tests read it).
}

// init sizes the history; leftInstrumentsMax bounds leftOp (allocated here, whole, so
// that evictions never allocate).
func (h *marketDataHistory) init(max int, fromOp uint64, leftInstrumentsMax int) {
	h.max, h.fromOp, h.sinceOp, h.newest = max, fromOp, fromOp, map[uint32]uint64{}
	h.leftOp.init(leftInstrumentsMax)
}

func (h *marketDataHistory) add(u *model.MarketDataUpdate) {
	position := h.added
	slot := int(position % uint64(h.max))
	if len(h.updates) == h.max {
		evicted := &h.updates[slot]
		h.fromOp = max(h.fromOp, evicted.Op+1)
		h.noteLeft(evicted)
		if h.newest[evicted.Instrument] == position-uint64(h.max)+1 {
			delete(h.newest, evicted.Instrument) // Its last held update leaves.
		}
		h.updates[slot], h.previous[slot] = *u, h.newest[u.Instrument]
	} else {
		h.updates = append(h.updates, *u)
		h.previous = append(h.previous, h.newest[u.Instrument])
	}
	h.newest[u.Instrument] = position + 1
	h.added++
}

// noteLeft records that u left the ring (for holdsFrom).
func (h *marketDataHistory) noteLeft(u *model.MarketDataUpdate) {
	if !h.leftOp.set(u.Instrument, u.Op) {
		h.leftOpUntracked = u.Op
	}
}

// reset forgets everything: updates before fromOp were lost. What left the ring before
// had a lower op (the ring is in op order), so fromOp alone now covers it.
func (h *marketDataHistory) reset(fromOp uint64) {
	h.updates, h.previous, h.added, h.fromOp = h.updates[:0], h.previous[:0], 0, fromOp
	h.sinceOp, h.leftOpUntracked = fromOp, 0
	clear(h.newest)
	h.leftOp.clear()
}

// holdsFrom reports whether the ring holds every update of instrument (0: of every
// instrument) with op >= fromOp that was added to it: a resume from fromOp then misses
// nothing (those not added yet are still to be published). Below sinceOp nothing is
// known (a restart, or a loss: PROTOCOL.md 8a's market_data_resume_gap). For one
// instrument, none of its updates with op >= fromOp may have left; for every instrument
// that is the same rule over all of them, which fromOp (oldest_op) already is.
func (h *marketDataHistory) holdsFrom(instrument uint32, fromOp uint64) bool {
	if fromOp < h.sinceOp {
		return false
	}
	if instrument == 0 {
		return fromOp >= h.fromOp
	}
	left, tracked := h.leftOp.get(instrument)
	if !tracked {
		left = h.leftOpUntracked // 0 while leftOp has room: nothing of it left.
	}
	return fromOp > left
}

// at returns the held update at position.
func (h *marketDataHistory) at(position uint64) *model.MarketDataUpdate {
	return &h.updates[position%uint64(h.max)]
}

// newestFirst calls fn with the position of every held update of instrument (0: of every
// instrument) whose op is at least fromOp, newest first, until fn returns false. It
// visits nothing else: the ring is in op order, so the walk ends at the first older op.
func (h *marketDataHistory) newestFirst(instrument uint32, fromOp uint64,
	fn func(position uint64) bool) {
	oldest := h.added - uint64(len(h.updates))
	next := func(position uint64) uint64 { return position } // Position+1; 0 ends.
	start := h.added
	if instrument != 0 {
		start = h.newest[instrument]
		next = func(position uint64) uint64 { return h.previous[position%uint64(h.max)] }
	}
	for link := start; link > oldest; {
		position := link - 1
		if h.updates[position%uint64(h.max)].Op < fromOp {
			return
		}
		h.walked++
		if !fn(position) {
			return
		}
		link = next(position)
	}
}
