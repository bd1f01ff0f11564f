package replication

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"sequent/core/shard"
	"sequent/wal"
)

// TestHolderlessRefusalIsNotBlamedOnAnotherNode: a witness that holds no lease and cannot
// store the grant a renewal would make refuses it with no holder. The primary fences
// itself (its lease is not renewed), but its log must say that the witness could not
// store the grant, not that the witness gave the lease to another node (it used to: with
// an empty holder name, which sent an operator looking for a second primary).
func TestHolderlessRefusalIsNotBlamedOnAnotherNode(t *testing.T) {
	w := openStatefulWitness(t, filepath.Join(t.TempDir(), "witness.state"), testLeaseDuration)
	defer w.witness.Close()
	t.Cleanup(func() { writeWitnessStateDurably = wal.WriteFileDurably })
	writeWitnessStateDurably = func(string, os.FileMode, func(*os.File) error) error {
		return errors.New("injected: the state file cannot be written")
	}
	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a", w.address,
		testLeaseDuration)
	config.Logger = slog.New(messages)
	primary := startNode(t, config)
	defer primary.Close()
	waitFor(t, "the primary to fence itself", func() bool {
		return primary.Role() == shard.RoleFenced
	})
	if messages.loggedAt(slog.LevelError, "replication: the witness gave the lease to another node: fencing") {
		t.Fatal("a refusal with no holder was logged as the lease given to another node")
	}
	if !messages.loggedAt(slog.LevelError, "replication: the witness refused the renewal without a holder "+
		"(it could not store the grant: see the witness's log): fencing") {
		t.Fatal("the fence's cause (the witness could not store the grant) was not logged")
	}
}
