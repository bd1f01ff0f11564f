package client

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"sequent/core/model"
	"sequent/netio/wire"
)

// Second review of reporthunt50 (review2-report50): a model of PROTOCOL.md section 8
// against the client's report accounting.
//
// Goal: every sequence a subscription covers is accounted for exactly once: handed to
// the handler once, in order, or told lost once (by ReportsLost, or by the first
// caller's Subscribed: OldestSequence); a sequence handled and then lost in a failover
// is told reused (ReportsReused, or the caller's NextSequence below the sequence it
// asked from) before its new report is handed over; no gap is told twice; no report is
// told lost and also handed over; and at the end the handler's view equals the
// server's: every sequence up to the server's newest handled (with the server's report
// of that sequence) or told lost, none above it.
//
// Method: the client is driven without a connection (review50Client), its readers'
// frames handed to it in the order a scripted server sends them on each connection.
// The server follows section 8: a report store numbered from 1 with a sliding oldest;
// a subscribe from n replays every retained report from max(n, oldest) up to its
// newest when the replay began, then answers (oldest_sequence its oldest then,
// replayed_through, next_sequence its newest + 1), then sends live reports; a window
// overrun stops a replay that had not reached some reports and sets oldest_sequence
// above them; a subscribe from above its newest + 1 (a failover lost reports) is
// answered with next_sequence its newest + 1 and nothing replayed. Connections drop at
// any point (the old reader may still hand in frames it had read: ignored), the
// client resumes on the next (install: the frame is built then), and a drop may be a
// failover that truncates the store, whose new reports reuse the lost sequences. A
// failover's loss is visible to a server only while it is behind the client (section
// 8), so after one the model numbers no report until an answer reached the client.

// modelReportLost marks a sequence told lost in the model's account.
const modelReportLost = ^uint64(0)

// reportModel is the model server, the client under test and the account.
type reportModel struct {
	t *rapid.T
	c *Client
	s *subscription

	// The server's store: truth[q] is the id of report q (1..newest); oldest retained.
	truth   []uint64
	oldest  uint64
	nextID  uint64
	blocked bool // A failover: no report numbered until an answer reached the client.

	// The current connection: generation, the sequence its subscribe asked from,
	// whether the server took it, and the frames it will send, in order. replayLeft
	// counts the replay frames not yet delivered before the answer (queue's head on);
	// answerAt is the answer's index in queue while undelivered (-1 otherwise).
	generation uint64
	from       uint64
	processed  bool
	queue      []wire.Frame
	answerAt   int
	replayed   []uint64 // Sequences of the replay frames still queued, in order.
	replayOK   uint64   // Last replay sequence delivered on this connection (0: none).
	// stale is what the replaced connection's reader still hands in.
	stale           []wire.Frame
	staleGeneration uint64

	// The account: seen[q] is the id handed over for q, or modelReportLost.
	seen        map[uint64]uint64
	lastHanded  uint64 // In-order check, rewound by a reuse.
	callerFrom  uint64
	label       uint64 // The frames' header number: 0, or 3 for SubscribeShard's of shard 2.
	liveStart   uint64 // From 0: the first accepted answer's next_sequence.
	callerWaits bool
	log         []string
	// deferCallbacks: a subscribed frame is being handed in while the caller waits.
	deferCallbacks bool
	deferred       []func()
	// busy: the next subscribe taken is refused busy; refused: a refusal is queued or
	// was sent on this connection, whose retry (retries) sends the next subscribe.
	busy    bool
	refused bool
	retries []func()
}

func (m *reportModel) fail(format string, args ...any) {
	m.t.Fatalf("%s\nevents:\n%v", fmt.Sprintf(format, args...), m.log)
}

func (m *reportModel) handed(r Report) {
	id := binary.LittleEndian.Uint64(r.Body)
	m.log = append(m.log, fmt.Sprintf("handed %d(id %d)", r.Sequence, id))
	if _, ok := m.seen[r.Sequence]; ok {
		m.fail("report %d handed over, already accounted for", r.Sequence)
	}
	if r.Sequence <= m.lastHanded {
		m.fail("report %d handed over after %d", r.Sequence, m.lastHanded)
	}
	if int(r.Sequence) >= len(m.truth) || m.truth[r.Sequence] != id {
		m.fail("report %d (id %d) is not the server's", r.Sequence, id)
	}
	m.seen[r.Sequence], m.lastHanded = id, r.Sequence
}

// callback records a gap callback; told while the first caller's answer is being
// applied, it is taken after the caller's view of that answer (which describes the
// caller's own request: the callbacks tell what lies beyond it).
func (m *reportModel) callback(reused bool, first, last uint64) {
	tell := func() {
		if reused {
			m.reused("callback", first, last)
		} else {
			m.lost("callback", first, last)
		}
	}
	if m.deferCallbacks {
		m.deferred = append(m.deferred, tell)
		return
	}
	tell()
}

func (m *reportModel) lost(who string, first, last uint64) {
	m.log = append(m.log, fmt.Sprintf("%s lost %d..%d", who, first, last))
	if first == 0 || first > last {
		m.fail("lost gap %d..%d", first, last)
	}
	for q := first; q <= last; q++ {
		if v, ok := m.seen[q]; ok {
			m.fail("%d told lost, already accounted for (%x)", q, v)
		}
		m.seen[q] = modelReportLost
	}
}

func (m *reportModel) reused(who string, first, last uint64) {
	m.log = append(m.log, fmt.Sprintf("%s reused %d..%d", who, first, last))
	if first == 0 || first > last {
		m.fail("reused gap %d..%d", first, last)
	}
	for q := first; q <= last; q++ {
		if _, ok := m.seen[q]; !ok {
			m.fail("%d told reused, never accounted for", q)
		}
		delete(m.seen, q)
	}
	m.lastHanded = min(m.lastHanded, first-1)
}

// readCaller takes the first caller's answer, when one was given, as the caller reads it.
func (m *reportModel) readCaller() {
	if !m.callerWaits {
		return
	}
	select {
	case answer := <-m.s.ready:
		m.callerWaits = false
		m.log = append(m.log, fmt.Sprintf("caller %+v", answer))
		for q := max(m.callerFrom, 1); m.callerFrom != 0 && q < answer.OldestSequence; q++ {
			switch v, ok := m.seen[q]; {
			case !ok:
				m.lost("caller", q, q)
			case v == modelReportLost:
				m.fail("%d told lost by the callback and the caller's answer", q)
			}
		}
		if answer.NextSequence != 0 && answer.NextSequence < m.callerFrom {
			m.reused("caller", answer.NextSequence, m.callerFrom-1)
		}
	default:
	}
}

func (m *reportModel) newest() uint64 { return uint64(len(m.truth) - 1) }

func reportModelFrame(sequence, id uint64) wire.Frame {
	body := make([]byte, 8)
	binary.LittleEndian.PutUint64(body, id)
	return wire.Frame{Kind: wire.KindReport, Aux: sequence, Body: body}
}

// produce numbers one report; a connection whose subscribe was taken gets it live.
func (m *reportModel) produce() {
	m.log = append(m.log, fmt.Sprintf("server numbers %d", len(m.truth)))
	m.nextID++
	m.truth = append(m.truth, m.nextID)
	if m.processed {
		m.queue = append(m.queue, reportModelFrame(m.newest(), m.nextID))
	}
}

// process is the server taking the current connection's subscribe (section 8).
func (m *reportModel) process() {
	m.log = append(m.log, "server takes the subscribe")
	m.processed = true
	if m.busy {
		// Refused busy (its replay slots taken): nothing subscribed on the connection.
		m.busy, m.processed = false, false
		m.log = append(m.log, "server answers busy")
		m.queue = append(m.queue, wire.Frame{Kind: wire.KindSubscribed,
			Status: uint32(model.StatusBusy), Body: make([]byte, wire.SubscribedSize)})
		m.refused = true
		return
	}
	n, newest := m.from, m.newest()
	var replayedThrough uint64
	if n != 0 && n <= newest+1 {
		for q := max(n, m.oldest); q <= newest; q++ {
			m.queue = append(m.queue, reportModelFrame(q, m.truth[q]))
			m.replayed = append(m.replayed, q)
			replayedThrough = q
		}
	}
	m.answerAt = len(m.queue)
	m.queue = append(m.queue, reportModelAnswer(m.oldest, replayedThrough, newest+1))
}

func reportModelAnswer(oldest, replayedThrough, next uint64) wire.Frame {
	body := make([]byte, wire.SubscribedSize)
	(&wire.Subscribed{OldestSequence: oldest, ReplayedThrough: replayedThrough}).Encode(body)
	return wire.Frame{Kind: wire.KindSubscribed, Aux: next, Body: body}
}

// overrun: the window moves past the replay frames from the cut on (at least one),
// which are not sent; the answer says so.
func (m *reportModel) overrun(t *rapid.T) {
	cut := rapid.IntRange(0, len(m.replayed)-1).Draw(t, "cut")
	dropped := len(m.replayed) - cut
	lastKept := m.replayOK
	if cut > 0 {
		lastKept = m.replayed[cut-1]
	}
	firstDropped := m.replayed[cut]
	lastDropped := m.replayed[len(m.replayed)-1]
	// The server sets oldest_sequence to its store's next, or to the first live report
	// it held meanwhile (netio/reports.go, replay): every report from it on follows the
	// answer live, so at most the replay's end + 1 here, and above the first dropped.
	oldest := rapid.Uint64Range(firstDropped+1, lastDropped+1).Draw(t, "overrunOldest")
	var moved []wire.Frame
	for q := oldest; q <= lastDropped; q++ { // Sent live, right after the answer.
		moved = append(moved, reportModelFrame(q, m.truth[q]))
	}
	answer := m.queue[m.answerAt]
	var before wire.Subscribed
	before.Decode(answer.Body)
	oldest = max(oldest, before.OldestSequence) // A second overrun of the same replay.
	m.queue = append(m.queue[:m.answerAt-dropped], m.queue[m.answerAt:]...)
	m.answerAt -= dropped
	m.replayed = m.replayed[:cut]
	m.oldest = max(m.oldest, oldest)
	m.queue[m.answerAt] = reportModelAnswer(oldest, lastKept, answer.Aux)
	m.queue = slices.Insert(m.queue, m.answerAt+1, moved...)
	m.log = append(m.log, fmt.Sprintf("overrun: replay stops after %d, oldest %d",
		lastKept, oldest))
}

// deliver hands the current connection's next frame to the client.
func (m *reportModel) deliver() {
	frame := m.queue[0]
	m.queue = m.queue[1:]
	switch {
	case m.answerAt == 0:
		m.answerAt = -1
	case m.answerAt > 0:
		m.answerAt--
		m.replayed = m.replayed[1:]
		m.replayOK = frame.Aux
	}
	if frame.Kind == wire.KindSubscribed {
		// An accepted answer told the client where the server is (a busy one tells
		// nothing).
		m.blocked = m.blocked && frame.Status != 0
		if m.callerFrom == 0 && m.liveStart == 0 && frame.Status == 0 {
			// The reports before it count as handled (PROTOCOL.md section 8: remember
			// next_sequence - 1 as the last sequence handled).
			m.liveStart = frame.Aux
			for q := uint64(1); q < m.liveStart; q++ {
				m.seen[q], m.lastHanded = m.truth[q], q
			}
		}
		m.log = append(m.log, fmt.Sprintf("answer oldest %d through %d next %d",
			binary.LittleEndian.Uint64(frame.Body[0:]),
			binary.LittleEndian.Uint64(frame.Body[8:]), frame.Aux))
	}
	m.deferCallbacks = m.callerWaits && frame.Kind == wire.KindSubscribed
	frame.Number = m.label
	if err := m.c.handle(&frame, m.generation); err != nil {
		m.fail("handle: %v", err)
	}
	m.deferCallbacks = false
	m.readCaller()
	for _, tell := range m.deferred {
		tell()
	}
	m.deferred = nil
}

// reconnect replaces the connection (after a failover that kept reports 1..keep, if
// failover), and builds the resumption as install does.
func (m *reportModel) reconnect(failover bool, keep uint64) {
	m.stale, m.staleGeneration = m.queue, m.generation
	if failover && keep < m.newest() {
		m.truth = m.truth[:keep+1]
		m.oldest = min(m.oldest, keep+1)
		m.blocked = true
		m.log = append(m.log, fmt.Sprintf("failover keeps 1..%d", keep))
	}
	m.c.mu.Lock()
	m.c.generation++
	m.generation = m.c.generation
	frame := m.s.frame(m.c.session)
	m.c.mu.Unlock()
	m.from = binary.LittleEndian.Uint64(frame[wire.HeaderSize:])
	m.log = append(m.log, fmt.Sprintf("connection %d asks from %d", m.generation, m.from))
	m.processed, m.queue, m.answerAt, m.replayed, m.replayOK = false, nil, -1, nil, 0
	m.refused = false
}

func testReportModel(t *rapid.T, callerWaits, live, named bool) {
	m := &reportModel{t: t, seen: map[uint64]uint64{}, answerAt: -1, callerWaits: callerWaits}
	newest := rapid.Uint64Range(0, 12).Draw(t, "newest")
	m.truth = []uint64{0}
	for range newest {
		m.produce()
	}
	m.oldest = rapid.Uint64Range(1, newest+1).Draw(t, "oldest")
	m.callerFrom = rapid.Uint64Range(1, newest+4).Draw(t, "from")
	if live {
		m.callerFrom = 0 // Live: the account starts at the first answer's next_sequence.
	}
	// Handled before Subscribe: from the server's reports, or (above its newest) ones
	// a failover lost.
	for q := uint64(1); q < m.callerFrom; q++ {
		if q <= newest {
			m.seen[q] = m.truth[q]
		} else {
			m.seen[q] = 1 << 40
		}
		m.lastHanded = q
	}
	m.blocked = m.callerFrom > newest+1
	testHookAfterDelay = func(_ time.Duration, retry func()) {
		m.retries = append(m.retries, retry)
	}
	defer func() { testHookAfterDelay = nil }()
	m.s = newSubscription(m.callerFrom, m.handed)
	m.c = &Client{log: slog.New(slog.DiscardHandler), generation: 1, subscription: m.s,
		config: Config{
			ReportsLost:   func(first, last uint64) { m.callback(false, first, last) },
			ReportsReused: func(first, last uint64) { m.callback(true, first, last) },
		}}
	if named { // SubscribeShard's of shard 2: frames labelled 3, the shard callbacks.
		m.s.named, m.s.shard, m.label = true, 2, 3
		m.c.subscription, m.c.shardSubscriptions = nil, []*subscription{m.s}
		m.c.config.ReportsLost, m.c.config.ReportsReused = nil, nil
		shardCallback := func(reused bool) func(uint16, uint64, uint64) {
			return func(shard uint16, first, last uint64) {
				if shard != 2 {
					m.fail("a gap of shard %d, want 2", shard)
				}
				m.callback(reused, first, last)
			}
		}
		m.c.config.ShardReportsLost = shardCallback(false)
		m.c.config.ShardReportsReused = shardCallback(true)
	}
	m.c.mu.Lock()
	frame := m.s.frame(m.c.session) // Subscribe's own frame, on connection 1.
	m.c.mu.Unlock()
	m.generation = 1
	m.from = binary.LittleEndian.Uint64(frame[wire.HeaderSize:])
	m.log = append(m.log, fmt.Sprintf("store 1..%d oldest %d; Subscribe from %d (caller "+
		"waits: %v)", newest, m.oldest, m.from, callerWaits))
	if !callerWaits {
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := m.c.subscribeAbandoned(ended, m.s); err == nil {
			m.fail("subscribeAbandoned before an answer returned no error")
		}
	}
	steps := rapid.IntRange(0, 150).Draw(t, "steps")
	for range steps {
		switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
		case op == 0 && !m.blocked:
			m.produce()
		case op == 1:
			m.oldest = rapid.Uint64Range(m.oldest, m.newest()+1).Draw(t, "slide")
		case op == 2 && !m.processed && !m.refused:
			m.process()
		case op == 3 && len(m.queue) > 0:
			m.deliver()
		case op == 4 && len(m.stale) > 0:
			frame := m.stale[0]
			m.stale = m.stale[1:]
			frame.Number = m.label
			if err := m.c.handle(&frame, m.staleGeneration); err != nil {
				m.fail("handle stale: %v", err)
			}
			m.readCaller()
		case op == 5 && m.answerAt > 0 && len(m.replayed) > 0:
			m.overrun(t)
		case op == 7 && m.callerWaits:
			ended, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := m.c.subscribeAbandoned(ended, m.s); err == nil {
				m.fail("subscribeAbandoned before an answer returned no error")
			}
			m.callerWaits = false
			m.log = append(m.log, "the caller's context ends")
		case op == 8 && !m.processed && !m.refused && (m.s.established ||
			m.from != m.callerFrom):
			m.busy = true
			m.process()
		case op == 9 && len(m.retries) > 0:
			retry := m.retries[0]
			m.retries = m.retries[1:]
			retry()
			m.c.mu.Lock()
			outbox := m.c.outbox
			m.c.outbox = nil
			m.c.mu.Unlock()
			if len(outbox) > 1 {
				m.fail("a retry sent %d frames", len(outbox))
			}
			if len(outbox) == 1 {
				m.from = binary.LittleEndian.Uint64(outbox[0][wire.HeaderSize:])
				m.refused = false
				m.log = append(m.log, fmt.Sprintf("retry on connection %d asks from %d",
					m.generation, m.from))
			}
		case op == 6:
			failover := rapid.Bool().Draw(t, "failover")
			keep := rapid.Uint64Range(0, m.newest()).Draw(t, "keep")
			m.reconnect(failover, keep)
		}
	}
	// Quiesce: a last connection, answered, with a live report, all delivered.
	m.reconnect(false, 0)
	m.process()
	m.produce()
	for len(m.queue) > 0 {
		m.deliver()
	}
	if m.callerWaits {
		m.fail("the caller was never answered")
	}
	if m.callerFrom == 0 && m.liveStart == 0 {
		m.fail("a live subscription was never answered")
	}
	for q := uint64(1); q <= m.newest(); q++ {
		switch v, ok := m.seen[q]; {
		case !ok:
			m.fail("report %d never handed over nor told lost", q)
		case v != modelReportLost && v != m.truth[q]:
			m.fail("report %d handed over was id %d, the server's is %d (reuse untold)",
				q, v, m.truth[q])
		}
	}
	for q := range m.seen {
		if q > m.newest() {
			m.fail("report %d accounted for, above the server's newest %d", q, m.newest())
		}
	}
}

// TestReview50bReportAccountingModelCallerGone: the first caller's context ended before
// any answer: every gap is told by the callbacks.
func TestReview50bReportAccountingModelCallerGone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { testReportModel(t, false, false, false) })
}

// TestReview50bReportAccountingModelCallerWaits: the first caller reads its Subscribed.
func TestReview50bReportAccountingModelCallerWaits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { testReportModel(t, true, false, false) })
}

// TestReview50bReportAccountingModelLive: Subscribe from 0 (live), the caller waiting or
// not; the account starts at the first answer's next_sequence.
func TestReview50bReportAccountingModelLive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		testReportModel(t, rapid.Bool().Draw(t, "waits"), true, false)
	})
}

// TestReview50bReportAccountingModelShard: the same for SubscribeShard's subscription
// (of shard 2: frames labelled 3, gaps told by ShardReportsLost and ShardReportsReused).
func TestReview50bReportAccountingModelShard(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		testReportModel(t, rapid.Bool().Draw(t, "waits"), rapid.Bool().Draw(t, "live"), true)
	})
}

// TestReview50bLossToldOnceAcrossAReconnect (claim 7, found by the model above): an
// established subscription has handled 1..15; the resumption asks from 16; the server
// holds nothing below 20 and nothing from 20 on yet (oldest_sequence 20, next_sequence
// 20): ReportsLost tells 16..19. The connection is lost before any other report. The
// next resumption asked from 16 again (the duplicate filter stayed at 15), and its
// answer (oldest_sequence 20 still) told 16..19 a second time: the gap is told once,
// and the next resumption asks from 20.
func TestReview50bLossToldOnceAcrossAReconnect(t *testing.T) {
	var gaps []review50Gap
	s := review50Established(15)
	c := review50Client(s, &gaps)
	for generation := uint64(2); generation <= 3; generation++ {
		frame := review50Frame(c, s, generation) // install: the connection and its resumption.
		from := binary.LittleEndian.Uint64(frame[wire.HeaderSize:])
		if generation == 3 && from != 20 {
			t.Errorf("the resumption after the loss was told asked from %d, want 20", from)
		}
		review50Answer(t, c, generation, 20, 0, 20)
	}
	if want := []review50Gap{{false, 16, 19}}; !slices.Equal(gaps, want) {
		t.Errorf("callbacks told %v, want %v", gaps, want)
	}
}
