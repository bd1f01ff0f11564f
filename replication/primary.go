package replication

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"sequent/core"
	"sequent/core/shard"
	"sequent/wal"
)

// Mode is the replication mode.
type Mode uint8

const (
	// ModeSync (the default) releases a reply only once the standby has durably written
	// its entry, so losing the primary loses no acknowledged write.
	ModeSync Mode = iota
	// ModeAsync releases replies on the primary's own durability; the standby trails. Loss
	// window: whatever the standby had not yet written when the primary is lost (bounded by
	// its lag: see Stats.LagOps).
	ModeAsync
)

func (m Mode) String() string {
	if m == ModeAsync {
		return "async"
	}
	return "sync"
}

// PrimaryConfig configures the primary's end of replication for one shard group. The
// node's gate (gate.go) accepts the connections and hands each standby hello for this
// shard to HandleHello.
type PrimaryConfig struct {
	Key           []byte                             // Shared replication secret.
	Log           *wal.Log                           // The primary's log.
	Shard         *shard.Shard                       // The primary's shard (epoch, role).
	Index         uint16                             // The shard's index in the map,
	Shards        uint16                             // the map's shard count
	MapChecksum   uint32                             // and checksum: a standby's must match.
	Fence         func(epoch uint64, address string) // Fences the whole node.
	Notify        chan struct{}                      // Signalled when Acknowledged advances (capacity 1).
	SnapshotDir   string                             // Snapshots to send a standby that is too far behind.
	Mode          Mode                               // Sync (default) or async.
	DegradeAfter  time.Duration                      // Sync: release without the standby after it is gone this long; 0 = never.
	ClientAddress string                             // This node's client address, for redirects.
	// HeartbeatInterval: the sender sends a heartbeat this often (default
	// heartbeatInterval); with a witness, at most a quarter lease, so that a standby can
	// tell a silent primary within one lease.
	HeartbeatInterval time.Duration
	// Lease, when set (a witness is configured), gates releasing on local durability
	// (async mode, or sync degraded): nothing is released that way once the lease has run
	// out, even before the lease goroutine has fenced the node (a process stopped and
	// resumed runs its goroutines in any order). Standby-acknowledged entries are on the
	// standby, so they are released whatever the lease.
	Lease  *leaseClock
	Logger *slog.Logger
}

// Primary streams the log to one standby and tracks its acknowledgements. It implements
// shard.Acknowledger for the shard's release condition.
type Primary struct {
	config    PrimaryConfig
	acked     atomic.Uint64 // Highest op the standby has durably written.
	ackNotify chan struct{} // Capacity 1.
	degraded  atomic.Bool   // Sync mode released without the standby (see DegradeAfter).
	goneSince atomic.Int64  // Unix ns since when no standby is attached; 0 when attached.
	// waitingSince is when entries sent to the standby started waiting for its
	// acknowledgement, or when it last advanced while some still wait (Unix ns); 0 when
	// nothing waits. With lastContactNs it tells a standby that acknowledges from one that
	// is attached but hung (see standbyQuietSince).
	waitingSince atomic.Int64
	// waitMutex serialises the changes of waitingSince with those of acked and of the
	// session's sentOp (sendEntry, acknowledge, attach), so that waitingSince is nonzero
	// exactly while sent entries wait: an acknowledgement racing a send would otherwise
	// clear it with an entry still waiting, and a standby that stops acknowledging then
	// would count as acknowledging for ever. The readers stay lock-free.
	waitMutex sync.Mutex
	// sentEnds (guarded by waitMutex) says where the sent entries end in the log, for
	// lag_bytes (lag_bytes.go). lagOp and lagAt (guarded by waitMutex too) are what the
	// lags count from: the op the attached standby is known to hold and where it ends
	// (the zero Position when not known). That is acked, except after a standby holding
	// less than acked attached (one rebuilt from an empty directory, or a new machine):
	// acked gates releases and never goes down, but that standby lacks what it lacks.
	sentEnds sentEndRing
	lagOp    uint64
	lagAt    wal.Position
	// caughtUpAt is the log's last op when the current standby attached: once it has
	// acknowledged that far, everything released while degraded is on the standby too,
	// and sync mode resumes.
	caughtUpAt atomic.Uint64
	// lossWindowUntil is the local durable op when releases last went back to waiting
	// for the standby: replies up to it may have been released alone (after the standby
	// attached, before the switch), so the loss window stays reported until the standby
	// has acknowledged that far.
	lossWindowUntil atomic.Uint64
	current         atomic.Pointer[primarySession]
	sessions        sync.WaitGroup
	closed          chan struct{}
	closeOnce       sync.Once
	stats           primaryCounters
	// damagedSnapshots (guarded by damagedMutex) holds the snapshot files a send showed
	// damaged (their stored body's checksum or length wrong: wal.SnapshotFileCheck), by
	// path, with the file sent: plan offers them no more (a standby refuses such a
	// snapshot, and was offered the same one at every attempt). A file written since under
	// the same path is another file (os.SameFile) and is offered again.
	damagedMutex     sync.Mutex
	damagedSnapshots map[string]os.FileInfo
}

type primaryCounters struct {
	entriesSent   atomic.Uint64
	bytesSent     atomic.Uint64
	lastSentOp    atomic.Uint64
	lastContactNs atomic.Int64
	sessions      atomic.Uint64
	degradations  atomic.Uint64
	overflows     atomic.Uint64
}

var _ shard.Acknowledger = (*Primary)(nil)

// StartPrimary starts accepting standbys.
func StartPrimary(config PrimaryConfig) *Primary {
	if config.Logger == nil {
		config.Logger = slog.Default()
	}
	if config.HeartbeatInterval <= 0 {
		config.HeartbeatInterval = heartbeatInterval
	}
	if config.Notify == nil {
		config.Notify = make(chan struct{}, 1)
	}
	p := &Primary{config: config, ackNotify: config.Notify, closed: make(chan struct{})}
	p.goneSince.Store(time.Now().UnixNano())
	// acked starts at 0: entries already in the log (a restarted primary's last writes)
	// may never have reached the standby, so nothing counts as acknowledged until a
	// standby says what it has durably written. (A promoted node starts degraded, which
	// releases without acknowledgements until its new standby has caught up.)
	p.sessions.Add(1)
	go p.watchDegradation()
	return p
}

// Acknowledged returns the highest op replies may wait for (math.MaxUint64 when they
// need not wait: async mode, or sync mode degraded, while this node is the primary and
// the witness lease holds). A fenced node releases only what the standby acknowledged:
// the rest of its log will be cut when it rejoins.
func (p *Primary) Acknowledged() uint64 {
	if (p.config.Mode == ModeAsync || p.degraded.Load()) && p.config.Lease.valid() &&
		p.config.Shard.Role() == shard.RolePrimary {
		return math.MaxUint64
	}
	return p.acked.Load()
}

// ReadsAllowed implements shard.ReadGate: reads are answered from this node's state only
// while it is the primary and its witness lease holds. Resumed after a stop past its
// lease, it may have been replaced, and its goroutines resume in any order: until its
// lease goroutine has fenced it, a read answered from here could miss writes the new
// primary acknowledged.
func (p *Primary) ReadsAllowed() bool {
	return p.config.Lease.valid() && p.config.Shard.Role() == shard.RolePrimary
}

var _ shard.ReadGate = (*Primary)(nil)

// Degraded reports whether acknowledged writes may exist on this node only: releases
// are not waiting for the standby (DegradeAfter, or a fresh promotion), or replies
// released that way are not all acknowledged yet.
func (p *Primary) Degraded() bool {
	return p.degraded.Load() || p.acked.Load() < p.lossWindowUntil.Load()
}

// AcknowledgedNotify is signalled when Acknowledged advances.
func (p *Primary) AcknowledgedNotify() <-chan struct{} { return p.ackNotify }

// Close stops accepting and ends the current session.
func (p *Primary) Close() error {
	p.closeOnce.Do(func() {
		close(p.closed)
		if s := p.current.Load(); s != nil {
			s.conn.Close()
		}
	})
	p.sessions.Wait()
	return nil
}

func (p *Primary) signal() {
	select {
	case p.ackNotify <- struct{}{}:
	default:
	}
}

// handleHello authenticates a standby of this shard, plans its catch-up and streams to
// it. h is the hello decoded (f.body[32:]); the gate routed it here by its shard.
func (p *Primary) handleHello(conn net.Conn, reader *frameReader, writer *bufio.Writer,
	f frame, h hello, nonce []byte) error {
	if len(f.body) < 32 || !verifyMAC(p.config.Key, frameHello, nonce, f.epoch, f.body[32:],
		f.body[:32]) {
		return ErrUnauthenticated
	}
	if h.shards != p.config.Shards || h.mapChecksum != p.config.MapChecksum ||
		h.shard != p.config.Index {
		return fmt.Errorf("%w: the standby's map has %d shards (checksum %08x), this "+
			"primary's %d (checksum %08x)", errShardMap, h.shards, h.mapChecksum,
			p.config.Shards, p.config.MapChecksum)
	}
	if p.config.Shard.Role() != shard.RolePrimary {
		return errFenced
	}
	if f.epoch > p.config.Shard.Epoch() {
		// The standby has followed a newer primary: we are the stale one.
		p.config.Fence(f.epoch, "")
		return fmt.Errorf("standby is at epoch %d, we are at %d: fenced", f.epoch,
			p.config.Shard.Epoch())
	}
	// Plan before attaching: a standby that cannot be planned for (its log diverged with
	// no snapshot to bridge it) must get the reason in an error frame, which the gate
	// writes after this returns; detaching closes the connection first.
	w, err := p.plan(&h)
	if err != nil {
		return err
	}
	session := &primarySession{conn: conn, writer: writer, wake: make(chan struct{}, 1),
		digests: make(chan [40]byte, digestsRememberedMax)}
	if !p.current.CompareAndSwap(nil, session) {
		return errors.New("a standby is already attached")
	}
	defer p.detach(session)
	conn.SetDeadline(time.Time{})
	if err := writeFrame(writer, frameWelcome, p.config.Shard.Epoch(), w.encode()); err != nil {
		return err
	}
	if w.plan == planSnapshot {
		if err := p.sendSnapshot(writer, w.op); err != nil {
			return err
		}
	}
	p.config.Logger.Info("replication: standby attached", "peer", conn.RemoteAddr().String(),
		"plan", w.plan.String(), "op", w.op, "standby_last_op", h.lastOp)
	p.stats.sessions.Add(1)
	p.caughtUpAt.Store(p.config.Log.LastOp())
	p.stats.lastContactNs.Store(time.Now().UnixNano())
	p.goneSince.Store(0)
	// No acknowledgement is inferred from the hello: the standby's last op may not be
	// durable on its disk yet. Its first ack, sent as soon as it streams, says what is;
	// sentOp is set first so that this ack is not clamped away. What it has and has not
	// acknowledged yet waits from now.
	p.waitMutex.Lock()
	session.sentOp.Store(w.op)
	p.sentEnds.reset()
	if w.op < p.lagOp { // It holds less than its predecessor acknowledged.
		p.lagOp, p.lagAt = w.op, wal.Position{}
	}
	p.waitingSince.Store(0)
	if p.acked.Load() < w.op {
		p.waitingSince.Store(time.Now().UnixNano())
	}
	p.waitMutex.Unlock()
	go p.readAcks(session, reader)
	return p.stream(session, w.op)
}

// plan decides how a standby continues: stream after the newest entry boundary both logs
// share; truncate the standby's divergent suffix first; or start it over from a snapshot
// when the log it needs was retired or nothing matches.
func (p *Primary) plan(h *hello) (welcome, error) {
	log := p.config.Log
	w := welcome{address: p.config.ClientAddress, rules: uint8(core.RulesVersionCurrent)}
	common, found := uint64(0), h.lastOp == 0
	for _, point := range h.points {
		if chain, ok := log.ChainAt(point.LastOp); ok && chain == point.Chain {
			common, found = point.LastOp, true
			break
		}
	}
	// The first op the log still holds: when it holds no entry, the one after its durable
	// op (its base). A log that is only a base (StartAfter: a node that started over from
	// its primary's snapshot and was promoted before writing) holds no op up to it, which
	// only its snapshot holds; streaming a standby from below it failed at once
	// (wal.ErrCompacted), at every reconnection, for as long as nothing was written.
	// Durable is read first: an entry is durable only once the log counts it, so a log
	// that counts none after that read had none durable at it. (LastOp would count an
	// entry appended meanwhile and not written yet, and skip the op it starts at.)
	durable := log.Durable()
	if hook := testHookPlanBetweenReads.Load(); hook != nil {
		(*hook)()
	}
	first := log.FirstOp()
	if first == 0 {
		first = durable + 1
	}
	if found && common+1 >= first {
		w.op = common
		w.chain, _ = log.ChainAt(common)
		w.plan = planStream
		if common < h.lastOp {
			w.plan = planTruncate
		}
		return w, nil
	}
	snapshots, err := wal.ListSnapshots(p.config.SnapshotDir)
	if err != nil {
		return w, err
	}
	damaged := ""
	for _, info := range snapshots {
		if info.Err == nil && info.Meta.Op <= log.LastOp() && info.Meta.Op+1 >= first {
			if p.sentDamaged(info.Path) {
				if damaged == "" {
					damaged = fmt.Sprintf(" (the one at op %d that would is damaged on this "+
						"node's disk, or does not read there: take a new one, 'sequent "+
						"admin snapshot')", info.Meta.Op)
				}
				continue // Its body is damaged on this disk (or unreadable there).
			}
			if chain, ok := log.ChainAt(info.Meta.Op); ok && chain != info.Meta.Chain {
				continue // Of another history (a leftover that recovery skipped too).
			}
			w.plan, w.op, w.chain = planSnapshot, info.Meta.Op, info.Meta.Chain
			return w, nil
		}
	}
	// A log with no entry is only a base, or empty: "ops 0..N" would claim ops it never
	// held.
	holds := fmt.Sprintf("ops %d..%d", log.FirstOp(), log.LastOp())
	if log.FirstOp() == 0 && log.LastOp() != 0 {
		holds = fmt.Sprintf("no entry, its base at op %d", log.LastOp())
	} else if log.FirstOp() == 0 {
		holds = "empty"
	}
	return w, fmt.Errorf("%w: standby at op %d shares no entry with this log (%s) "+
		"and no snapshot bridges the gap%s", ErrDiverged, h.lastOp, holds, damaged)
}

// testHookPlanBetweenReads, when set by a test, runs in plan between its reads of the
// log's durable op and first op: an append made durable there is the race the order of
// those reads answers.
var testHookPlanBetweenReads atomic.Pointer[func()]

// sendSnapshot streams the snapshot file at op, chunk by chunk.
func (p *Primary) sendSnapshot(writer *bufio.Writer, op uint64) error {
	snapshots, err := wal.ListSnapshots(p.config.SnapshotDir)
	if err != nil {
		return err
	}
	path := ""
	for _, info := range snapshots {
		if info.Meta.Op == op && info.Err == nil {
			path = info.Path
		}
	}
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	// The file is checked as it is sent (its stored body's checksum and length): a body
	// damaged on this disk is refused by the standby, and is offered no more.
	check, checkErr := newSnapshotFileCheck(path)
	if checkErr != nil && !snapshotDamaged(checkErr) {
		// Its header did not read for another reason than damage (out of file handles,
		// permissions, the file retired since it was listed): the file may be sound, so it
		// is not marked. This send fails; the standby reconnects and is planned again.
		p.config.Logger.Warn("replication: the snapshot for the standby could not be "+
			"checked; this send fails and the standby retries", "path", path, "op", op,
			"error", checkErr)
		return checkErr
	}
	var reader io.Reader = file
	if hook := testHookSnapshotFileRead.Load(); hook != nil {
		reader = (*hook)(path, file)
	}
	chunk := make([]byte, 16+snapshotChunkBytes)
	for offset := uint64(0); ; {
		n, err := io.ReadFull(reader, chunk[16:])
		last := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !last {
			// A bad sector (EIO) will not read next time either: the file is damaged,
			// and offered no more. Another error (out of memory, ...) says nothing of
			// the bytes: this send fails and the standby is planned again.
			err = wal.SnapshotReadFailure(path, int64(offset)+int64(n), err)
			if snapshotDamaged(err) {
				p.markDamaged(file, path, op, err)
			}
			return err
		}
		if check != nil {
			check.Write(chunk[16 : 16+n])
		}
		copy(chunk[0:8], encodeUint64s(offset))
		chunk[8] = 0
		if last {
			chunk[8] = 1
		}
		if err := writeFrame(writer, frameSnapshotChunk, p.config.Shard.Epoch(),
			chunk[:16+n]); err != nil {
			return err
		}
		offset += uint64(n)
		if last {
			if checkErr == nil {
				checkErr = check.Err()
			}
			if checkErr != nil {
				p.markDamaged(file, path, op, checkErr)
			}
			return writer.Flush()
		}
	}
}

// snapshotDamaged reports whether err (from checking a snapshot file) shows the file
// damaged or of a format this build does not read, rather than not read at all.
func snapshotDamaged(err error) bool {
	return errors.Is(err, wal.ErrSnapshotCorrupt) || errors.Is(err, wal.ErrVersion)
}

// newSnapshotFileCheck is wal.NewSnapshotFileCheck; a test makes it fail with an error
// that is not damage (testHookSnapshotFileCheck).
func newSnapshotFileCheck(path string) (*wal.SnapshotFileCheck, error) {
	if hook := testHookSnapshotFileCheck.Load(); hook != nil {
		if err := (*hook)(path); err != nil {
			return nil, err
		}
	}
	return wal.NewSnapshotFileCheck(path)
}

// testHookSnapshotFileCheck, when set by a test, runs before sendSnapshot checks a
// snapshot's header; an error it returns is taken as the check's.
var testHookSnapshotFileCheck atomic.Pointer[func(path string) error]

// testHookSnapshotFileRead, when set by a test, wraps the reader sendSnapshot reads the
// snapshot file at path through: a test makes the body's read fail part way.
var testHookSnapshotFileRead atomic.Pointer[func(path string, file io.Reader) io.Reader]

// markDamaged records the snapshot file at path (open as file) as damaged: plan offers
// it no more (sentDamaged). Logged at Error: the file stays on disk for the operator.
func (p *Primary) markDamaged(file *os.File, path string, op uint64, problem error) {
	stat, err := file.Stat()
	if err != nil {
		return
	}
	p.damagedMutex.Lock()
	if p.damagedSnapshots == nil {
		p.damagedSnapshots = make(map[string]os.FileInfo)
	}
	p.damagedSnapshots[path] = stat
	p.damagedMutex.Unlock()
	p.config.Logger.Error("replication: the snapshot sent to the standby is damaged on this "+
		"node's disk (the standby refuses it, or it does not read); it is offered no more: "+
		"an older snapshot that bridges the standby's gap is offered instead, or a newer "+
		"one once written ('sequent admin snapshot')", "path", path, "op", op, "error", problem)
}

// sentDamaged reports whether a send showed the snapshot file at path damaged (the same
// file: not one written since under that path).
func (p *Primary) sentDamaged(path string) bool {
	p.damagedMutex.Lock()
	sent, ok := p.damagedSnapshots[path]
	p.damagedMutex.Unlock()
	if !ok {
		return false
	}
	current, err := os.Stat(path)
	return err != nil || os.SameFile(sent, current)
}

// detach ends a session. The standby is gone since it stopped acknowledging, if it had
// (a hung standby dropped on the silence timeout: the DegradeAfter clock keeps running from
// when it went quiet), else since now. goneSince is stored before current is cleared, so
// that standbyQuietSince never reads a detached standby as attached.
func (p *Primary) detach(s *primarySession) {
	s.conn.Close()
	now := time.Now().UnixNano()
	gone := now
	if p.current.Load() == s {
		if quiet := p.standbyQuietSince(now); quiet != 0 {
			gone = quiet
		}
		p.goneSince.Store(gone)
	}
	p.current.CompareAndSwap(s, nil)
	p.config.Logger.Warn("replication: standby detached", "acknowledged", p.acked.Load(),
		"last_op", p.config.Log.LastOp())
}

// readAcks reads the standby's frames: acknowledgements and heartbeats.
func (p *Primary) readAcks(s *primarySession, reader *frameReader) {
	for {
		s.conn.SetReadDeadline(time.Now().Add(silenceTimeout))
		f, err := reader.read()
		if err != nil {
			s.conn.Close() // The sender notices and ends the session.
			return
		}
		p.stats.lastContactNs.Store(time.Now().UnixNano())
		switch f.kind {
		case frameAck, frameHeartbeat:
			// An ack carries the standby's durable op; a heartbeat carries its last and
			// its durable op, so a lost or early ack is made good within a heartbeat.
			count, index := 1, 0
			if f.kind == frameHeartbeat {
				count, index = 2, 1
			}
			values, err := decodeUint64s(f.body, count)
			if err != nil {
				s.conn.Close()
				return
			}
			sent := s.sentOp.Load()
			p.acknowledge(min(values[index], sent), sent) // Never beyond what was sent.
		case frameError:
			p.config.Logger.Warn("replication: standby reported an error", "error", string(f.body))
			s.conn.Close()
			return
		}
	}
}

// acknowledge raises acked to op (never lowers it), restarts the wait clock, and wakes
// the shard. sent is the last op sent to the standby as the caller saw it; the session
// may have sent more since, which then waits.
func (p *Primary) acknowledge(op, sent uint64) {
	p.waitMutex.Lock()
	if op > p.lagOp { // At most acked (raised below): a replaced standby catching up.
		p.lagOp, p.lagAt = op, p.sentEnds.acknowledge(op)
	}
	if op <= p.acked.Load() {
		p.waitMutex.Unlock()
		return
	}
	p.acked.Store(op)
	if s := p.current.Load(); s != nil {
		sent = max(sent, s.sentOp.Load())
	}
	if op >= sent {
		p.waitingSince.Store(0) // Nothing waits any more.
	} else {
		p.waitingSince.Store(time.Now().UnixNano()) // Progress: the rest wait from now.
	}
	p.waitMutex.Unlock()
	p.signal()
}

// standbyQuietSince returns since when (Unix ns) the standby has not been acknowledging,
// or 0 if it is: no standby attached (since it left), not heard from for
// standbySilenceMax (a stopped process keeps its connection open: since it was last
// heard), or entries waiting for its acknowledgement for standbySilenceMax with no
// progress (heartbeats, but a stuck disk: since the wait began). now is Unix ns. One
// attached but never heard, the first since the start (welcome, snapshot transfer), is
// still gone since the start (goneSince is cleared only once it is heard).
func (p *Primary) standbyQuietSince(now int64) int64 {
	if p.current.Load() == nil {
		return p.goneSince.Load()
	}
	contact := p.stats.lastContactNs.Load()
	if contact == 0 {
		return p.goneSince.Load()
	}
	if now-contact > int64(standbySilenceMax) {
		return contact
	}
	if waiting := p.waitingSince.Load(); waiting != 0 && now-waiting > int64(standbySilenceMax) {
		return waiting
	}
	return 0
}

// SendDigest queues the primary's state digest at a snapshot op for the standby to
// compare with its own (snapshots hook it up). Never blocks.
func (p *Primary) SendDigest(op uint64, digest [32]byte) {
	s := p.current.Load()
	if s == nil {
		return
	}
	var notice [40]byte
	copy(notice[:8], encodeUint64s(op))
	copy(notice[8:], digest[:])
	select {
	case s.digests <- notice:
		s.wakeUp()
	default:
	}
}

// watchDegradation implements DegradeAfter: in sync mode, once the standby has not been
// acknowledging for that long (gone, or attached but silent or stalled: see
// standbyQuietSince), replies are released on local durability (a documented loss
// window). A standby still attached then is disconnected, so that it re-attaches through
// the handshake and catches up like any returning standby, after which sync resumes.
func (p *Primary) watchDegradation() {
	defer p.sessions.Done()
	ticker := time.NewTicker(degradationCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-p.closed:
			return
		case <-ticker.C:
		}
		if p.config.Mode != ModeSync {
			continue
		}
		now := time.Now().UnixNano()
		quiet := p.standbyQuietSince(now)
		switch {
		case quiet != 0 && !p.degraded.Load() && p.config.DegradeAfter > 0 &&
			now-quiet >= int64(p.config.DegradeAfter):
			p.degrade(time.Duration(now - quiet))
		case p.current.Load() != nil && quiet == 0 && p.degraded.Load() &&
			p.acked.Load() >= p.caughtUpAt.Load():
			// The standby has everything written before it attached; from now on releases
			// wait for it again. (Under load the acknowledgement never catches the moving
			// end of the log, so waiting for acked >= Durable() before switching would keep
			// the primary degraded for good.) Replies released alone between the attach
			// and this switch are covered once acked passes lossWindowUntil; until then
			// Degraded() still reports the loss window. A release reads the log's durable
			// op before it asks Acknowledged, so the replies released alone go up to at
			// most the durable op read once degraded is cleared: the window ends there.
			// (Read before the clear, it missed the replies released meanwhile.) Meanwhile
			// it has no end, so a reader never sees neither degraded nor the window.
			p.lossWindowUntil.Store(math.MaxUint64)
			if testHookBackToSync != nil {
				testHookBackToSync()
			}
			p.degraded.Store(false)
			p.lossWindowUntil.Store(p.config.Log.Durable())
			p.config.Logger.Info("replication: standby caught up, back to sync",
				"acknowledged", p.acked.Load())
		}
	}
}

// testHookBackToSync, when set by a test, runs on the degradation watcher of a primary
// going back to sync just before it clears degraded (where a preemption would hold it).
var testHookBackToSync func()

// degrade starts releasing on local durability and lets a silent standby go.
func (p *Primary) degrade(quietFor time.Duration) {
	// Counted and logged before degraded is set: a release that sees it (and the reply it
	// lets go) comes after both, so whoever reads the reply finds the degradation in the
	// status and the log (TestHungStandbyDegradesAfterDegradeAfter once saw the reply and
	// the count before the log line).
	p.stats.degradations.Add(1)
	p.config.Logger.Warn("replication: standby not acknowledging, degraded to async: "+
		"acknowledged writes may be lost if this node fails now", "quiet_for", quietFor)
	p.degraded.Store(true)
	if s := p.current.Load(); s != nil {
		s.conn.Close() // The sender and the ack reader end; the standby re-attaches.
	}
	p.signal()
}
