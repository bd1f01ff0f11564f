package shard

import "time"

// Stats are the shard's counters, published for the admin API (read with Stats()).
type Stats struct {
	Entries uint64 // Entries written.
	// Requests counts the requests written into the log (one op each): clients' writes
	// and the server's own (grant tables, pulses, snapshot markers, audit records, saga
	// steps), as a replica counts them from the entries it receives.
	Requests uint64
	// Queries counts clients' read requests answered (clientTraffic): the server's own
	// reads (a node router's saga outbox polls and lookups, the operators' console,
	// reconciliation) are left out, so an idle shard counts none.
	Queries     uint64
	EntryBytes  uint64 // Entry body bytes written.
	BusyReplies uint64 // Submissions refused because the ring was full.
	// LogFullRefusals counts writes answered log_unavailable because the log had no room
	// for their entry (disk full); nothing of them was applied.
	LogFullRefusals uint64
	OpLast          uint64 // Last op applied.
	Released        uint64 // Last op whose replies were released.
	RingDepth       int    // Requests waiting in the input ring (filled in by Stats()).
	// InlineTurns counts the turns that took requests on an event loop, which found the
	// shard idle (TurnInline); the sequencer goroutine ran the rest.
	InlineTurns uint64

	Snapshots         uint64        // Snapshots taken (or skipped).
	SnapshotErrors    uint64        // Snapshots that failed to write.
	SnapshotPauseLast time.Duration // Sequencer pause of the latest snapshot capture.
	// SnapshotFailing: the latest snapshot written or attempted failed (a skipped one
	// changes nothing); the next that succeeds clears it.
	SnapshotFailing bool
}

// Stats returns a copy of the counters.
func (s *Shard) Stats() Stats {
	s.statsMutex.Lock()
	stats := s.stats
	s.statsMutex.Unlock()
	stats.RingDepth = s.ring.depth()
	return stats
}

func (s *Shard) count(update func(stats *Stats)) {
	s.statsMutex.Lock()
	update(&s.stats)
	s.statsMutex.Unlock()
}
