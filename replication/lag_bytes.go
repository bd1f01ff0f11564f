package replication

import "sequent/wal"

// sentEndsMax bounds the entry ends a primary remembers for the entries sent to its
// standby and not acknowledged yet (24 bytes each: 96 KiB per shard group, allocated at
// the first send). In sync mode at most the shard's in-flight entries (64) wait; more
// wait only while an async or degraded standby is far behind, and then the ends beyond
// this bound are not recorded: an acknowledgement of one of them has no known position,
// and lag_bytes counts that op's whole segment (wal.Log.StoredBytesAfter) until an
// acknowledgement lands on a recorded end again.
const sentEndsMax = 4096

// sentEnd is where the entry ending at lastOp ends in the primary's log.
type sentEnd struct {
	lastOp uint64
	at     wal.Position
}

// sentEndRing holds the ends of the entries sent in the current session and not yet
// acknowledged, oldest first, so that an acknowledgement (always an entry boundary: the
// standby writes whole entries) finds where it ends in the log, and lag_bytes (stored
// bytes after it) is exact. Guarded by Primary.waitMutex: pushed by the sender as it
// sends, popped by the acknowledgement reader.
type sentEndRing struct {
	ends         []sentEnd // circular, allocated once at sentEndsMax
	start, count int
}

// reset forgets every end (a new session streams from its own start).
func (r *sentEndRing) reset() { r.start, r.count = 0, 0 }

// push records an end after the ones recorded; a full ring records nothing (see
// sentEndsMax).
func (r *sentEndRing) push(lastOp uint64, at wal.Position) {
	if r.ends == nil {
		r.ends = make([]sentEnd, sentEndsMax)
	}
	if r.count == len(r.ends) {
		return
	}
	r.ends[(r.start+r.count)%len(r.ends)] = sentEnd{lastOp: lastOp, at: at}
	r.count++
}

// acknowledge drops the ends up to op and returns op's (the zero Position when op's end
// was not recorded).
func (r *sentEndRing) acknowledge(op uint64) wal.Position {
	var found wal.Position
	for r.count > 0 {
		end := &r.ends[r.start]
		if end.lastOp > op {
			break
		}
		if end.lastOp == op {
			found = end.at
		}
		r.start, r.count = (r.start+1)%len(r.ends), r.count-1
	}
	return found
}
