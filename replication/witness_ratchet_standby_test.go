package replication

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestUnpinnedStandbyRewritesItsRatchetMarker: an unpinned standby meets its witness
// only through probes while its primary lives, and it stops probing once its ratchet is
// raised in memory; so a marker that is not on disk (its write failed, or it was found
// damaged at start) was never written while the node stayed a standby: the "retried at a
// signed answer" never came, and a restart (which an attacker can wait for) reopened the
// downgrade window (failed write), or gave the Error again at every start (damaged). The
// standby must go on probing, at the probe interval, until the marker is stored.
func TestUnpinnedStandbyRewritesItsRatchetMarker(t *testing.T) {
	for _, damaged := range []bool{false, true} {
		t.Run(map[bool]string{false: "failed write", true: "damaged at start"}[damaged],
			func(t *testing.T) {
				_, address := startTestWitness(t, testLeaseDuration)
				path := filepath.Join(t.TempDir(), WitnessRatchetFileName)
				if damaged {
					good := encodeWitnessRatchet(witnessRatchetState{epoch: 3, raisedNs: 42})
					if err := os.WriteFile(path, flipByte(good, witnessRatchetOffsetEpoch),
						0o644); err != nil {
						t.Fatal(err)
					}
				}
				ratchet, _ := loadWitnessRatchet(path)
				node := nodeAskingWith(t, address, ratchet, slog.New(&recordingHandler{}))
				node.ratchetDamagedAtStart = damaged
				failing := !damaged
				replaceRatchetWrite(t, func() error {
					if failing {
						return errors.New("disk full")
					}
					return nil
				})
				if !damaged {
					node.probeWitness(time.Time{}, 1) // Raised; its marker's write fails.
					node.ratchet.writers.Wait()
					if !node.ratchet.raised.Load() || node.ratchet.stored.Load() {
						t.Fatalf("first probe: raised %v, stored %v; want raised, not stored",
							node.ratchet.raised.Load(), node.ratchet.stored.Load())
					}
					failing = false
					node.ratchet.mutex.Lock()
					node.ratchet.nextWriteAt = time.Time{} // As if a lease had passed.
					node.ratchet.mutex.Unlock()
				}
				// The next probes' time has come (a probe interval on): the disk works now.
				node.probeWitness(time.Time{}, 1)
				node.ratchet.writers.Wait()
				record, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("the standby's marker is still not written: %v", err)
				}
				if _, err := decodeWitnessRatchet(record); err != nil {
					t.Fatalf("the standby's marker is still not rewritten: %v", err)
				}
			})
	}
}
