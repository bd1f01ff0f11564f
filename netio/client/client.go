package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/wire"
)

// Client is a connection to a Sequent server: one session, many outstanding requests.
// All methods are safe for concurrent use. See doc.go for reconnects and exactly-once.
type Client struct {
	config  Config
	session uint64
	log     *slog.Logger

	window      *semaphore.Weighted // Requests in flight (InflightMax).
	windowBytes *weighted           // Expected reply bytes in flight (InflightBytesMax).
	// openRequests bounds the merged requests formed open to more callers that are
	// admitted and not yet answered (openRequestsPendingMax, coalesce.go); nil with
	// RouteByShard.
	openRequests *semaphore.Weighted
	// rejoinTimer bounds the admission's wait for callers to rejoin (coalesce.go); only
	// the admission holding the open slot uses it.
	rejoinTimer *time.Timer
	// rejoinReady is signalled (buffered, one) when the request an admission holds for
	// rejoining callers has them all, or can take no more.
	rejoinReady chan struct{}

	mu                      sync.Mutex
	conn                    net.Conn                // Current connection; nil while reconnecting.
	generation              uint64                  // Bumped for every connection.
	next                    uint64                  // Next request number.
	spanStart               uint64                  // At or below every pending number (window.go).
	numberedBytes           int64                   // Expected reply bodies of every numbered write.
	spanBytes               int64                   // At or below every pending numberedAt (window.go).
	pendingLeft             chan struct{}           // Closed when calls leave pending (window.go).
	windowQueue             []uint64                // Tickets of callers waiting for room (window.go).
	windowTicket            uint64                  // Last ticket given out (window.go).
	late                    []lateReply             // Replies cached out of number order (window.go).
	strays                  []strayReply            // Lost copies that may still be applied (window.go).
	strayBytes              int64                   // Their expected reply bodies, summed.
	departed                []strayReply            // Copies on the current connection of writes no longer pending.
	pending                 map[uint64]*Call        // Sent (or to send) and not answered, by number.
	forming                 map[coalesceKey]*Call   // Requests open to more callers (coalesce.go).
	formingRecent           *Call                   // The last put in forming, while still there; else nil.
	admitting               int                     // Requests waiting for a window slot in admit.
	admitQueue              []admission             // Of them, those the admitter has not taken yet, in order, from admitHead.
	admitHead               int                     // The first of admitQueue not taken yet.
	admitterRunning         bool                    // The admitter goroutine runs (coalesce.go).
	admitWake               chan struct{}           // Signalled (buffered, one) when a request joins admitQueue.
	outbox                  [][]byte                // Frames waiting for the writer, in order.
	spare                   [][]byte                // The writer's other outbox array.
	writingFrames           [][]byte                // The outbox a writer is writing (frames.go).
	freeFrames              [][]byte                // Reusable large frame buffers (frames.go).
	formingFrames           [][]byte                // Reusable smaller buffers of merged requests (frames.go).
	freeParts               [][]callerPart          // Reusable part lists of merged requests (coalesce.go).
	rejoinReleased          int                     // Callers the last answered merged request released (coalesce.go).
	rejoinCall              *Call                   // The forming request an admission holds for them, or nil.
	rejoinTarget            int                     // The callers it waits to hold.
	rejoinArrived           int                     // Merging calls submitted since that answer.
	rejoinAnsweredAt        time.Time               // When that answer came (if it released rejoinCallersMin or more).
	now                     func() time.Time        // The rejoin bound's clock: time.Now (tests set another).
	writing                 bool                    // A goroutine is writing the outbox.
	writeStartedNs          int64                   // Unix ns the write in progress began (while writing).
	readRole                readRole                // Who reads the current connection (lone_read.go).
	readBack                chan struct{}           // The current connection's reader waits here while lent.
	readDecoder             *wire.Decoder           // The current connection's decoder (whoever reads).
	heldFrame               wire.Frame              // A frame a caller's read left for the reader (holding).
	holding                 bool                    // heldFrame is set.
	heldGeneration          uint64                  // The connection heldFrame was read on.
	lastAnsweredLone        bool                    // The last request answered was a lone waiter's.
	callerReads             uint64                  // Times a lone waiter took the connection's read (tests).
	closed                  bool                    // Close was called or a fatal error happened.
	fatal                   error                   // Why the client stopped, when not by Close.
	primary                 string                  // Address from the last not_primary, tried first.
	dialed                  string                  // The address dialed for conn (namesConnectedLocked).
	triedLast               string                  // An address the next connectAny tries last (leaveNotPrimary, leaveShuttingDown).
	dialedFollowed          bool                    // dialed followed a redirect; no write taken since.
	redirects               int                     // not_primary redirects followed since the last other reply.
	redirectedLoss          bool                    // The last connection was ended by a redirect.
	reportsShutDown         int                     // Connections ended shutting_down with reports held, in a row (leaveShuttingDown).
	reportsShutDownLoss     bool                    // The last connection was one of them (waitAfterReportsShutDown).
	leftAddresses           []string                // Nodes left since a subscription was accepted, oldest first: tried last (leaveAddressLocked).
	refusedAsDamaged        int                     // Damaged-frame errors in a row (damageRefused, waitAfterDamage).
	damagedLoss             bool                    // The current connection was refused a damaged frame (waitAfterDamage).
	loginsRefusedBadVersion int                     // Logins refused bad_version since one was accepted (loginRefusal).
	subscription            *subscription           // Report subscription (Subscribe), resumed on reconnect.
	shardSubscriptions      []*subscription         // SubscribeShard's, one per shard named, resumed likewise.
	shardStreams            shardStreamsState       // Whether this connection's server has streams per shard.
	shardProbe              *subscription           // The named subscription sent while shardStreams is unknown.
	shardDeferred           []*subscription         // Named subscriptions not sent until the probe is answered.
	marketData              *marketDataSubscription // Market-data subscriptions, resumed on reconnect.
	logoutSeen              chan struct{}           // Closed when the server acknowledges a logout.
	readers                 int                     // Reader goroutines running, of any connection.
	handlers                int                     // Of them, those running a report or market-data handler.
	handlersReturned        chan struct{}           // Made by a reader waiting for its turn; closed when handlers is 0.
	readersChanged          chan struct{}           // Made by shutdown; closed when a reader returns.
	heartbeat               time.Duration           // Heartbeat interval in force.
	silence                 time.Duration           // Silence timeout in force.
	permissions             uint32                  // From LoginAccepted.
	epoch                   uint64                  // From LoginAccepted.
	shardMap                *shardmap.Map           // The server's, once asked (ShardMap).

	// writeBatch is the outbox being written, owned by the goroutine that set writing
	// (read and consumed without mu during the write). A field rather than a local:
	// net.Buffers.WriteTo takes a pointer, and a local would escape to the heap on every
	// write. It is a copy (in writeArray, kept for the next write) because consuming
	// rewrites its elements, while writingFrames, the same frames, is read under mu by
	// recycleFrameLocked during the write.
	writeBatch net.Buffers
	writeArray [][]byte

	// corks counts Cork calls not yet matched by Uncork; while it is above zero, Go
	// queues frames without writing them, unless a caller is about to wait (flushCorked).
	corks atomic.Int32

	lastWrite atomic.Int64 // Unix ns of the last write.
	lastRead  atomic.Int64 // Unix ns of the last read.
	lost      chan struct{}
	stop      chan struct{}
	// lifetime ends when the client stops; it bounds waits that belong to no one caller.
	lifetime    context.Context
	endLifetime context.CancelFunc
	// done counts the goroutines Close waits for: the reconnector, the heartbeat and
	// admissions (coalesce.go). Not the readers (readers): one may be running a handler
	// that called Close, or that waits for a reply Close fails.
	done sync.WaitGroup
}

// Dial connects to the first reachable address, logs in and returns the client. ctx
// bounds this first connection only; later reconnects happen in the background. When
// ctx ends first (during the dial or the login), the error wraps both ErrUnreachable
// and ctx's error (errors.Is context.Canceled, or context.DeadlineExceeded).
func Dial(ctx context.Context, config Config) (*Client, error) {
	if err := config.Validate(); err != nil {
		return nil, err
	}
	config = config.withDefaults()
	config.Addresses = slices.Clone(config.Addresses)
	config.Secret = slices.Clone(config.Secret)
	c := &Client{
		config:      config,
		session:     config.Session,
		log:         config.Logger,
		window:      semaphore.NewWeighted(int64(config.InflightMax)),
		windowBytes: newWeighted(int64(config.InflightBytesMax)),
		next:        config.FirstNumber,
		pending:     make(map[uint64]*Call),
		forming:     make(map[coalesceKey]*Call),
		lost:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		logoutSeen:  make(chan struct{}),
	}
	c.now = time.Now
	if !config.RouteByShard {
		c.openRequests = semaphore.NewWeighted(openRequestsPendingMax)
		if config.RejoinWait > 0 {
			c.rejoinTimer = time.NewTimer(time.Hour)
			c.rejoinTimer.Stop()
			c.rejoinReady = make(chan struct{}, 1)
		}
	}
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	for c.session == 0 {
		var random [8]byte
		_, _ = rand.Read(random[:])
		c.session = binary.LittleEndian.Uint64(random[:])
	}
	established, _, err := c.connectAny(ctx)
	if err != nil {
		c.endLifetime()
		return nil, err
	}
	c.mu.Lock()
	c.install(established)
	c.mu.Unlock()
	c.done.Add(2)
	go c.maintain()
	go c.beat()
	return c, nil
}

// Session returns the session id (reuse it to resume after a restart of this process).
func (c *Client) Session() uint64 { return c.session }

// Permissions returns the wire.Permission* bits the server granted at the last login.
func (c *Client) Permissions() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.permissions
}

// NextNumber returns the number the next request will get.
func (c *Client) NextNumber() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next
}

// Reply is the answer to one request.
type Reply struct {
	Operation model.Operation
	Number    uint64       // The request number.
	Status    model.Status // Request-level status (StatusOK: see per-event results).
	Op        uint64       // Log position of a write.
	Duplicate bool         // Answered from the server's cache (the request was a retry).
	Body      []byte       // Result records (owned by the caller).
}

// Call is one request in flight (see Go).
type Call struct {
	Operation model.Operation
	Number    uint64
	Reply     Reply // Valid once the call is complete and Err is nil.
	Err       error // Set when the call failed.
	// Done, if not nil, receives the call when it completes. It must have room: a full
	// channel loses the notification (the reader never blocks on it); Wait still works.
	Done chan *Call

	client      *Client
	complete    chan struct{} // Closed when the call completes.
	frame       []byte        // The encoded request, resent as is after a reconnect.
	weightBytes int64         // Reserved in windowBytes.
	holdsWindow bool          // Holds one slot of window.
	// holdsOpen: holds one slot of openRequests (coalesce.go); given back once, by
	// whoever clears it (releaseOpenSlot), with or without mu.
	holdsOpen   atomic.Bool
	busyRetries int  // Answers with a status it is resent after (connection.go); mu.
	abandoned   bool // Pending without a caller (abandonPendingLocked); mu.
	// unanswered counts the copies queued for the current connection that it has not
	// answered yet (queueLocked); lostCopy is set when a connection ended with a copy
	// unanswered: that attempt's outcome is unknown (it may have been applied, or be
	// applied still from the server's queue); answeredUnknown when a copy was answered
	// outcome_unknown (outcomeUnknownLocked). All under mu.
	unanswered      int
	lostCopy        bool
	answeredUnknown bool
	finished        atomic.Bool
	numberedAt      int64  // numberedBytes when it was numbered (window.go).
	replyBytes      int64  // Expected reply body, counted in numberedBytes (window.go).
	replyBuffer     []byte // Where the reply's body goes (GoInto); nil: a new slice.
	lone            bool   // Its caller waits for it at once (Do, DoInto): it may read its reply (lone_read.go).

	// Coalesced requests (coalesce.go); guarded by the client's mu.
	flags      uint8       // Request flags.
	key        coalesceKey // What a joining call must share with it.
	body       []byte      // While forming: a header-sized gap, then the events; nil once sealed.
	events     int         // Events in the request.
	waiters    int         // Callers still waiting for it.
	outboxSlot int         // Its place in the outbox while forming; -1 once sealed.
	// The shared wait (coalesce.go, watchLocked): the context channel its watcher
	// selects on, and the channel the watcher closes; set while forming, under mu.
	watchDone <-chan struct{}
	watch     chan struct{}
	// watchCompleted: the watcher closed watch because the request completed (not
	// because its context ended, nor resigning). Written by the watcher alone before it
	// closes watch; read by followers once watch is closed.
	watchCompleted bool
	// parts records each caller's share once a second caller joins (nil for a request of
	// one caller); split is set when the request, refused rate_limited whole, was sent
	// again one request per caller (splitLocked, coalesce.go). Under mu; split is read
	// without it once the call is complete.
	parts []callerPart
	split bool
	// followed: the caller that formed it has more runs of its batch behind this one
	// (submitRun); recorded in its callerPart once a second caller joins.
	followed bool
}

// expectedReplyBytes estimates a reply's size from the operation's shape, for the
// window: fixed results per event, a full result set for queries.
func expectedReplyBytes(operation model.Operation, flags uint8, bodyLength int) int64 {
	info, ok := operation.Info()
	if !ok || info.EventSize == 0 {
		return wire.HeaderSize
	}
	resultSize := info.ResultSize
	if info.BalancesResult && flags&requestFlagReplyBalances != 0 {
		resultSize = model.EventResultBalancesSize
	}
	results := bodyLength / info.EventSize
	if info.Query {
		results = info.ResultsMax
	}
	return int64(wire.HeaderSize + results*resultSize)
}

// requestFlagReplyBalances mirrors backend.RequestFlagReplyBalances (the wire value),
// without importing server packages.
const requestFlagReplyBalances uint8 = 1 << 0

// Go sends a request without waiting and returns its Call. When the reply arrives or
// the call fails, the call is sent on done (if not nil; give it room) and Wait returns.
// Go blocks only while the pipelining window is full, until ctx is done. Body is copied.
func (c *Client) Go(ctx context.Context, operation model.Operation, flags uint8,
	body []byte, done chan *Call) *Call {
	return c.GoInto(ctx, operation, flags, body, nil, done)
}

// GoInto is Go with a buffer for the reply: the reply's body is copied into reply (grown
// if it is short) instead of into newly allocated memory. The buffer belongs to the call
// until it completes, and then, as Reply.Body, to the caller, who may pass it to the next
// call. A caller sending request after request of thousands of events saves an allocation
// per reply, and the page faults and cache misses of touching new memory (a full batch's
// reply is 131 KB). With reply nil it is Go.
func (c *Client) GoInto(ctx context.Context, operation model.Operation, flags uint8,
	body []byte, reply []byte, done chan *Call) *Call {
	return c.goInto(ctx, operation, flags, body, reply, done, false)
}

// goInto is GoInto; lone says the caller waits for the call at once (Do, DoInto), so it
// may read the reply itself (lone_read.go) and its write does not wake the reader.
func (c *Client) goInto(ctx context.Context, operation model.Operation, flags uint8,
	body []byte, reply []byte, done chan *Call, lone bool) *Call {
	call := &Call{Operation: operation, Done: done, client: c,
		complete: make(chan struct{}), flags: flags, waiters: 1, outboxSlot: -1,
		replyBuffer: reply, lone: lone}
	if len(body) > model.RequestBodyBytesMax {
		call.fail(fmt.Errorf("client: request body of %d bytes, more than %d", len(body),
			model.RequestBodyBytesMax))
		return call
	}
	weightBytes := min(expectedReplyBytes(operation, flags, len(body)),
		int64(c.config.InflightBytesMax))
	// Reply bytes first, then the slot, as submit does: a slot is never held while
	// waiting for bytes, which requests queued for a slot may hold.
	if err := c.acquireBytes(ctx, weightBytes); err != nil {
		call.fail(err)
		return call
	}
	if err := c.acquire(ctx, c.window, 1); err != nil {
		c.windowBytes.Release(weightBytes)
		call.fail(err)
		return call
	}
	call.weightBytes, call.holdsWindow = weightBytes, true
	c.mu.Lock()
	var replyBytes int64 // Reply bodies of writes are cached for resends (window.go).
	if info, _ := operation.Info(); info.Write {
		replyBytes = expectedReplyBytes(operation, flags, len(body)) - wire.HeaderSize
	}
	if !c.waitInsideWindow(ctx.Done(), func() int64 { return replyBytes }, nil) {
		err := ctx.Err()
		if c.closed {
			err = c.closedError()
		}
		c.mu.Unlock()
		call.fail(err)
		return call
	}
	c.numberLocked(call, replyBytes)
	// Direct calls, not a function value: through one, body and the header would
	// escape to the heap (a caller's body on its stack would be moved there).
	header := wire.Frame{Kind: wire.KindRequest, Operation: operation, Flags: flags,
		Session: c.session, Number: call.Number}
	if buffer := c.frameBufferLocked(wire.HeaderSize + len(body)); c.config.UncheckedFrames {
		call.frame = wire.AppendFrameUnchecked(buffer, &header, body)
	} else {
		call.frame = wire.AppendFrame(buffer, &header, body)
	}
	c.pending[call.Number] = call
	c.queueLocked(call, call.frame)
	// A lone waiter's request, the only one pending, does not wake a reader that lends
	// the connection: its caller reads the reply (lone_read.go). With another pending,
	// neither caller may take the read: the reader reads.
	call.lone = lone && c.config.LoneReads && len(c.pending) == 1
	switch {
	case c.corks.Load() != 0:
		// Held back, but pending: a lone waiter whose request was written before it may
		// no longer read (readOwnReply), so the reader does.
		c.wakeReaderLocked()
	case call.lone:
		c.writeOutboxLocked()
	default:
		c.writeLocked()
	}
	c.mu.Unlock()
	return call
}

// Do sends a request and waits for its reply or ctx. A reply with a non-ok request
// status is returned with a *StatusError. When ctx ends first the outcome of a write
// sent is unknown: the request may still be applied (once), and the error is an
// *OutcomeUnknownError wrapping ctx's (see Wait).
func (c *Client) Do(ctx context.Context, operation model.Operation, flags uint8,
	body []byte) (*Reply, error) {
	return c.goInto(ctx, operation, flags, body, nil, nil, true).Wait(ctx)
}

// DoInto is Do with a buffer for the reply's body, as GoInto: the body is copied into
// reply (grown if short), which belongs to the call until it returns and then, as
// Reply.Body, to the caller. A caller issuing one request at a time may so reuse one
// buffer. With Config.LoneReads, while its request is the only one pending, Do and DoInto
// read the reply on the caller's goroutine (doc.go, Pipelining).
func (c *Client) DoInto(ctx context.Context, operation model.Operation, flags uint8,
	body []byte, reply []byte) (*Reply, error) {
	return c.goInto(ctx, operation, flags, body, reply, nil, true).Wait(ctx)
}

// Wait waits for the call to complete or ctx to end (then the call is abandoned), and
// returns the reply, or a *StatusError for a request-level status other than ok. When
// ctx ends first, a write that may have been applied or may still be (written, or
// queued to be, and not answered; or its outcome unknown already) fails with an
// *OutcomeUnknownError wrapping ctx's error (errors.Is finds that error through it); a
// read, or a write never written or only refused so far, with ctx's error itself.
func (call *Call) Wait(ctx context.Context) (*Reply, error) {
	call.client.flushCorked()
	if call.lone {
		call.client.readOwnReply(ctx, call)
	}
	if call.finished.Load() {
		<-call.complete // Completed (its fields set once this is closed): no select.
	} else {
		select {
		case <-call.complete:
		case <-ctx.Done():
			call.client.abandon(call, ctx.Err())
			<-call.complete
		}
	}
	if call.Err != nil {
		return nil, call.Err
	}
	if call.Reply.Status != model.StatusOK {
		return &call.Reply, &StatusError{Operation: call.Operation, Number: call.Number,
			Status: call.Reply.Status, Primary: primaryOf(&call.Reply)}
	}
	return &call.Reply, nil
}

func primaryOf(reply *Reply) string {
	if reply.Status == model.StatusNotPrimary {
		return string(reply.Body)
	}
	return ""
}

// abandon gives up on a call whose caller stopped waiting because of err (its context
// ended). A write a copy of which may have been applied, or may still be (written, or
// queued on the current connection, and not answered; lost with a connection; answered
// outcome_unknown), fails with an *OutcomeUnknownError wrapping err (endedErrorLocked),
// so that its caller learns the write may be applied; a read, or a write never written
// or only refused so far, with err itself. A call no longer pending is left alone: it
// is complete, or whoever took it out of the pending set (a reply, Close, a protocol
// error naming it) completes it as soon as it releases mu, with what it learned (an ok
// reply: the write applied); err, the context's error alone, would say it never was.
func (c *Client) abandon(call *Call, err error) {
	c.mu.Lock()
	if c.pending[call.Number] != call {
		c.mu.Unlock()
		return
	}
	err = c.endedErrorLocked(call, err, 0)
	kept := c.abandonPendingLocked(call)
	c.mu.Unlock()
	if kept {
		call.failCaller(err)
		return
	}
	call.fail(err)
}

// abandonPendingLocked takes a pending call whose callers all stopped waiting out of
// the pending set, and reports false; or keeps it there without a caller, and reports
// true, while a copy of it may still be applied after requests numbered above it. That
// is so for a call a copy of which was left unanswered by a connection that ended (the
// server may have refused it busy, unseen, while it applied requests numbered above it,
// or may still hold it in its queue: its outcome is unknown), and for a call the server
// refused at least once with a status it is resent after (busy, log_unavailable,
// outcome_unknown, or after an unknown outcome shutting_down, rate_limited or an empty
// not_primary) that has a copy queued or written on the current connection and not
// answered. Such a copy's reply would be cached after theirs: the call keeps its place
// in the window (window.go) and its slot. Once the copies of the current connection are
// answered it leaves (resendOrDropLocked) instead of being resent, unless a copy was
// lost with a connection: that one is never answered, so the call is resent until a
// definite reply, as before its callers left (PROTOCOL.md §7), or until a resend is
// refused rate_limited with no copy on its way (resendOrDropLocked: a request above the
// client's burst would be refused so for ever). A refused call with
// nothing on its way, waiting out its backoff, leaves at once: no copy of it can be
// applied any more, and it counts as a late reply (lateLocked) for an earlier copy
// perhaps applied. A call never refused that way and never lost leaves at once too: its
// only copy is written in number order, and is applied in that order or not at all while
// the connection lasts; but should the connection end before answering it, the server
// may still hold it in its queue, so a copy on its way is recorded as departed, and
// counted as a stray from that end on (departedLocked, strayReply). A read
// (write) leaves at once. Called with mu held.
func (c *Client) abandonPendingLocked(call *Call) bool {
	if call.write() && (call.lostCopy || call.busyRetries > 0 && call.unanswered > 0) {
		call.abandoned = true
		return true
	}
	if call.write() && call.unanswered > 0 && c.conn != nil {
		c.departedLocked(call)
	}
	c.leavePendingLocked(call)
	return false
}

// leavePendingLocked takes call out of the pending set; a write refused at least once
// with a status it is resent after, or a copy of which was left unanswered by a
// connection that ended (refused busy perhaps, the answer lost with it), counts as a late
// reply from then on (lateLocked): a copy of it may have been applied after requests
// numbered above it. Called with mu held.
func (c *Client) leavePendingLocked(call *Call) {
	delete(c.pending, call.Number)
	if call.mayApplyLateLocked() && call.write() {
		c.lateLocked(call)
	}
	c.leftPendingLocked()
}

// mayApplyLateLocked reports whether a copy of call may be applied after requests
// numbered above it: it was refused at least once with a status it is resent after, or a
// copy of it was left unanswered by a connection that ended. A resend's refusal that
// says nothing of that copy then keeps it resent (complete), and a write's reply counts
// as late when it leaves (leavePendingLocked). Called with mu held.
func (call *Call) mayApplyLateLocked() bool {
	return call.busyRetries > 0 || call.lostCopy
}

// write reports whether call's operation is a write: one the server logs and records
// under its number, its reply cached for resends (PROTOCOL.md §7). A read is executed
// again when resent and recorded nowhere: no copy of it is applied after requests
// numbered above it, and its reply takes no room in the server's cache, so it is never
// kept pending for a copy on its way (abandonPendingLocked) nor counted as late.
func (call *Call) write() bool {
	info, _ := call.Operation.Info()
	return info.Write
}

// outcomeUnknownLocked reports whether call is a write an earlier copy of which may have
// been applied although no definite reply says so: a copy was left unanswered by a
// connection that ended, or was answered outcome_unknown. A resend's refusal at once
// (checked before the server looks the number up, PROTOCOL.md §6) then says nothing
// about that copy: such a call is resent until a definite reply, or, for a refusal that
// resending cannot cure, completed with an *OutcomeUnknownError, never reported as
// refused (§7). A read changes nothing: its refusal is its outcome. Called with mu held.
func (call *Call) outcomeUnknownLocked() bool {
	return call.write() && (call.lostCopy || call.answeredUnknown)
}

// endedErrorLocked is the error that completes call, pending, when the client stops
// waiting for its reply because of err (Close, a fatal error, or its callers' context
// ending: abandon, leave), or when err answers
// answered of its copies on the current connection (1: a protocol error naming it). It is
// err itself when no copy of the request may have been applied: a read, or a write every
// copy of which was answered without an unknown outcome (refused busy, say, and waiting
// to be resent) or never written (queued while disconnected). Otherwise it is an
// *OutcomeUnknownError with status outcome_unknown wrapping err (errors.Is and errors.As
// still find it): a copy was lost with a connection or answered outcome_unknown
// (outcomeUnknownLocked), or is queued or written on the current connection and not
// answered; the server may have applied it, or may still. Called with mu held, before
// the connection is dropped, or after lostLocked dropped it (which counts those copies
// as lost).
func (c *Client) endedErrorLocked(call *Call, err error, answered int) error {
	onItsWay := call.write() && c.conn != nil && call.unanswered > answered
	if !onItsWay && !call.outcomeUnknownLocked() {
		return err
	}
	return &OutcomeUnknownError{Operation: call.Operation, Number: call.Number,
		Status: model.StatusOutcomeUnknown, Err: err}
}

// queueLocked queues frame, a copy of pending call's request, for the current
// connection, counting it as unanswered there. Called with mu held.
func (c *Client) queueLocked(call *Call, frame []byte) {
	c.outbox = append(c.outbox, frame)
	call.unanswered++
}

// fail completes the call with an error (once).
func (call *Call) fail(err error) { call.finishWithError(err, true) }

// failCaller completes the call for its callers with an error (once), the call staying
// pending: it keeps its window slot and reply bytes until it leaves the pending set
// (abandonPendingLocked).
func (call *Call) failCaller(err error) { call.finishWithError(err, false) }

// finishWithError completes the call with err (once), giving back its window slot and
// reply bytes first when release is set.
func (call *Call) finishWithError(err error, release bool) {
	if !call.finished.CompareAndSwap(false, true) {
		return
	}
	call.Err = err
	if release {
		call.release()
	} else {
		// Kept pending with no caller: nothing merged waits for its answer any more, so
		// it no longer holds back the next merged request (coalesce.go).
		call.releaseOpenSlot()
	}
	call.notify()
}

// succeed completes the call with its reply (once).
func (call *Call) succeed(reply Reply) {
	if !call.finished.CompareAndSwap(false, true) {
		return
	}
	call.Reply = reply
	call.release()
	call.notify()
}

// succeedCopying completes the call with reply and a copy of body, made in the call's
// reply buffer (GoInto) or in new memory. The copy is made once the call is this reply's:
// a call abandoned meanwhile has given its buffer back to its caller, who may be
// reusing it.
func (call *Call) succeedCopying(reply Reply, body []byte) {
	if !call.finished.CompareAndSwap(false, true) {
		return
	}
	if call.replyBuffer != nil {
		reply.Body = append(call.replyBuffer[:0], body...)
	} else {
		reply.Body = slices.Clone(body)
	}
	call.Reply = reply
	call.release()
	call.notify()
}

func (call *Call) notify() {
	close(call.complete)
	if call.Done != nil {
		select {
		case call.Done <- call:
		default:
		}
	}
}

func (call *Call) release() {
	if call.weightBytes > 0 {
		call.client.windowBytes.Release(call.weightBytes)
		call.weightBytes = 0
	}
	if call.holdsWindow {
		call.client.window.Release(1)
		call.holdsWindow = false
	}
	call.releaseOpenSlot()
}

// releaseOpenSlot gives back the call's slot of openRequests, if it still holds one.
func (call *Call) releaseOpenSlot() {
	if call.holdsOpen.CompareAndSwap(true, false) {
		call.client.openRequests.Release(1)
	}
}

// writeLocked writes the outbox unless another goroutine is already doing so; whoever
// writes takes everything queued meanwhile, so concurrent callers share syscalls.
// Called and returns with mu held; mu is released during each write.
func (c *Client) writeLocked() {
	c.wakeReaderLocked() // What is written may be answered: the reader reads.
	c.writeOutboxLocked()
}

// writeOutboxLocked is writeLocked without waking a reader that lends the connection
// (lone_read.go). Called and returns with mu held.
func (c *Client) writeOutboxLocked() {
	if c.writing {
		return
	}
	c.writing = true
	for len(c.outbox) > 0 && c.conn != nil {
		c.sealAllLocked()
		conn, generation := c.conn, c.generation
		buffers := c.outbox
		c.outbox = c.spare[:0]
		// No write deadline: beat drops a connection whose write has lasted past the
		// silence timeout (writeStalledLocked). A deadline set per write re-armed the
		// socket's runtime timer on every request (SetWriteDeadline), for a bound the
		// heartbeat's ticker already checks.
		c.writeStartedNs = time.Now().UnixNano()
		c.writingFrames = buffers
		c.writeArray = append(c.writeArray[:0], buffers...)
		c.writeBatch = c.writeArray
		c.mu.Unlock()
		_, err := c.writeBatch.WriteTo(conn) // Consumes writeBatch; buffers keeps the frames.
		c.lastWrite.Store(time.Now().UnixNano())
		c.mu.Lock()
		c.writeBatch = nil
		clear(c.writeArray)
		c.writingFrames = nil
		clear(buffers)
		c.spare = buffers[:0]
		if err != nil {
			c.lostLocked(generation, err)
		}
	}
	c.writing = false
}

// writeUnlessCorkedLocked is writeLocked for a caller's new request (Go, a merged
// request numbered at once): while a cork is held, it leaves the frame in the outbox for
// the next write. Every other write (resends, admissions, subscriptions, heartbeats)
// goes out at once and takes what a cork held back with it. Called with mu held.
func (c *Client) writeUnlessCorkedLocked() {
	if c.corks.Load() == 0 {
		c.writeLocked()
		return
	}
	c.wakeReaderLocked() // Pending though held back: as in goInto.
}

// Cork holds back the writes of new requests until the matching Uncork, so that the
// requests of a burst of Go calls leave in one write (one system call) instead of one each,
// as TCP_CORK does in the kernel for a socket. A goroutine that issues several requests
// in a row (a load generator refilling its pipeline, a gateway forwarding a batch of
// independent calls) corks, calls Go for each, and uncorks. Corks nest and may be held
// by several goroutines; the writes resume when the last is removed.
//
// A cork never makes the client wait for itself: a caller about to wait inside the
// client (a full window, Wait, a synchronous call, a merged call's reply) first writes
// what is held back, and so does any other write (a resend after a reconnect, a request
// admitted once the window had room, a heartbeat). But the new requests of every
// goroutine wait for the last Uncork, so hold a cork only around the burst, never while
// waiting on something outside the client.
func (c *Client) Cork() { c.corks.Add(1) }

// Uncork removes one Cork; when none is left, the requests held back are written. It
// panics when no Cork is held, as sync.WaitGroup does for a negative counter: a count
// below zero would cork the client for good, silently.
func (c *Client) Uncork() {
	for {
		// A compare-and-swap, not an Add: the count never goes below zero, even for a
		// moment in which a concurrent Go would read it as corked.
		corks := c.corks.Load()
		if corks <= 0 {
			panic("client: Uncork without a matching Cork")
		}
		if c.corks.CompareAndSwap(corks, corks-1) {
			if corks == 1 {
				c.writeHeldBack()
			}
			return
		}
	}
}

// flushCorked writes what a cork holds back, before a caller waits: a caller must never
// wait for the reply to (or the window room of) a request that is not yet written.
func (c *Client) flushCorked() {
	if c.corks.Load() != 0 {
		c.writeHeldBack()
	}
}

// writeHeldBack writes the outbox, corked or not (Uncork, flushCorked).
func (c *Client) writeHeldBack() {
	c.mu.Lock()
	c.writeLocked()
	c.mu.Unlock()
}

// acquire takes weight from a window semaphore, writing what a cork holds back before
// it waits (see flushCorked): the room it waits for comes from replies to requests
// already numbered, which may be held in the outbox.
func (c *Client) acquire(ctx context.Context, window *semaphore.Weighted, weight int64) error {
	if window.TryAcquire(weight) {
		return nil
	}
	c.flushCorked()
	return window.Acquire(ctx, weight)
}

// acquireBytes is acquire for the window of expected reply bytes (windowBytes), whose
// type is the client's own (weighted).
func (c *Client) acquireBytes(ctx context.Context, weight int64) error {
	if c.windowBytes.TryAcquire(weight) {
		return nil
	}
	c.flushCorked()
	return c.windowBytes.Acquire(ctx, weight)
}

// lostLocked drops connection generation (if still current) and wakes the reconnector.
// Pending calls stay pending: they are resent, with their numbers, on the next
// connection.
func (c *Client) lostLocked(generation uint64, err error) {
	if c.generation != generation || c.conn == nil {
		return
	}
	_ = c.conn.Close()
	c.conn = nil
	c.wakeReaderLocked() // Its read ends, and so does it.
	c.sealAllLocked()    // The pending requests keep their frames for the resend.
	c.outbox = c.outbox[:0]
	for _, call := range c.pending {
		if call.unanswered > 0 {
			call.lostCopy = true // Perhaps applied, or still in the server's queue.
			call.unanswered = 0
		}
	}
	c.departedLostLocked() // Likewise the copies of writes that left (window.go).
	if c.closed {
		return // Closing: no reconnect.
	}
	c.log.Warn("client: connection lost", "error", err, "pending", len(c.pending))
	select {
	case c.lost <- struct{}{}:
	default:
	}
}

func (c *Client) closedError() error {
	if c.fatal != nil {
		return c.fatal
	}
	return ErrClosed
}

// Close logs out (waiting briefly for the acknowledgement; not at all while
// disconnected, or while a report or market-data handler runs), closes the connection
// and fails calls still pending with ErrClosed (or with the fatal *ServerError that
// stopped the client already, if one did), wrapped in an *OutcomeUnknownError for a
// write a copy of which may have been applied (sent and not answered, or answered
// outcome_unknown). A reply already read from the connection when it closes still
// completes its call, unless that connection's reader is inside a handler: its
// buffered replies then fail as unknown (the safe side). Close may be called from a
// report or market-data handler: it does not wait for a reader running a handler (the
// one it runs on, or another, which may be waiting for a call Close fails). No handler
// is entered once Close has begun; one entered just before may start, or still run,
// after Close returns. Wait for your replies before closing.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed && c.fatal == nil {
		c.mu.Unlock()
		return nil
	}
	wasClosed := c.closed
	c.closed = true
	waitForLogout := false
	if c.conn != nil && !wasClosed {
		c.outbox = append(c.outbox, wire.AppendFrame(nil,
			&wire.Frame{Kind: wire.KindLogout, Session: c.session}, nil))
		c.writeLocked()
		// Not when the write ended the connection: without a logout sent, no
		// acknowledgement can come. Nor while a reader runs a handler: the connection's
		// reader, which would read the acknowledgement, may be the very goroutine calling
		// Close from its handler, and would read it only after Close returned.
		waitForLogout = c.conn != nil && c.handlers == 0
	}
	c.mu.Unlock()
	if waitForLogout {
		select {
		case <-c.logoutSeen:
		case <-time.After(logoutWait):
		}
	}
	c.shutdown(ErrClosed)
	return nil
}

// shutdown stops the goroutines, closes the connection and fails pending calls with err,
// or with the fatal error that stopped the client, once one did: Close may run between
// failFatal and the shutdown it starts (on another goroutine, as the reader it is called
// from cannot wait for itself), and its callers must learn why the session ended, not
// only that the client is closed.
//
// The calls are failed only once the readers have returned: a reply a reader has read
// (in its decoder's buffer, or decoded and about to be handled) when the connection
// closes is handled first and completes its call, which would otherwise be failed as
// closed (a write: outcome unknown) with its reply in hand. The copies still unanswered
// then, and only those, count as lost with the connection (lostLocked), which is what
// makes a write's outcome unknown (endedErrorLocked). But a reader running a report or
// market-data handler is not waited for, neither here nor once the calls are failed:
// the handler is code outside the client, which may have called Close (shutdown then
// runs on that reader's goroutine), or may be waiting for one of the calls failed below
// (a reply to an order placed in answer to a report, a window slot) and would wait for
// ever for a Close that waited for it. The replies that reader reads after the handler
// returns find their calls failed. No handler starts once the client is closed
// (enterHandlerLocked), which it is before this waits, so the wait ends: the readers
// not in a handler return as soon as their connection is closed.
func (c *Client) shutdown(err error) {
	c.mu.Lock()
	c.closed = true
	if c.fatal != nil {
		err = c.fatal
	}
	if c.conn != nil {
		// Closed but kept as the current connection until the readers are done: its read
		// ends, and the replies it has read answer their copies on it (complete counts
		// them), as they would have a moment earlier: a refusal is a refusal. lostLocked,
		// below, then counts only the copies still unanswered as lost with it.
		_ = c.conn.Close()
		c.wakeReaderLocked() // A reader lending the connection reads, and ends.
	}
	select {
	case <-c.stop:
	default:
		close(c.stop)
		c.endLifetime()
	}
	for c.readers > c.handlers {
		if c.readersChanged == nil {
			c.readersChanged = make(chan struct{})
		}
		changed := c.readersChanged
		c.mu.Unlock()
		<-changed
		c.mu.Lock()
	}
	c.lostLocked(c.generation, err) // Unless the reader's failed read did already.
	calls := make([]*Call, 0, len(c.pending))
	errs := make([]error, 0, len(c.pending))
	for number, call := range c.pending {
		if call.abandoned {
			call.release() // Its callers were answered already.
		}
		calls = append(calls, call)
		errs = append(errs, c.endedErrorLocked(call, err, 0))
		delete(c.pending, number)
	}
	c.leftPendingLocked()
	c.mu.Unlock()
	for index, call := range calls {
		call.fail(errs[index])
	}
	c.done.Wait()
}

// failFatal stops the client after an error that a reconnect cannot cure (credentials
// refused, key revoked, a protocol error).
func (c *Client) failFatal(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.fatal = err
	c.mu.Unlock()
	c.log.Error("client: stopping", "error", err)
	go c.shutdown(err)
}

var errSilence = errors.New("client: server silent beyond the silence timeout")

// errWriteStalled is why a connection is dropped whose write has not returned within
// the silence timeout (the server not reading: its socket buffers full).
var errWriteStalled = errors.New("client: a write blocked beyond the silence timeout")

// writeStalledLocked reports whether a write on the current connection began more than
// the silence timeout before nowNs and has not returned. Called with mu held.
func (c *Client) writeStalledLocked(nowNs int64) bool {
	return c.writing && nowNs-c.writeStartedNs > int64(c.silence)
}

// writeBeatLocked writes the outbox for the heartbeat's ticker, never on the ticker's
// goroutine: a write may block for good (the server not reading, its socket buffers
// full), and only the ticker ends such a write (writeStalledLocked); blocked in it, the
// ticker would check neither the stall nor the silence again. A writer already at work
// takes the heartbeat with what else is queued. Called with mu held.
func (c *Client) writeBeatLocked() {
	c.wakeReaderLocked() // As writeLocked: the reader reads.
	if c.writing {
		return
	}
	c.done.Add(1) // The ticker, still counted, keeps the count above 0 (shutdown waits).
	go func() {
		defer c.done.Done()
		c.mu.Lock()
		c.writeOutboxLocked()
		c.mu.Unlock()
	}()
}

// beat sends heartbeats after HeartbeatInterval without writing, and drops a connection
// silent for SilenceTimeout, or whose write has been blocked that long (the reconnector
// then resumes the session; closing the connection ends the blocked write).
func (c *Client) beat() {
	defer c.done.Done()
	c.mu.Lock()
	interval := c.heartbeat
	c.mu.Unlock()
	ticker := time.NewTicker(max(interval/4, time.Millisecond))
	defer ticker.Stop()
	heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
	for {
		select {
		case <-c.stop:
			return
		case <-ticker.C:
		}
		now := time.Now().UnixNano()
		c.mu.Lock()
		if c.conn != nil {
			if c.readRole == roleFree && now-c.lastRead.Load() >= int64(c.heartbeat) {
				c.wakeReaderLocked() // The server's heartbeats are read (lone_read.go).
			}
			if now-c.lastRead.Load() > int64(c.silence) {
				c.lostLocked(c.generation, errSilence)
			} else if c.writeStalledLocked(now) {
				c.lostLocked(c.generation, errWriteStalled)
			} else if now-c.lastWrite.Load() >= int64(c.heartbeat) {
				c.outbox = append(c.outbox, heartbeat)
				c.writeBeatLocked()
			}
		}
		c.mu.Unlock()
	}
}
