package shard

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
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
	// UndurableEntriesMax: with this many entries appended and not yet durable, the
	// sequencer leaves the ring alone (group commit) until the log syncs, unless the ring
	// holds a full entry's bytes (EntryBytesMax). Default UndurableEntriesMaxDefault;
	// InFlightEntriesMax or more turns the hold off.
	UndurableEntriesMax int
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
	// applied. The entry and its body are the sequencer's, reused for the next entry:
	// copy what must outlive the call.
	OnApplied func(entry *core.Entry, machine *core.Machine)
	// Acknowledger, when set, is a second durability source that replies wait for (a
	// replication group: the standby's acknowledgements in sync mode). Nil: the local log
	// only. It is fixed for the shard's life; what it answers may change (a promotion).
	Acknowledger Acknowledger
	// ReadGate, when set, holds parked reads while it says no (a primary past its
	// witness lease). Nil: reads wait for nothing but the entries before them.
	ReadGate ReadGate
	// Snapshots, when set, turns on snapshots (see SnapshotConfig).
	Snapshots *SnapshotConfig
	// Reports retains execution reports for replay; nil: a new empty store (pass the one
	// Recover filled so that reports from before a restart can be replayed). New tells it
	// the machine's last report sequence of every client, so that reports it was not
	// given (those before a restored snapshot) are answered as no longer retained.
	Reports *ReportStore
	// Consumers receive every released entry's events, in log order (see Consumer).
	Consumers []backend.Consumer
	// LogHolds keep the log a consumer still needs from being retired (see LogHold),
	// within LogHoldBytesMax.
	LogHolds []backend.LogHold
	// LogHoldBytesMax bounds the log kept for holds: when the segments after a hold's
	// snapshot exceed it, retention ignores that hold (the consumer then reports the gap).
	// Default LogHoldBytesMaxDefault.
	LogHoldBytesMax int64
	// InlineTurnsOff keeps every turn on the sequencer goroutine: SubmitDeferred wakes it
	// like Submit and TurnInline does nothing. Off by default (false): an event loop that
	// finds the shard idle runs the turn itself (inline.go).
	InlineTurnsOff bool
	// PopulateOff leaves the fresh memory the ledger will write to fault in on the
	// sequencer's first writes, as before populate.go: no populater goroutine, nothing
	// allocated ahead. Off by default (false): the populater faults it in beforehand.
	PopulateOff bool
	Logger      *slog.Logger
}

// Acknowledger is a second durability source, such as a standby in sync mode.
type Acknowledger interface {
	Acknowledged() uint64                // Highest op acknowledged.
	AcknowledgedNotify() <-chan struct{} // Signalled when Acknowledged advances.
}

// Log is what a shard needs from its write-ahead log: wal.Log, or wal.MemoryLog in tests.
type Log interface {
	wal.Appender
	// AppendStored appends a replicated entry in its stored form (a standby).
	AppendStored(stored []byte) error
	// ChainAt returns the chain hash at an entry boundary (a snapshot records it).
	ChainAt(op uint64) ([32]byte, bool)
	// Retire drops (or archives) the segments a snapshot covers.
	Retire(coveredOp uint64, archiveDir string) (int, error)
	// BytesAfter returns the size of the log holding ops after op (a consumer's hold).
	BytesAfter(op uint64) int64
}

// ReadGate (Config.ReadGate) says whether this node may answer reads from its state now:
// a primary whose witness lease has run out (it was stopped past it) may have been
// replaced, and the new primary may have acknowledged writes this node never saw. Parked
// reads wait while ReadsAllowed is false (like a write waiting for its acknowledgement;
// the Acknowledger's AcknowledgedNotify wakes the sequencer when it changes); a fenced
// node answers them outcome_unknown with the parked writes (answerFenced).
type ReadGate interface {
	ReadsAllowed() bool
}

var (
	_ Log            = (*wal.Log)(nil)
	_ Log            = (*wal.MemoryLog)(nil)
	_ deferredWriter = (*wal.Log)(nil)
)

// deferredWriter is a log that lets the sequencer write and sync an entry itself when
// the log's writer is idle (wal.Log.AppendDeferred): see doc.go, "One request at a time".
type deferredWriter interface {
	AppendDeferred(wal.Entry) error
	WriteDeferred()
}

// Outputs is where a shard's released output goes: replies and execution reports to the
// Replier, then the saga messages of the same entry to Released (a node's router; they
// may leave now: the entry is durable and, in sync mode, acknowledged). A standby
// releases its replicated entries too. Both run on the sequencer goroutine and must not
// block; what they receive is valid only during the call.
type Outputs interface {
	backend.Replier
	Released(messages []saga.Message)
}

// RepliesOnly makes a Replier the Outputs of a shard of an unsharded machine, which
// never emits saga messages.
func RepliesOnly(replier backend.Replier) Outputs { return repliesOnly{replier} }

type repliesOnly struct{ backend.Replier }

func (r repliesOnly) Released(messages []saga.Message) {
	if len(messages) > 0 {
		panic("shard: saga messages released to a replier-only output")
	}
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
	if c.UndurableEntriesMax <= 0 {
		c.UndurableEntriesMax = UndurableEntriesMaxDefault
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
	op      uint64           // Release when durable (and acknowledged) >= op.
	firstOp uint64           // First op of the entry (0: reads only).
	stamp   uint64           // The entry's timestamp.
	epoch   uint64           // The entry's epoch (of the primary that wrote it).
	reads   bool             // Holds reads' replies: released only while the ReadGate allows.
	output  core.Output      // Replies and bodies.
	origins []origin         // Who asked, for each reply, in order.
	reports []backend.Report // Reusable report delivery slice.
	replies []backend.Reply  // Reusable delivery slice.
}

// origin is who asked for a reply and when the request arrived.
type origin struct {
	connection uint64 // 0: nobody (internal or replicated); >= ConnectionIDLimit: a waiter.
	received   int64  // Monotonic ns (since process start) when Submit queued it.
	ticket     uint64 // The request's ring ticket (answerCheck).
	// refused: a full log's refusal (parkRefusal), never sequenced: counted in
	// LogFullRefusals, not in Latencies, whatever status it is answered with (a fence or
	// a failure turns it into outcome_unknown).
	refused bool
}

// Shard is one shard's runtime. Submit may be called from any goroutine; everything else
// of the sequencer (machine, entry buffer, parked outputs) belongs to its goroutine.
type Shard struct {
	config  Config
	machine *core.Machine // Owned by the sequencer goroutine.
	log     Log
	// inline is log's deferredWriter side (nil when it has none): the sequencer writes a
	// lone entry itself rather than hand it to the log's writer and wait to be woken.
	inline  deferredWriter
	outputs Outputs // From Start.
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
	stored       chan storedEntry // Replicated entries (standby).
	storedBuffer []byte           // Decompression buffer for them.

	// turns is held by whoever does the sequencer's work: the sequencer goroutine except
	// while it waits, or an event loop in TurnInline (inline.go). Everything below it,
	// and the machine, belongs to its holder.
	turns sync.Mutex
	// idle hints that the sequencer waits with nothing parked, so that a loop's turn may
	// run: SubmitDeferred then leaves the wake-up to TurnInline. Only a hint (TurnInline
	// decides under turns, and wakes the sequencer when it does not run the turn).
	idle atomic.Bool
	// iterating counts the goroutines in iterate (invariants builds: at most one).
	iterating atomic.Int32
	// inlineFailure is an error met in a turn run by an event loop: the sequencer serves
	// it (failAndServe) as soon as it holds turns again.
	inlineFailure error
	// populater faults in the ledger's fresh memory off the sequencer (populate.go); nil
	// with Config.PopulateOff. Its goroutine runs from Start until the sequencer stops.
	populater *populater

	// Sequencer state.
	cancelsRefused waitingCancels // Cancel-on-disconnects a full log refused.
	opLast         uint64
	timestamp      uint64
	deferred       bool   // An entry went to AppendDeferred: WriteDeferred before waiting.
	entry          []byte // Entry body being built.
	// applying is the entry appendAndApply hands to the machine, reused: a local one
	// escaped (OnApplied takes its address), one allocation per entry.
	applying   core.Entry
	taken      []requestMeta // Requests taken from the ring this turn.
	failedTurn []requestMeta // Requests of a turn whose append failed: answered on failure.
	refused    []requestMeta // Scratch: the writes of a turn the log had no room for.
	queries    []requestMeta // Queries of this turn, answered after the entry.
	parked     []*parked     // In release order.
	free       []*parked     // Recycled parked slots.
	// releasedOp is the op of the last parked output released (the sequencer writes it;
	// Released reads it anywhere).
	releasedOp atomic.Uint64
	// recoveredOp is the recovered machine's op. The entries up to it are durable (the
	// log holds them) but a standby may never have acknowledged them (the previous
	// process died first): they count as released once release finds them covered, like
	// any entry, so that no consumer goes beyond what a failover keeps.
	recoveredOp uint64
	// heldForGroupCommit: the last turn left the ring alone (holdForGroupCommit).
	heldForGroupCommit bool
	// takeStoppedForOrder: the last turn's take stopped before a write of a connection
	// with a read taken (inputRing.takeUpTo); the next turn takes the rest without holding.
	takeStoppedForOrder bool
	// appendForOrderStop: this turn's take stopped so (takeStoppedForOrder), and the
	// sequencer takes the rest at once, as an entry of its own: the turn's entry is left
	// with the log unwritten (AppendDeferred) and its release does not write it, so that
	// the next turn's entry joins it in the same group, one fdatasync for both. Cleared at
	// every turn's start; whoever next waits writes what is left (writeDeferred).
	appendForOrderStop bool

	ready      backend.Ready // Reused for every Consume call.
	answers    answerCheck   // Every accepted request answered once.
	stats      Stats
	statsMutex sync.Mutex
	closeOnce  sync.Once
	// snapshotWriters counts the snapshot writer goroutines (snapshot.go); Close waits
	// for them, so that none writes into the snapshot directory, or retires the log,
	// after Close returned (the log is closed then, and a start over in the same process
	// may have set the directory's snapshots aside).
	snapshotWriters sync.WaitGroup
	started         atomic.Bool // Start ran: the consumer list is fixed.
	startOnce       sync.Once   // Start runs the sequencer at most once; Close after no Start ends it.
}

// New returns a shard around a recovered machine and an open log whose last op is the
// machine's. Start begins sequencing.
func New(config Config, machine *core.Machine, log Log) (*Shard, error) {
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
	if err := checkRole(c.Role, c.Epoch); err != nil {
		return nil, err
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
		timestamp: restartStamp(machine),
		entry:     make([]byte, 0, c.EntryBytesMax),
	}
	s.inline, _ = log.(deferredWriter)
	s.snapshotNow = make(chan struct{}, 1)
	s.reports = c.Reports
	if s.reports == nil {
		s.reports = NewReportStore()
	}
	// Before anything is served, and while this goroutine still owns the machine: the
	// reports of a restored snapshot are the machine's, not the store's.
	s.reports.learn(machine)
	// The recovered machine's op is applied and durable (the log holds it), not yet
	// released: in sync mode the standby may not have it (see releaseRecovered).
	s.stats.OpLast, s.recoveredOp = machine.OpLast(), machine.OpLast()
	s.stored = make(chan storedEntry)
	s.storedBuffer = make([]byte, 0, wal.EntryBodyBytesMax)
	s.roles.word.Store(packRole(c.Role, c.Epoch))
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
	if !c.PopulateOff {
		s.populater = newPopulater()
	}
	return s, nil
}

// restartStamp is the timestamp the first entry after a recovery must exceed: the
// log's last, which the recovered machine's clock may sit one below (Apply keeps its
// clock at the entry's timestamp minus one until a request takes one, so after an entry
// whose requests took none, a grant table or a pulse, the clock is one short). With the
// wall clock behind the log at a restart (an NTP step back, a VM restored from an
// image), stamping from the machine's clock repeated the log's last timestamp, which the
// log's chain check refuses by a panic (TestHunt53cClockBehindTheLogAfterRestart). One
// above the clock is never below the log's last timestamp; how the timestamps are chosen
// is the primary's, not a rule of Apply (the log carries them), so no rules version.
func restartStamp(machine *core.Machine) uint64 { return machine.Clock() + 1 }

// AddConsumer adds an outbound stream fed from the release (see Consumer), with its log
// hold when it has one. Call it before Start: the consumer list is the sequencer's.
func (s *Shard) AddConsumer(consumer backend.Consumer, hold backend.LogHold) {
	if s.started.Load() {
		panic("shard: AddConsumer after Start")
	}
	s.config.Consumers = append(s.config.Consumers, consumer)
	if hold != nil {
		s.config.LogHolds = append(s.config.LogHolds, hold)
	}
}

// Start runs the sequencer, delivering released output to outputs (required; wrap a
// plain Replier with RepliesOnly).
func (s *Shard) Start(outputs Outputs) {
	if outputs == nil {
		panic("shard: Start without outputs")
	}
	s.startOnce.Do(func() {
		s.outputs = outputs
		s.started.Store(true)
		// Turns are the sequencer's from here until it first waits (run): a loop's
		// TurnInline before then wakes it instead.
		s.turns.Lock()
		if s.populater != nil {
			s.populater.start()
			s.machine.Ledger().SetPopulater(s.populater)
		}
		go s.run()
	})
}

var _ backend.Submitter = (*Shard)(nil)

// Submit queues a request (see Submitter). It never blocks.
func (s *Shard) Submit(request *backend.Request) model.Status {
	status, _ := s.submitClient(request, true)
	return status
}

// submitClient checks a client's request and queues it (Submit, SubmitDeferred); with
// StatusOK it also returns the requests queued once it was (inputRing.pushCounting).
func (s *Shard) submitClient(request *backend.Request, wake bool) (model.Status, int) {
	if status := core.CheckShape(request.Operation, request.Flags, request.Body, false); status != model.StatusOK {
		return status, 0
	}
	write := core.OperationWrites(request.Operation)
	if request.Number == 0 && write {
		return model.StatusInvalidBody, 0
	}
	return s.submit(request, write, wake)
}

// SubmitInternal queues one of the server's own requests: an internal operation with
// client 0 and number 0 (the node router's saga steps and its reads of saga state). Like
// Submit it never blocks and answers at once with busy, not_primary, shutting_down or a
// bad shape; an accepted request's reply reaches the Replier like a client's, unless its
// Connection is 0 (nobody waits for it).
func (s *Shard) SubmitInternal(request *backend.Request) model.Status {
	if status := core.CheckShape(request.Operation, request.Flags, request.Body, true); status != model.StatusOK {
		return status
	}
	if request.Client != 0 || request.Number != 0 {
		return model.StatusInvalidBody
	}
	status, _ := s.submit(request, core.OperationWrites(request.Operation), true)
	return status
}

// submit queues a request whose shape was checked, waking the sequencer when wake is set
// (else the caller runs TurnInline next). write says whether it goes through the log.
// With StatusOK it also returns the requests queued once it was.
func (s *Shard) submit(request *backend.Request, write bool, wake bool) (model.Status, int) {
	if request.Connection >= backend.ConnectionIDLimit {
		// A network layer bug: the reply would go to an internal waiter, not the client.
		return model.StatusInternalError, 0
	}
	if status := s.admit(write); status != model.StatusOK {
		return status, 0
	}
	if s.err.Load() != nil && (write || !s.readsSafe.Load()) {
		return model.StatusLogUnavailable, 0 // The log failed: nothing can be written.
	}
	status, depth := s.ring.pushCounting(request, write)
	if status == model.StatusOK {
		if wake {
			s.wakeUp()
		}
	} else if status == model.StatusBusy {
		s.count(func(stats *Stats) { stats.BusyReplies++ })
	}
	return status, depth
}

// Err returns the log failure the shard is serving with (or the error that stopped the
// sequencer), if any.
func (s *Shard) Err() error {
	if err := s.err.Load(); err != nil {
		return *err
	}
	return nil
}

// Close stops accepting requests, sequences and releases what was queued, and stops; it
// returns once a snapshot being written has been written (or given up), so the caller may
// close the log and reuse the snapshot directory.
func (s *Shard) Close() error {
	s.closeOnce.Do(func() {
		if dropped := s.ring.close(); dropped > 0 {
			// Their clients' orders stay open: say so, as failAndServe does.
			s.config.Logger.Error("shard: cancel-on-disconnect not logged: the shard closed",
				"clients", dropped)
		}
		close(s.stop)
	})
	// A shard that was never started (its server failed to start) has no sequencer to
	// close done; starting it now would sequence nothing, so mark it stopped instead.
	s.startOnce.Do(func() { close(s.done) })
	<-s.done
	// A writer started before the sequencer stopped (turns are kept for good then, so no
	// inline turn starts one after): one waiting for durability sees done and gives up;
	// one past that wait finishes its snapshot, with the log still open.
	if hook := testHookCloseWaitsForSnapshots.Load(); hook != nil {
		(*hook)()
	}
	s.snapshotWriters.Wait()
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
