package replication

import (
	"testing"
	"time"

	"sequent/core/shard"
)

// testLeaseDuration is the witness lease of the tests whose primary must keep its lease
// while it is healthy. The primary fences itself when no renewal succeeds within 80% of
// the lease, and bounds each renewal by a quarter lease; with the 300-400 ms leases these
// tests used, a renewal that took over 75-100 ms (a dial, a scheduling delay) under -race
// on a loaded 2-core machine fenced a healthy primary a few runs in a hundred. 2 s gives
// each renewal 500 ms and the primary 1.6 s to get one through. Tests that wait out a
// lease (a fence, a failover) take about one lease longer; none asserts on elapsed time.
const testLeaseDuration = 2 * time.Second

// TestLeaseCounters checks what the operators' metrics and the flapping alert read: a
// primary counts the witness's granted renewals, and once the witness goes silent, the
// renewals that got no answer and the one lease lost when it fences itself.
func TestLeaseCounters(t *testing.T) {
	lease := testLeaseDuration
	_, witnessAddress := startTestWitness(t, lease)
	proxy := newFreezingProxy(t, witnessAddress)
	primary := startNode(t, withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a",
		proxy.address(), lease))
	defer primary.Close()
	waitFor(t, "two granted renewals", func() bool { return primary.Status().Lease.Renewals >= 2 })
	if counts := primary.Status().Lease; counts.RenewalFailures != 0 || counts.Losses != 0 {
		t.Fatalf("failures or losses with a healthy witness: %+v", counts)
	}
	proxy.frozen.Store(true)
	waitFor(t, "the primary to fence itself", func() bool {
		return primary.Shard().Role() == shard.RoleFenced
	})
	counts := primary.Status().Lease
	if counts.RenewalFailures < 1 || counts.Losses != 1 {
		t.Fatalf("after the witness went silent: %+v, want failures ≥ 1 and one loss", counts)
	}
	without := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), ""))
	defer without.Close()
	if counts := without.Status().Lease; counts != (LeaseStats{}) {
		t.Fatalf("a node without a witness counts %+v", counts)
	}
}
