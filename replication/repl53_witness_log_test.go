package replication

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sequent/wal"
)

// TestRepl53ReleaseNotStoredIsLoggedAsARelease: a release the witness cannot write to its
// state file used to be logged as "grant refused", which sends an operator looking for a
// node refused the lease; it must be said as a release, and a grant not stored still as
// a grant.
func TestRepl53ReleaseNotStoredIsLoggedAsARelease(t *testing.T) {
	const releaseMessage = "witness: release refused: the state file cannot be written"
	const grantMessage = "witness: grant refused: the state file cannot be written"
	lease := time.Second
	messages := &recordingHandler{}
	w := openStatefulWitnessLogging(t, filepath.Join(t.TempDir(), "witness.state"), lease,
		slog.New(messages))
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "a", 0); !answer.granted || answer.epoch != 1 {
		t.Fatalf("a's acquisition: %+v, want granted at epoch 1", answer)
	}
	t.Cleanup(func() { writeWitnessStateDurably = wal.WriteFileDurably })
	writeWitnessStateDurably = func(string, os.FileMode, func(*os.File) error) error {
		return errors.New("disk full (test)")
	}
	if answer := w.ask(t, leaseRelease, "a", 1); answer.granted {
		t.Fatalf("release not stored: %+v, want refused", answer)
	}
	if !messages.loggedAt(slog.LevelError, releaseMessage) || messages.count(grantMessage) != 0 {
		t.Fatalf("the release not stored was logged %d times as a release, %d times as a "+
			"grant; want once as a release, at Error", messages.count(releaseMessage),
			messages.count(grantMessage))
	}
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "b", 1); answer.granted {
		t.Fatalf("acquisition not stored: %+v, want refused", answer)
	}
	if !messages.loggedAt(slog.LevelError, grantMessage) {
		t.Fatal("the grant not stored was not logged as a grant")
	}
}
