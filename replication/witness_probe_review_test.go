package replication

import (
	"os"
	"testing"
	"time"
)

// TestPinnedStandbyProbeFindsAWrongPinWithTheRatchetRaised (review of session 39): the
// README says a standby's probe finds a wrong pin while its primary lives, "counted as
// identity, not at its first failover". The ratchet's marker is kept for good, so a
// standby that once had a signed answer (it probed once, or it was a primary) never
// probes again: pinned since to an id its witness does not announce (a witness
// restarted without --id draws a new one; a typo in --witness-id at a restart), it
// learns it only when its primary is lost, and the failover then fails. For a pinned
// node the ratchet decides nothing (it takes v3 answers only), so its probe must go on.
func TestPinnedStandbyProbeFindsAWrongPinWithTheRatchetRaised(t *testing.T) {
	witness, _, config := standbyOfWitnessedPrimary(t)
	config.WitnessID = "another-" + witness.ID()
	// A signed answer arrived before this start (the same pin was right then).
	if err := os.WriteFile(config.WitnessRatchetPath, encodeWitnessRatchet(
		witnessRatchetState{epoch: 1, raisedNs: time.Now().UnixNano()}), 0o644); err != nil {
		t.Fatal(err)
	}
	standby := startNode(t, config)
	defer standby.Close()
	if !standby.ratchet.raised.Load() {
		t.Fatal("the marker did not raise the ratchet")
	}
	waitFor(t, "the standby to hear its primary", func() bool {
		return standby.primaryHeardWithin(config.LeaseDuration)
	})
	before := standby.lease.refused[witnessRefusedIdentity].Load()
	// What the failover watch does at a tick while the primary is heard, the probe due.
	standby.probeWitness(time.Time{}, standby.Epoch())
	if after := standby.lease.refused[witnessRefusedIdentity].Load(); after <= before {
		t.Fatalf("a standby pinned to an id its witness does not announce, its ratchet "+
			"raised, counted %d identity refusals while its primary lives: it finds out "+
			"only at a failover", after)
	}
}
