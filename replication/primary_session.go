package replication

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"net"
	"sync/atomic"
	"time"

	"sequent/core/shard"
	"sequent/wal"
)

// primarySession is one attached standby. The sender goroutine (stream) owns the writer
// and the tail it reads the log through; readAcks reads the connection.
type primarySession struct {
	conn    net.Conn
	writer  *bufio.Writer
	tail    atomic.Pointer[wal.Tail] // Set when streaming starts.
	wake    chan struct{}            // Capacity 1: digests to send.
	digests chan [40]byte            // Digest notices to send (op u64 | digest[32]).
	sentOp  atomic.Uint64            // Last op sent.
}

func (s *primarySession) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// errSessionClosed ends a stream when the connection is gone.
var errSessionClosed = errors.New("replication: session closed")

// errFenced ends a standby session, or refuses one, on a primary that has fenced itself.
var errFenced = errors.New("replication: this primary is fenced")

// errShardMap refuses a standby whose shard map differs (frameRefused, refusedShardMap).
var errShardMap = errors.New("replication: shard map mismatch")

// stream sends every entry after op through a wal.Tail: from the log while behind, then
// as the writer writes them (before their local fsync, so the standby syncs in parallel),
// falling back to the log whenever the tail's bounded queue missed entries; plus digests
// and heartbeats.
func (p *Primary) stream(s *primarySession, op uint64) error {
	tail := p.config.Log.Follow(op, wal.TailOptions{Written: true,
		QueueBytesMax: liveQueueBytesMax})
	s.tail.Store(tail)
	defer func() {
		s.tail.Store(nil)
		p.stats.overflows.Add(tail.Stats().Overflows)
		tail.Close()
	}()
	s.sentOp.Store(op)
	heartbeat := time.NewTicker(p.config.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		gap, err := tail.Drain(func(stored []byte, meta wal.EntryMeta) error {
			return p.sendEntryAt(s, stored, meta.FirstOp, meta.FirstOp+uint64(meta.Count)-1, &meta)
		})
		if errors.Is(err, wal.ErrCompacted) {
			return fmt.Errorf("standby fell behind the retained log: %w (reconnect for a snapshot)", err)
		}
		if err != nil {
			return err
		}
		if err := p.sendDigests(s); err != nil {
			return err
		}
		if err := s.writer.Flush(); err != nil {
			return err
		}
		var retry <-chan time.Time
		if gap {
			retry = time.After(time.Millisecond) // Missed entries become durable soon.
		}
		select {
		case <-s.wake:
		case <-tail.Wake():
		case <-retry:
		case <-heartbeat.C:
			if p.config.Shard.Role() != shard.RolePrimary {
				// Fenced (lease lost, or a higher epoch seen): let the standby go, so that
				// it sees its primary lost and can take over (with the witness's lease).
				return errFenced
			}
			body := encodeUint64s(p.config.Log.LastOp(), p.config.Log.Durable())
			if err := writeFrame(s.writer, frameHeartbeat, p.config.Shard.Epoch(), body); err != nil {
				return err
			}
		case <-p.closed:
			return errSessionClosed
		}
	}
}

// sendEntryAt sends an entry of the log described by meta (nil: where it lies is not
// known, and lag_bytes counts segments for its acknowledgement).
func (p *Primary) sendEntryAt(s *primarySession, stored []byte, firstOp, lastOp uint64,
	meta *wal.EntryMeta) error {
	sent := s.sentOp.Load()
	if lastOp <= sent {
		return nil
	}
	if firstOp != sent+1 {
		return fmt.Errorf("replication: entry at op %d does not follow op %d", firstOp, sent)
	}
	if err := writeFrame(s.writer, frameEntry, p.config.Shard.Epoch(), stored); err != nil {
		return err
	}
	p.waitMutex.Lock()
	if p.acked.Load() >= sent {
		// Nothing was waiting for the standby: the wait starts now.
		p.waitingSince.Store(time.Now().UnixNano())
	}
	if meta != nil {
		// Recorded with sentOp, under the lock the acknowledgement takes: an ack of this
		// entry, clamped to sentOp, always finds its end.
		if p.sentEnds.count == 0 { // Where the op before it ends: where this one starts.
			p.sentEnds.push(sent, wal.Position{Segment: meta.Segment, Offset: meta.Offset})
		}
		p.sentEnds.push(lastOp, wal.EndOf(meta))
	}
	s.sentOp.Store(lastOp)
	p.waitMutex.Unlock()
	p.stats.entriesSent.Add(1)
	p.stats.bytesSent.Add(uint64(len(stored)))
	p.stats.lastSentOp.Store(lastOp)
	return nil
}

func (p *Primary) sendDigests(s *primarySession) error {
	for {
		select {
		case notice := <-s.digests:
			if err := writeFrame(s.writer, frameDigest, p.config.Shard.Epoch(), notice[:]); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// PrimaryStats describes replication from the primary's side.
type PrimaryStats struct {
	Mode     string `json:"mode"`
	Attached bool   `json:"standby_attached"`
	Degraded bool   `json:"degraded"`
	// ReleasingAlone: replies are released on local durability now (async, or sync
	// degraded with the lease holding), as opposed to Degraded, which also covers the
	// loss window after sync resumed (waiting for the standby again).
	ReleasingAlone bool   `json:"releasing_alone"`
	AcknowledgedOp uint64 `json:"acknowledged_op"`
	SentOp         uint64 `json:"sent_op"`
	// LagOps: the log's last op minus what the standby holds (the acknowledged op, or
	// less for a standby that attached holding less: see Primary.lagOp).
	LagOps uint64 `json:"lag_ops"`
	// LagBytes: the log's entry bytes (headers included, as stored) written after the
	// acknowledged op, which the standby does not hold yet (see sentEndsMax for when it
	// counts a segment too many).
	LagBytes       uint64 `json:"lag_bytes"`
	LagMs          int64  `json:"lag_ms"` // Since the standby was last heard.
	EntriesSent    uint64 `json:"entries_sent"`
	BytesSent      uint64 `json:"bytes_sent"`
	Sessions       uint64 `json:"sessions"`
	Degradations   uint64 `json:"degradations"`
	QueueOverflows uint64 `json:"queue_overflows"`
}

// Stats returns a snapshot of the counters. Any goroutine.
func (p *Primary) Stats() PrimaryStats {
	p.waitMutex.Lock() // What the lags count from and where it ends, as one.
	acked, lagOp, lagAt := p.acked.Load(), p.lagOp, p.lagAt
	p.waitMutex.Unlock()
	last := p.config.Log.LastOp()
	stats := PrimaryStats{Mode: p.config.Mode.String(),
		Attached: p.standbyQuietSince(time.Now().UnixNano()) == 0,
		Degraded: p.Degraded(), ReleasingAlone: p.Acknowledged() == math.MaxUint64,
		AcknowledgedOp: acked, SentOp: p.stats.lastSentOp.Load(),
		EntriesSent: p.stats.entriesSent.Load(), BytesSent: p.stats.bytesSent.Load(),
		Sessions: p.stats.sessions.Load(), Degradations: p.stats.degradations.Load(),
		QueueOverflows: p.stats.overflows.Load()}
	if s := p.current.Load(); s != nil {
		if tail := s.tail.Load(); tail != nil {
			stats.QueueOverflows += tail.Stats().Overflows
		}
	}
	if last > lagOp {
		stats.LagOps = last - lagOp
	}
	lagBytes, _ := p.config.Log.StoredBytesAfter(lagOp, lagAt)
	stats.LagBytes = uint64(max(lagBytes, 0))
	if contact := p.stats.lastContactNs.Load(); contact != 0 {
		stats.LagMs = time.Since(time.Unix(0, contact)).Milliseconds()
	}
	return stats
}
