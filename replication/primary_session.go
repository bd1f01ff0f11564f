package replication

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"sequent/core/shard"
	"sequent/wal"
)

// primarySession is one attached standby. The sender goroutine (stream) owns the writer;
// the log's writer goroutine feeds the queue; readAcks reads the connection.
type primarySession struct {
	conn    net.Conn
	writer  *bufio.Writer
	queue   liveQueue
	wake    chan struct{} // Capacity 1: the queue or the digests got something.
	digests chan [40]byte // Digest notices to send (op u64 | digest[32]).
	sentOp  atomic.Uint64 // Last op sent.
}

func (s *primarySession) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// liveQueue holds copies of entries the log has written since the session attached,
// bounded by liveQueueBytesMax. On overflow it empties itself and remembers it did: the
// sender then reads the missed entries from the log.
type liveQueue struct {
	mutex   sync.Mutex
	entries []queuedEntry
	bytes   int
	owner   *primarySession
}

type queuedEntry struct {
	firstOp, lastOp uint64
	stored          []byte
}

// push queues a copy of an entry; false when it overflowed (and dropped everything).
func (q *liveQueue) push(stored []byte, meta wal.EntryMeta) bool {
	q.mutex.Lock()
	defer q.mutex.Unlock()
	if q.bytes+len(stored) > liveQueueBytesMax {
		q.entries, q.bytes = nil, 0
		return false
	}
	q.entries = append(q.entries, queuedEntry{firstOp: meta.FirstOp,
		lastOp: meta.FirstOp + uint64(meta.Count) - 1, stored: append([]byte(nil), stored...)})
	q.bytes += len(stored)
	if q.owner != nil {
		q.owner.wakeUp()
	}
	return true
}

// take removes and returns everything queued.
func (q *liveQueue) take() []queuedEntry {
	q.mutex.Lock()
	defer q.mutex.Unlock()
	entries := q.entries
	q.entries, q.bytes = nil, 0
	return entries
}

// errSessionClosed ends a stream when the connection is gone.
var errSessionClosed = errors.New("replication: session closed")

// errFenced ends a standby session, or refuses one, on a primary that has fenced itself.
var errFenced = errors.New("replication: this primary is fenced")

// stream sends every entry after op, first from the log, then live from the queue,
// falling back to the log whenever the queue has a gap (entries written before the
// session attached, or dropped by an overflow); plus digests and heartbeats.
func (p *Primary) stream(s *primarySession, op uint64) error {
	s.queue.mutex.Lock()
	s.queue.owner = s
	s.queue.mutex.Unlock()
	s.sentOp.Store(op)
	heartbeat := time.NewTicker(p.config.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		if err := p.catchUp(s); err != nil {
			return err
		}
		gap, err := p.sendQueued(s)
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

// catchUp sends the durable entries after the last one sent, read from the log.
func (p *Primary) catchUp(s *primarySession) error {
	err := p.config.Log.ReadStored(s.sentOp.Load(), func(stored []byte, meta wal.EntryMeta) error {
		return p.sendEntry(s, stored, meta.FirstOp, meta.FirstOp+uint64(meta.Count)-1)
	})
	if errors.Is(err, wal.ErrCompacted) {
		return fmt.Errorf("standby fell behind the retained log: %w (reconnect for a snapshot)", err)
	}
	return err
}

// sendQueued sends the queued entries that continue what was sent; it reports a gap
// when the queue starts after the next op (the log must fill it).
func (p *Primary) sendQueued(s *primarySession) (bool, error) {
	for _, entry := range s.queue.take() {
		sent := s.sentOp.Load()
		if entry.lastOp <= sent {
			continue
		}
		if entry.firstOp != sent+1 {
			return true, nil // The rest will come from the log once durable.
		}
		if err := p.sendEntry(s, entry.stored, entry.firstOp, entry.lastOp); err != nil {
			return false, err
		}
	}
	return false, nil
}

func (p *Primary) sendEntry(s *primarySession, stored []byte, firstOp, lastOp uint64) error {
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
	LagOps         uint64 `json:"lag_ops"` // Log's last op minus acknowledged.
	LagMs          int64  `json:"lag_ms"`  // Since the standby was last heard.
	EntriesSent    uint64 `json:"entries_sent"`
	BytesSent      uint64 `json:"bytes_sent"`
	Sessions       uint64 `json:"sessions"`
	Degradations   uint64 `json:"degradations"`
	QueueOverflows uint64 `json:"queue_overflows"`
}

// Stats returns a snapshot of the counters. Any goroutine.
func (p *Primary) Stats() PrimaryStats {
	acked, last := p.acked.Load(), p.config.Log.LastOp()
	stats := PrimaryStats{Mode: p.config.Mode.String(),
		Attached: p.standbyQuietSince(time.Now().UnixNano()) == 0,
		Degraded: p.Degraded(), ReleasingAlone: p.Acknowledged() == math.MaxUint64,
		AcknowledgedOp: acked, SentOp: p.stats.lastSentOp.Load(),
		EntriesSent: p.stats.entriesSent.Load(), BytesSent: p.stats.bytesSent.Load(),
		Sessions: p.stats.sessions.Load(), Degradations: p.stats.degradations.Load(),
		QueueOverflows: p.stats.overflows.Load()}
	if last > acked {
		stats.LagOps = last - acked
	}
	if contact := p.stats.lastContactNs.Load(); contact != 0 {
		stats.LagMs = time.Since(time.Unix(0, contact)).Milliseconds()
	}
	return stats
}
