// Package fakeshard is an in-memory backend.Backend for tests of netio and of programs
// built on it (the sequent CLI, load generators): one goroutine (the
// "shard goroutine") drains a bounded channel of copied requests, applies them to a
// ledger.Ledger with exactly-once deduplication per (client, session, number) like the
// real state machine, and replies through the Replier in batches. It also counts how many
// times each request was applied, so tests can prove a retry was not applied twice, and
// retains execution reports for replay.
//
// It is a test double: no log, no durability, allocations on every request. Use
// core/shard for anything real.
package fakeshard

import (
	"sync"
	"sync/atomic"

	"sequent/core/backend"
	"sequent/core/ledger"
	"sequent/core/model"
)

// Limits of the fake.
const (
	RingRequestsDefault     = 1024 // Input channel capacity.
	batchRequestsMaxDefault = 256  // Requests applied per Deliver call at most.
	reportsRetainedMax      = 4096 // Reports kept per client for replay.
)

// Config configures a Backend.
type Config struct {
	RingRequests int // Input capacity; a full ring answers busy. Default RingRequestsDefault.
	// BatchRequestsMax bounds the requests applied (and replies delivered) per Deliver
	// call; default 256. 1 delivers every reply in its own call.
	BatchRequestsMax int
}

type requestKey struct {
	client, session, number uint64
}

type sessionKey struct {
	client, session uint64
}

type cachedReply struct {
	status model.Status
	op     uint64
	body   []byte
}

// SessionEnd records one SessionClosed call.
type SessionEnd struct {
	Client, Session uint64
	CancelOrders    bool
}

// Backend is the fake. Submit, ReplayReports, SessionClosed and the test controls are
// safe from any goroutine.
type Backend struct {
	ring    chan backend.Request // Copied requests.
	batch   int                  // Requests per Deliver call at most.
	control chan func()          // Work run on the shard goroutine (pause, reports).
	stop    chan struct{}
	done    chan struct{}
	replier backend.Replier

	notPrimary atomic.Bool

	// Shard goroutine only.
	ledger    *ledger.Ledger
	paused    bool
	timestamp uint64
	op        uint64
	cache     map[requestKey]cachedReply

	mu           sync.Mutex        // Guards the fields below (read by tests and ReplayReports).
	sequences    map[uint64]uint64 // Client → last report sequence.
	applications map[requestKey]int
	retained     map[uint64][]backend.Report
	sessionEnds  []SessionEnd
	submitted    int
}

var _ backend.Backend = (*Backend)(nil)

// New returns a stopped fake; Start it with the Replier.
func New(config Config) *Backend {
	if config.RingRequests <= 0 {
		config.RingRequests = RingRequestsDefault
	}
	if config.BatchRequestsMax <= 0 {
		config.BatchRequestsMax = batchRequestsMaxDefault
	}
	return &Backend{
		ring:         make(chan backend.Request, config.RingRequests),
		batch:        config.BatchRequestsMax,
		control:      make(chan func(), 16),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
		ledger:       ledger.New(ledger.Config{}),
		timestamp:    1 << 60,
		cache:        make(map[requestKey]cachedReply),
		sequences:    make(map[uint64]uint64),
		applications: make(map[requestKey]int),
		retained:     make(map[uint64][]backend.Report),
	}
}

// Start runs the shard goroutine, replying to replier.
func (b *Backend) Start(replier backend.Replier) {
	b.replier = replier
	go b.run()
}

// Close stops the shard goroutine (queued requests are dropped).
func (b *Backend) Close() {
	close(b.stop)
	<-b.done
}

// Submit copies the request into the ring, or answers busy when it is full.
func (b *Backend) Submit(request *backend.Request) model.Status {
	if b.notPrimary.Load() {
		return model.StatusNotPrimary
	}
	copied := *request
	copied.Body = append([]byte(nil), request.Body...)
	select {
	case b.ring <- copied:
		b.mu.Lock()
		b.submitted++
		b.mu.Unlock()
		return model.StatusOK
	default:
		return model.StatusBusy
	}
}

// SetNotPrimary makes Submit answer not_primary.
func (b *Backend) SetNotPrimary(on bool) { b.notPrimary.Store(on) }

// Pause stops applying requests (they queue until the ring is full); Resume restarts.
// Both return once the shard goroutine has taken them in.
func (b *Backend) Pause()  { b.do(func() { b.paused = true }) }
func (b *Backend) Resume() { b.do(func() { b.paused = false }) }

// Report emits an execution report for client from the shard goroutine (assigning the
// next sequence) and returns that sequence.
func (b *Backend) Report(client uint64, body []byte) uint64 {
	var sequence uint64
	b.do(func() {
		b.mu.Lock()
		b.sequences[client]++
		sequence = b.sequences[client]
		report := backend.Report{Client: client, Sequence: sequence,
			Body: append([]byte(nil), body...)}
		kept := append(b.retained[client], report)
		if len(kept) > reportsRetainedMax {
			kept = kept[len(kept)-reportsRetainedMax:]
		}
		b.retained[client] = kept
		b.mu.Unlock()
		b.replier.DeliverReports([]backend.Report{report})
	})
	return sequence
}

// LoseReportsAfter makes the fake forget client's reports after sequence last, as a
// failover that lost acknowledged entries does (asynchronous replication): they are no
// longer retained, and the next report is numbered last+1 again (PROTOCOL.md section 8).
func (b *Backend) LoseReportsAfter(client uint64, last uint64) {
	b.do(func() {
		b.mu.Lock()
		b.sequences[client] = min(b.sequences[client], last)
		kept := b.retained[client]
		for len(kept) > 0 && kept[len(kept)-1].Sequence > last {
			kept = kept[:len(kept)-1]
		}
		b.retained[client] = kept
		b.mu.Unlock()
	})
}

// do runs fn on the shard goroutine and waits for it.
func (b *Backend) do(fn func()) {
	finished := make(chan struct{})
	b.control <- func() { fn(); close(finished) }
	<-finished
}

// ReplayReports implements backend.ReportReplayer from the retained window, and the
// client's next sequence read under the same lock (Report numbers and retains a report
// before delivering it).
func (b *Backend) ReplayReports(client uint64, fromSequence uint64,
	fn func(reports []backend.Report)) (oldest uint64, next uint64) {
	b.mu.Lock()
	kept := b.retained[client]
	var selected []backend.Report
	for _, report := range kept {
		if report.Sequence >= fromSequence {
			selected = append(selected, report)
		}
	}
	next = b.sequences[client] + 1
	oldest = next // Holding none: the oldest is the next (PROTOCOL.md section 8).
	if len(kept) > 0 {
		oldest = kept[0].Sequence
	}
	b.mu.Unlock()
	if len(selected) > 0 {
		fn(selected)
	}
	return oldest, next
}

// SessionClosed implements backend.SessionCloser by recording the call.
func (b *Backend) SessionClosed(client uint64, session uint64, cancelOrders bool) {
	b.mu.Lock()
	b.sessionEnds = append(b.sessionEnds, SessionEnd{client, session, cancelOrders})
	b.mu.Unlock()
}

// SessionEnds returns the SessionClosed calls so far.
func (b *Backend) SessionEnds() []SessionEnd {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]SessionEnd(nil), b.sessionEnds...)
}

// Applications returns how many times the request was applied (0 or 1 for writes).
func (b *Backend) Applications(client, session, number uint64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.applications[requestKey{client, session, number}]
}

// Submitted returns how many requests Submit accepted.
func (b *Backend) Submitted() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.submitted
}

func (b *Backend) run() {
	defer close(b.done)
	batch := make([]backend.Request, 0, b.batch)
	replies := make([]backend.Reply, 0, b.batch)
	for {
		ring := b.ring
		if b.paused {
			ring = nil
		}
		select {
		case <-b.stop:
			return
		case fn := <-b.control:
			fn()
			continue
		case request := <-ring:
			batch = append(batch[:0], request)
		}
		for len(batch) < b.batch {
			select {
			case request := <-b.ring:
				batch = append(batch, request)
				continue
			default:
			}
			break
		}
		replies = replies[:0]
		for i := range batch {
			replies = append(replies, b.apply(&batch[i]))
		}
		b.replier.Deliver(replies)
	}
}

// apply answers one request, from the cache for a write already applied.
func (b *Backend) apply(request *backend.Request) backend.Reply {
	reply := backend.Reply{Connection: request.Connection, Client: request.Client,
		Session: request.Session, Number: request.Number, Operation: request.Operation}
	key := requestKey{request.Client, request.Session, request.Number}
	info, _ := request.Operation.Info()
	if info.Write {
		if cached, ok := b.cache[key]; ok {
			reply.Status, reply.Op, reply.Body, reply.Duplicate = cached.status, cached.op,
				cached.body, true
			return reply
		}
	}
	b.mu.Lock()
	b.applications[key]++
	b.mu.Unlock()
	reply.Status, reply.Body = b.execute(request)
	if info.Write {
		b.op++
		reply.Op = b.op
		b.cache[key] = cachedReply{status: reply.Status, op: reply.Op, body: reply.Body}
	}
	return reply
}
