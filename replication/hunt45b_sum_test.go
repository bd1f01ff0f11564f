package replication

import "testing"

// TestSummedPrimaryIsReadyOnlyWhenEveryShardTakesWrites (hunt45b): /readyz reads the
// node's summed primary stats as "ready when a standby is acknowledging or the primary
// releases alone" (ops.NotReadyReasons: StandbyAttached || ReleasingAlone). The sum
// made Attached true only if every shard's standby link was, but copied ReleasingAlone
// from shard 0 alone. A sync node of two shards whose shard 0 released alone (degraded)
// while shard 1's standby hung (not acknowledging, not degraded yet: its replies wait)
// was ready; one whose shard 0 was attached and shard 1 released alone (every write
// answered) was not ready, and a load balancer sent its clients away. The sum must say
// ready exactly when every shard is attached or releasing alone.
func TestSummedPrimaryIsReadyOnlyWhenEveryShardTakesWrites(t *testing.T) {
	attached := PrimaryStats{Attached: true}
	alone := PrimaryStats{Degraded: true, ReleasingAlone: true}
	waiting := PrimaryStats{}
	for _, c := range []struct {
		name   string
		groups []PrimaryStats
		ready  bool
	}{
		{"both attached", []PrimaryStats{attached, attached}, true},
		{"both alone", []PrimaryStats{alone, alone}, true},
		{"shard 0 attached, shard 1 alone", []PrimaryStats{attached, alone}, true},
		{"shard 0 alone, shard 1 attached", []PrimaryStats{alone, attached}, true},
		{"shard 0 alone, shard 1 waiting", []PrimaryStats{alone, waiting}, false},
		{"shard 0 waiting, shard 1 alone", []PrimaryStats{waiting, alone}, false},
		{"shard 0 attached, shard 1 waiting", []PrimaryStats{attached, waiting}, false},
	} {
		var sum *PrimaryStats
		for i := range c.groups {
			sum = sumPrimary(sum, &c.groups[i])
		}
		if ready := sum.Attached || sum.ReleasingAlone; ready != c.ready {
			t.Errorf("%s: summed attached %v, releasing alone %v: ready %v, want %v", c.name,
				sum.Attached, sum.ReleasingAlone, ready, c.ready)
		}
	}
}
