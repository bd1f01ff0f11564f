package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/event"
	"sequent/wal"
)

// Config configures change capture for one shard. Zero values take the defaults in
// limits.go.
type Config struct {
	URL           string // NATS server URL(s), comma-separated.
	Stream        string // Stream base name; the shard's stream is <Stream>_<shard>.
	SubjectPrefix string // Subjects are <prefix>.<shard>.… (see appendSubject).
	Shard         uint32 // The shard captured (a node of several runs a Capture per shard).
	// Duplicates is the stream's duplicate window, set when capture creates the stream (an
	// existing one keeps its own; a warning says when it differs). At least DuplicatesMin.
	Duplicates time.Duration
	// QueueEventsMax bounds the events waiting between the release and the publisher;
	// past it capture falls behind and rebuilds the missed events from the log.
	QueueEventsMax int
	// BatchMax bounds the messages published before waiting for their acknowledgements.
	BatchMax int
	// LagWarning: a capture lagging longer than this is reported as a problem (healthz).
	LagWarning time.Duration

	// To rebuild events it missed: the shard's log, snapshots and machine configuration.
	Log         *wal.Log
	SnapshotDir string
	Machine     core.Config
	// Released returns the shard's released op: nothing beyond it is ever published.
	Released func() uint64
	// RecoveredOp is the shard's op when it started (its recovered machine's). The shard
	// counts the entries up to it released only once its release covers them, a while
	// after it starts (in sync mode, once the standby acknowledged them), and an earlier
	// process may have published their events: until Released reaches it, it is not the
	// end of what the stream may have held (publishLostPosition waits for it). 0: the
	// log's last op when New runs, which is the shard's op then (a capture is made before
	// its shard starts, as AddConsumer requires), or none without a Log.
	RecoveredOp uint64
	// Serving reports whether this node publishes (the primary). A standby only watches
	// the stream, to hold the log its successor as primary will need.
	Serving func() bool
	// Epoch returns the shard's epoch (the one it writes as primary). Capture refuses to
	// publish over a stream whose last message comes from a newer epoch (it has been
	// deposed), and names it in capture_superseded messages. Nil: unknown (0), no check.
	Epoch  func() uint64
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.Stream = defaultTo(c.Stream, StreamDefault)
	c.SubjectPrefix = defaultTo(c.SubjectPrefix, SubjectPrefixDefault)
	c.Duplicates = defaultTo(c.Duplicates, DuplicatesDefault)
	c.QueueEventsMax = defaultTo(c.QueueEventsMax, QueueEventsMaxDefault)
	c.BatchMax = defaultTo(c.BatchMax, BatchMaxDefault)
	c.LagWarning = defaultTo(c.LagWarning, LagWarningDefault)
	if c.Serving == nil {
		c.Serving = func() bool { return true }
	}
	if c.Epoch == nil {
		c.Epoch = func() uint64 { return 0 }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func defaultTo[T comparable](value, fallback T) T {
	var zero T
	if value == zero {
		return fallback
	}
	return value
}

// release is when the queue's events up to end (exclusive) were released, and the epoch
// of the entry they came from (every entry with events has one).
type release struct {
	end   int
	at    int64 // On the lag clock (lagNow; 0: not measured, a rebuild).
	epoch uint64
}

// unpublishedSpan is entries a standby released up to the event last (the last event of
// the last of them), the first of them at (on the lag clock: lagNow).
type unpublishedSpan struct {
	last position
	at   int64
}

// position names an event: the last one the stream holds.
type position struct {
	op    uint64
	index uint32
}

// after reports whether event e comes after p.
func (p position) after(e *event.Event) bool {
	return position{op: e.Op, index: e.Index}.follows(p)
}

// follows reports whether p comes after q.
func (p position) follows(q position) bool {
	return p.op > q.op || (p.op == q.op && p.index > q.index)
}

// Capture publishes every committed event of a shard to a JetStream stream, exactly
// once and in op order. It is a backend.Consumer (fed from the release) and a
// backend.LogHold (the log it may need to rebuild what it missed is kept).
//
// Goroutines: Consume runs on the shard's sequencer and only copies into a bounded
// queue; one publisher goroutine does everything else (NATS, catch-up); Stats and
// HeldOp are safe anywhere.
type Capture struct {
	config Config
	stream string
	// shownURL is config.URL without credentials, for errors, logs and Stats: a NATS URL
	// may carry a user and password, or a token in the user's place, and LastError
	// reaches /v1/status and /healthz.
	shownURL string

	mutex sync.Mutex
	queue *event.Buffer // Released events waiting for the publisher.
	spare *event.Buffer
	// released are the release times of the queued entries (for the lag histogram):
	// releases[i] covers the queue's events up to end.
	releases      []release
	spareReleases []release
	lagMutex      sync.Mutex
	lag           *hdrhistogram.Histogram // Release → stored in the stream, live events, ns.
	lost          bool                    // The queue dropped events: the publisher must rebuild from the log.
	joining       bool                    // The publisher rebuilds: the next ready accepted sets joinOp.
	joinOp        uint64                  // First op of the live stream after a rebuild (0: not yet known).
	consumedOp    uint64                  // Last op of the last ready queued (events or not).
	// unpublished are, on a standby, the entries with events it released after the
	// position it last checked, oldest first, as spans (the last event, the release of
	// the first entry: at most unpublishedSpanNs apart, and unpublishedSpansMax spans, past
	// which the newest takes in the later entries). The first span past a checked
	// position says since when the stream lacks events (caughtUpAt), at most
	// unpublishedSpanNs early while they fit.
	unpublished []unpublishedSpan
	// watchedAt is, on a standby, the last position read that agrees with its log
	// (checkedOp is its op): a span is stored once this reaches the span's last event,
	// not merely its op (the stream may hold an op's events in part). Publisher-owned.
	watchedAt position

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	started   atomic.Bool // Start ran: Close waits for the publisher only then.
	closeOnce sync.Once   // Close may be called on every path out (start-up failure, shutdown).

	// Published position and counters (publisher writes; anyone reads).
	publishedOp atomic.Uint64
	// handledOp is the last op whose events, if it has any, are all in the stream. It runs
	// ahead of publishedOp (the op of the last event stored) over entries without events
	// (refused requests, set_grants, pulses, snapshot markers): they are handled once
	// everything before them is stored, which the publisher knows when it is idle.
	handledOp atomic.Uint64
	// checkedOp is publishedOp once this node, as the primary, stored the position itself
	// or checked it against its log (settleDivergence); 0 while not. On a standby it is
	// the last position read that agrees with its log (watch). The stream's last
	// message, as read, may belong to a history a failover discarded (async mode): its op
	// says nothing of what the stream holds of this node's history, nor of the log a
	// rebuild will need. handled and HeldOp follow checkedOp only.
	checkedOp      atomic.Uint64
	publishedIndex atomic.Uint32
	streamSequence atomic.Uint64
	published      atomic.Uint64
	rebuilds       atomic.Uint64
	gaps           atomic.Uint64
	superseded     atomic.Uint64
	fellBehind     atomic.Uint64
	connected      atomic.Bool
	// caughtUpAt is the instant (lag clock: lagNow) up to which everything released is in
	// the stream: now, whenever a checked position (checkedOp) reaches the released op;
	// the release time
	// of an entry once its last event is stored (entries are released and published in
	// order, so every earlier one is stored too); on a standby (its lag is 0 until it is
	// promoted), at each poll of the stream, the release of the oldest entry it released
	// whose events the stream lacks (unpublished), or that poll when there is none. Under
	// a steady load the position rarely equals the released op at any instant, so the
	// first rule alone would let the lag grow for as long as the load lasts, however
	// current capture is.
	caughtUpAt atomic.Int64
	lastError  atomic.Pointer[string]

	// Publisher-owned.
	js         jetstream.JetStream
	connection *nats.Conn
	// sender publishes the events and markers (the connection; tests stand in for it).
	// Their acknowledgements come back on replies, through the session's subscription
	// to replyPrefix* (ack.go). gone is signalled when the session's connection closes
	// or disconnects (from a server of a list or a cluster, moving to another: connect),
	// and disconnects counts the disconnections; sendDisconnects is that count as the
	// last message was sent (pendingAck.disconnects): a message sent before a
	// disconnection is never answered.
	sender          messageSender
	replies         chan *nats.Msg
	replyPrefix     string
	gone            chan struct{}
	disconnects     *atomic.Uint64
	sendDisconnects uint64
	// ackToken names the next message's reply subject (replyPrefix + ackToken): the
	// messages of a session's window have consecutive tokens (ackRoute).
	ackToken uint64
	// onAckWait, when set (tests), runs as awaitOne starts waiting for a message.
	onAckWait func()
	// duplicatesWarned: the stream's duplicate window was found not to be
	// Config.Duplicates, and said once (connect).
	duplicatesWarned bool

	at   position    // Last event the stream holds.
	last messageName // The stream's last message, as its id names it.
	// lastRemoved: the stream no longer holds its last message (purged, deleted,
	// expired); last is then the newest message it still holds (or none).
	lastRemoved bool
	// madeEmpty: the stream was made with a first sequence (first_seq) and has stored
	// nothing since: its last sequence is that one less, with no message and no last
	// time (readPosition).
	madeEmpty bool
	// streamCreated is when the stream read last (readPosition) was made: a stream
	// deleted and made again has another, even at the same last sequence (streamMoved).
	streamCreated time.Time
	entry         entrySpan  // The local log entry last looked up (divergence check).
	rebuilt       [1]release // The entry being replayed (rebuild).
	sent          position   // Last event published (acknowledged or in flight).
	// sentOpMax is the highest op the sessions before this one sent (sent as each ended;
	// at least the position it started from), stored or not: beyond it and RecoveredOp,
	// this capture stored nothing in the stream (publishedBound).
	sentOpMax uint64
	// primaryAtStart: the node was the primary when Start ran (before its shard starts),
	// so every op after RecoveredOp is its own, published by this capture if by anyone
	// (publishedBound). Set by Start, before the publisher runs.
	primaryAtStart bool
	// sentID is the id of the stream's last message: the last one this session published,
	// or at its start the one read (readPosition) or stored (publishSuperseded); "" when
	// not known here (the stream holds none: empty, made empty, or it lost its last
	// message). The next message expects it as the stream's last message as well as the
	// sequence, so that once one message of a pipeline fails (a stranger wrote first),
	// every later one fails too. The sequence alone lets the one expecting exactly the
	// sequence the stranger moved the stream to succeed, after the stranger's, without
	// the ones before; and a session's first message be stored as the first of a stream
	// made again with first_seq one past the old last sequence.
	sentID   string
	expected uint64       // The stream's last sequence once everything in flight is stored.
	inflight []pendingAck // Published, not yet acknowledged, oldest first.
	message  []byte
	subject  []byte // The subject, then the id, expected sequence and reply (publishOne).
	// outgoing is every event's message, its headers' map and their values reused: the
	// connection copies a message into its buffer before PublishMsg returns (the
	// client's asynchronous publisher kept each one for retries, so each was new).
	outgoing     nats.Msg
	headerValues [3]string
	// unacknowledgedSuperseded is the capture_superseded last published without an
	// acknowledgement (nil: none): the next primary session counts it if the stream
	// stored it (countUnacknowledgedSuperseded).
	unacknowledgedSuperseded *supersededAttempt
	// unstoredGapFromOp is the from_op of the last capture_gap published that was not
	// stored (0: none): the next marker from that op is its retry (publishGap).
	unstoredGapFromOp uint64
	// entryEndStored is the last event this node stored as the last of its entry: a
	// session that starts from it knows its op is whole. partlyStoredWarned is the last
	// position warned of as maybe partly stored (warnPartlyStored).
	entryEndStored     position
	partlyStoredWarned position

	// unchecked is the last message a standby read at its previous poll, at sequence
	// uncheckedSequence, if its log could not confirm it then (watch; 0: none).
	unchecked         messageName
	uncheckedSequence uint64

	// livePollTimer bounds each pass of the live wait (livePoll).
	livePollTimer *time.Timer
	// ackWaitTimer bounds awaitOne's wait for an acknowledgement (ackWait).
	ackWaitTimer *time.Timer
	// streamPolledAt is when a publisher with nothing in flight last read the stream's
	// last sequence (streamMoved).
	streamPolledAt time.Time
}

var (
	_ backend.Consumer = (*Capture)(nil)
	_ backend.LogHold  = (*Capture)(nil)
)

// New returns a capture; Start runs its publisher.
func New(config Config) *Capture {
	config = config.withDefaults()
	c := &Capture{config: config, stream: fmt.Sprintf("%s_%d", config.Stream, config.Shard),
		queue: &event.Buffer{}, spare: &event.Buffer{}, lost: true,
		lag:  hdrhistogram.New(1_000, int64(time.Hour), 2),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		replies: make(chan *nats.Msg, config.BatchMax+repliesMarginMessages)}
	c.shownURL = withoutCredentials(config.URL)
	c.caughtUpAt.Store(lagNow())
	if c.config.RecoveredOp == 0 && c.config.Log != nil {
		c.config.RecoveredOp = c.config.Log.LastOp()
	}
	return c
}

// The lag clock: Unix ns as the wall clock read when the process started, advanced by
// the monotonic clock since, so no step of the wall clock (NTP, an operator) moves it.
// On the wall clock a step forward showed as lag (capture_lagging in /healthz for the
// step's length), a step back hid a real lag as long. Every instant capture keeps
// (releases, caughtUpAt) is on it; entry timestamps (a standby's, from its primary's
// wall clock) meet the wall clock only where they are noted (noteUnpublished).
var (
	lagClockStart   = time.Now()
	lagClockStartNs = lagClockStart.UnixNano()
)

// readClock returns now on the lag clock and on the wall clock (Unix ns), from one
// reading. A variable: tests step the wall clock.
var readClock = func() (lagNs, wallNs int64) {
	now := time.Now()
	return lagClockStartNs + int64(now.Sub(lagClockStart)), now.UnixNano()
}

// lagNow returns now on the lag clock: one reading of the monotonic clock only
// (time.Since reads no wall clock), cheaper than time.Now. A variable, as readClock.
var lagNow = func() int64 { return lagClockStartNs + int64(time.Since(lagClockStart)) }

// StreamName returns the shard's stream name.
func (c *Capture) StreamName() string { return c.stream }

// Start runs the publisher until Close. Call it at most once, before the shard starts
// (the role read then says whether the node was primary from its start: publishedBound).
func (c *Capture) Start() {
	// Read here, not in New: a Serving of a test may read the capture itself. Start runs
	// before the shard starts too (the server starts capture first), and a primary is
	// never demoted to a standby (it is fenced for good).
	c.primaryAtStart = c.config.Serving()
	c.started.Store(true)
	go c.run()
}

// Close stops the publisher (what it has not published stays in the log: the next
// start rebuilds it). Calling it again, or without Start, does nothing more.
func (c *Capture) Close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		if c.started.Load() {
			<-c.done
		}
	})
}

// Consume copies a released entry's events into the queue (sequencer goroutine; never
// blocks). When the queue is full, while the publisher rebuilds from the log, or on a
// standby, the events are dropped: the publisher will rebuild them (once promoted).
//
// An entry reads the clock at most once, and only when it uses the time: on a standby for
// its lag clock once promoted (noteUnpublished), on a primary for the lag histogram when
// it is queued. One dropped while the publisher rebuilds or after the queue filled (every
// entry of a catch-up under load) reads none: a clock read was most of its cost. The
// role is read inside the mutex: the session's promotion clears the standby's
// spans under it after it saw the role change, so a span noted from a role read before
// the promotion would otherwise be appended after that clear and outlive it.
func (c *Capture) Consume(ready *backend.Ready) {
	hasEvents := ready.Events.Len() > 0
	c.mutex.Lock()
	standby := hasEvents && !c.config.Serving()
	if standby {
		c.noteUnpublished(ready)
	}
	if c.joining {
		c.joining, c.joinOp, c.lost = false, ready.FirstOp, false
	}
	if standby && !c.lost {
		// A primary's live session ends on its demotion without a loss, so the queue
		// stays open; a standby publishes nothing, and the queue would only grow (up to
		// QueueEventsMax, hundreds of MiB, then a fell-behind counted against a standby)
		// until a promotion's rebuild reset it. Dropped now: that rebuild publishes from
		// the log what the stream lacks, as after any loss.
		c.lost = true
		c.queue.Reset()
		c.releases = c.releases[:0]
		c.mutex.Unlock()
		// A fenced primary's publisher idle in its live session sees the loss now, not
		// at its next poll (livePollInterval): its session ends, and the next one
		// watches as a standby. The role never goes back to primary (only standby →
		// primary moves, and Fence is permanent: core/shard/role.go).
		c.wakeUp()
		return
	}
	if !c.lost && c.queue.Len()+ready.Events.Len() > c.config.QueueEventsMax {
		c.lost = true
		c.fellBehind.Add(1)
		c.mutex.Unlock()
		c.wakeUp() // The publisher may be idle with an empty queue: it must rebuild now.
		return
	}
	if c.lost {
		c.mutex.Unlock()
		return
	}
	c.consumedOp = ready.LastOp
	for i := range ready.Events.Events {
		c.queue.AppendFrom(ready.Events, &ready.Events.Events[i])
	}
	if hasEvents { // A primary's (a standby returned above): released now.
		c.releases = append(c.releases, release{end: c.queue.Len(), at: lagNow(),
			epoch: ready.Epoch})
	}
	c.mutex.Unlock()
	if hasEvents {
		c.wakeUp()
	}
}

// noteUnpublished records, on a standby, when an entry with events was released: at its
// timestamp (ns; its primary wrote it then and released it a moment later, so the lag
// counted from it is at most that moment high), or now (its release here) when that is
// earlier (the primary's clock ahead of this node's). The timestamp is the primary's
// wall clock: its age is read against this node's wall clock now, and kept on the lag
// clock (a wall-clock step later does not move it; one between the two readings, or
// the primary's clock running behind, still counts in it). Called with mutex held; the
// entry's only clock read (a standby's entry is never queued: Consume).
func (c *Capture) noteUnpublished(ready *backend.Ready) {
	at, wall := readClock()
	if stamp := int64(ready.Timestamp); stamp > 0 && stamp < wall {
		at -= wall - stamp // Its age by the wall clocks, now, on the lag clock.
	}
	e := &ready.Events.Events[ready.Events.Len()-1]
	lastEvent := position{op: e.Op, index: e.Index}
	last := len(c.unpublished) - 1
	full := last+1 >= unpublishedSpansMax
	if last >= 0 && (full || at-c.unpublished[last].at < unpublishedSpanNs) {
		span := &c.unpublished[last]
		span.last, span.at = lastEvent, min(span.at, at)
		return
	}
	c.unpublished = append(c.unpublished, unpublishedSpan{last: lastEvent, at: at})
}

// standbyCaughtUpAt returns, at a standby's poll, the release of the oldest entry it
// released whose events the stream lacks (past the checked position, watchedAt), or now
// when none.
func (c *Capture) standbyCaughtUpAt() int64 {
	checked := c.watchedAt
	c.mutex.Lock()
	defer c.mutex.Unlock()
	stored := 0
	for stored < len(c.unpublished) && !c.unpublished[stored].last.follows(checked) {
		stored++
	}
	c.unpublished = c.unpublished[:copy(c.unpublished, c.unpublished[stored:])]
	if len(c.unpublished) > 0 {
		return c.unpublished[0].at
	}
	return lagNow()
}

func (c *Capture) wakeUp() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ConsumerStats implements backend.Consumer.
func (c *Capture) ConsumerStats() backend.ConsumerStats {
	c.mutex.Lock()
	buffered := c.queue.Len()
	c.mutex.Unlock()
	return backend.ConsumerStats{Name: "capture", HandledOp: c.handled(),
		Buffered: buffered, BufferMax: c.config.QueueEventsMax, FellBehind: c.fellBehind.Load()}
}

// handled returns the last op capture has finished with: every event up to it is in the
// stream. On a standby, which only watches, everything released counts as handled.
func (c *Capture) handled() uint64 {
	if !c.config.Serving() {
		return c.config.Released()
	}
	// Events are stored in order, so every op before the last stored event's is complete;
	// that op itself may still have events in flight (an op can produce many), and counts
	// only once its entry's last event is acknowledged or the publisher is idle. A
	// position read from the stream counts only once checked (checkedOp).
	published := c.checkedOp.Load()
	if published > 0 {
		published--
	}
	return max(published, c.handledOp.Load())
}

// HeldOp implements backend.LogHold: the log after the last op the stream holds must stay
// (until it is checked against this node's log, all of it: a position of a discarded
// history would let the shard retire the log of ops this node, or the standby's
// successor as primary, has not published yet).
func (c *Capture) HeldOp() (uint64, bool) {
	op := c.checkedOp.Load()
	if op > 0 {
		op-- // A rebuild starts from a snapshot before the position's op (see restore).
	}
	return c.replayableFrom(op), true
}

// replayableFrom returns the op to hold for a rebuild from op: op itself, when the log
// holds it and a snapshot at or before it that the log continues (or the log starts at
// op 1). The shard keeps the newest valid snapshot at or before the op held, which is
// then one the log continues. Otherwise (the log starts after op: its older segments
// retired, or begun from a snapshot; or the snapshots the log continues at or before op
// are damaged) the newest one at or before op is a snapshot the log does not continue
// (or none: "all of the log" is op 0), the shard would keep that one and prune the one
// it does continue, so the log held could not be replayed at all. What can be rebuilt
// there starts from the oldest snapshot after op the log continues, as restore does;
// that one is held, even when its header could not be read this time (unreadable): the
// shard's prune reads it again, and would delete it were the hold to name a newer one.
func (c *Capture) replayableFrom(op uint64) uint64 {
	if c.config.Log == nil {
		return op
	}
	first := c.config.Log.FirstOp()
	if first <= 1 {
		return op // From op 1 (an empty machine replays it), or an empty log: nothing to replay.
	}
	snapshots, err := listSnapshots(c.config.SnapshotDir)
	if err != nil {
		return op
	}
	held := op
	for i := range snapshots { // Newest first.
		info := &snapshots[i]
		if (info.Err != nil && !unreadable(info)) || info.Meta.Op+1 < first {
			continue // Damaged, or not continued by the log.
		}
		if info.Meta.Op <= op {
			return op // The log continues it, and the shard keeps it (or a newer one).
		}
		held = info.Meta.Op
	}
	return held
}

// Stats are the capture's counters for /v1/status and the metrics.
type Stats struct {
	Stream         string  `json:"stream"`
	URL            string  `json:"url"`
	Connected      bool    `json:"connected"`
	Publishing     bool    `json:"publishing"` // This node is the primary.
	PublishedOp    uint64  `json:"published_op"`
	PublishedIndex uint32  `json:"published_index"`
	StreamSequence uint64  `json:"stream_sequence"`
	LagOps         uint64  `json:"lag_ops"`     // Released op minus the last op handled (HandledOp).
	LagSeconds     float64 `json:"lag_seconds"` // Age of the oldest released event not yet stored (at most; never negative).
	Lagging        bool    `json:"lagging"`     // LagSeconds is past the warning threshold.
	Published      uint64  `json:"published"`
	Rebuilds       uint64  `json:"rebuilds"`   // Catch-ups from the log.
	Gaps           uint64  `json:"gaps"`       // Events lost for good (capture_gap this node stored).
	Superseded     uint64  `json:"superseded"` // capture_superseded this node stored.
	FellBehind     uint64  `json:"fell_behind"`
	LastError      string  `json:"last_error,omitempty"`
}

// Stats returns the counters. Any goroutine.
func (c *Capture) Stats() Stats {
	released := c.config.Released()
	handled := c.handled()
	stats := Stats{Stream: c.stream, URL: c.shownURL, Connected: c.connected.Load(),
		Publishing: c.config.Serving(), PublishedOp: c.publishedOp.Load(),
		PublishedIndex: c.publishedIndex.Load(), StreamSequence: c.streamSequence.Load(),
		Published: c.published.Load(), Rebuilds: c.rebuilds.Load(), Gaps: c.gaps.Load(),
		Superseded: c.superseded.Load(), FellBehind: c.fellBehind.Load()}
	if released > handled && stats.Publishing {
		stats.LagOps = released - handled
		// On the lag clock, which no wall-clock step moves. Never negative, for alerts and
		// dashboards, whatever an instant kept (a standby's entry timestamp) says.
		stats.LagSeconds = max(0, float64(lagNow()-c.caughtUpAt.Load())/1e9)
		stats.Lagging = stats.LagSeconds > c.config.LagWarning.Seconds()
	}
	if text := c.lastError.Load(); text != nil {
		stats.LastError = *text
	}
	return stats
}

// run is the publisher: sessions with NATS until Close, each starting from the last
// event the stream holds.
func (c *Capture) run() {
	defer close(c.done)
	delay := reconnectDelayMin
	for {
		err := c.session()
		c.disconnect()
		if errors.Is(err, errStopped) {
			return
		}
		if errors.Is(err, errNotServing) {
			err = nil // Demoted or fenced: the next session watches, as a standby.
		}
		if err != nil {
			text := err.Error()
			c.lastError.Store(&text)
			c.config.Logger.Warn("capture: session ended; retrying", "stream", c.stream,
				"error", err, "retry_in", delay)
		}
		select {
		case <-c.stop:
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, reconnectDelayMax)
		if err == nil {
			delay = reconnectDelayMin
		}
	}
}

var (
	errStopped = errors.New("capture: stopped")
	// errNotServing ends a session as soon as the node is no longer the primary: a fenced
	// primary may hold released entries its successor does not have, so it must not
	// publish one more message.
	errNotServing = errors.New("capture: not the primary any more")
)

// session connects, finds where the stream ends, and publishes until an error: the
// events it missed are rebuilt from the log, then the live queue follows.
func (c *Capture) session() error {
	if err := c.connect(); err != nil {
		return err
	}
	for !c.config.Serving() {
		if err := c.readPosition(); err != nil {
			return err
		}
		if err := c.watch(); err != nil {
			return err
		}
		// A standby reports no lag: what is released is its primary's to publish. Once
		// promoted, its lag counts from the release of the oldest event it released that
		// the stream lacked at this poll, or from this poll when the stream had them all,
		// not from the last time its position reached the released op (never, while the
		// last entries carry no events).
		c.caughtUpAt.Store(c.standbyCaughtUpAt())
		select {
		case <-c.stop:
			return errStopped
		case <-time.After(standbyPollInterval):
		}
	}
	c.mutex.Lock()
	c.unpublished = c.unpublished[:0] // A standby's: its lag clock has taken them in.
	c.mutex.Unlock()
	stored := c.streamSequence.Load() // As the last session left it.
	if err := c.readPosition(); err != nil {
		return err
	}
	if c.streamSequence.Load() < stored || c.madeEmpty {
		// The stream's last sequence went back, which no purge or limit does: it was
		// deleted and made again (or restored from an older backup; or made again with a
		// first sequence, and empty: madeEmpty), without events this capture stored,
		// which the rebuild publishes again. Until then their ops are not handled:
		// progress counts from the position read (handled), or the lag would read 0 for
		// the whole republication.
		c.handledOp.Store(0)
	}
	c.checkedOp.Store(0) // Not checked yet as the primary (after settleDivergence).
	if err := c.settleDivergence(); err != nil {
		return err
	}
	c.positionChecked() // The position stands (or was moved back to what does).
	// The last op the previous session sent (at least the one it started from).
	c.sentOpMax = max(c.sentOpMax, c.sent.op)
	c.sent, c.expected, c.inflight = c.at, c.streamSequence.Load(), c.inflight[:0]
	if c.lastRemoved {
		if err := c.publishLostPosition(); err != nil {
			return err
		}
	}
	if err := c.rebuild(); err != nil {
		return err
	}
	return c.live()
}

func (c *Capture) connect() error {
	// MaxReconnects(0) keeps the client from trying its server again, not from moving to
	// another of a --cdc-nats list or of the peers a clustered server advertises: the
	// answers to what was sent before are lost then, and an ack wait ends at the
	// disconnection of what was sent before it, as at the closing (review52), not after
	// publishAckTimeout; what is sent after it is answered over the new connection.
	gone := make(chan struct{}, 1)
	signal := func() {
		select {
		case gone <- struct{}{}:
		default: // A signal is waiting already.
		}
	}
	disconnects := new(atomic.Uint64)
	connection, err := nats.Connect(c.config.URL, nats.Name("sequent capture "+c.stream),
		nats.MaxReconnects(0), nats.Timeout(natsTimeout),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { disconnects.Add(1); signal() }),
		nats.ClosedHandler(func(*nats.Conn) { signal() }))
	if err != nil {
		return fmt.Errorf("capture: connect to %s: %w", c.shownURL, err)
	}
	js, err := jetstream.New(connection)
	if err != nil {
		connection.Close()
		return err
	}
	// A channel of this session's own: a reply to an earlier session's message (its
	// connection closed before the reply was read) must not be taken for one of this
	// session's, whose tokens go on from the same counter anyway.
	replies := make(chan *nats.Msg, c.config.BatchMax+repliesMarginMessages)
	prefix := connection.NewInbox() + "."
	if _, err := connection.ChanSubscribe(prefix+"*", replies); err != nil {
		connection.Close()
		return fmt.Errorf("capture: subscribe to acknowledgements: %w", err)
	}
	c.connection, c.js, c.sender = connection, js, connection
	c.replies, c.replyPrefix, c.gone, c.disconnects = replies, prefix, gone, disconnects
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	stream, err := js.Stream(ctx, c.stream)
	if err == nil && !c.duplicatesWarned &&
		stream.CachedInfo().Config.Duplicates != c.config.Duplicates {
		// Not changed here: the operator may have set it on the stream on purpose.
		c.duplicatesWarned = true
		c.config.Logger.Warn("capture: the stream's duplicate window is not the one "+
			"configured; kept (change it on the stream to apply)", "stream", c.stream,
			"duplicate_window", stream.CachedInfo().Config.Duplicates,
			"configured", c.config.Duplicates)
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: c.stream,
			Subjects: []string{fmt.Sprintf("%s.%d.>", c.config.SubjectPrefix, c.config.Shard)},
			Storage:  jetstream.FileStorage, Duplicates: c.config.Duplicates,
			Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld})
	}
	if err != nil {
		return fmt.Errorf("capture: stream %s: %w", c.stream, err)
	}
	c.connected.Store(true)
	return nil
}

// withoutCredentials returns a comma-separated list of NATS URLs with the user
// information of each (user and password, or a token) replaced by "redacted"; a part that
// does not parse as a URL is replaced whole, since it may hold one.
func withoutCredentials(urls string) string {
	parts := strings.Split(urls, ",")
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, "://") {
			part = "nats://" + part // As nats.go reads a URL without a scheme.
		}
		parsed, err := url.Parse(part)
		switch {
		case err != nil:
			parts[i] = "(unparsable URL)"
		case parsed.User != nil:
			parsed.User = url.User("redacted")
			parts[i] = parsed.String()
		}
	}
	return strings.Join(parts, ",")
}

// connectionClosed returns an error once the session's connection has closed: the
// nats-server went away, and the client never reconnects to it (MaxReconnects(0): the
// next session does; with a list or a cluster it may move to another server, which
// only an ack wait notices: connect). A publisher that is waiting (live and idle, or a rebuild waiting for
// the shard's release) makes no call that would fail, so every such wait checks at each
// poll: otherwise the session sat on the dead connection until the next event, Stats
// said connected all along (no SequentCaptureDisconnected on a quiet node), and nothing
// connected again once the server was back.
func (c *Capture) connectionClosed() error {
	if c.connection == nil || !c.connection.IsClosed() {
		return nil
	}
	if err := c.connection.LastError(); err != nil {
		return fmt.Errorf("capture: connection to %s closed: %w", c.shownURL, err)
	}
	return fmt.Errorf("capture: connection to %s closed", c.shownURL)
}

// streamMoved returns an error once the stream's last sequence is not the one this
// session expects, read at most every idleStreamPollInterval by a publisher with nothing
// in flight (waiting: live and idle, a rebuild waiting for the shard's release,
// skipToLive waiting for the queue). A stream deleted and made again (or restored from
// an older backup, or written by another) fails no call of such a publisher: it reported
// every op consumed handled (no lag) and left the new stream without the events it had
// stored in the old one until the next event was released (for ever on a quiet node).
// The next session reads the stream and fills it again from the log (session). A purge
// or a limit keeps the last sequence: not noticed (a running session keeps its position).
// The stream's creation time is compared too: one made again with first_seq one past
// the old last sequence (an operator keeping consumers' sequences rising) has the last
// sequence this session expects, and is told by that alone.
func (c *Capture) streamMoved() error {
	if c.js == nil || len(c.inflight) > 0 ||
		time.Since(c.streamPolledAt) < idleStreamPollInterval {
		return nil
	}
	c.streamPolledAt = time.Now()
	stream, err := c.streamHandle()
	if err != nil {
		return fmt.Errorf("capture: stream %s: %w", c.stream, err)
	}
	info := stream.CachedInfo()
	if last := info.State.LastSeq; last != c.expected {
		return fmt.Errorf("capture: %s is at sequence %d, expected %d (deleted and made "+
			"again, or written by another): resynchronizing", c.stream, last, c.expected)
	}
	if !info.Created.Equal(c.streamCreated) {
		return fmt.Errorf("capture: %s was made again (created %s, was %s): "+
			"resynchronizing", c.stream, info.Created.UTC().Format(time.RFC3339Nano),
			c.streamCreated.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// waitInterrupted is what a primary's publisher checks at each poll of a wait (live and
// idle, a rebuild waiting for the shard's release, skipToLive waiting for the queue),
// where no call it makes would fail: its connection closed (connectionClosed), or, with
// nothing in flight, its stream made again or moved (streamMoved).
func (c *Capture) waitInterrupted() error {
	if err := c.connectionClosed(); err != nil {
		return err
	}
	return c.streamMoved()
}

func (c *Capture) disconnect() {
	if c.connection != nil {
		c.connection.Close()
		c.connection, c.js, c.sender, c.gone, c.disconnects = nil, nil, nil, nil, nil
	}
	c.connected.Store(false)
}

// readPosition reads the stream's last message: the event it names is where publishing
// resumes (parseMessageID; settleDivergence checks it belongs to this node's history).
func (c *Capture) readPosition() error {
	// One request: the handle comes with the stream's info as of now (a stream.Info
	// after it asked the server the same again, at every standby poll).
	stream, err := c.streamHandle()
	if err != nil {
		return err
	}
	info := stream.CachedInfo()
	last, sequence := messageName{}, info.State.LastSeq
	c.lastRemoved, c.sentID = false, ""
	c.streamCreated = info.Created
	// Made again with a first sequence past 1 (an operator keeping consumers' sequences
	// rising) and empty since: nothing was removed from it, so it is filled again from
	// the log as an empty stream is, not settled as one that lost its last message (a
	// capture_gap naming events the log holds). A purge keeps no such relation: its first
	// sequence is not the stream's configured one. An edit may set first_seq to the last
	// sequence + 1 on a stream holding messages (the server accepts it, and purges below
	// it only when it restarts): such a stream stored a message, so it has a last time,
	// kept through a purge; one made with first_seq that stored nothing has none.
	c.madeEmpty = sequence > 0 && info.Config.FirstSeq == sequence+1 &&
		info.State.LastTime.IsZero()
	if sequence > 0 && !c.madeEmpty {
		message, err := c.getMessage(messageRequest{Sequence: sequence})
		switch {
		case err == nil && message == nil:
			// Purged, deleted or expired (max age): JetStream keeps the last sequence, so
			// publishing still expects it, but no id says which event comes next. The
			// newest message left bounds what consumers may have missed (session).
			c.lastRemoved = true
			if last, err = c.newestHeld(sequence); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			c.sentID = message.Header.Get(jetstream.MsgIDHeader)
			if last, err = parseMessageID(c.sentID); err != nil {
				return fmt.Errorf("capture: the last message of %s: %w", c.stream, err)
			}
		}
	}
	c.last = last
	c.storePosition(last.at, sequence)
	return nil
}

// newestHeld returns the name of the newest message the stream still holds before
// sequence last (none: the zero name, position 0). A purge or an expiry by age leaves
// none; a deletion, or a purge of one subject, leaves older ones, maybe many sequences
// back: one request for the newest message on the stream's subjects finds it (the
// bare ">" finds nothing on the NATS server 2.15 in use), where a walk back
// would ask for every removed sequence (at every standby poll).
func (c *Capture) newestHeld(last uint64) (messageName, error) {
	message, err := c.getMessage(messageRequest{
		LastFor: fmt.Sprintf("%s.%d.>", c.config.SubjectPrefix, c.config.Shard)})
	if message == nil || err != nil {
		return messageName{}, err
	}
	if message.Sequence >= last { // Written since the stream was read: read it again.
		return messageName{}, fmt.Errorf("capture: %s moved past sequence %d while read",
			c.stream, last)
	}
	name, err := parseMessageID(message.Header.Get(jetstream.MsgIDHeader))
	if err != nil {
		return messageName{}, fmt.Errorf("capture: message %d of %s: %w", message.Sequence,
			c.stream, err)
	}
	return name, nil
}

// publishLostPosition settles a stream that lost its last message (lastRemoved) as the
// primary: it publishes capture_gap naming the ops whose events consumers may have
// missed, from the op of the newest message left (the rest of its events may be among
// the removed; op 1 when none is left) to the released op (nothing beyond it was
// published), and resumes after that op. Resuming after the newest message left would
// publish the removed events again: JetStream drops them as duplicates within its
// window (for good: every session would fail the same way), and past it consumers would
// get them twice. Events released but not yet stored when the stream lost its last
// message are lost with the removed ones, and named by the same marker; on a node
// primary since its start, or after waiting for the recovered ops, only those this
// capture sent (or the process before it published) are: the marker stops at
// publishedBound, and the later ones follow it.
func (c *Capture) publishLostPosition() error {
	waited, err := c.awaitRecoveredReleased()
	if err != nil {
		return err
	}
	from := c.at.op
	if c.at.index == math.MaxUint32 { // A gap marker: its whole op is settled.
		from++
	}
	to := max(c.config.Released(), c.at.op)
	if waited || c.primaryAtStart {
		// Only the ops up to publishedBound can have been published: the ones released
		// after it are in the log, and the rebuild publishes them after the marker; a
		// marker through them would name their events lost, and skip them.
		to = max(min(c.config.Released(), c.publishedBound()), c.at.op)
	}
	if from > to {
		// The newest message left is a marker settling every op released: no event of
		// this node's history can be missing, and a marker through the same op would
		// have its id (JetStream would drop it as a duplicate, failing every session).
		return nil
	}
	return c.publishGap("the stream's last message was removed (purged, deleted or "+
		"expired), so its position is unknown; resuming after the released op",
		min(max(from, 1), to), to, 0, true)
}

// publishedBound returns, for a node that was the primary when its capture was made
// (primaryAtStart), or whose session waited for its recovered ops, the last op whose
// events anyone may have published: the recovered op (the previous process may have
// published up to it), or the last op this capture published in a session before this
// one, if later. A node primary since its start wrote every op after the one it
// recovered, and only this capture publishes them. A session that waited saw the shard
// release nothing after its recovered op (it releases those first), so nothing later was
// published either (by this capture, or by a primary before a promotion: a standby
// releases what it recovered at its first turn). On a standby promoted since, an op it
// released as a standby may have been published by its primary: the released op bounds
// what may have been, as it always did.
func (c *Capture) publishedBound() uint64 {
	return max(c.config.RecoveredOp, c.sentOpMax)
}

// awaitRecoveredReleased waits until the shard counts the ops it recovered at its start
// as released (RecoveredOp). A previous process released them, and may have published
// their events in the messages the stream lost: a marker through an earlier released op
// (read too early after a restart) would resume before them, and their events would go
// out again under the removed messages' ids, which JetStream refuses as duplicates within
// its window (every session then fails the same way) and consumers get twice past it.
// Nothing can be published meanwhile anyway: the shard releases what it recovered before
// any later op. A demotion or Close ends the wait. It reports whether it waited at all.
func (c *Capture) awaitRecoveredReleased() (waited bool, err error) {
	for ; c.config.Released() < c.config.RecoveredOp; waited = true {
		if !c.config.Serving() {
			return waited, errNotServing
		}
		if err := c.connectionClosed(); err != nil {
			return waited, err
		}
		if !waited {
			c.config.Logger.Info(recoveredWaitMessage, "stream", c.stream,
				"released", c.config.Released(), "recovered_op", c.config.RecoveredOp)
		}
		select {
		case <-c.stop:
			return waited, errStopped
		case <-time.After(livePollInterval):
		}
	}
	return waited, nil
}

// watch checks, on a standby, the position just read against its log, as its successor's
// settleDivergence will: the log held follows a position that agrees. One it cannot
// check yet (beyond its log, or of an epoch it has not seen) or of a history its primary
// discarded keeps the position last checked (0: none, all of the log is held): whoever
// published after that one shares its entry, so the history up to it. The message read
// at the previous poll, then beyond the log, is checked again: a standby that trails its
// stream (async, under load) has usually received it since.
func (c *Capture) watch() error {
	sequence := c.streamSequence.Load()
	if sequence == 0 {
		c.checkedOp.Store(0)
		c.watchedAt = position{}
		c.uncheckedSequence = 0
		return nil
	}
	agrees, err := c.watchAgrees(c.last)
	if err != nil {
		return err
	}
	if agrees {
		c.setWatched(c.at)
		c.uncheckedSequence = 0
		return nil
	}
	if c.uncheckedSequence != 0 && c.uncheckedSequence < sequence {
		if agrees, err = c.watchAgrees(c.unchecked); err != nil {
			return err
		}
		if agrees {
			c.setWatched(c.unchecked.at)
		}
	}
	c.unchecked, c.uncheckedSequence = c.last, sequence
	return nil
}

// watchAgrees is agrees for a standby: a newer publisher's message just does not agree.
func (c *Capture) watchAgrees(name messageName) (bool, error) {
	agrees, err := c.agrees(name)
	if errors.Is(err, errNewerPublisher) {
		return false, nil
	}
	return agrees, err
}

// setWatched records, on a standby, a position read that agrees with its log: its op is
// checked (setChecked), and the event itself is watchedAt, since that op's later events
// may still be missing from the stream (standbyCaughtUpAt).
func (c *Capture) setWatched(at position) {
	c.setChecked(at.op)
	c.watchedAt = at
}

// setPosition records a position this node stored, or checked against its log.
func (c *Capture) setPosition(at position, sequence uint64) {
	c.storePosition(at, sequence)
	c.setCheckedAt(at)
}

// positionChecked records, as a primary's session starts, that the stream's position
// (at) is checked against this node's log (settleDivergence).
func (c *Capture) positionChecked() { c.setCheckedAt(c.at) }

// setCheckedAt is setChecked for a primary's position: one whose index is
// math.MaxUint32 (a capture_gap, or the resume point of a capture_superseded after a
// whole op) settles every event of its op, so that op is handled too. An event's op
// may have more events the stream lacks, so only the op before it is (handled).
func (c *Capture) setCheckedAt(at position) {
	c.setChecked(at.op)
	if at.index == math.MaxUint32 {
		c.setHandled(at.op)
	}
}

// setChecked records that the position, at op, is of this node's history: if it reaches
// the released op, everything released is in the stream now. A position only read may
// be of a history this node does not share (a deposed primary reading its successor's
// events): it must not stop the lag clock (storePosition).
func (c *Capture) setChecked(op uint64) {
	c.checkedOp.Store(op)
	if op >= c.config.Released() {
		c.caughtUpAt.Store(lagNow())
	}
}

func (c *Capture) storePosition(at position, sequence uint64) {
	c.at = at
	c.publishedOp.Store(at.op)
	c.publishedIndex.Store(at.index)
	c.streamSequence.Store(sequence)
}

// setHandled records that every event up to op is in the stream (publisher goroutine).
func (c *Capture) setHandled(op uint64) {
	if op > c.handledOp.Load() {
		c.handledOp.Store(op)
	}
	if op >= c.config.Released() {
		c.caughtUpAt.Store(lagNow())
	}
}

// messageName is what a message's id says: the position publishing resumes after, and
// the epoch of the entry (event, capture_gap: the entry holding its op) or of the
// publisher (capture_superseded).
type messageName struct {
	at    position
	epoch uint64 // 0: unknown (schema 1 events, capture_gap without an epoch).
	// marker: capture_superseded, or a capture_gap without an epoch: it names no entry
	// that a log could be checked against.
	marker bool
}

// parseMessageID reads a message id:
//
//	shard:op:index:epoch               an event (schema 2)
//	shard:op:index                     an event (schema 1: epoch unknown)
//	shard:op:gap:epoch                 capture_gap: everything of op is settled, in the
//	                                   history whose entry at op has epoch
//	shard:op:gap                       capture_gap without an epoch (written before gaps
//	                                   had one, or its publisher's log no longer held op)
//	shard:op:index:superseded:epoch    capture_superseded: resume after op:index
func parseMessageID(id string) (messageName, error) {
	parts := strings.Split(id, ":")
	if len(parts) < 3 || len(parts) > 5 || len(parts) == 5 && parts[3] != "superseded" {
		return messageName{}, fmt.Errorf("message id %q is not shard:op:index:epoch", id)
	}
	if _, err := strconv.ParseUint(parts[0], 10, 32); err != nil {
		return messageName{}, fmt.Errorf("message id %q: shard: %w", id, err)
	}
	op, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return messageName{}, fmt.Errorf("message id %q: %w", id, err)
	}
	if parts[2] == "gap" && len(parts) <= 4 {
		name := messageName{at: position{op: op, index: math.MaxUint32}, marker: true}
		if len(parts) == 4 {
			if name.epoch, err = strconv.ParseUint(parts[3], 10, 64); err != nil {
				return messageName{}, fmt.Errorf("message id %q: epoch: %w", id, err)
			}
			if name.epoch == 0 {
				return messageName{}, fmt.Errorf("message id %q: epoch 0 (gap epochs start at 1)", id)
			}
			name.marker = false // It names an entry (op, epoch): checked as an event is.
		}
		return name, nil
	}
	index, err := strconv.ParseUint(parts[2], 10, 32)
	if err != nil {
		return messageName{}, fmt.Errorf("message id %q: %w", id, err)
	}
	name := messageName{at: position{op: op, index: uint32(index)}, marker: len(parts) == 5}
	if len(parts) > 3 {
		if name.epoch, err = strconv.ParseUint(parts[len(parts)-1], 10, 64); err != nil {
			return messageName{}, fmt.Errorf("message id %q: epoch: %w", id, err)
		}
	}
	return name, nil
}

// live publishes the queued events until an error, a loss (rebuild) or a demotion.
func (c *Capture) live() error {
	for {
		c.mutex.Lock()
		batch, lost, releases := c.queue, c.lost, c.releases
		c.queue, c.spare = c.spare, batch
		c.releases, c.spareReleases = c.spareReleases[:0], releases
		c.queue.Reset()
		c.mutex.Unlock()
		if err := c.publish(batch, releases); err != nil {
			return err
		}
		if lost || !c.config.Serving() {
			if err := c.awaitAll(); err != nil {
				return err
			}
			return nil // A new session rebuilds from the log (or watches, as a standby).
		}
		if err := c.waitLive(); err != nil {
			return err
		}
	}
}

// waitLive waits for more events while collecting acknowledgements as they come, so the
// pipeline stays full under load and the position is current when idle. It returns
// too when the node is no longer the primary.
func (c *Capture) waitLive() error {
	for {
		c.mutex.Lock()
		more := c.queue.Len() > 0 || c.lost // Lost: live returns, and a rebuild follows.
		consumed := c.consumedOp
		c.mutex.Unlock()
		// Demoted or fenced: live ends the session. A fenced node releases nothing more,
		// so no entry with events would wake it through Consume, and its publisher would
		// stay here instead of watching the stream as a standby; the role is read at
		// every acknowledgement and poll (livePollInterval).
		if more || !c.config.Serving() {
			return nil
		}
		if err := c.waitInterrupted(); err != nil {
			return err // Not handled: the stream may lack what this session stored.
		}
		if len(c.inflight) == 0 {
			// Idle: every event consumed is stored, so every op consumed is handled, with
			// or without events; the shard consumes an entry before it counts it released.
			c.setHandled(consumed)
		}
		var replies <-chan *nats.Msg
		if len(c.inflight) > 0 {
			replies = c.replies
		}
		select {
		case <-c.stop:
			return errStopped
		case <-c.wake:
			return nil
		case reply := <-replies:
			c.ackRoute(reply)
			for len(c.inflight) > 0 && c.inflight[0].answered {
				if err := c.settleOldest(); err != nil {
					return err
				}
			}
		case <-c.livePoll():
			if len(c.inflight) > 0 {
				return c.awaitOne() // Bounded by publishAckTimeout.
			}
		}
	}
}

// livePoll returns the channel of the live wait's poll timer, (re)armed for
// livePollInterval: one timer for the session's life, where a time.After per pass (one
// per acknowledgement under load) allocated one each time.
func (c *Capture) livePoll() <-chan time.Time {
	return rearm(&c.livePollTimer, livePollInterval)
}

// ackWait returns the channel of awaitOne's timer, (re)armed for publishAckTimeout: one
// timer for the capture's life, where a time.After per wait allocated one per message
// while the window was full.
func (c *Capture) ackWait() <-chan time.Time {
	return rearm(&c.ackWaitTimer, publishAckTimeout)
}

// rearm returns the channel of *timer armed for d, made on first use. Since Go 1.23
// Reset leaves no stale tick to receive.
func rearm(timer **time.Timer, d time.Duration) <-chan time.Time {
	if *timer == nil {
		*timer = time.NewTimer(d)
	} else {
		(*timer).Reset(d)
	}
	return (*timer).C
}

// LagQuantiles returns the release → stored latency of live events at the given
// percentiles, in seconds, and how many entries were measured. Any goroutine.
func (c *Capture) LagQuantiles(percentiles ...float64) ([]float64, int64) {
	c.lagMutex.Lock()
	defer c.lagMutex.Unlock()
	values := make([]float64, len(percentiles))
	for i, p := range percentiles {
		values[i] = float64(c.lag.ValueAtQuantile(p)) / 1e9
	}
	return values, c.lag.TotalCount()
}

// pendingAck is a message published and not yet acknowledged.
type pendingAck struct {
	token uint64 // Its reply subject's last token (ackRoute).
	// disconnects: the session's disconnections counted before it was sent (awaitOne).
	disconnects uint64
	at          position
	expected    uint64 // The stream's last sequence it expects (it gets expected+1).
	released    int64  // When the entry it ends was released, on the lag clock (0: not an entry's last, or a rebuild).
	entryEnd    bool   // The last event of its entry: once stored, every op up to at.op is.
	// lostPosition: the capture_gap of publishLostPosition, whose id may be that of a
	// marker the stream lost (acknowledged).
	lostPosition bool
	// The answer, once read (ackRoute): stored at ackSequence (a duplicate of the message
	// there when ackDuplicate), or failure.
	answered     bool
	ackDuplicate bool
	ackSequence  uint64
	failure      error
}

// publish publishes the events of buffer after the last one sent, pipelined: at most
// BatchMax wait for their acknowledgement. Each expects the stream's previous sequence,
// so a concurrent writer, or a stream that lost messages, fails the publish and the next
// session starts from what the stream really holds. releases (may be nil) mark the
// entries' ends, for the lag histogram.
func (c *Capture) publish(buffer *event.Buffer, releases []release) error {
	for i := range buffer.Events {
		e := &buffer.Events[i]
		for len(releases) > 0 && releases[0].end <= i {
			releases = releases[1:]
		}
		if !c.sent.after(e) {
			continue // Already in the stream (a replay overlaps what was published).
		}
		if !c.config.Serving() { // Checked before every message: one load of the role.
			return errNotServing
		}
		if len(releases) == 0 {
			panic(fmt.Sprintf("capture: event %d:%d has no entry (epoch)", e.Op, e.Index))
		}
		token, err := c.publishOne(buffer, e, releases[0].epoch, c.expected)
		if err != nil {
			return err
		}
		p := pendingAck{token: token, disconnects: c.sendDisconnects,
			at:       position{op: e.Op, index: e.Index},
			expected: c.expected}
		if len(releases) > 0 && releases[0].end == i+1 {
			p.released, p.entryEnd = releases[0].at, true
		}
		c.inflight = append(c.inflight, p)
		c.sent, c.expected = p.at, c.expected+1
		if len(c.inflight) >= c.config.BatchMax {
			if err := c.awaitOne(); err != nil {
				return err
			}
		}
	}
	return nil
}

// publishOne publishes one event and returns its reply token (pendingAck).
func (c *Capture) publishOne(buffer *event.Buffer, e *event.Event, epoch, expected uint64) (
	uint64, error) {
	c.message = appendEvent(c.message[:0], c.config.Shard, buffer, e, epoch)
	c.subject = appendSubject(c.subject[:0], c.config.SubjectPrefix, c.config.Shard, buffer, e)
	// The subject, the id, the expected sequence and the reply subject as one string (one
	// allocation), cut.
	subjectEnd := len(c.subject)
	c.subject = appendMessageID(c.subject, c.config.Shard, e, epoch)
	idEnd := len(c.subject)
	c.subject = strconv.AppendUint(c.subject, expected, 10)
	expectedEnd := len(c.subject)
	token := c.ackToken
	c.subject = strconv.AppendUint(append(c.subject, c.replyPrefix...), token, 10)
	text := string(c.subject)
	c.subject = c.subject[:subjectEnd]
	c.outgoing.Subject, c.outgoing.Reply = text[:subjectEnd], text[expectedEnd:]
	c.outgoing.Data = c.message
	return token, c.publishWithHeaders(&c.outgoing, text[subjectEnd:idEnd],
		text[idEnd:expectedEnd])
}

// publishAfter publishes message with id, expecting the stream's last sequence and, when
// known, its last message id (sentID), and returns its reply token (pendingAck).
func (c *Capture) publishAfter(message *nats.Msg, id string, expected uint64) (uint64, error) {
	token := c.ackToken
	message.Reply = c.replyPrefix + strconv.FormatUint(token, 10)
	return token, c.publishWithHeaders(message, id, strconv.FormatUint(expected, 10))
}

// publishWithHeaders sets message's headers (its id, the stream's last sequence expected
// in decimal, sentID) and publishes it with the reply subject set by its caller, the
// next token's. The headers are set here, as the client's options would: an option per
// header and message was four closures and a slice allocated per event published.
func (c *Capture) publishWithHeaders(message *nats.Msg, id, expected string) error {
	if message.Header == nil {
		message.Header = make(nats.Header, 3)
	}
	// The values live in headerValues (Set made a slice each), the message is sent before
	// they change, and the names are canonical already, as Set would make them.
	c.headerValues = [...]string{id, expected, c.sentID}
	shared := c.headerValues[:]
	message.Header[jetstream.MsgIDHeader] = shared[0:1:1]
	message.Header[jetstream.ExpectedLastSeqHeader] = shared[1:2:2]
	if c.sentID != "" {
		message.Header[jetstream.ExpectedLastMsgIDHeader] = shared[2:3:3]
	} else {
		delete(message.Header, jetstream.ExpectedLastMsgIDHeader) // A reused message's.
	}
	if c.sender == nil {
		return nats.ErrConnectionClosed // No session (a Capture never started).
	}
	// Read before it is sent: a disconnection after this loses its answer (awaitOne).
	c.sendDisconnects = 0
	if c.disconnects != nil {
		c.sendDisconnects = c.disconnects.Load()
	}
	if err := c.sender.PublishMsg(message); err != nil {
		return err
	}
	c.ackToken++
	c.sentID = id
	return nil
}

// The headers in which the client reports a status message (nats.go's, unexported).
const (
	natsStatusHeader      = "Status"
	natsDescriptionHeader = "Description"
)

// messageSender sends one message: the session's *nats.Conn, which has copied what it
// needs of the message when PublishMsg returns (capture reuses it).
type messageSender interface {
	PublishMsg(message *nats.Msg) error
}

// awaitAll waits for every message in flight.
func (c *Capture) awaitAll() error {
	for len(c.inflight) > 0 {
		if err := c.awaitOne(); err != nil {
			return err
		}
	}
	return nil
}

// awaitOne waits for the oldest message in flight and advances the position.
func (c *Capture) awaitOne() error {
	// Stopped: awaitOne is where a batch of publish (the live queue, a rebuild's drain of
	// the log) notices Close, and the fast path below would not while the acknowledgements
	// keep up. A receive alone, which reads an open channel without its lock.
	select {
	case <-c.stop:
		return errStopped
	default:
	}
	if c.onAckWait != nil {
		c.onAckWait()
	}
	p := &c.inflight[0]
	var timeout <-chan time.Time // Armed once, when the answer is not there yet.
	for !p.answered {
		// Replies already received first (the common case under load): no timer.
		select {
		case reply := <-c.replies:
			c.ackRoute(reply)
			continue
		default:
		}
		if c.disconnects != nil && c.disconnects.Load() > p.disconnects {
			if err := c.connectionClosed(); err != nil {
				return err
			}
			// Disconnected since it was sent, moving to another server (or closing): it is
			// not answered; the next session reads what the stream holds.
			return fmt.Errorf("capture: connection to %s lost (closed, or reconnecting "+
				"to another server) with messages in flight", c.shownURL)
		}
		if timeout == nil {
			timeout = c.ackWait()
		}
		select {
		case reply := <-c.replies:
			c.ackRoute(reply)
		case <-c.gone: // Checked above: a disconnection, or the closing.
			if err := c.connectionClosed(); err != nil {
				return err
			}
		case <-timeout:
			return fmt.Errorf("capture: no acknowledgement from %s within %s", c.stream,
				publishAckTimeout)
		case <-c.stop:
			return errStopped
		}
	}
	return c.settleOldest()
}

// ackRoute reads one reply and keeps its answer in the message in flight it names (by
// its token: the window's tokens are consecutive, so its place is token less the oldest
// one's). A reply naming no message in flight (not this session's subject, or a
// message settled already) is dropped: each message is answered once.
func (c *Capture) ackRoute(reply *nats.Msg) {
	if len(c.inflight) == 0 || len(reply.Subject) <= len(c.replyPrefix) ||
		reply.Subject[:len(c.replyPrefix)] != c.replyPrefix {
		return
	}
	token, err := strconv.ParseUint(reply.Subject[len(c.replyPrefix):], 10, 64)
	if err != nil || token < c.inflight[0].token {
		return
	}
	place := token - c.inflight[0].token
	if place >= uint64(len(c.inflight)) {
		return
	}
	p := &c.inflight[place]
	if p.token != token || p.answered {
		return
	}
	p.answered = true
	if len(reply.Data) == 0 {
		// A status without a body: 503 when no stream captures the subject (deleted).
		p.failure = fmt.Errorf("capture: no stream answered (status %q %q)",
			reply.Header.Get(natsStatusHeader), reply.Header.Get(natsDescriptionHeader))
		return
	}
	answer, err := parseAck(reply.Data)
	switch {
	case err != nil:
		p.failure = err
	case !answer.streamIs(c.stream):
		p.failure = fmt.Errorf("capture: acknowledgement from stream %q, not %s",
			answer.stream, c.stream)
	default:
		p.ackSequence, p.ackDuplicate = answer.sequence, answer.duplicate
	}
}

// settleOldest settles the oldest message in flight with the answer ackRoute kept.
func (c *Capture) settleOldest() error {
	p := &c.inflight[0]
	if p.failure != nil {
		return fmt.Errorf("capture: publish to %s: %w", c.stream, p.failure)
	}
	return c.acknowledged(&jetstream.PubAck{Sequence: p.ackSequence, Duplicate: p.ackDuplicate})
}

// acknowledged settles the oldest message in flight with its acknowledgement.
func (c *Capture) acknowledged(ack *jetstream.PubAck) error {
	p := c.inflight[0]
	c.inflight = c.inflight[1:]
	if p.lostPosition && ack.Duplicate && ack.Sequence <= p.expected {
		// The stream held a marker with this id, which it lost too: the very last message
		// (an earlier session's, nothing after it), or an earlier publisher's through the
		// same op with messages after it (an old primary's before an async failover, its
		// released op beyond this node's), all within the duplicate window. The id names
		// the entry at its op (its epoch, when known), so that marker was of this node's
		// history through that op. Through its op everything is settled already, as this
		// marker would say: the position is after it, at the sequence kept. The stream's
		// last message id may be another's, so the next message expects the sequence
		// only. It is the only message in flight (publishGap awaits all around it).
		c.sentID = ""
		c.expected = p.expected
		c.setPosition(p.at, p.expected)
		return nil
	}
	if ack.Duplicate || ack.Sequence != p.expected+1 {
		return fmt.Errorf("capture: %s answered sequence %d (duplicate %v), expected %d: "+
			"resynchronizing", c.stream, ack.Sequence, ack.Duplicate, p.expected+1)
	}
	c.setPosition(p.at, ack.Sequence)
	c.published.Add(1)
	if p.entryEnd {
		c.entryEndStored = p.at
		c.setHandled(p.at.op)
	}
	if p.released != 0 {
		c.recordLag(p.released)
		if p.released > c.caughtUpAt.Load() {
			c.caughtUpAt.Store(p.released) // Publisher-only writer: no race to lose.
		}
	}
	return nil
}

// recordLag records one entry's release → stored time.
func (c *Capture) recordLag(released int64) {
	lag := lagNow() - released
	c.lagMutex.Lock()
	_ = c.lag.RecordValue(min(max(lag, 1_000), int64(time.Hour)))
	c.lagMutex.Unlock()
}
