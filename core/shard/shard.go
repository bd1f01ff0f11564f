package shard

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"sequent/core"
	"sequent/core/model"
	"sequent/wal"
)

// Config configures a shard. Zero values take the named defaults.
type Config struct {
	Epoch              uint64 // Epoch written into every entry (until a promotion).
	Role               Role   // Initial role; RolePrimary by default.
	RingBytes          int    // Input ring bytes; default RingBytesDefault.
	RingRequests       int    // Input ring requests; default RingRequestsDefault.
	EntryBytesMax      int    // Most bytes in one entry body; default EntryBytesMaxDefault.
	InFlightEntriesMax int    // Entries applied but not yet released; default 64.
	// Clock returns the wall clock in ns; the sequencer stamps max(previous+1, Clock()).
	Clock func() uint64
	// CloseTimeout bounds how long Close waits, counted from the Close call, for queued
	// replies to be released (local fsync, standby acknowledgement); what is still
	// waiting then is answered shutting_down (outcome unknown: retry). Default 5 s.
	CloseTimeout time.Duration
	// PulseInterval is how often, with no traffic, the sequencer checks whether a pulse
	// entry is due (to expire pending transfers on time). Default 100 ms.
	PulseInterval time.Duration
	// OnApplied, when set, is called on the sequencer goroutine after each entry is
	// applied.
	OnApplied func(entry *core.Entry, machine *core.Machine)
	// Snapshots, when set, turns on snapshots (see SnapshotConfig).
	Snapshots *SnapshotConfig
	// Reports retains execution reports for replay; nil: a new empty store (pass the one
	// Recover filled so that reports from before a restart can be replayed).
	Reports *ReportStore
	// Consumers receive every released entry's events, in log order (see Consumer).
	Consumers []Consumer
	// LogHolds keep the log a consumer still needs from being retired (see LogHold),
	// within LogHoldBytesMax.
	LogHolds []LogHold
	// LogHoldBytesMax bounds the log kept for holds: when the segments after a hold's
	// snapshot exceed it, retention ignores that hold (the consumer then reports the gap).
	// Default LogHoldBytesMaxDefault.
	LogHoldBytesMax int64
	Logger          *slog.Logger
}

// Acknowledger is a second durability source, such as a standby in sync mode.
type Acknowledger interface {
	Acknowledged() uint64                // Highest op acknowledged.
	AcknowledgedNotify() <-chan struct{} // Signalled when Acknowledged advances.
}

// ReadGate is implemented by an Acknowledger that knows whether this node may answer
// reads from its state now: a primary whose witness lease has run out (it was stopped
// past it) may have been replaced, and the new primary may have acknowledged writes this
// node never saw. Parked reads wait while ReadsAllowed is false (like a write waiting
// for its acknowledgement; AcknowledgedNotify wakes the sequencer when it changes); a
// fenced node answers them shutting_down at Close.
type ReadGate interface {
	ReadsAllowed() bool
}

type acknowledgerBox struct{ Acknowledger }

// SetAcknowledger makes replies wait for a standby's acknowledgement as well as the local
// log (nil: local log only). Safe from any goroutine; takes effect at the next release.
func (s *Shard) SetAcknowledger(a Acknowledger) {
	if a == nil {
		s.acknowledger.Store(nil)
	} else {
		s.acknowledger.Store(&acknowledgerBox{a})
	}
	s.wakeUp()
}

func (c Config) withDefaults() Config {
	if c.RingBytes <= 0 {
		c.RingBytes = RingBytesDefault
	}
	if c.RingRequests <= 0 {
		c.RingRequests = RingRequestsDefault
	}
	if c.EntryBytesMax <= 0 {
		c.EntryBytesMax = EntryBytesMaxDefault
	}
	if c.InFlightEntriesMax <= 0 {
		c.InFlightEntriesMax = InFlightEntriesMaxDefault
	}
	if c.Clock == nil {
		c.Clock = func() uint64 { return uint64(time.Now().UnixNano()) }
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = CloseTimeoutDefault
	}
	if c.PulseInterval <= 0 {
		c.PulseInterval = PulseIntervalDefault
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LogHoldBytesMax <= 0 {
		c.LogHoldBytesMax = LogHoldBytesMaxDefault
	}
	if c.Snapshots != nil {
		snapshots := *c.Snapshots
		if snapshots.MinimumInterval <= 0 {
			snapshots.MinimumInterval = SnapshotMinimumIntervalDefault
		}
		if snapshots.Keep <= 0 {
			snapshots.Keep = SnapshotsKeptDefault
		}
		c.Snapshots = &snapshots
	}
	return c
}

// parked is an applied entry (or a batch of reads) whose replies wait for durability.
type parked struct {
	op      uint64      // Release when durable (and acknowledged) >= op.
	firstOp uint64      // First op of the entry (0: reads only).
	stamp   uint64      // The entry's timestamp.
	reads   bool        // Holds reads' replies: released only while the ReadGate allows.
	output  core.Output // Replies and bodies.
	origins []origin    // Who asked, for each reply, in order.
	reports []Report    // Reusable report delivery slice.
	replies []Reply     // Reusable delivery slice.
}

// origin is who asked for a reply and when the request arrived.
type origin struct {
	connection uint64 // 0: nobody (internal or replicated); >= ConnectionIDLimit: a waiter.
	received   int64  // Monotonic ns (since process start) when Submit queued it.
}

// Shard is one shard's runtime. Submit may be called from any goroutine; everything else
// of the sequencer (machine, entry buffer, parked outputs) belongs to its goroutine.
type Shard struct {
	config  Config
	machine *core.Machine // Owned by the sequencer goroutine.
	log     wal.Appender
	replier Replier
	ring    *inputRing
	wake    chan struct{} // Capacity 1: input arrived.
	stop    chan struct{}
	done    chan struct{}
	err     atomic.Pointer[error]
	// readsSafe is set, before err, when the log fails while every applied entry had been
	// released: the state then holds nothing of unknown outcome, and reads go on.
	readsSafe atomic.Bool

	grants      grantsState   // The keys file's grant table, on its way to the log.
	snapshots   *snapshotter  // Nil when snapshots are off.
	snapshotNow chan struct{} // Capacity 1: an admin asked for a snapshot.

	reports      *ReportStore
	latencies    latencyRecorder
	waiters      waiters
	roles        roleState
	acknowledger atomic.Pointer[acknowledgerBox] // Nil: release on local durability.
	stored       chan storedEntry                // Replicated entries (standby).
	storedBuffer []byte                          // Decompression buffer for them.

	// Sequencer state.
	opLast     uint64
	timestamp  uint64
	entry      []byte        // Entry body being built.
	taken      []requestMeta // Requests taken from the ring this turn.
	failedTurn []requestMeta // Requests of a turn whose append failed: answered on failure.
	refused    []requestMeta // Scratch: the writes of a turn the log had no room for.
	queries    []requestMeta // Queries of this turn, answered after the entry.
	parked     []*parked     // In release order.
	free       []*parked     // Recycled parked slots.
	// releasedOp is the op of the last parked output released (the sequencer writes it;
	// Released reads it anywhere). A recovered machine's op counts as released: the log
	// holds it and nothing about it is pending.
	releasedOp atomic.Uint64
	ready      Ready // Reused for every Consume call.
	stats      Stats
	statsMutex sync.Mutex
	closeOnce  sync.Once
	started    atomic.Bool // Start ran: the consumer list is fixed.
	startOnce  sync.Once   // Start runs the sequencer at most once; Close after no Start ends it.
}

// New returns a shard around a recovered machine and an open log whose last op is the
// machine's. Start begins sequencing.
func New(config Config, machine *core.Machine, log wal.Appender) (*Shard, error) {
	c := config.withDefaults()
	if log.LastOp() != machine.OpLast() {
		return nil, fmt.Errorf("shard: log ends at op %d but the machine is at op %d",
			log.LastOp(), machine.OpLast())
	}
	if c.EntryBytesMax < core.EncodedRequestSize(model.RequestBodyBytesMax) ||
		c.EntryBytesMax > wal.EntryBodyBytesMax {
		return nil, fmt.Errorf("shard: EntryBytesMax %d outside [%d, %d]", c.EntryBytesMax,
			core.EncodedRequestSize(model.RequestBodyBytesMax), wal.EntryBodyBytesMax)
	}
	if c.RingBytes < 2*c.EntryBytesMax {
		return nil, fmt.Errorf("shard: RingBytes %d below twice EntryBytesMax", c.RingBytes)
	}
	s := &Shard{
		config:    c,
		machine:   machine,
		log:       log,
		ring:      newInputRing(c.RingBytes, c.RingRequests),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		opLast:    machine.OpLast(),
		timestamp: machine.Clock(),
		entry:     make([]byte, 0, c.EntryBytesMax),
	}
	s.snapshotNow = make(chan struct{}, 1)
	s.reports = c.Reports
	if s.reports == nil {
		s.reports = NewReportStore()
	}
	// The recovered machine's op is applied, durable (the log holds it) and released
	// (nothing about it is pending): report it until the first new entry moves them.
	s.stats.OpLast, s.stats.Released = machine.OpLast(), machine.OpLast()
	s.releasedOp.Store(machine.OpLast())
	s.stored = make(chan storedEntry)
	s.storedBuffer = make([]byte, 0, wal.EntryBodyBytesMax)
	s.roles.role.Store(int32(c.Role))
	s.roles.epoch.Store(c.Epoch)
	if c.Snapshots != nil {
		if c.Snapshots.Dir == "" {
			return nil, fmt.Errorf("shard: snapshots need a directory")
		}
		s.snapshots = &snapshotter{config: *c.Snapshots, busy: make(chan struct{}, 1),
			lastRequestOp: machine.OpLast(), lastRequest: time.Now()}
	}
	for range c.InFlightEntriesMax + 1 {
		s.free = append(s.free, &parked{})
	}
	return s, nil
}

// AddConsumer adds an outbound stream fed from the release (see Consumer), with its log
// hold when it has one. Call it before Start: the consumer list is the sequencer's.
func (s *Shard) AddConsumer(consumer Consumer, hold LogHold) {
	if s.started.Load() {
		panic("shard: AddConsumer after Start")
	}
	s.config.Consumers = append(s.config.Consumers, consumer)
	if hold != nil {
		s.config.LogHolds = append(s.config.LogHolds, hold)
	}
}

// Start runs the sequencer, delivering replies to replier.
func (s *Shard) Start(replier Replier) {
	s.startOnce.Do(func() {
		s.replier = replier
		s.started.Store(true)
		go s.run()
	})
}

var _ Submitter = (*Shard)(nil)

// Submit queues a request (see Submitter). It never blocks.
func (s *Shard) Submit(request *Request) model.Status {
	info, _ := request.Operation.Info()
	if status := core.CheckShape(request.Operation, request.Flags, request.Body, false); status != model.StatusOK {
		return status
	}
	if request.Number == 0 && info.Write {
		return model.StatusInvalidBody
	}
	if request.Connection >= ConnectionIDLimit {
		// A network layer bug: the reply would go to an internal waiter, not the client.
		return model.StatusInternalError
	}
	if status := s.admit(info.Write); status != model.StatusOK {
		return status
	}
	if s.err.Load() != nil && (info.Write || !s.readsSafe.Load()) {
		return model.StatusLogUnavailable // The log failed: nothing can be written.
	}
	status := s.ring.push(request, info.Write)
	if status == model.StatusOK {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	} else if status == model.StatusBusy {
		s.count(func(stats *Stats) { stats.BusyReplies++ })
	}
	return status
}

// Err returns the log failure the shard is serving with (or the error that stopped the
// sequencer), if any.
func (s *Shard) Err() error {
	if err := s.err.Load(); err != nil {
		return *err
	}
	return nil
}

// Close stops accepting requests, sequences and releases what was queued, and stops.
func (s *Shard) Close() error {
	s.closeOnce.Do(func() {
		s.ring.close()
		close(s.stop)
	})
	// A shard that was never started (its server failed to start) has no sequencer to
	// close done; starting it now would sequence nothing, so mark it stopped instead.
	s.startOnce.Do(func() { close(s.done) })
	<-s.done
	return s.Err()
}

// Done is closed when the sequencer has stopped, which happens only after Close: a shard
// whose log failed keeps answering (see doc.go) until then.
func (s *Shard) Done() <-chan struct{} { return s.done }

func (s *Shard) fail(err error) {
	s.err.CompareAndSwap(nil, &err)
	s.config.Logger.Error("shard: LOG FAILED: writes are refused (log_unavailable) until "+
		"the node is restarted; fix the cause (disk, file system) first", "error", err)
}

// errStopped ends the sequencer loop after a clean close.
var errStopped = errors.New("shard: stopped")
