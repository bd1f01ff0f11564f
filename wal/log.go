package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Entry is one sequencer batch. Ops are 1-based and contiguous across entries:
// next.FirstOp == prev.FirstOp + prev.Count.
type Entry struct {
	Epoch     uint64 // failover epoch of the primary that wrote it; never decreases
	FirstOp   uint64 // first op of the batch
	Count     uint32 // commands in the batch, at least 1
	Timestamp uint64 // batch timestamp, ns since the Unix epoch; strictly increasing
	Body      []byte // raw body, opaque to wal, at most EntryBodyBytesMax bytes
}

// LastOp is the entry's last op.
func (e Entry) LastOp() uint64 { return e.FirstOp + uint64(e.Count) - 1 }

// EntryMeta describes an entry as written, for the observer (replication).
type EntryMeta struct {
	Epoch       uint64
	FirstOp     uint64
	Count       uint32
	Timestamp   uint64
	Segment     uint64 // this log's segment number (restamped on a standby)
	Offset      int64  // offset of the entry header in the segment
	Codec       Codec  // codec of the stored body
	StoredBytes uint32 // stored body bytes (the stored slice is entryHeaderSize more)
	RawBytes    uint32
	Chain       [32]byte
}

// SyncPolicy says when the writer calls fdatasync.
type SyncPolicy uint8

const (
	// SyncEvery (the default) syncs every group commit before publishing it as durable.
	SyncEvery SyncPolicy = iota
	// SyncInterval writes every group at once but syncs at most every SyncInterval;
	// Durable advances at each sync. A crash loses at most one interval of entries.
	SyncInterval
	// SyncNone never syncs (except at segment roll and Close) and publishes entries as
	// durable once written. Benchmarks only: Open logs a loud warning.
	SyncNone
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncEvery:
		return "every"
	case SyncInterval:
		return "interval"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("sync(%d)", uint8(p))
}

// Options configure Open. Zero values take the named defaults.
type Options struct {
	Dir          string        // directory holding the segments, created if missing
	SegmentBytes int64         // segment file size; default SegmentBytesDefault
	Sync         SyncPolicy    // default SyncEvery
	SyncInterval time.Duration // period for SyncInterval; default SyncIntervalDefault
	Compression  Codec         // default CodecAuto (s2 when it pays); or CodecNone, ...
	// TruncateCorrupt is the operator's explicit consent to cut the log at the first bad
	// entry even in the middle, keeping the damaged files aside as *.corrupt. By default
	// Open refuses a log damaged anywhere but at a torn tail.
	TruncateCorrupt bool
	PipelineDepth   int // entries queued to the writer; default PipelineDepthDefault
	EncoderCount    int // goroutines compressing large bodies; default EncoderCountDefault
	Logger          *slog.Logger
}

// withDefaults returns the options with defaults filled in, or an error naming the first
// invalid one.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("wal: Options.Dir is empty")
	}
	o.SegmentBytes = defaultTo(o.SegmentBytes, SegmentBytesDefault)
	o.SyncInterval = defaultTo(o.SyncInterval, SyncIntervalDefault)
	o.PipelineDepth = defaultTo(o.PipelineDepth, PipelineDepthDefault)
	o.EncoderCount = defaultTo(o.EncoderCount, EncoderCountDefault)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.SegmentBytes < SegmentBytesMin || o.SegmentBytes > SegmentBytesMax:
		return o, fmt.Errorf("wal: SegmentBytes %d outside [%d, %d]",
			o.SegmentBytes, SegmentBytesMin, SegmentBytesMax)
	case o.Sync > SyncNone:
		return o, fmt.Errorf("wal: unknown sync policy %d", o.Sync)
	case o.SyncInterval < 0 || o.SyncInterval > syncIntervalMax:
		return o, fmt.Errorf("wal: SyncInterval %v outside (0, %v]", o.SyncInterval, syncIntervalMax)
	case o.Compression > CodecZstd:
		return o, fmt.Errorf("wal: unknown codec %d", o.Compression)
	case o.PipelineDepth < 1 || o.PipelineDepth > pipelineDepthMax:
		return o, fmt.Errorf("wal: PipelineDepth %d outside [1, %d]", o.PipelineDepth, pipelineDepthMax)
	case o.EncoderCount < 1 || o.EncoderCount > encoderCountMax:
		return o, fmt.Errorf("wal: EncoderCount %d outside [1, %d]", o.EncoderCount, encoderCountMax)
	}
	return o, nil
}

func defaultTo[T comparable](value, fallback T) T {
	var zero T
	if value == zero {
		return fallback
	}
	return value
}

// Appender is the narrow interface the sequencer writes through. *Log and *MemoryLog
// implement it.
type Appender interface {
	Append(Entry) error
	Durable() uint64
	DurableNotify() <-chan struct{}
	Err() error
	Close() error
	LastOp() uint64
}

var (
	_ Appender  = (*Log)(nil)
	_ io.Closer = (*Log)(nil)
)

// Log is an open write-ahead log. See doc.go for the threading model: Append,
// AppendStored, StartAfter, TruncateAfter and Close belong to one appending goroutine;
// Durable, DurableNotify, Err, LastOp, FirstOp, LastChain, ChainAt, Read and Retire may be
// called from any goroutine.
type Log struct {
	options Options // immutable after Open
	logger  *slog.Logger
	lock    *os.File // flock on the directory's LOCK file, held until Close

	appender appenderState // owned by the appending goroutine
	pipeline pipeline      // slots shared by appender, encoders and writer (see pipeline.go)
	writer   writerState   // owned by whoever holds writing (see below)
	// writing is held by the goroutine writing groups: the writer goroutine, or the
	// appending goroutine in WriteDeferred when it finds the writer idle (deferred.go). It
	// owns writer and the active segment file, and orders the two writers' accesses.
	writing sync.Mutex

	lastOp        atomic.Uint64 // last op appended; written by the appender only
	durable       atomic.Uint64 // highest durable op; written with writing held
	durableNotify chan struct{} // capacity 1, non-blocking send when durable advances
	// durableSubscribers are further capacity-1 channels signalled like durableNotify
	// (SubscribeDurable), for a second reader such as the replication ack sender.
	durableSubscribers atomic.Pointer[[]chan struct{}]
	// tails are the open Follow tails, fed by the writer with every entry it writes.
	tails     atomic.Pointer[[]*Tail]
	failure   atomic.Pointer[error]
	observer  atomic.Pointer[func(stored []byte, meta EntryMeta)]
	closed    atomic.Bool
	stats     stats     // counters, written by the writer
	latencies latencies // write and fdatasync durations, recorded by the writer

	// maintenanceMutex serialises Retire and TruncateAfter, which both reshape the
	// segment index. Lock order: maintenanceMutex, then segmentsMutex, then chainsMutex.
	maintenanceMutex sync.Mutex

	// segments is the index of segment files in use, oldest first; the last one is the
	// active segment. The writer appends and updates; Retire removes from the front;
	// readers look up. Guarded by segmentsMutex, never held across I/O on the log's
	// files except open(2).
	segmentsMutex sync.Mutex
	segments      []segmentInfo

	// chains answers ChainAt and LastChain: the writer records each entry's chain hash
	// once the entry is sealed. Guarded by chainsMutex; chainsCond signals new seals.
	chainsMutex sync.Mutex
	chainsCond  sync.Cond
	chains      chainRing

	control         chan controlRequest  // appender → writer: truncate, start, close
	prepareRequests chan uint64          // writer → preparer: segment number to create (0: abandon)
	prepared        chan preparedSegment // preparer → writer, capacity 1
	room            room                 // space accounting for a full disk (room.go)
	goroutines      sync.WaitGroup       // writer and preparer
	encoders        sync.WaitGroup       // encoder goroutines
}

// segmentInfo is the index entry of one segment in use.
type segmentInfo struct {
	Number    uint64
	Path      string
	Bytes     int64  // segment size
	Entries   int    // entries written
	FirstOp   uint64 // 0 if no entries
	LastOp    uint64 // 0 if no entries
	EndOffset int64  // offset after the last entry
}

// Open opens or creates the log in options.Dir. Recovery happens here: every segment is
// scanned and checked (checksums, chain, op sequence); a torn tail is truncated and
// logged; damage elsewhere makes Open fail with an error wrapping ErrCorrupt, ErrVersion
// or ErrMissingSegment that names the segment and offset, unless TruncateCorrupt.
func Open(options Options) (*Log, error) {
	options, err := options.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := MakeDirectoryDurably(options.Dir); err != nil {
		return nil, err
	}
	lock, err := lockDirectory(options.Dir)
	if err != nil {
		return nil, err
	}
	state, err := recoverDirectory(options)
	if err != nil {
		lock.Close()
		return nil, err
	}
	l := newLog(options, lock, state)
	if options.Sync == SyncNone {
		l.logger.Warn("WAL SYNC POLICY IS NONE: NOTHING IS FSYNCED; A CRASH OR POWER LOSS "+
			"LOSES ACKNOWLEDGED DATA. BENCHMARKS ONLY.", "dir", options.Dir)
	}
	if err := l.start(state); err != nil {
		lock.Close()
		return nil, err
	}
	return l, nil
}

// lockDirectory takes an exclusive flock on dir/LOCK so that two processes never write
// the same log.
func lockDirectory(dir string) (*os.File, error) {
	file, err := os.OpenFile(dir+"/LOCK", os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		file.Close()
		return nil, fmt.Errorf("wal: %s is in use by another process: %w", dir, err)
	}
	return file, nil
}

// FirstOp is the oldest op still in the log, 0 if it holds no entry.
func (l *Log) FirstOp() uint64 {
	l.segmentsMutex.Lock()
	defer l.segmentsMutex.Unlock()
	for i := range l.segments {
		if l.segments[i].Entries > 0 {
			return l.segments[i].FirstOp
		}
	}
	return 0
}

// LastOp is the last op appended (accepted by Append or AppendStored, durable or not), or
// the base set by StartAfter; 0 if the log is empty.
func (l *Log) LastOp() uint64 { return l.lastOp.Load() }

// Durable is the highest op durable under the sync policy. Every op up to it is on disk
// (with SyncNone: written). It only moves forward, except through TruncateAfter.
func (l *Log) Durable() uint64 { return l.durable.Load() }

// DurableNotify receives a value (capacity 1, sends never block) whenever Durable
// advances. Read Durable after each receive.
func (l *Log) DurableNotify() <-chan struct{} { return l.durableNotify }

// Err is the sticky I/O error: after a failed write or fdatasync the log writes nothing
// more and Durable never advances again (a failed fsync is never retried, since the page
// cache may have dropped the dirty pages). Recovery is to Close and reopen.
func (l *Log) Err() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// fail records the first I/O error.
func (l *Log) fail(err error) {
	if l.failure.CompareAndSwap(nil, &err) {
		l.logger.Error("wal: I/O failure, log stopped", "dir", l.options.Dir, "error", err)
		l.chainsMutex.Lock()
		l.chainsCond.Broadcast() // wake LastChain waiters: no more seals will come
		l.chainsMutex.Unlock()
	}
}

// publishDurable advances Durable and signals DurableNotify. With writing held only.
func (l *Log) publishDurable(op uint64) {
	if op <= l.durable.Load() {
		return
	}
	l.durable.Store(op)
	select {
	case l.durableNotify <- struct{}{}:
	default:
	}
	if subscribers := l.durableSubscribers.Load(); subscribers != nil {
		for _, subscriber := range *subscribers {
			select {
			case subscriber <- struct{}{}:
			default:
			}
		}
	}
}

// SetObserver installs fn, called on the goroutine writing (the writer, or the appender in
// WriteDeferred) with each entry's exact stored bytes (header and stored body) right after
// they are written and before their fdatasync completes, so that shipping to a standby
// overlaps the local sync. The slice is valid only during the call. nil removes the
// observer.
func (l *Log) SetObserver(fn func(stored []byte, meta EntryMeta)) {
	if fn == nil {
		l.observer.Store(nil)
		return
	}
	l.observer.Store(&fn)
}

// Close drains the pipeline, syncs, stops the goroutines and closes the files. It returns
// the sticky error if the log failed. Appending goroutine only.
func (l *Log) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	// Wait for a Retire (or TruncateAfter) already running: once Close returns, the
	// caller may move the directory and reuse its name; later ones see closed.
	l.maintenanceMutex.Lock()
	l.maintenanceMutex.Unlock() //nolint:staticcheck // A barrier, not a critical section.
	reply := l.request(controlRequest{kind: controlClose})
	close(l.pipeline.encodeQueue)
	l.encoders.Wait()
	close(l.prepareRequests)
	l.goroutines.Wait()
	select {
	case p := <-l.prepared:
		if p.file != nil {
			p.file.Close()
		}
	default:
	}
	l.lock.Close()
	if err := l.Err(); err != nil {
		return err
	}
	return reply.err
}

// Stats are cumulative counters of the writer, for monitoring and tests.
type Stats struct {
	Entries      uint64 `json:"entries"`       // entries written
	Groups       uint64 `json:"groups"`        // group commits (one pwritev per segment touched)
	Syncs        uint64 `json:"syncs"`         // fdatasync calls
	Rolls        uint64 `json:"rolls"`         // segment switches
	StoredBytes  uint64 `json:"stored_bytes"`  // entry bytes written, headers included
	RawBytes     uint64 `json:"raw_bytes"`     // raw body bytes of the entries written
	InlineGroups uint64 `json:"inline_groups"` // groups the appender wrote itself (WriteDeferred), also in Groups
}

// stats holds Stats as atomics so any goroutine may read them.
type stats struct {
	entries, groups, syncs, rolls, storedBytes, rawBytes, inlineGroups atomic.Uint64
}

// Stats returns the writer's counters. Any goroutine.
func (l *Log) Stats() Stats {
	s := &l.stats
	return Stats{Entries: s.entries.Load(), Groups: s.groups.Load(), Syncs: s.syncs.Load(),
		Rolls: s.rolls.Load(), StoredBytes: s.storedBytes.Load(), RawBytes: s.rawBytes.Load(),
		InlineGroups: s.inlineGroups.Load()}
}
