package replication

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sequent/wal"
)

// session51File writes path as a build of session 51 left it, whatever the umask: mode
// perm, in a directory of mode 0755.
func session51File(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.Chmod(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// wantMode fails t unless the file at path has exactly the permission bits want.
func wantMode(t *testing.T, what, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Fatalf("%s: mode %v, want %v", what, got, want)
	}
}

// TestReview2repl52Session51EpochFileIsReadAndRewritten (review2-repl52, upgrade path of
// leftovers52 and review-leftovers52): a node of session 51 left its epoch file 0644 in a
// 0755 data directory, and a crash left its temporary (0644) beside it. The upgraded node
// reads the file, stores a new epoch over it (0600 from then on, the leftover removed
// first) and reads that back.
func TestReview2repl52Session51EpochFileIsReadAndRewritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epoch")
	session51File(t, path, []byte("4\n"), 0o644)
	session51File(t, path+".tmp", []byte("5"), 0o644)
	if epoch, err := LoadEpoch(path); err != nil || epoch != 4 {
		t.Fatalf("session 51's epoch file: %d, %v, want 4", epoch, err)
	}
	if err := StoreEpoch(path, 5); err != nil {
		t.Fatal(err)
	}
	if epoch, err := LoadEpoch(path); err != nil || epoch != 5 {
		t.Fatalf("stored over session 51's: %d, %v, want 5", epoch, err)
	}
	wantMode(t, "the epoch file stored over session 51's", path, wal.FileMode)
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("the leftover temporary is still there: %v", err)
	}
}

// TestReview2repl52Session51WitnessStateUpgraded (review2-repl52, upgrade path of
// grant52): a witness of session 51 left a version 2 state file in a 0755 directory, and
// a crash left the state's temporary (0644) beside it. The upgraded witness starts on it
// without rewriting it (a renewal at the holder's epoch writes nothing), and its first
// change (the holder's release) writes version 3, mode 0600, which the next start reads.
func TestReview2repl52Session51WitnessStateUpgraded(t *testing.T) {
	lease := time.Second
	path := filepath.Join(t.TempDir(), "witness.state")
	session51File(t, path, version2Record(t, witnessState{epoch: 2, holder: "b",
		id: witnessIDPairA}), 0o600)
	session51File(t, path+".tmp", []byte("cut short"), 0o644)
	w := openStatefulWitness(t, path, lease)
	if answer := w.ask(t, leaseRenew, "b", 2); !answer.granted {
		t.Fatalf("b's renewal after the upgrade: %+v, want granted", answer)
	}
	record, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(record) != witnessStateSizeVersion2 {
		t.Fatalf("a renewal at the holder's epoch rewrote the state file (%d bytes)",
			len(record))
	}
	if answer := w.ask(t, leaseRelease, "b", 2); !answer.granted {
		t.Fatalf("b's release: %+v, want granted", answer)
	}
	w.witness.Close()
	if record, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if version := binary.LittleEndian.Uint32(record[witnessStateOffsetVersion:]); version !=
		witnessStateVersion || len(record) != witnessStateSize {
		t.Fatalf("state file after the release: version %d, %d bytes", version, len(record))
	}
	wantMode(t, "the version 3 state file", path, 0o600)
	w = openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	wantWritten(t, "restarted on version 3", w.ask(t, leaseProbeWritten, "a", 1), "b", 2, true,
		2)
}
