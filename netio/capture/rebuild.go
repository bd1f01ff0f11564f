package capture

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"time"

	"github.com/nats-io/nats.go"

	"sequent/core"
	"sequent/wal"
)

// listSnapshots is wal.ListSnapshots; tests make a snapshot's header read fail through it.
var listSnapshots = wal.ListSnapshots

// unreadable reports whether a listed snapshot's header could not be read for a reason
// other than damage (out of file descriptors, an I/O error): it may read at the next
// attempt, so capture neither holds the log as if it were gone nor publishes capture_gap
// for the ops it would rebuild (its name says its op; ListSnapshots keeps that).
func unreadable(info *wal.SnapshotInfo) bool {
	return info.Err != nil && !errors.Is(info.Err, wal.ErrSnapshotCorrupt) &&
		!errors.Is(info.Err, wal.ErrVersion)
}

// errCaughtUp ends a drain of the log at the point where the live queue takes over (or
// at the released op, beyond which nothing may be published yet).
var errCaughtUp = errors.New("capture: caught up")

// rebuild publishes the events after the stream's position that the live queue does
// not hold: it restores the newest snapshot at or before the position, replays the log
// from there through a wal.Tail with its own machine (events are a pure function of the
// log, so they come out identical, names included), publishes those after the position,
// and stops where the live queue starts (joinOp), which it then hands over to live.
func (c *Capture) rebuild() error {
	c.rebuilds.Add(1)
	machine, err := c.restore()
	if err != nil {
		return err
	}
	c.mutex.Lock()
	c.queue.Reset()
	c.releases = c.releases[:0]
	c.lost, c.joining, c.joinOp = true, true, 0
	c.mutex.Unlock()
	if machine == nil {
		return c.skipToLive()
	}
	tail := c.config.Log.Follow(machine.OpLast(), wal.TailOptions{})
	defer tail.Close()
	var output core.Output
	for {
		if !c.config.Serving() {
			return errNotServing // Fenced or demoted while catching up.
		}
		if err := c.waitInterrupted(); err != nil {
			return err // NATS went away, or the stream was made again, while it waited.
		}
		joinOp := c.joined()
		if joinOp != 0 && machine.OpLast()+1 >= joinOp {
			return c.awaitAll() // The live queue holds everything from here on.
		}
		released := c.config.Released()
		_, err := tail.Drain(func(stored []byte, meta wal.EntryMeta) error {
			last := meta.FirstOp + uint64(meta.Count) - 1
			if last > released || (joinOp != 0 && meta.FirstOp >= joinOp) {
				return errCaughtUp
			}
			return c.replay(machine, &output, stored)
		})
		if err != nil && !errors.Is(err, errCaughtUp) {
			return err
		}
		if err := c.awaitAll(); err != nil { // Caught up for now: settle the position.
			return err
		}
		c.setHandled(machine.OpLast()) // Replayed and stored through it, events or not.
		select {
		case <-c.stop:
			return errStopped
		case <-tail.Wake():
		case <-time.After(livePollInterval):
		}
	}
}

// joined returns the first op of the live queue once Consume has accepted one.
func (c *Capture) joined() uint64 {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	return c.joinOp
}

// replay applies one stored entry to the rebuilding machine and publishes its events
// after the stream's position.
func (c *Capture) replay(machine *core.Machine, output *core.Output, stored []byte) error {
	entry, _, err := wal.DecodeStored(stored, nil)
	if err != nil {
		return err
	}
	output.Reset()
	if err := machine.Apply(&core.Entry{FirstOp: entry.FirstOp, Timestamp: entry.Timestamp,
		Body: entry.Body}, output); err != nil {
		return fmt.Errorf("capture: rebuild at op %d: %w", entry.FirstOp, err)
	}
	c.rebuilt[0] = release{end: output.Events.Len(), epoch: entry.Epoch}
	return c.publish(&output.Events, c.rebuilt[:])
}

// restore returns a machine at or before the stream's position: the newest usable
// snapshot at or before it that the log continues, or an empty machine when the log
// starts at op 1. When the log needed was retired (capture was down longer than the
// configured hold allows), it publishes a capture_gap message naming the ops lost and
// resumes from the oldest snapshot the log continues. A snapshot the log does not
// continue (older than the log's first op less one: a leftover of the node's life before
// it was rebuilt from a newer snapshot) is never used: the log could not be replayed
// from it, and every session would fail on the ops between. Nor is one of another
// history (wal.SnapshotMeta.OfAnotherHistory: a leftover that shard recovery skips too),
// which replayed under the log would publish events of neither history; it can never be
// used, so it counts as damaged. Nil without an error: no snapshot the log continues can
// ever be read (each is damaged), so nothing before the live queue can be rebuilt
// (skipToLive).
func (c *Capture) restore() (*core.Machine, error) {
	snapshots, err := listSnapshots(c.config.SnapshotDir)
	if err != nil && c.config.SnapshotDir != "" {
		return nil, err
	}
	first := c.logStart()
	var later []*wal.SnapshotInfo // Readable headers after the position, newest first.
	var skipped *wal.SnapshotInfo
	var failed error // A load that failed for a reason that may pass.
	damaged := false
	for i := range snapshots {
		info := &snapshots[i]
		if info.Meta.Op+1 < first {
			continue // The log does not continue it: the ops between are in neither.
		}
		if unreadable(info) {
			skipped = info // The oldest one: listed newest first.
		}
		if info.Err != nil {
			damaged = damaged || !unreadable(info)
			continue
		}
		if info.Meta.OfAnotherHistory(c.config.Log) {
			damaged = true // Never usable (recovery skips it too): counted as damaged.
			continue
		}
		if !c.replaysPosition(info.Meta.Op) {
			later = append(later, info)
			continue
		}
		machine, err := loadSnapshot(c.config.Machine, info)
		if err == nil {
			return machine, nil
		}
		if isDamage(err) {
			damaged = true // Then an older one will do.
		} else {
			failed = err
		}
	}
	if first <= 1 {
		return core.New(c.config.Machine), nil
	}
	if failed != nil {
		// One at or before the position may load at the next attempt: no gap meanwhile.
		return nil, fmt.Errorf("capture: not publishing capture_gap after op %d while a "+
			"snapshot cannot be loaded: %w", c.at.op, failed)
	}
	for i := len(later) - 1; i >= 0; i-- { // Oldest first: the smallest gap.
		info := later[i]
		machine, err := loadSnapshot(c.config.Machine, info)
		if err != nil {
			if !isDamage(err) {
				return nil, err // It may read at the next attempt.
			}
			damaged = true
			continue
		}
		return c.resumeFrom(machine, info, skipped)
	}
	switch {
	case skipped != nil:
		return nil, fmt.Errorf("capture: not publishing capture_gap after op %d while a "+
			"snapshot cannot be read: %w", c.at.op, skipped.Err)
	case damaged:
		return nil, nil
	}
	return nil, fmt.Errorf("capture: the log starts at op %d and no snapshot is usable", first)
}

// replaysPosition reports whether a snapshot at op is one to rebuild the position from:
// before the position's op, or at it when the whole op is in the stream (a gap marker);
// the position's own op may have events the stream lacks.
func (c *Capture) replaysPosition(op uint64) bool {
	return op < c.at.op || (c.at.index == math.MaxUint32 && op <= c.at.op)
}

// logStart returns the first op the log can replay: its first entry's, or after its base
// when it holds none yet. An empty log (FirstOp 0) continues after its base (StartAfter,
// or TruncateAfter down to it), which is then its Durable. Not LastOp: that counts an
// entry appended and not yet written, which FirstOp does not (the shard's next entry may
// be in flight). Durable first: when FirstOp, read after, still finds no entry written,
// none was durable when Durable was read, so it was the base.
func (c *Capture) logStart() uint64 {
	durable := c.config.Log.Durable()
	first := c.config.Log.FirstOp()
	if first == 0 {
		first = durable + 1
	}
	return first
}

// resumeFrom resumes from a snapshot after the stream's position that the log continues:
// the ops between are lost (capture_gap), unless the snapshot is at the position's op.
func (c *Capture) resumeFrom(machine *core.Machine, info, skipped *wal.SnapshotInfo) (
	*core.Machine, error) {
	if info.Meta.Op == c.at.op {
		// A snapshot at the position's op, and the log starts after it (a standby
		// bootstrapped from that snapshot, then promoted): no op after the position was
		// lost. Only the position's op itself cannot be checked: were its events
		// published in part (a publisher stopped between two of them), the rest cannot
		// be rebuilt.
		c.warnPartlyStored("capture: resuming from a snapshot at the stream's last op; "+
			"its events after the last one stored, if any, cannot be rebuilt", c.at)
		return machine, nil
	}
	if skipped != nil && skipped.Meta.Op < info.Meta.Op {
		// A gap is for good: the older snapshot that could not be read may be the one to
		// rebuild from; the next session reads it again (and names it while it fails).
		return nil, fmt.Errorf("capture: not publishing capture_gap for ops %d-%d while a "+
			"snapshot cannot be read: %w", c.at.op+1, info.Meta.Op, skipped.Err)
	}
	// The snapshot names the epoch of the entry at its op, unless the log still holds it
	// (gapEpoch prefers the log's: an old standby's snapshot may name a wrong one).
	return machine, c.publishGap("the log they need was retired", c.at.op+1, info.Meta.Op,
		info.Meta.Epoch, false)
}

// isDamage reports whether a snapshot failed to load for good, not for a reason that may
// pass: the file could not be opened (an *fs.PathError: out of file descriptors, an I/O
// error, removed since it was listed). Everything else comes from reading what it holds
// (wal.ErrSnapshotCorrupt, wal.ErrVersion, and a state that does not decode: core's,
// and the ledger's, matching's, risk rules' and sagas' own invalid-snapshot errors,
// which a list of known ones missed) and would fail the same way at every attempt.
func isDamage(err error) bool {
	var notOpened *fs.PathError
	return !errors.As(err, &notOpened)
}

// skipToLive resumes at the live queue when nothing before it can be rebuilt: every
// snapshot the log continues is damaged, and the state before the log's first op exists
// nowhere else. Waiting for a new snapshot would stop capture until the shard writes one
// (never, with snapshots on demand only), and would lose as many ops, since that one
// would be of the state then. The queue was opened (rebuild) before the released op is
// read here, so every later op reaches it: capture_gap names the ops after the position
// through the released op (their events are lost), or through the op before the queue's
// first when the queue took one in before the released op was read (the shard consumes
// an entry before it counts it released: that op's events are in the queue, and a gap
// through it would have them dropped as settled). Ops released before the queue's
// first that were not counted then (a shard releasing what it recovered as capture
// starts) get a second capture_gap once the queue is joined. Everything it publishes is
// stored when it returns (publishGap awaits its marker): live follows with nothing in
// flight.
func (c *Capture) skipToLive() error {
	const reason = "no snapshot the log continues can be read (damaged), so nothing " +
		"before the live queue can be rebuilt"
	start := c.at
	released := c.config.Released()
	if joinOp := c.joined(); joinOp != 0 { // Read after the released op: see above.
		released = min(released, joinOp-1)
	}
	if err := c.gapThrough(reason, released); err != nil {
		return err
	}
	joinOp := c.joined()
	for ; joinOp == 0; joinOp = c.joined() {
		if !c.config.Serving() {
			return errNotServing
		}
		if err := c.waitInterrupted(); err != nil {
			return err
		}
		select {
		case <-c.stop:
			return errStopped
		case <-time.After(livePollInterval):
		}
	}
	if err := c.gapThrough(reason, joinOp-1); err != nil {
		return err
	}
	if start.op > 0 && start.index != math.MaxUint32 && joinOp > start.op {
		// The position was an event, and the queue starts after its op: were that op's
		// events stored in part (a session ended between two of them), the rest are
		// lost. The stream cannot tell, and capture_gap names the ops after it only: a
		// marker naming that op would mostly be a false alarm (sessions end between ops
		// far more often than inside one), so the loss is logged, as in resumeFrom.
		c.warnPartlyStored("capture: resuming at the live queue after the stream's "+
			"last op; its events after the last one stored, if any, cannot be rebuilt", start)
	}
	return nil
}

// warnPartlyStored logs that the events of at's op after at, if the stream holds that
// op in part, are lost (resumeFrom, skipToLive: nothing can rebuild them). Not when this
// node stored at itself as its entry's last event (a session that ended after a whole
// op: a NATS blip, a failed publish), and once per position: every session that starts
// from the same position (NATS blips while no snapshot the log continues can be read
// and nothing more is published) would report the same possible loss again. The stream
// cannot tell the rest, so after a restart the warning still fires for whole ops.
func (c *Capture) warnPartlyStored(message string, at position) {
	if at == c.entryEndStored || at == c.partlyStoredWarned {
		return
	}
	c.partlyStoredWarned = at
	c.config.Logger.Warn(message, "stream", c.stream, "op", at.op, "index", at.index)
}

// gapThrough publishes capture_gap for the ops after the position through op, if any.
func (c *Capture) gapThrough(reason string, op uint64) error {
	if from := c.at.op + 1; from <= op {
		return c.publishGap(reason, from, op, 0, false)
	}
	return nil
}

// gapEpoch returns the epoch of the entry holding op, which a capture_gap through op
// carries in its id and JSON: the local log's entry; when the log does not hold op, the
// Meta.Epoch of a snapshot at op (snapshotEpoch when the caller has read one, 0 if not),
// or 0: the marker names no entry, is published without an epoch, as before gaps had
// one, and counts as agreeing with any log, as a retired op does. The log comes first: a
// snapshot a standby wrote before snapshots named their entry's epoch names its own,
// newer one, an entry no log holds. The entry names the history the marker settles:
// only the primary of that epoch wrote an entry of that epoch at op, so a node whose log
// holds another entry there (a failover discarded one of the two) sees the divergence,
// and two primaries' markers through the same op have the same id (JetStream's duplicate
// window drops the second) only when they share that entry, so all of the history
// before it.
func (c *Capture) gapEpoch(op, snapshotEpoch uint64) (uint64, error) {
	if c.config.Log == nil || op == 0 {
		return snapshotEpoch, nil
	}
	span, retired, err := c.entryAt(op)
	if err != nil {
		return 0, err
	}
	if !retired && span.epoch != 0 {
		return span.epoch, nil
	}
	if snapshotEpoch != 0 || c.config.SnapshotDir == "" {
		return snapshotEpoch, nil
	}
	// The log starts after op (a node bootstrapped from a snapshot at op, or its older
	// segments retired): a snapshot at op names the entry. One whose header cannot be
	// read names nothing; the listing's error is not the marker's concern.
	snapshots, _ := listSnapshots(c.config.SnapshotDir)
	for i := range snapshots {
		if info := &snapshots[i]; info.Err == nil && info.Meta.Op == op {
			return info.Meta.Epoch, nil
		}
	}
	return 0, nil
}

func loadSnapshot(config core.Config, info *wal.SnapshotInfo) (*core.Machine, error) {
	_, reader, err := wal.OpenSnapshot(info.Path)
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	return core.Restore(config, reader)
}

// publishGap records in the stream that the events of ops from..op were lost (the log
// holding them was retired beyond the configured hold, or the stream lost its last
// message: publishLostPosition), as a capture_gap message with id shard:op:gap:epoch, so
// consumers see the loss instead of silence. Publishing resumes after op. The epoch is
// that of the entry holding op (gapEpoch: the local log's, or a snapshot's at op:
// snapshotEpoch when the caller has read one), as an event's: the marker settles ops of
// one history, and the next primary checks it against its own log as it checks an event
// (agrees). lostPosition:
// publishLostPosition's marker, whose id an earlier session (or an old primary) may have
// stored in a message the stream lost since (a duplicate at or before the kept last
// sequence: acknowledged).
//
// The loss is counted (Gaps, which operators alert on) and logged only once the marker
// is stored: a marker that fails (NATS gone, a second writer) is published again by the
// next session, and counted then, once; a fenced node publishes none and counts none (its
// successor names the loss). A marker acknowledged as a duplicate was stored before, by
// whoever counted it then. A marker stored without its acknowledgement reaching this node
// is the next session's position, so never published again and never counted: the figure
// errs low there rather than counting every retry.
func (c *Capture) publishGap(reason string, from, op, snapshotEpoch uint64, lostPosition bool) error {
	if !c.config.Serving() {
		return errNotServing
	}
	epoch, err := c.gapEpoch(op, snapshotEpoch)
	if err != nil {
		return err
	}
	id := fmt.Sprintf("%d:%d:gap", c.config.Shard, op)
	body := fmt.Sprintf(`{"schema":%d,"id":%q,"shard":%d,"op":%d,"kind":"capture_gap",`+
		`"from_op":%d,"to_op":%d}`, SchemaVersion, id, c.config.Shard, op, from, op)
	if epoch != 0 {
		id = fmt.Sprintf("%d:%d:gap:%d", c.config.Shard, op, epoch)
		body = fmt.Sprintf(`{"schema":%d,"id":%q,"shard":%d,"op":%d,"epoch":%d,`+
			`"kind":"capture_gap","from_op":%d,"to_op":%d}`, SchemaVersion, id,
			c.config.Shard, op, epoch, from, op)
	}
	subject := fmt.Sprintf("%s.%d.capture.gap", c.config.SubjectPrefix, c.config.Shard)
	if err := c.awaitAll(); err != nil {
		return err
	}
	if !c.config.Serving() { // Demoted or fenced during that wait (up to publishAckTimeout).
		return errNotServing
	}
	// A session before this one published a marker from the same op that was not stored:
	// this one is its retry (to_op may be later: more was released since).
	retry := c.unstoredGapFromOp == from
	c.unstoredGapFromOp = from
	expected := c.expected
	token, err := c.publishAfter(&nats.Msg{Subject: subject, Data: []byte(body)}, id, expected)
	if err != nil {
		return err
	}
	gap := position{op: op, index: math.MaxUint32}
	c.inflight = append(c.inflight, pendingAck{token: token,
		disconnects: c.sendDisconnects, at: gap, expected: expected,
		lostPosition: lostPosition})
	c.sent, c.expected = gap, expected+1
	if err := c.awaitAll(); err != nil {
		return err
	}
	c.unstoredGapFromOp = 0
	if c.expected == expected { // A duplicate of a marker stored before (acknowledged).
		return nil
	}
	c.gaps.Add(1)
	c.config.Logger.Error("capture: events lost: "+reason, "stream", c.stream,
		"from_op", from, "to_op", op, "retry", retry)
	return nil
}
