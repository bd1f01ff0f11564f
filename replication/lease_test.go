package replication

import (
	"testing"
	"time"

	"sequent/core/shard"
)

// TestLeaseCounters checks what the operators' metrics and the flapping alert read: a
// primary counts the witness's granted renewals, and once the witness goes silent, the
// renewals that got no answer and the one lease lost when it fences itself.
func TestLeaseCounters(t *testing.T) {
	lease := 400 * time.Millisecond
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
