package capture

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/wal"
)

// A failover in async mode (or after a primary degraded and took writes alone) can
// leave the stream holding events of entries that the new primary never received: the
// old primary published ops N..M, its standby had only up to N-1 and, promoted, writes
// its own, different entries at N..M. Resuming "after the last message" would skip the
// new primary's real events at N..M. So before publishing, a primary checks that the
// stream's last message belongs to its own history: an event's id carries the epoch of
// the entry that produced it (a capture_gap's, of the entry at its op), and only the
// primary of that epoch ever wrote an entry of that epoch, so (op, epoch) names one entry. If the local log holds a different entry
// at that op (or none), capture walks back through the stream to the newest message its
// log agrees with, publishes a capture_superseded message naming the ops and epochs
// voided, and resumes after that message: every event of its own history is published,
// with ids that differ from the voided ones (their epoch differs), so JetStream's
// duplicate window cannot drop them either.

var (
	errNewerPublisher = errors.New("capture: the stream's last message comes from a newer " +
		"epoch: this node has been deposed; not publishing")
	errEntryFound = errors.New("capture: entry found")
)

// entrySpan is a local log entry's ops and epoch (found: the log holds it; retired: the
// log no longer holds its op, so the check is impossible).
type entrySpan struct {
	firstOp, lastOp, epoch uint64
}

// settleDivergence checks the stream's last message against the local log and, when the
// stream holds events of a history this node does not have, publishes a
// capture_superseded message and moves the position back to the last message that
// stands (publisher goroutine, at the start of a primary's session).
func (c *Capture) settleDivergence() error {
	c.countUnacknowledgedSuperseded()
	last := c.streamSequence.Load()
	if last == 0 {
		return nil
	}
	agrees, err := c.agrees(c.last)
	if err != nil || agrees {
		return err
	}
	stream, err := c.streamHandle()
	if err != nil {
		return err
	}
	first := stream.CachedInfo().State.FirstSeq
	newest, oldest := c.last, c.last
	var resume *position
	for before := last; ; {
		name, sequence, found, err := c.messageBefore(before, first)
		if err != nil {
			return err
		}
		if !found {
			break
		}
		if agrees, err = c.agrees(name); err != nil {
			return err
		}
		if agrees {
			resume = &name.at
			break
		}
		oldest, before = name, sequence
	}
	if resume == nil {
		// No message stands. If the stream still holds its first message, the whole
		// history follows from the start; if its limits discarded older ones, assume
		// what precedes the oldest voided op is shared (it cannot be checked any more).
		resume = &position{}
		if first > 1 && oldest.at.op > 0 {
			resume = &position{op: oldest.at.op - 1, index: math.MaxUint32}
		}
	}
	return c.publishSuperseded(*resume, oldest.at.op, newest.at.op, newest.epoch)
}

// streamHandle looks the shard's stream up (its info as of now comes with it).
func (c *Capture) streamHandle() (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	return c.js.Stream(ctx, c.stream)
}

// messageBefore returns the name and sequence of the stream's newest message before
// sequence before, from first on (found false: none). Usually that is the message at
// before-1, one request; when it was removed (a deletion, a purge of one subject: maybe
// millions of sequences), the newest one left before it is the largest sequence x whose
// next message on the stream's subjects comes before before-1, found by halving the
// range: about log2(before-first) requests instead of one per removed sequence.
func (c *Capture) messageBefore(before, first uint64) (messageName, uint64, bool, error) {
	if before <= max(first, 1) {
		return messageName{}, 0, false, nil
	}
	removed := before - 1
	message, err := c.getMessage(messageRequest{Sequence: removed})
	if message != nil || err != nil {
		return c.nameOf(message, err)
	}
	subjects := fmt.Sprintf("%s.%d.>", c.config.SubjectPrefix, c.config.Shard)
	// Invariant: the next message from low on comes before removed (it is held in best);
	// from high on, none does.
	low, high := max(first, 1), removed
	best, err := c.getMessage(messageRequest{Sequence: low, NextFor: subjects})
	if err != nil || best == nil || best.Sequence >= removed {
		return messageName{}, 0, false, err
	}
	for high-low > 1 {
		middle := low + (high-low)/2
		next, err := c.getMessage(messageRequest{Sequence: middle, NextFor: subjects})
		if err != nil {
			return messageName{}, 0, false, err
		}
		if next != nil && next.Sequence < removed {
			low, best = middle, next
		} else {
			high = middle
		}
	}
	return c.nameOf(best, nil)
}

// nameOf returns what a message's id says, with its sequence.
func (c *Capture) nameOf(message *jetstream.RawStreamMsg, err error) (messageName, uint64,
	bool, error) {
	if err != nil {
		return messageName{}, 0, false, err
	}
	name, err := parseMessageID(message.Header.Get(jetstream.MsgIDHeader))
	if err != nil {
		return messageName{}, 0, false, fmt.Errorf("capture: message %d of %s: %w",
			message.Sequence, c.stream, err)
	}
	return name, message.Sequence, true, nil
}

// agrees reports whether a message of the stream belongs to this node's history: an
// event, or a capture_gap with an epoch, whose entry (op, epoch) the local log holds (a
// gap of a discarded history is voided as its events are: before gaps had an epoch, a
// new primary resumed after an old primary's marker through ops it wrote otherwise, and
// never published them). capture_superseded, a capture_gap without an epoch (an older
// version's, or one whose publisher could no longer name the entry), schema-1 events (no
// epoch) and ops the log has retired cannot be checked and count as agreeing: voiding
// them could void a history that stands, and they are what a stream of an older version
// ends with, so treating them as before keeps the upgrade from voiding anything. A
// message of an epoch newer than this node's means a newer primary publishes:
// errNewerPublisher.
func (c *Capture) agrees(name messageName) (bool, error) {
	if ours := c.config.Epoch(); ours != 0 && name.epoch > ours {
		return false, fmt.Errorf("%w (message epoch %d, ours %d)", errNewerPublisher,
			name.epoch, ours)
	}
	if name.marker || name.epoch == 0 {
		return true, nil
	}
	span, retired, err := c.entryAt(name.at.op)
	if err != nil || retired {
		return retired, err
	}
	return span.epoch == name.epoch, nil // span.epoch is 0 when the log lacks the op.
}

// entryAt returns the local log's durable entry holding op (zero when the log does not
// reach op; retired when the log no longer holds it).
func (c *Capture) entryAt(op uint64) (entrySpan, bool, error) {
	if c.entry.firstOp <= op && op <= c.entry.lastOp {
		return c.entry, false, nil
	}
	if op < c.config.Log.FirstOp() {
		return entrySpan{}, true, nil
	}
	var span entrySpan
	err := c.config.Log.Read(op-1, func(e *wal.Entry) error {
		if e.FirstOp <= op {
			span = entrySpan{firstOp: e.FirstOp, lastOp: e.LastOp(), epoch: e.Epoch}
		}
		return errEntryFound
	})
	switch {
	case errors.Is(err, wal.ErrCompacted):
		return entrySpan{}, true, nil
	case err != nil && !errors.Is(err, errEntryFound):
		return entrySpan{}, false, err
	}
	if span.epoch != 0 {
		c.entry = span
	}
	return span, false, nil
}

// publishSuperseded records in the stream that its messages for ops from..to (the newest
// of epoch supersededEpoch) belong to a discarded history, and moves the position back
// to resume, the last event that stands: the message's id is
// shard:op:index:superseded:epoch with resume's op:index, so a session that starts
// after it resumes there.
func (c *Capture) publishSuperseded(resume position, from, to, supersededEpoch uint64) error {
	if !c.config.Serving() {
		return errNotServing
	}
	epoch := c.config.Epoch()
	id := fmt.Sprintf("%d:%d:%d:superseded:%d", c.config.Shard, resume.op, resume.index, epoch)
	body := fmt.Sprintf(`{"schema":%d,"id":%q,"shard":%d,"op":%d,"index":%d,`+
		`"kind":"capture_superseded","epoch":%d,"superseded_epoch":%d,"from_op":%d,"to_op":%d}`,
		SchemaVersion, id, c.config.Shard, resume.op, resume.index, epoch, supersededEpoch,
		from, to)
	subject := fmt.Sprintf("%s.%d.capture.superseded", c.config.SubjectPrefix, c.config.Shard)
	ctx, cancel := context.WithTimeout(context.Background(), publishAckTimeout)
	defer cancel()
	expected := c.streamSequence.Load()
	ack, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: []byte(body)},
		jetstream.WithMsgID(id), jetstream.WithExpectLastSequence(expected))
	attempt := supersededAttempt{name: messageName{at: resume, epoch: epoch, marker: true},
		from: from, to: to, supersededEpoch: supersededEpoch}
	if err != nil {
		// Refused, or stored with its acknowledgement lost: the next session tells.
		c.unacknowledgedSuperseded = &attempt
		return fmt.Errorf("capture: publish capture_superseded to %s: %w", c.stream, err)
	}
	if ack.Duplicate && ack.Sequence == expected {
		// The stream's lost last message was this very marker (same position, same epoch:
		// this node voided the same history before, and the stream lost the marker within
		// the duplicate window: a deletion, a purge, a max age): it said what this one
		// says, so the position is after it, at the sequence kept.
		c.last = messageName{at: resume, epoch: epoch, marker: true}
		c.lastRemoved = false // Nothing came after it.
		c.sentID = ""         // Not held: the server's last id is not known here.
		c.setPosition(resume, expected)
		return nil
	}
	if ack.Duplicate || ack.Sequence != expected+1 {
		return fmt.Errorf("capture: %s answered sequence %d (duplicate %v) to "+
			"capture_superseded, expected %d: resynchronizing", c.stream, ack.Sequence,
			ack.Duplicate, expected+1)
	}
	// Counted and logged once stored, as a capture_gap is (publishGap): a refused marker
	// is published again by the next session, and a duplicate was counted when stored.
	c.noteSuperseded(attempt, false)
	// The marker is the stream's last message now: the position is known again. When
	// the stream had lost its last message, nothing this node could publish was lost
	// with it (no lost-position capture_gap): the newest message left is of a discarded
	// history, so the lost ones after it were too, unless a primary sharing this node's
	// history voided it and published after it, all lost since. This node in this epoch
	// would have done so with this very marker, which JetStream answers as a duplicate;
	// only another epoch's marker lost with the events after it is left, whose copies
	// JetStream refuses within its duplicate window (the session retries until it ends).
	c.last = messageName{at: resume, epoch: epoch, marker: true}
	c.lastRemoved, c.sentID = false, id
	c.setPosition(resume, ack.Sequence)
	return nil
}

// supersededAttempt is a capture_superseded this node published: its name (as its id
// reads back) and what its log line says.
type supersededAttempt struct {
	name                      messageName
	from, to, supersededEpoch uint64
}

// noteSuperseded counts and logs a capture_superseded this node stored (unacknowledged:
// found stored by the next session, its acknowledgement lost).
func (c *Capture) noteSuperseded(attempt supersededAttempt, unacknowledged bool) {
	c.superseded.Add(1)
	c.config.Logger.Error("capture: the stream holds events of a history a failover "+
		"discarded; published capture_superseded and this node's history after it",
		"stream", c.stream, "from_op", attempt.from, "to_op", attempt.to,
		"superseded_epoch", attempt.supersededEpoch, "epoch", attempt.name.epoch,
		"resume_op", attempt.name.at.op, "resume_index", attempt.name.at.index,
		"acknowledgement_lost", unacknowledged)
}

// countUnacknowledgedSuperseded counts, at the start of a primary's session, the
// capture_superseded the previous one published without an acknowledgement, when the
// stream's last message (just read) is that marker: it was stored (the answer was lost:
// NATS went away, or it came too late), and this session, finding a marker there,
// publishes none, so nothing else would count or log that this node voided a history.
// A refused one is not the last message; one the stream lost since is not counted
// (the figure errs low there, as publishGap's does).
func (c *Capture) countUnacknowledgedSuperseded() {
	attempt := c.unacknowledgedSuperseded
	c.unacknowledgedSuperseded = nil
	if attempt != nil && !c.lastRemoved && c.last == attempt.name {
		c.noteSuperseded(*attempt, true)
	}
}
