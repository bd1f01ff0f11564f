package replication

import (
	"testing"
	"time"

	"sequent/core/shard"
)

// TestPrimaryRestartedAfterItsLeaseRanOutRenewsIt: a primary without a standby crashes
// and is restarted (a supervisor) with the same name after its lease has run out at the
// witness. Nobody took the lease meanwhile, so its renewal at its epoch is granted (the
// holder may renew a lease that ran out; only another node must acquire): it must stay
// the primary, not fence itself for good with no node left to take over.
func TestPrimaryRestartedAfterItsLeaseRanOutRenewsIt(t *testing.T) {
	lease := testLeaseDuration
	witness, witnessAddress := startTestWitness(t, lease)
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a", witnessAddress,
		lease)
	primary := startNode(t, config)
	waitForFirstRenewal(t, primary)
	epoch := primary.Epoch()
	primary.Close()
	waitFor(t, "a's lease to run out at the witness", func() bool {
		witness.mutex.Lock()
		defer witness.mutex.Unlock()
		return time.Now().After(witness.expires)
	})
	restarted := startNode(t, config)
	defer restarted.Close()
	waitFor(t, "the restarted primary to renew its lease or fence itself", func() bool {
		return restarted.Status().Lease.Renewals >= 1 || restarted.Role() == shard.RoleFenced
	})
	if role := restarted.Role(); role != shard.RolePrimary || restarted.Epoch() != epoch {
		t.Fatalf("primary restarted with its name after its lease ran out: %s at epoch %d, "+
			"want the primary of epoch %d", role, restarted.Epoch(), epoch)
	}
}

// TestRenamedPrimaryIsReplacedByItsStandby: the primary is restarted with another name
// (--node-name changed, or --advertise when it names the node). The witness cannot tell
// it from its standby restarted as a primary at the same epoch, so it refuses the new
// name's renewal and the node fences itself; the pair must not be left without a
// primary: the fenced node lets its standby go, and the standby acquires the lease, at a
// new epoch, and promotes itself.
func TestRenamedPrimaryIsReplacedByItsStandby(t *testing.T) {
	lease := testLeaseDuration
	primary, standby, _ := startWitnessPair(t, lease)
	epoch := primary.Epoch()
	config := primary.config
	config.NodeName = "a-renamed"
	primary.Close()
	renamed := startNode(t, config)
	defer renamed.Close()
	waitFor(t, "the standby to take over and the renamed primary to fence itself", func() bool {
		return standby.Role() == shard.RolePrimary && renamed.Role() == shard.RoleFenced
	})
	if standby.Epoch() <= epoch {
		t.Fatalf("the standby promoted to epoch %d, want above %d", standby.Epoch(), epoch)
	}
}
