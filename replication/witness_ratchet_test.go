package replication

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sequent/core/shard"
	"sequent/tools/testcert"
)

// askingNode returns a node that only asks the witness at address (askLease): its
// config, a ratchet loaded from ratchetPath ("" in memory), and counters; nothing runs.
// unsignedAllowed is --witness-allow-unsigned.
func askingNode(t *testing.T, address, ratchetPath string, unsignedAllowed bool) *Node {
	t.Helper()
	ratchet, err := loadWitnessRatchet(ratchetPath)
	if err != nil {
		t.Fatalf("loading the ratchet: %v", err)
	}
	return &Node{config: NodeConfig{Witness: address, Key: testKey, NodeName: "a",
		WitnessUnsignedAllowed: unsignedAllowed, WitnessRatchetPath: ratchetPath,
		Logger: testLogger}, lifetime: t.Context(), ratchet: ratchet}
}

// renew asks the node's witness for a renewal at epoch 1.
func renew(n *Node) (leaseAnswer, error) {
	return n.askLease(leaseRenew, 1, time.Now().Add(waitMax))
}

// refusedCounts returns the node's refused answers by reason.
func refusedCounts(n *Node) [witnessRefusalReasons]uint64 {
	var counts [witnessRefusalReasons]uint64
	for reason := range counts {
		counts[reason] = n.lease.refused[reason].Load()
	}
	return counts
}

// TestWitnessRatchetRefusesUnsignedAfterSigned: a node allowed unsigned answers
// (--witness-allow-unsigned left on after the upgrade) that has received a signed one
// refuses an unsigned one from then on: an attacker on the path clears the challenge's
// signing bit, and the node asks nothing (ErrWitnessDowngrade, which is
// ErrWitnessUnsigned too), counted under "downgrade". A forged signed answer is refused
// and counted under "forged" and does not lower the ratchet; nor does a restart, since
// the marker is on disk: a node started on it refuses the stripped challenge at once.
// Without the ratchet the stripped challenge is answered unsigned, and the node believes
// the attacker's grant.
func TestWitnessRatchetRefusesUnsignedAfterSigned(t *testing.T) {
	witness, witnessAddress := startTestWitness(t, testLeaseDuration)
	setManualClock(witness)
	proxy := newWitnessProxy(t, witnessAddress)
	path := filepath.Join(t.TempDir(), WitnessRatchetFileName)
	node := askingNode(t, proxy.address(), path, true)

	if answer, err := renew(node); err != nil || !answer.granted || !answer.signed {
		t.Fatalf("first renewal: %+v, %v; want granted, signed", answer, err)
	}
	if !node.ratchet.raised.Load() {
		t.Fatal("a signed answer did not raise the ratchet")
	}
	node.ratchet.writers.Wait() // The marker is written off the asker's path.
	record, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the ratchet's marker: %v", err)
	}
	if state, err := decodeWitnessRatchet(record); err != nil || state.epoch != 1 ||
		state.raisedNs == 0 {
		t.Fatalf("the marker holds %+v, %v; want epoch 1 and the time it rose", state, err)
	}

	stripped := func(f frame) frame { return forgeGrant(stripFeatures(f)) }
	proxy.setRewrite(stripped)
	rewrittenBefore := proxy.rewritten.Load()
	if answer, err := renew(node); !errors.Is(err, ErrWitnessDowngrade) ||
		!errors.Is(err, ErrWitnessUnsigned) {
		t.Fatalf("stripped challenge after a signed answer: %+v, %v; want ErrWitnessDowngrade",
			answer, err)
	}
	if proxy.rewritten.Load() == rewrittenBefore {
		t.Fatal("the proxy changed nothing: the attack did not happen")
	}
	if counts := refusedCounts(node); counts != [witnessRefusalReasons]uint64{
		witnessRefusedDowngrade: 1} {
		t.Fatalf("refused answers %v, want one downgrade", counts)
	}

	proxy.setRewrite(func(f frame) frame { // A refusal forged into the signed grant.
		if f.kind == frameLeaseReplySigned {
			f.body[leaseReplyMACBytes] = 0
		}
		return f
	})
	if answer, err := renew(node); !errors.Is(err, ErrWitnessReplyForged) {
		t.Fatalf("forged signed answer: %+v, %v; want ErrWitnessReplyForged", answer, err)
	}
	if counts := refusedCounts(node); counts != [witnessRefusalReasons]uint64{
		witnessRefusedForged: 1, witnessRefusedDowngrade: 1} {
		t.Fatalf("refused answers %v, want one forged, one downgrade", counts)
	}
	if !node.ratchet.raised.Load() {
		t.Fatal("a forged answer lowered the ratchet")
	}

	proxy.setRewrite(stripped)
	restarted := askingNode(t, proxy.address(), path, true)
	if answer, err := renew(restarted); !errors.Is(err, ErrWitnessDowngrade) {
		t.Fatalf("stripped challenge after a restart: %+v, %v; want ErrWitnessDowngrade",
			answer, err)
	}
	if counts := refusedCounts(restarted); counts[witnessRefusedDowngrade] != 1 {
		t.Fatalf("restarted node's refused answers %v, want one downgrade", counts)
	}
}

// TestWitnessRatchetUnsignedOnly: a node that has never received a signed answer keeps
// taking an earlier witness's unsigned ones when allowed (the upgrade the flag is for),
// raises nothing and writes no marker; not allowed, it refuses them as "unsigned", not
// "downgrade". Then, the witness upgraded, the first signed answer raises the ratchet,
// and the witness rolled back is refused; removing the marker (the operator's undo,
// the node stopped) lowers it at the next start.
func TestWitnessRatchetUnsignedOnly(t *testing.T) {
	witness, address := startTestWitness(t, testLeaseDuration)
	setManualClock(witness)
	witness.earlierBuild.Store(true)
	path := filepath.Join(t.TempDir(), WitnessRatchetFileName)
	allowed := askingNode(t, address, path, true)
	for round := range 2 {
		if answer, err := renew(allowed); err != nil || !answer.granted || answer.signed {
			t.Fatalf("round %d, unsigned allowed: %+v, %v; want granted, unsigned", round,
				answer, err)
		}
	}
	if allowed.ratchet.raised.Load() {
		t.Fatal("unsigned answers raised the ratchet")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a marker was written without a signed answer: %v", err)
	}
	notAllowed := askingNode(t, address, "", false)
	if _, err := renew(notAllowed); !errors.Is(err, ErrWitnessUnsigned) ||
		errors.Is(err, ErrWitnessDowngrade) {
		t.Fatalf("unsigned not allowed: %v; want ErrWitnessUnsigned alone", err)
	}
	if counts := refusedCounts(notAllowed); counts != [witnessRefusalReasons]uint64{
		witnessRefusedUnsigned: 1} {
		t.Fatalf("refused answers %v, want one unsigned", counts)
	}

	witness.earlierBuild.Store(false) // Upgraded.
	if answer, err := renew(allowed); err != nil || !answer.signed {
		t.Fatalf("upgraded witness: %+v, %v; want signed", answer, err)
	}
	witness.earlierBuild.Store(true) // Rolled back.
	if _, err := renew(allowed); !errors.Is(err, ErrWitnessDowngrade) {
		t.Fatalf("rolled-back witness after a signed answer: %v; want ErrWitnessDowngrade", err)
	}
	allowed.ratchet.writers.Wait() // The node stopped: its marker written.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	lowered := askingNode(t, address, path, true)
	if answer, err := renew(lowered); err != nil || answer.signed {
		t.Fatalf("marker removed: %+v, %v; want an unsigned answer taken", answer, err)
	}
}

// TestWitnessRatchetOverTLSStillTakesUnsigned: TLS authenticates an unsigned answer, so
// the ratchet (which guards the flag's path) does not refuse an earlier witness reached
// over TLS.
func TestWitnessRatchetOverTLSStillTakesUnsigned(t *testing.T) {
	authority := testcert.NewAuthority(t, "sequent test CA")
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	witness := StartWitness(WitnessConfig{Listener: listener, Key: testKey,
		LeaseDuration: testLeaseDuration, Logger: testLogger,
		TLS: NewTLS(authority.Issue(t), authority.Pool())})
	defer witness.Close()
	witness.earlierBuild.Store(true)
	node := askingNode(t, listener.Addr().String(), "", false)
	node.config.TLS = NewTLS(authority.Issue(t), authority.Pool())
	node.ratchet.raised.Store(true)
	if answer, err := renew(node); err != nil || !answer.granted || answer.signed {
		t.Fatalf("ratchet raised, over TLS: %+v, %v; want granted, unsigned", answer, err)
	}
}

// TestWitnessRatchetMarkerDamageKeepsItRaised: a marker that exists but does not verify
// (empty, cut short, a bit changed, another magic, reserved bytes set or an unknown
// version with a right checksum) counts as raised, with an error for the log; a good
// one is read back as written; no marker is lowered.
func TestWitnessRatchetMarkerDamageKeepsItRaised(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, WitnessRatchetFileName)
	good := encodeWitnessRatchet(witnessRatchetState{epoch: 3, raisedNs: 42})
	if state, err := decodeWitnessRatchet(good); err != nil || state.epoch != 3 ||
		state.raisedNs != 42 {
		t.Fatalf("round trip: %+v, %v", state, err)
	}
	damaged := map[string][]byte{
		"empty":        {},
		"cut short":    good[:witnessRatchetSize-1],
		"bit flipped":  flipByte(good, witnessRatchetOffsetEpoch),
		"other magic":  flipByte(good, witnessRatchetOffsetMagic),
		"magic sealed": resealed(flipByte(good, witnessRatchetOffsetMagic)),
		"reserved set": resealed(flipByte(good, witnessRatchetOffsetReserved)),
		"version 2":    resealed(flipByte(good, witnessRatchetOffsetVersion+1)),
	}
	for name, record := range damaged {
		if err := os.WriteFile(path, record, 0o644); err != nil {
			t.Fatal(err)
		}
		ratchet, err := loadWitnessRatchet(path)
		if err == nil || !ratchet.raised.Load() {
			t.Fatalf("%s: raised %v, %v; want raised and an error to log", name,
				ratchet.raised.Load(), err)
		}
	}
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if ratchet, err := loadWitnessRatchet(path); err != nil || !ratchet.raised.Load() ||
		ratchet.raisedNs.Load() != 42 {
		t.Fatalf("a good marker: raised %v at %d, %v", ratchet.raised.Load(),
			ratchet.raisedNs.Load(), err)
	}
	if ratchet, err := loadWitnessRatchet(filepath.Join(dir, "none")); err != nil ||
		ratchet.raised.Load() {
		t.Fatalf("no marker: raised %v, %v; want lowered", ratchet.raised.Load(), err)
	}
}

// flipByte returns record with one bit of byte offset changed.
func flipByte(record []byte, offset int) []byte {
	changed := bytes.Clone(record)
	changed[offset] ^= 1
	return changed
}

// resealed returns record with its checksum made right again: damage a crc cannot catch.
func resealed(record []byte) []byte {
	sealed := bytes.Clone(record)
	sealRecord(sealed, witnessRatchetOffsetCRC)
	return sealed
}

// TestStatusShowsWitnessPinAndRatchet: a running node's status shows how it treats its
// witness: pinned or not, the pinned id, the flag, the ratchet (raised by the first
// signed renewal, with when and where its marker is) and the refusals by reason; a node
// without a witness shows none of it.
func TestStatusShowsWitnessPinAndRatchet(t *testing.T) {
	lease := testLeaseDuration
	witness, address := startTestWitness(t, lease)
	dir := t.TempDir()
	config := withWitness(nodeConfig(dir, freeAddress(t), ""), "a", address, lease)
	config.WitnessID = witness.ID()
	config.WitnessUnsignedAllowed = true
	config.WitnessRatchetPath = filepath.Join(dir, WitnessRatchetFileName)
	before := time.Now()
	primary := startNode(t, config)
	defer primary.Close()
	waitForFirstRenewal(t, primary)
	status := primary.Status().Witness
	if status == nil || !status.Pinned || status.PinnedID != witness.ID() ||
		!status.UnsignedAllowed || !status.SignedRequired ||
		status.RatchetPath != config.WitnessRatchetPath ||
		status.SignedRequiredSinceUnixMs < before.UnixMilli() ||
		status.Refused != (WitnessRefusals{}) {
		t.Fatalf("witness status %+v; want pinned to %q, unsigned allowed, the ratchet "+
			"raised since the start with its marker at %s, nothing refused", status,
			witness.ID(), config.WitnessRatchetPath)
	}
	alone := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), ""))
	defer alone.Close()
	if status := alone.Status().Witness; status != nil {
		t.Fatalf("a node without a witness shows %+v", status)
	}
}

// TestStandbyLogsADowngradeAfterAnUnsignedWitness: a standby's failover watch says once
// that it refused an unsigned witness (the upgrade window: no ratchet yet), and says so
// again when, its ratchet raised, the signing bit is stripped: a downgrade is an attack
// or a rollback, not the upgrade already said, and must not come out at Debug only.
func TestStandbyLogsADowngradeAfterAnUnsignedWitness(t *testing.T) {
	lease := 100 * time.Millisecond // Far shorter than the primary's heartbeat interval.
	_, witnessAddress := startTestWitness(t, lease)
	proxy := newWitnessProxy(t, witnessAddress)
	proxy.setRewrite(stripFeatures)
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, "")) // No witness.
	defer primary.Close()
	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		proxy.address(), lease)
	config.Logger = slog.New(messages)
	standby := startNode(t, config)
	defer standby.Close()
	const refused = "replication: automatic failover refused the witness's answer"
	logged := func(cause error, not error) bool {
		messages.mutex.Lock()
		defer messages.mutex.Unlock()
		for i, message := range messages.messages {
			err := valueError(messages.attrs[i]["error"])
			if message == refused && messages.levels[i] == slog.LevelError &&
				errors.Is(err, cause) && (not == nil || !errors.Is(err, not)) {
				return true
			}
		}
		return false
	}
	waitFor(t, "the unsigned witness to be refused", func() bool {
		return logged(ErrWitnessUnsigned, ErrWitnessDowngrade)
	})
	// As if a signed answer had arrived in between (one the attacker let through).
	standby.ratchet.raised.Store(true)
	downgradesBefore := standby.lease.refused[witnessRefusedDowngrade].Load()
	// The watch asks one request at a time: a second refused downgrade means that it has
	// dealt with the first (and logged what it logs for it).
	waitFor(t, "two refused downgrades", func() bool {
		return standby.lease.refused[witnessRefusedDowngrade].Load() >= downgradesBefore+2
	})
	if !logged(ErrWitnessDowngrade, nil) {
		t.Fatal("the downgrade was not said at Error level (the unsigned witness said " +
			"before silenced it)")
	}
	if count := messages.count(refused); count != 2 {
		t.Fatalf("%q logged %d times, want once per cause (2)", refused, count)
	}
	if role := standby.Role(); role != shard.RoleStandby {
		t.Fatalf("the standby is %s", role)
	}
}

// TestSignedReplyOfAnotherShapeCountsAsForged: a signed request answered with a reply of
// another type (a v1 reply, with or without the mac kept) or one shorter than its mac
// was made on the way (a witness of this build answers with the signed reply, an earlier
// one not at all): each is refused and counted as forged, not as a plain failure, so an
// attacker cannot keep its rewrites out of the forged count by changing the frame's
// shape rather than its bytes.
func TestSignedReplyOfAnotherShapeCountsAsForged(t *testing.T) {
	witness, witnessAddress := startTestWitness(t, testLeaseDuration)
	setManualClock(witness)
	proxy := newWitnessProxy(t, witnessAddress)
	node := askingNode(t, proxy.address(), "", true)
	for index, attack := range []func(frame) frame{
		func(f frame) frame { // A v1 reply: the mac dropped, type 12.
			f.kind, f.body = frameLeaseReply, f.body[leaseReplyMACBytes:]
			return f
		},
		func(f frame) frame { f.kind = frameLeaseReply; return f }, // Type 12, mac kept.
		func(f frame) frame { f.body = f.body[:leaseReplyMACBytes-1]; return f },
	} {
		proxy.setRewrite(func(f frame) frame {
			if f.kind == frameLeaseReplySigned {
				return attack(f)
			}
			return f
		})
		rewrittenBefore := proxy.rewritten.Load()
		answer, err := renew(node)
		if !errors.Is(err, ErrWitnessReplyForged) || answer.granted {
			t.Fatalf("attack %d: %+v, %v; want ErrWitnessReplyForged", index, answer, err)
		}
		if proxy.rewritten.Load() == rewrittenBefore {
			t.Fatalf("attack %d: the proxy changed nothing", index)
		}
		if forged := node.lease.refused[witnessRefusedForged].Load(); forged != uint64(index+1) {
			t.Fatalf("attack %d: %d counted as forged, want %d", index, forged, index+1)
		}
	}
}

// TestWitnessProbeChangesNothing: a probe (leaseProbe, signed) is answered signed and
// never granted, with what the lease is (no holder on a new witness; the holder and its
// epoch once there is one), and changes nothing: a probe on a new witness does not make
// the prober the holder by renewal, and the state file is not written. Pinned (v3), the
// same. A witness of session 38 (no probe bit) is sent nothing.
func TestWitnessProbeChangesNothing(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(t.TempDir(), "witness.state")
	witness, err := OpenWitness(WitnessConfig{Listener: listener, Key: testKey,
		LeaseDuration: testLeaseDuration, Logger: testLogger, StatePath: statePath})
	if err != nil {
		t.Fatal(err)
	}
	defer witness.Close()
	setManualClock(witness)
	proxy := newWitnessProxy(t, listener.Addr().String())
	ask := func(client witnessClient, kind byte, node string) (leaseAnswer, error) {
		client.address, client.key = proxy.address(), testKey
		return client.ask(t.Context(), kind, node, 1, time.Now().Add(waitMax))
	}
	stateBefore, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if answer, err := ask(witnessClient{}, leaseProbe, "b"); err != nil || answer.granted ||
		!answer.signed || answer.holder != "" || answer.epoch != 0 {
		t.Fatalf("probe of a new witness: %+v, %v; want signed, not granted, no holder",
			answer, err)
	}
	if answer, err := ask(witnessClient{}, leaseRenew, "a"); err != nil || !answer.granted ||
		answer.holder != "a" {
		t.Fatalf("a's renewal after b's probe: %+v, %v; want granted to a (the probe made "+
			"nobody the holder)", answer, err)
	}
	stateBefore, err = os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, client := range []witnessClient{{}, {pinnedID: witness.ID()}} {
		answer, err := ask(client, leaseProbe, "b")
		if err != nil || answer.granted || !answer.signed || answer.holder != "a" ||
			answer.epoch != 1 {
			t.Fatalf("probe (pinned %q): %+v, %v; want signed, not granted, held by a at 1",
				client.pinnedID, answer, err)
		}
	}
	if stateAfter, err := os.ReadFile(statePath); err != nil || !bytes.Equal(stateAfter,
		stateBefore) {
		t.Fatalf("a probe wrote the state file: %v", err)
	}
	witness.mutex.Lock()
	holder, epoch := witness.holder, witness.epoch
	witness.mutex.Unlock()
	if holder != "a" || epoch != 1 {
		t.Fatalf("after the probes the lease is %q at %d, want a at 1", holder, epoch)
	}

	witness.beforeProbes.Store(true)
	repliesBefore := len(proxy.frames())
	if _, err := ask(witnessClient{}, leaseProbe, "b"); !errors.Is(err,
		errWitnessProbeNotServed) {
		t.Fatalf("probe of a session 38 witness: %v; want errWitnessProbeNotServed", err)
	}
	for _, f := range proxy.frames()[repliesBefore:] {
		if f.kind != frameChallenge {
			t.Fatalf("a session 38 witness answered a probe (type %d): it was sent one", f.kind)
		}
	}
}

// TestStandbyProbeRaisesTheRatchet: a standby allowed unsigned answers raises its ratchet
// while its primary lives, by probing the witness, so that at a failover a stripped
// signing bit is already refused; the probe takes nothing from the primary (it keeps the
// lease and stays primary). Without the probe a standby asks the witness only once its
// primary is lost, and its ratchet stays down until then.
func TestStandbyProbeRaisesTheRatchet(t *testing.T) {
	witness, primary, config := standbyOfWitnessedPrimary(t)
	config.WitnessUnsignedAllowed = true
	standby := startNode(t, config)
	defer standby.Close()
	// Raised in memory first, then stored: wait for both.
	waitFor(t, "the standby's ratchet to rise and its marker", func() bool {
		_, err := os.Stat(config.WitnessRatchetPath)
		return standby.Status().Witness.SignedRequired && err == nil
	})
	witness.mutex.Lock()
	holder := witness.holder
	witness.mutex.Unlock()
	if holder != "a" || primary.Role() != shard.RolePrimary ||
		standby.Role() != shard.RoleStandby {
		t.Fatalf("after the probe: holder %q, primary %s, standby %s", holder,
			primary.Role(), standby.Role())
	}
}

// TestProbeFindsAWrongPin: a standby pinned to another id than its witness's learns it
// from its probe, while its primary lives (refused and counted as identity), rather than
// at its first failover; the witness is sent no request: it sends its challenge and
// nothing more (a request, probe or not, is answered). (The check it replaces, that the
// witness's holder stayed empty, could not fail: a probe never changes the holder.)
func TestProbeFindsAWrongPin(t *testing.T) {
	witness, witnessAddress := startTestWitness(t, testLeaseDuration)
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
	if node.ratchet.raised.Load() {
		t.Fatal("a refused witness raised the ratchet")
	}
	// The node has closed its connection: once the proxy has seen that end, it has
	// counted every byte the node sent.
	waitFor(t, "the proxy to see the node's side end", func() bool {
		return proxy.nodesEnded.Load() == 1
	})
	if sent := proxy.fromNodes.Load(); sent != 0 {
		t.Fatalf("the node sent the witness %d bytes, want none: it sent a request", sent)
	}
}

// standbyOfWitnessedPrimary starts a witness and a primary holding its lease (closed at
// the test's end) and returns them and the configuration of a standby of that primary
// with the same witness, its ratchet kept in its data directory.
func standbyOfWitnessedPrimary(t *testing.T) (*Witness, *testNode, NodeConfig) {
	t.Helper()
	lease := testLeaseDuration
	witness, witnessAddress := startTestWitness(t, lease)
	primaryAddress := freeAddress(t)
	primary := startNode(t, withWitness(nodeConfig(t.TempDir(), primaryAddress, ""), "a",
		witnessAddress, lease))
	t.Cleanup(func() { primary.Close() })
	waitForFirstRenewal(t, primary)
	dir := t.TempDir()
	config := withWitness(nodeConfig(dir, freeAddress(t), primaryAddress), "b",
		witnessAddress, lease)
	config.WitnessRatchetPath = filepath.Join(dir, WitnessRatchetFileName)
	return witness, primary, config
}
