package main

import (
	"testing"

	"sequent/netio/ops"
	"sequent/replication"
)

// TestReadinessFollowsWhetherRepliesWait: /readyz is 200 for a sync primary without an
// acknowledging standby only while it releases on its own durability. Back to waiting
// for its standby, a primary still reports itself degraded until the standby has
// acknowledged what was released alone (the loss window, for /healthz); if the standby
// hangs meanwhile, every reply waits, and /readyz must say so. It used to read the loss
// window as "takes writes alone" and answer 200.
func TestReadinessFollowsWhetherRepliesWait(t *testing.T) {
	for _, c := range []struct {
		name  string
		stats replication.PrimaryStats
		ready bool
	}{
		{"standby acknowledging", replication.PrimaryStats{Attached: true}, true},
		{"standby hung, not degraded", replication.PrimaryStats{}, false},
		{"standby hung, releasing alone", replication.PrimaryStats{Degraded: true,
			ReleasingAlone: true}, true},
		{"standby hung, waiting again, loss window open", replication.PrimaryStats{
			Degraded: true}, false},
	} {
		status := replication.NodeStatus{Role: ops.RolePrimary, Replicated: true,
			Primary: &c.stats}
		snapshot := ops.Snapshot{Role: ops.RolePrimary, Shards: []ops.ShardStats{{
			Log: ops.LogStats{Open: true}}}, Replication: replicationStats(&status, ops.ModeSync)}
		if ready := len(ops.NotReadyReasons(&snapshot)) == 0; ready != c.ready {
			t.Errorf("%s: ready %v, want %v (%+v)", c.name, ready, c.ready,
				ops.NotReadyReasons(&snapshot))
		}
	}
}
