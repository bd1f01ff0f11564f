package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sequent/core/shard"
	"sequent/wal"
)

// probeWritten asks the witness at address for the lease and its written epoch
// (leaseProbeWritten), as a node named "observer" at epoch 0 (a probe changes nothing).
func probeWritten(t *testing.T, address string) leaseAnswer {
	t.Helper()
	answer, err := askWitness(context.Background(), address, nil, testKey, leaseProbeWritten,
		"observer", 0, time.Now().Add(waitMax))
	if err != nil {
		t.Fatal(err)
	}
	return answer
}

// wantWritten fails the test unless answer is a written probe's answer of holder at
// epoch, released as said, with written epoch written.
func wantWritten(t *testing.T, what string, answer leaseAnswer, holder string, epoch uint64,
	released bool, written uint64) {
	t.Helper()
	if !answer.writtenKnown || answer.granted || answer.holder != holder ||
		answer.epoch != epoch || answer.released != released || answer.writtenEpoch != written {
		t.Fatalf("%s: %+v, want %s at epoch %d, released %v, written epoch %d", what, answer,
			holder, epoch, released, written)
	}
}

// TestGrant52ReleaseLowersTheWrittenEpoch: a held the lease at epoch 1, b took it over at
// epoch 2 and released it (its promotion failed for good). The written epoch falls back
// to 1, so that a (at epoch 1) is no longer taken for stale; a plain probe (what a node of
// an earlier build sends) still answers b at epoch 2, as before. Only b, at the grant's
// epoch, releases it; a repeated release is granted again (its reply may have been lost);
// b's renewal of the released grant is refused; the lease ends at the release, so a
// acquires at once, at epoch 3, which is then written; a late release of epoch 2 changes
// nothing.
func TestGrant52ReleaseLowersTheWrittenEpoch(t *testing.T) {
	lease := time.Second
	w := openStatefulWitness(t, filepath.Join(t.TempDir(), "witness.state"), lease)
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "a", 0); !answer.granted || answer.epoch != 1 {
		t.Fatalf("a's acquisition: %+v, want granted at epoch 1", answer)
	}
	wantWritten(t, "a holding", w.ask(t, leaseProbeWritten, "x", 0), "a", 1, false, 1)
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "b", 1); !answer.granted || answer.epoch != 2 {
		t.Fatalf("b's take-over: %+v, want granted at epoch 2", answer)
	}
	wantWritten(t, "b granted", w.ask(t, leaseProbeWritten, "a", 1), "b", 2, false, 2)
	for _, other := range []struct {
		node  string
		epoch uint64
	}{{"a", 2}, {"b", 1}, {"b", 3}, {"", 2}} {
		if answer := w.ask(t, leaseRelease, other.node, other.epoch); answer.granted {
			t.Fatalf("release by %q at epoch %d: %+v, want refused (b holds epoch 2)",
				other.node, other.epoch, answer)
		}
	}
	wantWritten(t, "releases refused", w.ask(t, leaseProbeWritten, "a", 1), "b", 2, false, 2)
	for attempt := 1; attempt <= 2; attempt++ {
		if answer := w.ask(t, leaseRelease, "b", 2); !answer.granted {
			t.Fatalf("b's release %d: %+v, want granted", attempt, answer)
		}
	}
	wantWritten(t, "b released", w.ask(t, leaseProbeWritten, "a", 1), "b", 2, true, 1)
	if answer := w.ask(t, leaseProbe, "a", 1); answer.writtenKnown || answer.holder != "b" ||
		answer.epoch != 2 {
		t.Fatalf("plain probe after the release: %+v, want b at epoch 2 without the written "+
			"extension (as an earlier node reads it)", answer)
	}
	if answer := w.ask(t, leaseRenew, "b", 2); answer.granted {
		t.Fatalf("b's renewal of the grant it released: %+v, want refused", answer)
	}
	// No clock advance: the release ended b's lease.
	if answer := w.ask(t, leaseAcquire, "a", 1); !answer.granted || answer.epoch != 3 {
		t.Fatalf("a's acquisition after the release: %+v, want granted at epoch 3", answer)
	}
	wantWritten(t, "a granted after", w.ask(t, leaseProbeWritten, "b", 1), "a", 3, false, 3)
	if answer := w.ask(t, leaseRelease, "b", 2); answer.granted {
		t.Fatalf("b's release of epoch 2 after a's grant: %+v, want refused", answer)
	}
	wantWritten(t, "late release", w.ask(t, leaseProbeWritten, "b", 1), "a", 3, false, 3)
}

// TestGrant52WrittenEpochCountsTheAcquirersEpoch: a grant records, as the epoch to fall
// back on, the acquiring node's epoch when it is above the written one (its primary wrote
// at it, in a history this witness did not see): released, the grant falls back to it,
// not below.
func TestGrant52WrittenEpochCountsTheAcquirersEpoch(t *testing.T) {
	lease := time.Second
	w := openStatefulWitness(t, filepath.Join(t.TempDir(), "witness.state"), lease)
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "b", 5); !answer.granted || answer.epoch != 6 {
		t.Fatalf("b's acquisition at epoch 5: %+v, want granted at epoch 6", answer)
	}
	if answer := w.ask(t, leaseRelease, "b", 6); !answer.granted {
		t.Fatalf("b's release: %+v, want granted", answer)
	}
	wantWritten(t, "released", w.ask(t, leaseProbeWritten, "a", 1), "b", 6, true, 5)
}

// TestGrant52ReleaseSurvivesAWitnessRestart: the release is in the state file (version
// 3) before it is answered, so a restarted witness still answers the written epoch below
// the released grant; and the grant after it records that epoch too.
func TestGrant52ReleaseSurvivesAWitnessRestart(t *testing.T) {
	lease := time.Second
	path := filepath.Join(t.TempDir(), "witness.state")
	takeOverTwice(t, path, "a", "b", lease)
	w := openStatefulWitness(t, path, lease)
	if answer := w.ask(t, leaseRelease, "b", 2); !answer.granted {
		t.Fatalf("b's release: %+v, want granted", answer)
	}
	w.witness.Close()
	record, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if version := binary.LittleEndian.Uint32(record[witnessStateOffsetVersion:]); version != 3 ||
		len(record) != witnessStateSize {
		t.Fatalf("state file of version %d, %d bytes: want version 3, %d bytes", version,
			len(record), witnessStateSize)
	}
	w = openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	wantWritten(t, "after the restart", w.ask(t, leaseProbeWritten, "a", 1), "b", 2, true, 1)
	w.clock.advance(lease + time.Millisecond) // Past the start-up wait.
	if answer := w.ask(t, leaseAcquire, "a", 1); !answer.granted || answer.epoch != 3 {
		t.Fatalf("a's acquisition: %+v, want granted at epoch 3", answer)
	}
	if answer := w.ask(t, leaseRelease, "a", 3); !answer.granted {
		t.Fatalf("a's release: %+v, want granted", answer)
	}
	wantWritten(t, "a released too", w.ask(t, leaseProbeWritten, "b", 1), "a", 3, true, 1)
}

// version2Record is a state record as the witnesses of sessions 38 to 51 wrote it.
func version2Record(t *testing.T, state witnessState) []byte {
	t.Helper()
	record, err := encodeWitnessState(state)
	if err != nil {
		t.Fatal(err)
	}
	record = record[:witnessStateSizeVersion2]
	binary.LittleEndian.PutUint32(record[witnessStateOffsetVersion:],
		witnessStateVersionBeforeRelease)
	binary.LittleEndian.PutUint32(record[witnessStateOffsetCRC:], 0)
	sealRecord(record, witnessStateOffsetCRC)
	return record
}

// TestGrant52StateFileOfVersion2ReadsAsWritten: a state file written before session 52
// knows nothing below its epoch, so its grant reads as written, and a release of it (its
// grantee was granted by the earlier build, then the witness was upgraded) ends the lease
// but lowers nothing: the stale-node check answers as before.
func TestGrant52StateFileOfVersion2ReadsAsWritten(t *testing.T) {
	lease := time.Second
	path := filepath.Join(t.TempDir(), "witness.state")
	if err := os.WriteFile(path, version2Record(t, witnessState{epoch: 2, holder: "b",
		id: witnessIDPairA}), 0o600); err != nil {
		t.Fatal(err)
	}
	w := openStatefulWitness(t, path, lease)
	defer w.witness.Close()
	if w.witness.ID() != witnessIDPairA {
		t.Fatalf("id %q, want the version 2 file's %q", w.witness.ID(), witnessIDPairA)
	}
	wantWritten(t, "version 2 file", w.ask(t, leaseProbeWritten, "a", 1), "b", 2, false, 2)
	if answer := w.ask(t, leaseRelease, "b", 2); !answer.granted {
		t.Fatalf("b's release: %+v, want granted", answer)
	}
	wantWritten(t, "released", w.ask(t, leaseProbeWritten, "a", 1), "b", 2, true, 2)
}

// TestGrant52WitnessOfAnEarlierBuildIsSentNoRelease: a witness of sessions 39 to 51 does
// not announce releases: a node sends it no release (errWitnessReleaseNotServed: nothing
// sent, which it would refuse) and a plain probe in place of a written one (the answer
// without the written extension: the check as before).
func TestGrant52WitnessOfAnEarlierBuildIsSentNoRelease(t *testing.T) {
	witness, address := startTestWitness(t, time.Second)
	witness.beforeReleases.Store(true)
	if _, err := askWitness(context.Background(), address, nil, testKey, leaseRelease, "b", 2,
		time.Now().Add(waitMax)); !errors.Is(err, errWitnessReleaseNotServed) {
		t.Fatalf("release to an earlier witness: %v, want errWitnessReleaseNotServed", err)
	}
	if answer := probeWritten(t, address); answer.writtenKnown {
		t.Fatalf("written probe of an earlier witness: %+v, want a plain probe's answer",
			answer)
	}
	witness.beforeReleases.Store(false)
	if answer := probeWritten(t, address); !answer.writtenKnown {
		t.Fatalf("written probe of this build's witness: %+v, want the written extension",
			answer)
	}
}

// givenUpSetUp is what startGivenUp leaves: a (its config, a closed), and b, a standby
// that gave its grant (epoch 2) up, still running, logging to messages.
type givenUpSetUp struct {
	oldConfig NodeConfig
	standby   *testNode
	messages  *recordingHandler
	witness   *Witness
	lastOp    uint64
}

// startGivenUp runs the review51a scenario up to b's giving its grant up: a pair with a
// witness (prepared first by prepare, if set), a closed, b granted the lease but unable
// to store its epoch.
func startGivenUp(t *testing.T, prepare func(*Witness)) givenUpSetUp {
	t.Helper()
	var messages *recordingHandler
	primary, standby, witness := startWitnessPairWith(t, testLeaseDuration, witnessPairOptions{
		newStandbyLogger: func() *slog.Logger {
			messages = &recordingHandler{}
			return slog.New(messages)
		},
		beforeFirstWrite: func(standby *testNode) { blockEpochFile(t, standby) }})
	if prepare != nil {
		prepare(witness) // Before a is closed: b cannot give its grant up yet.
	}
	setup := givenUpSetUp{oldConfig: primary.config, standby: standby, messages: messages,
		witness: witness, lastOp: primary.Log().LastOp()}
	primary.Close()
	waitFor(t, "the standby to give its grant up", func() bool {
		return messages.logged(grantGivenUpMessage)
	})
	if standby.Role() != shard.RoleStandby || standby.Log().LastOp() != setup.lastOp {
		t.Fatalf("setup: b is %s with its log at op %d, want a standby at op %d",
			standby.Role(), standby.Log().LastOp(), setup.lastOp)
	}
	return setup
}

// restartOldPrimary restarts a (config) as the standby of b (closed: a starts from its
// own log), logging to the handler it returns.
func restartOldPrimary(t *testing.T, config NodeConfig, standbyOf string) (*testNode,
	*recordingHandler) {
	t.Helper()
	logged := &recordingHandler{}
	config.Listen, config.StandbyOf = "", standbyOf
	config.PrimaryWaitAtStart = 100 * time.Millisecond
	config.Logger = slog.New(logged)
	old := startNode(t, config)
	t.Cleanup(func() { old.Close() })
	return old, logged
}

// wantStale waits for the restarted old primary's failover watch to decide, and fails
// the test unless it refused as stale.
func wantStale(t *testing.T, old *testNode, logged *recordingHandler) {
	t.Helper()
	waitFor(t, "the old primary's failover watch to decide", func() bool {
		return old.Role() != shard.RoleStandby || logged.logged(staleStandbyMessage)
	})
	if role := old.Role(); role != shard.RoleStandby {
		t.Fatalf("the old primary was promoted (%s at epoch %d) while the witness's grant "+
			"to b counts as written", role, old.Epoch())
	}
}

// TestGrant52LostReleaseKeepsTheOldPrimaryWaiting: b's release never reaches the witness
// (lost on the way, and b stops before sending it again): the grant counts as written,
// so a, restarted as b's standby, is not promoted automatically, as before session 52.
func TestGrant52LostReleaseKeepsTheOldPrimaryWaiting(t *testing.T) {
	setup := startGivenUp(t, func(w *Witness) { w.releasesToDrop.Store(1 << 20) })
	if outcome, _ := setup.messages.attr(grantGivenUpMessage, "release"); outcome.String() !=
		releaseNoAnswer {
		t.Fatalf("release outcome %q, want %q", outcome, releaseNoAnswer)
	}
	setup.standby.Close()
	wantWritten(t, "release lost", probeWritten(t, setup.standby.config.Witness), "b", 2,
		false, 2)
	old, logged := restartOldPrimary(t, setup.oldConfig, setup.standby.config.Listen)
	wantStale(t, old, logged)
}

// TestGrant52ReleaseWithoutAnswerIsSentAgain: b's first release gets no answer (lost on
// the way); its failover watch sends it again at its next tick, before anything else, and
// the witness records it.
func TestGrant52ReleaseWithoutAnswerIsSentAgain(t *testing.T) {
	setup := startGivenUp(t, func(w *Witness) { w.releasesToDrop.Store(1) })
	if outcome, _ := setup.messages.attr(grantGivenUpMessage, "release"); outcome.String() !=
		releaseNoAnswer {
		t.Fatalf("first release's outcome %q, want %q", outcome, releaseNoAnswer)
	}
	const released = "replication: the grant given up is released at the witness"
	waitFor(t, "b to send its release again", func() bool {
		return setup.messages.logged(released)
	})
	outcome, _ := setup.messages.attr(released, "release")
	epoch, _ := setup.messages.attr(released, "epoch")
	if outcome.String() != releaseRecorded || epoch.Uint64() != 2 {
		t.Fatalf("release sent again: %q at epoch %v, want %q at epoch 2", outcome, epoch,
			releaseRecorded)
	}
}

// TestGrant52EarlierWitnessKeepsTheOldPrimaryWaiting: with a witness of sessions 39 to
// 51, b sends no release (its log says the grant counts as written) and a, restarted as
// b's standby, is not promoted automatically: as before session 52.
func TestGrant52EarlierWitnessKeepsTheOldPrimaryWaiting(t *testing.T) {
	setup := startGivenUp(t, func(w *Witness) { w.beforeReleases.Store(true) })
	if outcome, _ := setup.messages.attr(grantGivenUpMessage, "release"); outcome.String() !=
		releaseNotServed {
		t.Fatalf("release outcome %q, want %q", outcome, releaseNotServed)
	}
	setup.standby.Close()
	old, logged := restartOldPrimary(t, setup.oldConfig, setup.standby.config.Listen)
	wantStale(t, old, logged)
}

// TestGrant52GranteeThatStoredItsEpochNeverReleases: b is promoted (it stored epoch 2)
// and stops before writing anything: it may have written as far as anyone can tell, and
// it never releases its grant, so the witness's written epoch stays 2 and a, restarted as
// b's standby, is not promoted automatically.
func TestGrant52GranteeThatStoredItsEpochNeverReleases(t *testing.T) {
	primary, standby, _ := startWitnessPair(t, testLeaseDuration)
	config := primary.config
	primary.Close()
	waitFor(t, "b to be promoted", func() bool { return standby.Role() == shard.RolePrimary })
	standby.Close()
	wantWritten(t, "b promoted then stopped", probeWritten(t, standby.config.Witness), "b",
		2, false, 2)
	old, logged := restartOldPrimary(t, config, standby.config.Listen)
	wantStale(t, old, logged)
}

// FuzzWrittenLeaseAnswer: a written probe's reply of arbitrary bytes never panics the
// decoder; what it accepts is a refusal whose written epoch is at most its epoch, and
// encodes back to the same bytes (a refusal's negative wait from an earlier witness
// apart, read as 0: never with the extension, which no earlier witness sends).
func FuzzWrittenLeaseAnswer(f *testing.F) {
	answer := leaseAnswer{holder: "b", epoch: 2, valid: time.Second, released: true,
		writtenEpoch: 1}
	f.Add(answer.appendWritten(answer.encode()))
	answer.released, answer.writtenEpoch = false, 2
	f.Add(answer.appendWritten(answer.encode()))
	f.Add(leaseAnswer{granted: true, epoch: 1}.encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		answer, err := decodeWrittenLeaseAnswer(body)
		if err != nil {
			return
		}
		if !answer.writtenKnown || answer.granted || answer.writtenEpoch > answer.epoch {
			t.Fatalf("accepted %+v", answer)
		}
		if again := answer.appendWritten(answer.encode()); !bytes.Equal(again, body) &&
			int64(binary.LittleEndian.Uint64(body[leaseReplyValidOffset:])) >= 0 {
			t.Fatalf("%x read as %+v, which encodes as %x", body, answer, again)
		}
	})
}

// TestGrant52ReleaseTheWitnessCouldNotStoreIsSentAgain: the witness refuses a release it
// cannot write to its state file, the grant still the node's: the node keeps it pending
// (the failover watch sends it again) rather than take it for a witness that moved on,
// and the release sent once the file can be written is recorded.
func TestGrant52ReleaseTheWitnessCouldNotStoreIsSentAgain(t *testing.T) {
	lease := time.Second
	w := openStatefulWitness(t, filepath.Join(t.TempDir(), "witness.state"), lease)
	defer w.witness.Close()
	w.clock.advance(lease + time.Millisecond)
	if answer := w.ask(t, leaseAcquire, "a", 0); !answer.granted || answer.epoch != 1 {
		t.Fatalf("a's acquisition: %+v, want granted at epoch 1", answer)
	}
	t.Cleanup(func() { writeWitnessStateDurably = wal.WriteFileDurably })
	writeWitnessStateDurably = func(string, os.FileMode, func(*os.File) error) error {
		return errors.New("disk full (test)")
	}
	node := askingNode(t, w.address, "", false)
	node.config.LeaseDuration = testLeaseDuration
	node.releasePending = 1 // a gave its grant up (epoch 1).
	if !node.releasePendingGrant() || node.releasePending != 1 {
		t.Fatalf("release the witness could not store: pending %d, want still 1",
			node.releasePending)
	}
	wantWritten(t, "not stored", w.ask(t, leaseProbeWritten, "x", 0), "a", 1, false, 1)
	writeWitnessStateDurably = wal.WriteFileDurably
	if node.releasePendingGrant() || node.releasePending != 0 {
		t.Fatalf("release sent again once the file can be written: pending %d, want 0",
			node.releasePending)
	}
	wantWritten(t, "stored", w.ask(t, leaseProbeWritten, "x", 0), "a", 1, true, 0)
}
