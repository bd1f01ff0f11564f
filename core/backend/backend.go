package backend

import (
	"time"

	"sequent/core/event"
	"sequent/core/model"
)

// ConnectionIDLimit bounds Request.Connection: ids at or above it are the shard's own
// (requests it makes itself and waits on), and Submit refuses them.
const ConnectionIDLimit uint64 = 1 << 63

// ClientConnectionLimit bounds the connection ids a network layer gives its clients'
// requests: a node of several shards passes a client's id through to the shard that
// serves the request, and numbers its own requests to its shards (the parts of a split
// request, saga steps and reads) from here up.
const ClientConnectionLimit uint64 = 1 << 62

// Request is one client request handed to a shard by the network layer. Submit copies
// it (header and body) into the shard's bounded input ring before returning, so the
// caller may reuse Body at once (gnet's peeked bytes must not outlive the callback).
type Request struct {
	Connection uint64          // Network layer handle for the reply (below ConnectionIDLimit); opaque to the shard.
	Client     uint64          // Authenticated client id.
	Session    uint64          // Client-chosen session id (exactly-once scope).
	Number     uint64          // Per-session request number, from 1.
	Operation  model.Operation // What to do.
	Flags      uint8           // Request flags (RequestFlag*).
	Body       []byte          // Fixed-size records of the operation's event size.
	// Received is when the network layer read the request (time.Now, so with its
	// monotonic clock reading), the start of the shard's receive → release latency. Zero:
	// the shard reads the clock itself as it queues the request. A network event loop
	// reads the clock once per read of a connection and stamps every request it holds,
	// instead of the shard reading it per request.
	Received time.Time
}

// Request flags.
const (
	// RequestFlagReplyBalances asks create_transfers for 144-byte results carrying both
	// accounts' balances right after each created transfer (16-byte results otherwise).
	RequestFlagReplyBalances uint8 = 1 << 0
)

// Reply is the answer to one request, handed to the Replier in release order.
type Reply struct {
	Connection uint64          // As given in the Request.
	Client     uint64          // As given in the Request.
	Session    uint64          // As given in the Request.
	Number     uint64          // As given in the Request.
	Operation  model.Operation // As given in the Request.
	Status     model.Status    // Request-level status; per-event statuses are in Body.
	Op         uint64          // Log position of a write (0 for reads).
	Duplicate  bool            // A retried request answered from the session's cache.
	Body       []byte          // Result records; valid only during the Replier call.
}

// Report is one execution report (matching engine) for the client that owns the order.
type Report struct {
	Client   uint64 // Owner of the order: deliver to this client's subscribed sessions.
	Sequence uint64 // Per-client report sequence number, from 1, for replay after reconnect.
	Body     []byte // The encoded report record; valid only during the Replier call.
	// Shard is the shard that made the report (0 from a backend of one shard): each
	// shard numbers a client's reports on its own, so Sequence orders the reports of
	// one (client, shard) only (ShardReportReplayer).
	Shard uint16
}

// Replier receives released replies and reports. The shard calls it from its own
// goroutine, in log order, after the entries behind them are durable (and acknowledged
// by the standby in sync mode). Implementations must not block: copy what is kept and
// hand it to the connection's writer.
type Replier interface {
	Deliver(replies []Reply)
	DeliverReports(reports []Report)
}

// Submitter is what the network layer calls. Submit never blocks: it answers StatusOK
// (the request is queued; its reply will come through the Replier), StatusBusy (the input
// ring is full: nothing was queued), StatusShuttingDown, StatusNotPrimary or
// StatusLogUnavailable (the log has failed: nothing was queued). A request
// with an invalid shape (unknown or internal operation, body not a whole number of
// events, too many events) is refused with its status without being queued.
type Submitter interface {
	Submit(request *Request) model.Status
}

// ReportReplayer answers a reconnecting client that asks for its execution reports from
// a sequence number on. The shard retains a bounded window of recent reports per client;
// fn receives them in order (bodies valid only during the call), up to the client's
// newest when the replay began; the reports given since are delivered live. It returns
// the oldest sequence retained when the replay began, so the caller can tell the client
// when the window has moved past what it asked for (or the client's next, when the
// window moved past reports the replay had not reached yet: all after the last one
// handed over count as lost), and the client's next sequence (its newest + 1, at least
// 1), read with the first batch: after a failover that lost entries the client may ask
// from above it, and the reports from next on are new to the client even where it
// handled others with the same sequences (PROTOCOL.md section 8). A fromSequence above
// the client's newest replays nothing, waits only for the store's lock and allocates
// nothing: netio's event loop calls it so for a live subscription's next_sequence.
type ReportReplayer interface {
	ReplayReports(client uint64, fromSequence uint64,
		fn func(reports []Report)) (oldest uint64, next uint64)
}

// ShardReportReplayer is a ReportReplayer of several shards (a node): each shard
// numbers a client's execution reports on its own, from 1, so each is a stream of its
// own, replayed by shard. ReplayReports (ReportReplayer) is the default shard's.
// A backend that does not implement it has one stream, shard 0's.
type ShardReportReplayer interface {
	// ReportShards returns the number of shards (at least 1) and the default shard,
	// whose reports ReplayReports replays.
	ReportShards() (count uint16, defaultShard uint16)
	// ReplayShardReports is ReplayReports of one shard (below count). The reports
	// handed to fn need not carry the shard (the caller asked for it): their Shard
	// field may be 0.
	ReplayShardReports(shard uint16, client uint64, fromSequence uint64,
		fn func(reports []Report)) (oldest uint64, next uint64)
}

// SessionCloser is told when an authenticated session ends (logout, disconnect or
// silence). When cancelOrders is set (the session asked for cancel-on-disconnect), the
// shard logs an internal request that cancels the client's open orders.
type SessionCloser interface {
	SessionClosed(client uint64, session uint64, cancelOrders bool)
}

// Backend is everything the network layer needs from a shard.
type Backend interface {
	Submitter
	ReportReplayer
	SessionCloser
}

// InlineTurner is a Backend that lets a network event loop run the sequencer's turn
// itself when the shard is idle, so that a lone request is sequenced, made durable and
// answered without waking another goroutine (package shard, inline.go). SubmitDeferred
// is Submit without waking the sequencer; the caller calls TurnInline once after the
// SubmitDeferred calls of one event that answered StatusOK, outside any Replier call.
// TurnInline delivers the turn's replies through the Replier on the caller's goroutine.
// InlineTurns says, once and for the backend's life, whether TurnInline can ever run a
// turn: when it cannot (a node of several shards, or the knob off), the caller submits
// with Submit and schedules no TurnInline, whose loop task would do nothing at the cost
// of a task per read (two allocations in gnet's Execute). A type that embeds a shard or
// node and overrides Submit inherits these methods: it must override SubmitDeferred as
// well (or InlineTurns, to report false), or netio bypasses its Submit.
type InlineTurner interface {
	InlineTurns() bool
	SubmitDeferred(request *Request) model.Status
	TurnInline()
}

// Ready is one released log entry's output beyond the replies: its events (package
// event), handed to every Consumer in log order, the way etcd raft hands out a Ready.
// It is released only once the entry is durable (and acknowledged by the standby in sync
// mode), so no consumer ever sees a change that a failover could undo.
type Ready struct {
	FirstOp   uint64 // First op of the entry.
	LastOp    uint64 // Last op of the entry.
	Timestamp uint64 // The entry's timestamp (ns).
	// Epoch is the failover epoch of the primary that wrote the entry (wal.Entry.Epoch):
	// the same on both replicas for a replicated entry, different for entries written
	// at the same op by two primaries whose histories diverged (async mode).
	Epoch  uint64
	Events *event.Buffer // Valid only during Consume: copy what is kept.
}

// Consumer is an outbound stream fed from the release: market data, change capture.
// The shard calls Consume on its sequencer goroutine for every applied entry, in log
// order, once released; on a standby too (its entries are released on its own
// durability), so a promoted standby's consumers continue where they were. Consume must
// never block and must not keep ready or its buffers: each consumer copies what it needs
// into its own bounded buffer and, when that is full, falls behind on its own (it
// resnapshots its subscribers, or rebuilds the events it missed from the log), never
// slowing the sequencer or another consumer.
type Consumer interface {
	Consume(ready *Ready)
	// ConsumerStats says how far the consumer has got, for its lag metric. Any goroutine.
	ConsumerStats() ConsumerStats
}

// ConsumerStats is a consumer's progress.
type ConsumerStats struct {
	Name       string `json:"name"`
	HandledOp  uint64 `json:"handled_op"`  // Last op fully handled (sent, published).
	LagOps     uint64 `json:"lag_ops"`     // Released op minus HandledOp (filled in by the shard).
	Buffered   int    `json:"buffered"`    // Items waiting in its bounded buffer.
	BufferMax  int    `json:"buffer_max"`  // Its bound.
	FellBehind uint64 `json:"fell_behind"` // Times its buffer overflowed.
}

// LogHold keeps log segments (and the newest snapshot at or before them) from being
// retired while a consumer still needs them to rebuild events it has not published.
// HeldOp returns the last op the consumer has finished with; held is false when it
// needs nothing (the log may go as usual). Any goroutine.
type LogHold interface {
	HeldOp() (op uint64, held bool)
}
