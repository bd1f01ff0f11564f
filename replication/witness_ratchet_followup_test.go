package replication

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// nodeAskingWith returns a node that only asks the witness at address, with ratchet as
// its ratchet (askingNode for a ratchet loaded with an error, or one a test builds).
func nodeAskingWith(t *testing.T, address string, ratchet *witnessRatchet,
	logger *slog.Logger) *Node {
	t.Helper()
	return &Node{config: NodeConfig{Witness: address, Key: testKey, NodeName: "a",
		WitnessUnsignedAllowed: true, WitnessRatchetPath: ratchet.path,
		LeaseDuration: testLeaseDuration, Logger: logger}, lifetime: t.Context(),
		ratchet: ratchet}
}

// replaceRatchetWrite makes the marker's writes call write until the test ends.
func replaceRatchetWrite(t *testing.T, write func() error) {
	saved := writeWitnessRatchetDurably
	writeWitnessRatchetDurably = func(path string, mode os.FileMode,
		fill func(*os.File) error) error {
		if err := write(); err != nil {
			return err
		}
		return saved(path, mode, fill)
	}
	t.Cleanup(func() { writeWitnessRatchetDurably = saved })
}

// TestDamagedRatchetMarkerIsRewritten: a marker that does not verify at start counts as
// raised (the Error line at start), and the next signed answer rewrites it, durably and
// whole, so that the next start reads it back without an error; before, it was never
// rewritten, and the Error came back at every start, the only remedy (removing it)
// reopening the downgrade window.
func TestDamagedRatchetMarkerIsRewritten(t *testing.T) {
	_, address := startTestWitness(t, testLeaseDuration)
	path := filepath.Join(t.TempDir(), WitnessRatchetFileName)
	good := encodeWitnessRatchet(witnessRatchetState{epoch: 3, raisedNs: 42})
	if err := os.WriteFile(path, flipByte(good, witnessRatchetOffsetEpoch), 0o644); err != nil {
		t.Fatal(err)
	}
	ratchet, err := loadWitnessRatchet(path)
	if err == nil || !ratchet.raised.Load() {
		t.Fatalf("damaged marker: raised %v, %v; want raised and an error", ratchet.raised.Load(),
			err)
	}
	messages := &recordingHandler{}
	node := nodeAskingWith(t, address, ratchet, slog.New(messages))
	node.ratchetDamagedAtStart = true // As OpenNode sets it.
	before := time.Now()
	if answer, err := renew(node); err != nil || !answer.granted || !answer.signed {
		t.Fatalf("renewal: %+v, %v; want granted, signed", answer, err)
	}
	node.ratchet.writers.Wait()
	record, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	state, err := decodeWitnessRatchet(record)
	if err != nil || state.epoch != 1 || state.raisedNs < before.UnixNano() {
		t.Fatalf("after a signed answer the marker holds %+v, %v; want it rewritten at "+
			"epoch 1, raised at the answer", state, err)
	}
	if !messages.loggedAt(slog.LevelInfo, ratchetWrittenMessage) {
		t.Fatal("the rewrite of a damaged marker was not said")
	}
	if node.witnessStatus().SignedRequiredSinceUnixMs == 0 {
		t.Fatal("the status still says the ratchet rose at an unknown time")
	}
	restarted, err := loadWitnessRatchet(path)
	if err != nil || !restarted.raised.Load() {
		t.Fatalf("the next start: raised %v, %v; want raised, no error", restarted.raised.Load(),
			err)
	}
	var writes atomic.Int32
	replaceRatchetWrite(t, func() error {
		writes.Add(1)
		return nil
	})
	restarted.raise(1, time.Now(), testLeaseDuration, func(error) {})
	restarted.writers.Wait()
	if count := writes.Load(); count != 0 {
		t.Fatalf("a marker that verified at start was written again (%d writes)", count)
	}
}

// TestSlowRatchetMarkerDoesNotDelayARenewal: the marker's write (an fsync) runs off the
// asker's path: a renewal whose signed answer raises the ratchet returns while the disk
// has not finished (before, the lease goroutine waited for it, however long, past the
// lease if the disk was that slow; a promotion waited so holding the node's mutex).
// Answers meanwhile start no second write; the one under way ends with the marker whole.
func TestSlowRatchetMarkerDoesNotDelayARenewal(t *testing.T) {
	_, address := startTestWitness(t, testLeaseDuration)
	path := filepath.Join(t.TempDir(), WitnessRatchetFileName)
	var writes atomic.Int32
	release := make(chan struct{})
	replaceRatchetWrite(t, func() error {
		writes.Add(1)
		<-release
		return nil
	})
	node := askingNode(t, address, path, false)
	messages := &recordingHandler{}
	node.config.Logger = slog.New(messages)
	renewed := make(chan error, 1)
	go func() {
		answer, err := renew(node)
		if err == nil && !answer.granted {
			err = errors.New("not granted")
		}
		renewed <- err
	}()
	select {
	case err := <-renewed:
		if err != nil {
			t.Fatalf("renewal: %v", err)
		}
	case <-time.After(waitMax):
		close(release)
		t.Fatal("the renewal waited for the ratchet's marker to be written")
	}
	if !node.ratchet.raised.Load() {
		t.Fatal("the ratchet is not raised in memory before its marker is written")
	}
	if _, err := renew(node); err != nil {
		t.Fatalf("second renewal: %v", err)
	}
	close(release)
	node.ratchet.writers.Wait()
	if count := writes.Load(); count != 1 {
		t.Fatalf("%d writes of the marker, want 1 (none while one is under way)", count)
	}
	record, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeWitnessRatchet(record); err != nil {
		t.Fatalf("the marker: %v", err)
	}
	if messages.logged(ratchetWrittenMessage) {
		t.Fatal("a first write that succeeded was said as a recovery")
	}
}

// TestRatchetMarkerWriteRetriedOncePerLease: a marker that cannot be written is tried
// again at a signed answer, but once a lease at most (before, at every signed answer: a
// renewal every quarter lease, each waiting for a failing disk), until a write succeeds;
// then never again. The failure is said once, at Error.
func TestRatchetMarkerWriteRetriedOncePerLease(t *testing.T) {
	path := filepath.Join(t.TempDir(), WitnessRatchetFileName)
	var writes atomic.Int32
	var failing atomic.Bool
	failing.Store(true)
	replaceRatchetWrite(t, func() error {
		writes.Add(1)
		if failing.Load() {
			return errors.New("disk full")
		}
		return nil
	})
	messages := &recordingHandler{}
	ratchet, err := loadWitnessRatchet(path)
	if err != nil {
		t.Fatal(err)
	}
	node := nodeAskingWith(t, "", ratchet, slog.New(messages))
	lease := node.config.LeaseDuration
	start := time.Now()
	raiseAt := func(at time.Duration) int32 {
		ratchet.raise(1, start.Add(at), lease, node.ratchetStored)
		ratchet.writers.Wait()
		return writes.Load()
	}
	const failed = "replication: the witness ratchet's marker cannot be written: it holds " +
		"until this process ends; retried at a signed answer, once a lease at most"
	const written = ratchetWrittenMessage
	if count := raiseAt(0); count != 1 || !ratchet.raised.Load() {
		t.Fatalf("first signed answer: %d writes, raised %v; want 1, raised", count,
			ratchet.raised.Load())
	}
	if !messages.loggedAt(slog.LevelError, failed) {
		t.Fatal("the first failed write was not said at Error")
	}
	for _, at := range []time.Duration{lease / 4, lease / 2, lease - 1} {
		if count := raiseAt(at); count != 1 {
			t.Fatalf("signed answer %v after a failed write: %d writes, want 1 (once a "+
				"lease)", at, count)
		}
	}
	if count := raiseAt(lease); count != 2 {
		t.Fatalf("a lease after the failed write: %d writes, want 2", count)
	}
	failing.Store(false)
	if count := raiseAt(2 * lease); count != 3 {
		t.Fatalf("two leases after: %d writes, want 3", count)
	}
	if count := raiseAt(3 * lease); count != 3 {
		t.Fatalf("after a write that succeeded: %d writes, want 3 (no more)", count)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the marker: %v", err)
	}
	if count := messages.count(written); count != 1 || !messages.loggedAt(slog.LevelInfo,
		written) {
		t.Fatalf("the write after failures said %d times, want once at Info", count)
	}
	if count := messages.count(failed); count != 1 || !messages.loggedAt(slog.LevelError,
		failed) {
		t.Fatalf("the failure said %d times, want once at Error", count)
	}
}

// clearProbeBit clears only the challenge's probe bit, as an attacker on the path would
// to keep a standby's ratchet down (the witness still signs, so nothing is refused).
func clearProbeBit(f frame) frame {
	if f.kind == frameChallenge && len(f.body) >= witnessChallengeBytes {
		f.body[nonceSize] &^= witnessAnswersProbes
	}
	return f
}

// TestProbeOfAWitnessWithoutProbesIsSaid: a standby whose witness signs but does not
// announce probes (its bit cleared on the way, or a witness of session 38) sends none,
// and so its ratchet stays down; that is said once at Warn (before: at Debug only, with
// no counter, so the attack left no trace). Asked again, it says nothing more.
func TestProbeOfAWitnessWithoutProbesIsSaid(t *testing.T) {
	_, witnessAddress := startTestWitness(t, testLeaseDuration)
	proxy := newWitnessProxy(t, witnessAddress)
	proxy.setRewrite(clearProbeBit)
	messages := &recordingHandler{}
	ratchet, err := loadWitnessRatchet("")
	if err != nil {
		t.Fatal(err)
	}
	node := nodeAskingWith(t, proxy.address(), ratchet, slog.New(messages))
	for range 3 {
		node.probeWitness(time.Time{}, 1)
	}
	if node.ratchet.raised.Load() {
		t.Fatal("the ratchet rose: a probe was answered")
	}
	if proxy.rewritten.Load() == 0 {
		t.Fatal("the proxy changed nothing: the attack did not happen")
	}
	if count := messages.count(witnessNotProbedMessage); count != 1 ||
		!messages.loggedAt(slog.LevelWarn, witnessNotProbedMessage) {
		t.Fatalf("%q said %d times, want once at Warn", witnessNotProbedMessage, count)
	}
}

// TestPinCheckedWithoutProbes: a pinned node's probe to a witness that does not announce
// probes (a witness of session 38, or the bit cleared) still checks the pin from the
// challenge, which announces the witness's id: a wrong pin is refused and counted as
// identity, with no request sent; before, the probe was skipped before the pin check, and
// the wrong pin went unseen until a failover. The right pin is not refused.
func TestPinCheckedWithoutProbes(t *testing.T) {
	witness, witnessAddress := startTestWitness(t, testLeaseDuration)
	witness.beforeProbes.Store(true)
	proxy := newWitnessProxy(t, witnessAddress)
	node := askingNode(t, proxy.address(), "", false)
	node.config.WitnessID = "another-" + witness.ID()
	if answer, err := node.askLease(leaseProbe, 1, time.Now().Add(waitMax)); !errors.Is(err,
		ErrWitnessIdentity) {
		t.Fatalf("probe with a wrong pin: %+v, %v; want ErrWitnessIdentity", answer, err)
	}
	if counts := refusedCounts(node); counts != [witnessRefusalReasons]uint64{
		witnessRefusedIdentity: 1} {
		t.Fatalf("refused answers %v, want one identity", counts)
	}
	node.config.WitnessID = witness.ID()
	if _, err := node.askLease(leaseProbe, 1, time.Now().Add(waitMax)); !errors.Is(err,
		errWitnessSignsWithoutProbes) {
		t.Fatalf("probe with the right pin: %v; want errWitnessSignsWithoutProbes", err)
	}
	if counts := refusedCounts(node); counts != [witnessRefusalReasons]uint64{
		witnessRefusedIdentity: 1} {
		t.Fatalf("refused answers %v, want still one identity", counts)
	}
	// Both connections ended on the node's side: the proxy counted all it sent.
	waitFor(t, "the proxy to see both connections end", func() bool {
		return proxy.nodesEnded.Load() == 2
	})
	if sent := proxy.fromNodes.Load(); sent != 0 {
		t.Fatalf("the node sent the witness %d bytes, want none: it sent a request", sent)
	}
}

// TestProbeWitnessSchedule: the failover watch's probe asks the witness only when its
// time has come and the ratchet is down or the witness pinned, and then schedules the
// next one witnessProbeIntervalLeases leases on; otherwise it asks nothing and keeps the
// time it was given. (An ask shows at the proxy as the witness's frames, which the node
// has read before probeWitness returns: its challenge, and its answer to a probe.)
func TestProbeWitnessSchedule(t *testing.T) {
	witness, witnessAddress := startTestWitness(t, testLeaseDuration)
	proxy := newWitnessProxy(t, witnessAddress)
	ratchet, err := loadWitnessRatchet("")
	if err != nil {
		t.Fatal(err)
	}
	messages := &recordingHandler{}
	node := nodeAskingWith(t, proxy.address(), ratchet, slog.New(messages))
	later := time.Now().Add(time.Hour)
	if next := node.probeWitness(later, 1); !next.Equal(later) || len(proxy.frames()) != 0 {
		t.Fatalf("probe before its time: next %v (want %v), %d frames", next, later,
			len(proxy.frames()))
	}
	before := time.Now()
	next := node.probeWitness(time.Time{}, 1)
	if !node.ratchet.raised.Load() || len(proxy.frames()) != 2 {
		t.Fatalf("probe: raised %v, %d frames; want the ratchet raised by its answer",
			node.ratchet.raised.Load(), len(proxy.frames()))
	}
	const raised = "replication: the witness signs its answers: this node refuses " +
		"unsigned ones from now on (without TLS), whatever --witness-allow-unsigned says"
	if count := messages.count(raised); count != 1 {
		t.Fatalf("the ratchet's rise said %d times, want once", count)
	}
	raisedNs := node.ratchet.raisedNs.Load()
	if raisedNs < before.UnixNano() {
		t.Fatalf("the ratchet rose at %d, want the probe's time (after %d)", raisedNs,
			before.UnixNano())
	}
	if interval := witnessProbeIntervalLeases * testLeaseDuration; next.Before(
		before.Add(interval)) || next.After(time.Now().Add(interval)) {
		t.Fatalf("next probe %v after this one, want %v", next.Sub(before), interval)
	}
	if again := node.probeWitness(time.Time{}, 1); !again.IsZero() || len(proxy.frames()) != 2 {
		t.Fatalf("an unpinned node probed with its ratchet raised (next %v, %d frames)",
			again, len(proxy.frames()))
	}
	node.config.WitnessID = witness.ID()
	if again := node.probeWitness(time.Time{}, 1); again.IsZero() || len(proxy.frames()) != 4 {
		t.Fatalf("a pinned node did not probe with its ratchet raised (next %v, %d frames)",
			again, len(proxy.frames()))
	}
	node.ratchet.writers.Wait()
	if node.ratchet.raisedNs.Load() != raisedNs {
		t.Fatal("a later signed answer changed when the ratchet rose")
	}
	messages.mutex.Lock()
	defer messages.mutex.Unlock()
	for i, level := range messages.levels {
		if level >= slog.LevelWarn { // A marker write tried without a marker file, say.
			t.Fatalf("%q logged at %v", messages.messages[i], level)
		}
	}
}

// TestProbeStrippedOfSigningAfterTheRatchetRoseIsADowngrade: a probe sent while the
// ratchet is raised (a pinned standby probes on, an unpinned one until its marker is
// stored) to a challenge stripped of its signing bit is the downgrade the ratchet
// refuses, and counted as one (it pages, SequentWitnessAnswerRefused): before, the probe
// gave up with errWitnessDoesNotSign, counted nothing, and the attack left only a Warn.
func TestProbeStrippedOfSigningAfterTheRatchetRoseIsADowngrade(t *testing.T) {
	_, witnessAddress := startTestWitness(t, testLeaseDuration)
	proxy := newWitnessProxy(t, witnessAddress)
	node := askingNode(t, proxy.address(), "", true)
	if _, err := node.askLease(leaseProbe, 1, time.Now().Add(waitMax)); err != nil {
		t.Fatalf("probe before the attack: %v", err)
	}
	if !node.ratchet.raised.Load() {
		t.Fatal("a signed probe answer did not raise the ratchet")
	}
	proxy.setRewrite(func(f frame) frame {
		if f.kind == frameChallenge && len(f.body) >= witnessChallengeBytes {
			f.body[nonceSize] &^= witnessSignsReplies
		}
		return f
	})
	if _, err := node.askLease(leaseProbe, 1, time.Now().Add(waitMax)); !errors.Is(err,
		ErrWitnessDowngrade) {
		t.Fatalf("probe stripped of the signing bit: %v, want ErrWitnessDowngrade", err)
	}
	if proxy.rewritten.Load() == 0 {
		t.Fatal("the proxy changed nothing: the attack did not happen")
	}
	if counts := refusedCounts(node); counts != [witnessRefusalReasons]uint64{
		witnessRefusedDowngrade: 1} {
		t.Fatalf("refused answers %v, want one downgrade", counts)
	}
}
