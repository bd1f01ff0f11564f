package main

import (
	"sync"
	"sync/atomic"
	"testing"

	"sequent/replication"
)

// TestOpsleft52ReplicationCountersNeverGoBack: the replication counters exported to
// Prometheus (sequent_replication_sent_entries_total, _sent_bytes_total,
// _degradations_total) were the live replication.Primary's, so a group whose primary went
// away, or was replaced by one counting from 0, took them back to 0, which rate() reads
// as a reset. They now sum every primary the process has shown.
func TestOpsleft52ReplicationCountersNeverGoBack(t *testing.T) {
	primary := func(entries, bytes, degradations uint64) *replication.PrimaryStats {
		return &replication.PrimaryStats{EntriesSent: entries, BytesSent: bytes,
			Degradations: degradations}
	}
	steps := []struct {
		groups [2]*replication.PrimaryStats
		want   primaryCounters
	}{
		{[2]*replication.PrimaryStats{primary(10, 1000, 1), primary(5, 500, 0)},
			primaryCounters{15, 1500, 1}},
		// Group 0's primary is gone (fenced away, say).
		{[2]*replication.PrimaryStats{nil, primary(6, 600, 0)}, primaryCounters{16, 1600, 1}},
		// Group 0 has a new primary, counting from 0.
		{[2]*replication.PrimaryStats{primary(2, 200, 1), primary(7, 700, 0)},
			primaryCounters{19, 1900, 2}},
		// Group 1's primary replaced between two reads: the new one counts anew.
		{[2]*replication.PrimaryStats{primary(3, 300, 1), primary(1, 100, 0)},
			primaryCounters{21, 2100, 2}},
	}
	var counters replicationCounters
	for i, step := range steps {
		status := replication.NodeStatus{Groups: []replication.GroupStatus{
			{Shard: 0, Primary: step.groups[0]}, {Shard: 1, Primary: step.groups[1]}}}
		_, totals := counters.read(func() replication.NodeStatus { return status })
		if totals != step.want {
			t.Errorf("step %d: totals %+v, want %+v", i, totals, step.want)
		}
	}
}

// TestOpsleft52ReplicationCountersConcurrentReads: snapshots (a scrape, the console) read
// at once; a primary's counters only grow, and none is taken for a new primary (and its
// last value counted twice) because two reads were counted out of order.
func TestOpsleft52ReplicationCountersConcurrentReads(t *testing.T) {
	var counters replicationCounters
	var sent atomic.Uint64
	read := func() replication.NodeStatus {
		entries := sent.Add(1)
		return replication.NodeStatus{Groups: []replication.GroupStatus{
			{Primary: &replication.PrimaryStats{EntriesSent: entries}}}}
	}
	const readers, readsEach = 4, 200
	var group sync.WaitGroup
	for range readers {
		group.Go(func() {
			for range readsEach {
				counters.read(read)
			}
		})
	}
	group.Wait()
	if _, totals := counters.read(read); totals.entriesSent != readers*readsEach+1 {
		t.Errorf("entries sent %d after %d reads of a primary that sent one more each time, "+
			"want %d", totals.entriesSent, readers*readsEach+1, readers*readsEach+1)
	}
}
