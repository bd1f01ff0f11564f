package replication

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/wal"
)

// statefulWitness is a witness on a free loopback port with its state in path, on a
// manual clock (so that the lease rules under test depend on no scheduling delay).
type statefulWitness struct {
	witness *Witness
	address string
	clock   *manualClock
}

// openStatefulWitness opens a witness of lease with its state file at path; the test
// closes it (a restart is a close and an open on the same path).
func openStatefulWitness(t *testing.T, path string, lease time.Duration) statefulWitness {
	t.Helper()
	return openStatefulWitnessLogging(t, path, lease, testLogger)
}

// openStatefulWitnessLogging is openStatefulWitness logging to logger.
func openStatefulWitnessLogging(t *testing.T, path string, lease time.Duration,
	logger *slog.Logger) statefulWitness {
	t.Helper()
	return openStatefulWitnessWith(t, WitnessConfig{Key: testKey, LeaseDuration: lease,
		Logger: logger, StatePath: path})
}

// openStatefulWitnessWith opens a witness of config on a free port, its clock manual.
func openStatefulWitnessWith(t *testing.T, config WitnessConfig) statefulWitness {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	config.Listener = listener
	witness, err := OpenWitness(config)
	if err != nil {
		t.Fatal(err)
	}
	return statefulWitness{witness: witness, address: listener.Addr().String(),
		clock: setManualClock(witness)}
}

// ask sends one lease request and returns the answer.
func (s statefulWitness) ask(t *testing.T, kind byte, node string, epoch uint64) leaseAnswer {
	t.Helper()
	answer, err := askWitness(context.Background(), s.address, nil, testKey, kind, node, epoch,
		time.Now().Add(waitMax))
	if err != nil {
		t.Fatal(err)
	}
	return answer
}

// takeOverTwice brings the witness at path to the state after a failover: a held the
// lease at epoch 1, stopped renewing, and b took it over at epoch 2 (names a and b).
func takeOverTwice(t *testing.T, path, a, b string, lease time.Duration) {
	t.Helper()
	w := openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond) // Past the start-up wait.
	if answer := w.ask(t, leaseAcquire, a, 0); !answer.granted || answer.epoch != 1 {
		t.Fatalf("first acquisition by %s: %+v, want granted at epoch 1", a, answer)
	}
	w.clock.advance(lease + time.Millisecond) // a's lease ran out.
	if answer := w.ask(t, leaseAcquire, b, 1); !answer.granted || answer.epoch != 2 {
		t.Fatalf("take-over by %s: %+v, want granted at epoch 2", b, answer)
	}
	if answer := w.ask(t, leaseRenew, b, 2); !answer.granted {
		t.Fatalf("renewal by %s at epoch 2: %+v, want granted", b, answer)
	}
}

// TestRestartedWitnessRefusesTheStalePrimary: b took over from a (epoch 2 after 1); then
// a restarts as a primary on its stale log and the witness restarts too. a renews at
// epoch 1 first: the witness must refuse it (it remembers epoch 2), and grant b's renewal
// at epoch 2, so that b stays the primary. (Without the state file a restarted witness
// granted a's renewal and refused b's, and b fenced itself: the stale a was the primary.)
func TestRestartedWitnessRefusesTheStalePrimary(t *testing.T) {
	lease := testLeaseDuration
	path := filepath.Join(t.TempDir(), "witness.state")
	takeOverTwice(t, path, "a", "b", lease)
	w := openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	if answer := w.ask(t, leaseRenew, "a", 1); answer.granted || answer.holder != "b" ||
		answer.epoch != 2 {
		t.Fatalf("stale a's renewal at epoch 1: %+v, want refused, held by b at epoch 2", answer)
	}
	if answer := w.ask(t, leaseRenew, "b", 2); !answer.granted || answer.epoch != 2 {
		t.Fatalf("b's renewal at epoch 2: %+v, want granted", answer)
	}
}

// TestRestartedWitnessRefusesTheStalePrimaryOfTheSameName: the same scenario with both
// nodes under one name (both defaulting to the same --addr). The witness cannot tell them
// apart by name, but the stale one renews at epoch 1: it must be refused, or both count
// on the lease at once.
func TestRestartedWitnessRefusesTheStalePrimaryOfTheSameName(t *testing.T) {
	lease := testLeaseDuration
	path := filepath.Join(t.TempDir(), "witness.state")
	takeOverTwice(t, path, "node", "node", lease)
	w := openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	if answer := w.ask(t, leaseRenew, "node", 1); answer.granted || answer.epoch != 2 {
		t.Fatalf("stale renewal at epoch 1: %+v, want refused at epoch 2", answer)
	}
	if answer := w.ask(t, leaseRenew, "node", 2); !answer.granted || answer.epoch != 2 {
		t.Fatalf("renewal at epoch 2: %+v, want granted", answer)
	}
}

// TestRestartedWitnessAcquisitionRaisesTheStoredEpoch: an acquisition after a restart is
// granted above every epoch granted before it, even when the node asks with an older
// one: two grants of one epoch would be two primaries that fence nobody.
func TestRestartedWitnessAcquisitionRaisesTheStoredEpoch(t *testing.T) {
	lease := testLeaseDuration
	path := filepath.Join(t.TempDir(), "witness.state")
	takeOverTwice(t, path, "a", "b", lease)
	w := openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	if answer := w.ask(t, leaseAcquire, "a", 1); answer.granted {
		t.Fatalf("an acquisition at once after the restart: %+v, want refused", answer)
	}
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "a", 1); !answer.granted || answer.epoch != 3 {
		t.Fatalf("acquisition after the start-up wait: %+v, want granted at epoch 3", answer)
	}
	w.witness.Close()
	// The grant of epoch 3 was stored before it was answered: the next restart goes on
	// from it.
	w = openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "b", 2); !answer.granted || answer.epoch != 4 {
		t.Fatalf("acquisition after a second restart: %+v, want granted at epoch 4", answer)
	}
}

// TestWitnessRefusesToStartOnAnUnusableStateFile: a state file that exists but does not
// verify (one flipped bit, cut short, another version) or cannot be read (a directory in
// its place) must stop the witness at start, naming the problem: starting at epoch 0
// would let a stale primary renew.
func TestWitnessRefusesToStartOnAnUnusableStateFile(t *testing.T) {
	good, err := encodeWitnessState(witnessState{epoch: 7, holder: "b"})
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[witnessStateOffsetEpoch] ^= 1
	otherVersion, _ := encodeWitnessState(witnessState{epoch: 7, holder: "b"})
	otherVersion[witnessStateOffsetVersion] = witnessStateVersion + 1
	otherMagic := append([]byte(nil), good...)
	otherMagic[witnessStateOffsetMagic] = 'X'
	for _, test := range []struct {
		name   string
		record []byte
		want   string
	}{
		{"flipped bit", flipped, "checksum"},
		{"cut short", good[:witnessStateSize-1], "bytes"},
		{"other version", otherVersion, "version"},
		{"other magic", otherMagic, "magic"},
		{"empty", nil, "bytes"},
		{"directory", nil, "directory"},
	} {
		path := filepath.Join(t.TempDir(), "witness.state")
		if test.name == "directory" {
			err = os.Mkdir(path, 0o700)
		} else {
			err = os.WriteFile(path, test.record, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		witness, err := OpenWitness(WitnessConfig{Listener: listener, Key: testKey,
			Logger: testLogger, StatePath: path})
		if err == nil {
			witness.Close()
			t.Fatalf("%s: the witness started on an unusable state file", test.name)
		}
		if !errors.Is(err, ErrWitnessState) || !strings.Contains(err.Error(), test.want) ||
			!strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want ErrWitnessState naming %s and %q", test.name, err,
				path, test.want)
		}
		if _, err := net.Dial("tcp", listener.Addr().String()); err == nil {
			t.Errorf("%s: the listener is still open after a refused start", test.name)
		}
	}
	// Good records load, up to the longest name a record holds.
	longest := strings.Repeat("n", NodeNameBytesMax)
	for _, holder := range []string{"b", longest} {
		record, err := encodeWitnessState(witnessState{epoch: 7, holder: holder})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "witness.state")
		if err := os.WriteFile(path, record, 0o600); err != nil {
			t.Fatal(err)
		}
		if loaded, err := loadWitnessState(path); err != nil || loaded.epoch != 7 ||
			loaded.holder != holder {
			t.Fatalf("a good record: %+v, %v; want epoch 7, holder %q", loaded, err, holder)
		}
	}
}

// TestWitnessStoresTheFirstHolderOfItsEpoch: a witness with no holder yet (a new state
// file) grants a renewal at the stored epoch 0 and must store the holder although the
// epoch did not change (a restarted witness names the holder in its refusals, and keeps
// its lease live); once that lease has run out, another node cannot take it by renewal
// at the same epoch (two histories under one epoch would defeat fencing and the
// divergence check), only by an acquisition, at a new epoch, which the file then names.
func TestWitnessStoresTheFirstHolderOfItsEpoch(t *testing.T) {
	lease := testLeaseDuration
	path := filepath.Join(t.TempDir(), "witness.state")
	w := openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	if answer := w.ask(t, leaseRenew, "a", 0); !answer.granted {
		t.Fatalf("a's renewal at epoch 0: %+v, want granted", answer)
	}
	if state, err := loadWitnessState(path); err != nil || state.epoch != 0 || state.holder != "a" {
		t.Fatalf("state file: epoch %d, holder %q, %v; want 0, a", state.epoch, state.holder, err)
	}
	w.clock.advance(lease + time.Millisecond) // a's lease ran out.
	if answer := w.ask(t, leaseRenew, "c", 0); answer.granted || answer.holder != "a" {
		t.Fatalf("c's renewal at epoch 0 once a's lease ran out: %+v, want refused, held by a",
			answer)
	}
	if answer := w.ask(t, leaseAcquire, "c", 0); !answer.granted || answer.epoch != 1 {
		t.Fatalf("c's acquisition once a's lease ran out: %+v, want granted at epoch 1", answer)
	}
	if state, err := loadWitnessState(path); err != nil || state.epoch != 1 || state.holder != "c" {
		t.Fatalf("state file: epoch %d, holder %q, %v; want 1, c", state.epoch, state.holder, err)
	}
}

// TestWitnessStartRefusedWhereTheStateCannotBeCreated: a missing state file is created
// at start, so that a path the witness cannot write stops it at start rather than
// refusing every grant later.
func TestWitnessStartRefusedWhereTheStateCannotBeCreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-directory", "witness.state")
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if witness, err := OpenWitness(WitnessConfig{Listener: listener, Key: testKey,
		Logger: testLogger, StatePath: path}); err == nil {
		witness.Close()
		t.Fatal("the witness started with a state file it cannot create")
	}
}

// TestWitnessFailedStateWriteRefusesTheGrant: when the state cannot be written, a grant
// that changes it (an acquisition, a renewal at a higher epoch) is refused and changes
// nothing, neither in memory nor on disk; the holder's renewal at its epoch needs no
// write and is still granted. Once the file can be written again, the next acquisition is
// granted at the next epoch (no epoch was consumed by the refused one).
func TestWitnessFailedStateWriteRefusesTheGrant(t *testing.T) {
	lease := testLeaseDuration
	path := filepath.Join(t.TempDir(), "witness.state")
	w := openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "a", 0); !answer.granted || answer.epoch != 1 {
		t.Fatalf("first acquisition: %+v, want granted at epoch 1", answer)
	}
	t.Cleanup(func() { writeWitnessStateDurably = wal.WriteFileDurably })
	writeWitnessStateDurably = func(string, os.FileMode, func(*os.File) error) error {
		return errors.New("injected: the state file cannot be written")
	}
	if answer := w.ask(t, leaseRenew, "a", 1); !answer.granted {
		t.Fatalf("the holder's renewal at its epoch (no write): %+v, want granted", answer)
	}
	if answer := w.ask(t, leaseRenew, "a", 2); answer.granted || answer.epoch != 1 {
		t.Fatalf("a renewal at a higher epoch that cannot be stored: %+v, want refused at 1",
			answer)
	}
	w.clock.advance(lease + time.Millisecond) // a's lease ran out.
	if answer := w.ask(t, leaseAcquire, "b", 1); answer.granted {
		t.Fatalf("an acquisition that cannot be stored: %+v, want refused", answer)
	}
	if state, err := loadWitnessState(path); err != nil || state.epoch != 1 || state.holder != "a" {
		t.Fatalf("state file after the refused grants: epoch %d, holder %q, %v; want 1, a",
			state.epoch, state.holder, err)
	}
	writeWitnessStateDurably = wal.WriteFileDurably
	if answer := w.ask(t, leaseAcquire, "b", 1); !answer.granted || answer.epoch != 2 {
		t.Fatalf("acquisition once the file can be written: %+v, want granted at epoch 2",
			answer)
	}
}

// TestWitnessStateRecordsNoLongerNameThanItsBound: a grant to a node whose name is longer
// than the record holds cannot be persisted, so it is refused, and the witness's log says
// why (it used to say that the state file could not be written, which sends an operator
// to the disk); in memory (no state file) it is granted as before. A node refuses such a
// name at start (TestNodeNameLongerThanTheWitnessRecordsIsRefused).
func TestWitnessStateRecordsNoLongerNameThanItsBound(t *testing.T) {
	lease := testLeaseDuration
	long := strings.Repeat("n", NodeNameBytesMax+1)
	messages := &recordingHandler{}
	w := openStatefulWitnessLogging(t, filepath.Join(t.TempDir(), "witness.state"), lease,
		slog.New(messages))
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, long, 0); answer.granted {
		t.Fatalf("acquisition by a name of %d bytes: %+v, want refused", len(long), answer)
	}
	messages.mutex.Lock()
	said := strings.Join(messages.messages, "; ")
	found := false
	for i, message := range messages.messages {
		if strings.Contains(message, "name is longer than the state file records") {
			found = messages.attrs[i]["bytes_max"].Int64() == NodeNameBytesMax
		}
	}
	messages.mutex.Unlock()
	if !found || strings.Contains(said, "cannot be written") {
		t.Fatalf("the witness logged %q; want the name's length given as the reason, with "+
			"bytes_max %d", said, NodeNameBytesMax)
	}
	if answer := w.ask(t, leaseAcquire, long[:NodeNameBytesMax], 0); !answer.granted {
		t.Fatalf("acquisition by a name of %d bytes: %+v, want granted",
			NodeNameBytesMax, answer)
	}
}

// TestRestartedWitnessKeepsTheStoredHoldersLease: b took over from a at epoch 2; a then
// rejoined b as its standby, which stored b's epoch (2) in a's epoch file. The witness
// restarts, and a restarts too, as a primary (a unit that starts it as one) on its log,
// which may lack writes b acknowledged alone (async, or degraded). a renews at epoch 2
// before b does. A witness that had not restarted would refuse it (b's lease is live),
// and a restarted one must too: b may still count on the lease it was granted before the
// restart, so for one lease after it only the stored holder may renew. Granting a's
// renewal would refuse b's next one, and b would fence itself: two primaries of one epoch
// in turn, and b's acknowledged writes gone. Once a lease has passed with no renewal
// from b, b counts on no lease any more, and the usual rule holds again: another node
// takes the lease only by an acquisition, at a new epoch, never by renewal.
func TestRestartedWitnessKeepsTheStoredHoldersLease(t *testing.T) {
	lease := testLeaseDuration
	path := filepath.Join(t.TempDir(), "witness.state")
	takeOverTwice(t, path, "a", "b", lease)
	w := openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	if answer := w.ask(t, leaseRenew, "a", 2); answer.granted || answer.holder != "b" ||
		answer.epoch != 2 {
		t.Fatalf("a's renewal at epoch 2 at once after the restart: %+v, want refused, held "+
			"by b at epoch 2", answer)
	}
	if answer := w.ask(t, leaseRenew, "b", 2); !answer.granted || answer.epoch != 2 {
		t.Fatalf("b's renewal at epoch 2 after the restart: %+v, want granted", answer)
	}
	if state, err := loadWitnessState(path); err != nil || state.epoch != 2 || state.holder != "b" {
		t.Fatalf("state file: epoch %d, holder %q, %v; want 2, b", state.epoch, state.holder, err)
	}
	w.witness.Close()

	// Restarted again, and b never renews: one lease later its lease has run out.
	w = openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseRenew, "a", 2); answer.granted {
		t.Fatalf("a's renewal at epoch 2 one lease after the restart, b silent: %+v, want "+
			"refused (only an acquisition, at a new epoch, takes b's lease)", answer)
	}
	if answer := w.ask(t, leaseAcquire, "a", 2); !answer.granted || answer.epoch != 3 {
		t.Fatalf("a's acquisition one lease after the restart, b silent: %+v, want granted "+
			"at epoch 3", answer)
	}
}

// FuzzDecodeWitnessState: the state file is read back from disk, where anything may be
// found (a torn or foreign file, a bit flipped). Decoding any bytes must not panic, must
// refuse what this encoder cannot have written as such (a name over the bound), and what
// it accepts must round-trip through the encoder. Each input is decoded as given and
// again with its checksum made right, so that the fuzzer reaches the checks after it.
func FuzzDecodeWitnessState(f *testing.F) {
	for _, holder := range []string{"", "b", "10.0.0.2:7400", strings.Repeat("n", NodeNameBytesMax)} {
		record, err := encodeWitnessState(witnessState{epoch: 7, holder: holder})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(record)
	}
	long, _ := encodeWitnessState(witnessState{epoch: 1, holder: "b"})
	long[witnessStateOffsetHolderLength] = 0xff // Length 255+256k: over the bound.
	long[witnessStateOffsetHolderLength+1] = 0x01
	f.Add(long)
	f.Add([]byte(witnessStateMagic))
	// Records with an id (nothing else sets its length), one whose id length is over the
	// bound, and a version 1 record as an earlier build wrote it.
	withID, err := encodeWitnessState(witnessState{epoch: 7, holder: "b", id: witnessIDPairA})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(withID)
	// A released grant (version 3), and one of version 2 (session 52).
	released, err := encodeWitnessState(witnessState{epoch: 7, holder: "b", id: witnessIDPairA,
		released: true, writtenBefore: 5})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(released)
	f.Add(withID[:witnessStateSizeVersion2])
	longID := append([]byte(nil), withID...)
	longID[witnessStateOffsetIDLength] = 0xff
	f.Add(longID)
	if version1, err := os.ReadFile(filepath.Join("testdata", "witness_state_v1.bin")); err == nil {
		f.Add(version1)
	} else {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, record []byte) {
		inputs := [][]byte{record}
		if len(record) == witnessStateSize || len(record) == witnessStateSizeVersion2 ||
			len(record) == witnessStateSizeVersion1 {
			fixed := append([]byte(nil), record...)
			sealRecord(fixed, witnessStateOffsetCRC)
			inputs = append(inputs, fixed)
		}
		for _, input := range inputs {
			state, err := decodeWitnessState(input)
			if err != nil {
				continue
			}
			if len(state.holder) > NodeNameBytesMax {
				t.Fatalf("accepted a holder of %d bytes", len(state.holder))
			}
			if state.id != "" && ValidateWitnessID(state.id) != nil {
				t.Fatalf("accepted an invalid witness id %q", state.id)
			}
			if state.writtenBefore > state.epoch {
				t.Fatalf("accepted written before epoch %d above epoch %d",
					state.writtenBefore, state.epoch)
			}
			if state.released && state.holder == "" {
				t.Fatalf("accepted a grant released without a holder: %+v", state)
			}
			again, err := encodeWitnessState(state)
			if err != nil {
				t.Fatalf("an accepted record does not encode again: %v", err)
			}
			if stateAgain, err := decodeWitnessState(again); err != nil || stateAgain != state {
				t.Fatalf("round trip: %+v %v, want %+v", stateAgain, err, state)
			}
		}
	})
}

// TestWitnessStateWrittenButNotMadeDurable: the write of a grant reaches the file (it
// was renamed into place) but its directory fsync fails. The grant is refused and memory
// is unchanged: the holder keeps renewing at its epoch. The file is then ahead of what
// the witness answered; restarted on it, the witness refuses renewals below the file's
// epoch (the holder fences itself: unavailable, not unsafe) and grants the next failover
// above it, so no epoch is ever granted twice.
func TestWitnessStateWrittenButNotMadeDurable(t *testing.T) {
	lease := testLeaseDuration
	path := filepath.Join(t.TempDir(), "witness.state")
	w := openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "a", 0); !answer.granted || answer.epoch != 1 {
		t.Fatalf("first acquisition: %+v, want granted at epoch 1", answer)
	}
	t.Cleanup(func() { writeWitnessStateDurably = wal.WriteFileDurably })
	writeWitnessStateDurably = func(path string, mode os.FileMode, write func(*os.File) error) error {
		if err := wal.WriteFileDurably(path, mode, write); err != nil {
			return err
		}
		return errors.New("injected: the directory fsync failed after the rename")
	}
	w.clock.advance(lease + time.Millisecond) // a's lease ran out.
	if answer := w.ask(t, leaseAcquire, "b", 1); answer.granted || answer.epoch != 1 {
		t.Fatalf("an acquisition whose write was not made durable: %+v, want refused at 1",
			answer)
	}
	if answer := w.ask(t, leaseRenew, "a", 1); !answer.granted || answer.epoch != 1 {
		t.Fatalf("a's renewal at its epoch after the refused grant: %+v, want granted", answer)
	}
	writeWitnessStateDurably = wal.WriteFileDurably
	w.witness.Close()

	w = openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	if answer := w.ask(t, leaseRenew, "a", 1); answer.granted || answer.epoch != 2 {
		t.Fatalf("a's renewal at 1 on a file that holds 2: %+v, want refused at 2", answer)
	}
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "b", 1); !answer.granted || answer.epoch != 3 {
		t.Fatalf("failover after the restart: %+v, want granted at 3", answer)
	}
}

// TestWitnessConcurrentAcquisitionsGrantOnce: acquisitions from several nodes at once
// (the witness serves each connection on its own goroutine) are decided and stored one at
// a time: exactly one is granted, and the file names that one at the granted epoch.
func TestWitnessConcurrentAcquisitionsGrantOnce(t *testing.T) {
	const nodes = 8
	lease := testLeaseDuration
	path := filepath.Join(t.TempDir(), "witness.state")
	w := openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond)
	answers := make(chan leaseAnswer, nodes)
	failures := make(chan error, nodes)
	for index := range nodes {
		go func() {
			answer, err := askWitness(context.Background(), w.address, nil, testKey,
				leaseAcquire, string(rune('a'+index)), 0, time.Now().Add(waitMax))
			if err != nil {
				failures <- err
				return
			}
			answers <- answer
		}()
	}
	var granted []leaseAnswer
	for range nodes {
		select {
		case err := <-failures:
			t.Fatal(err)
		case answer := <-answers:
			if answer.granted {
				granted = append(granted, answer)
			}
		}
	}
	if len(granted) != 1 || granted[0].epoch != 1 {
		t.Fatalf("granted %+v, want exactly one grant, at epoch 1", granted)
	}
	if state, err := loadWitnessState(path); err != nil || state.epoch != 1 ||
		state.holder != granted[0].holder {
		t.Fatalf("state file: epoch %d, holder %q, %v; want 1, %q", state.epoch, state.holder, err,
			granted[0].holder)
	}
}
