package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/core/shard"
)

// Two pairs that (wrongly) share one replication key, each with its own witness.
const (
	witnessIDPairA = "pair-a-witness"
	witnessIDPairB = "pair-b-witness"
)

// startIdentifiedWitness starts an in-memory witness of id with the test key; it stops
// with the test.
func startIdentifiedWitness(t *testing.T, id string, lease time.Duration) (*Witness, string) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	witness, err := OpenWitness(WitnessConfig{Listener: listener, Key: testKey,
		LeaseDuration: lease, Logger: testLogger, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { witness.Close() })
	return witness, listener.Addr().String()
}

// holderOf returns the witness's holder.
func holderOf(witness *Witness) string {
	witness.mutex.Lock()
	defer witness.mutex.Unlock()
	return witness.holder
}

// askPinned sends one lease request as a node pinning id.
func askPinned(t *testing.T, address, id string, kind byte, node string,
	epoch uint64) (leaseAnswer, error) {
	return witnessClient{address: address, key: testKey, pinnedID: id}.ask(t.Context(), kind,
		node, epoch, time.Now().Add(waitMax))
}

// TestRedirectedStandbyRefusesAnotherPairsWitness: two pairs share a replication key,
// each with its own witness. Pair A's primary holds its lease at witness A; pair A's
// standby, pinned to witness A, has its connection redirected to witness B, which knows
// nothing of pair A's lease and grants any acquisition. Before session 38 the standby
// took B's genuinely signed grant and promoted while its primary lived (split brain):
// the control below shows that B does grant a node that pins nothing. Pinned, the
// standby refuses B (it announces another id) and asks it nothing.
func TestRedirectedStandbyRefusesAnotherPairsWitness(t *testing.T) {
	lease := testLeaseDuration
	witnessA, addressA := startIdentifiedWitness(t, witnessIDPairA, lease)
	setManualClock(witnessA) // The primary's lease at A never runs out.
	witnessB, addressB := startIdentifiedWitness(t, witnessIDPairB, lease)
	setManualClock(witnessB).advance(lease + time.Millisecond) // B grants acquisitions.
	primaryAddress := freeAddress(t)
	primaryConfig := withWitness(nodeConfig(t.TempDir(), primaryAddress, ""), "a", addressA,
		lease)
	primaryConfig.WitnessID = witnessIDPairA
	primary := startNode(t, primaryConfig)
	defer primary.Close()
	waitForFirstRenewal(t, primary)

	standbyConfig := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		addressB, lease) // The redirection: pair A's standby reaches witness B.
	standbyConfig.WitnessID = witnessIDPairA
	standby := startNode(t, standbyConfig)
	defer standby.Close()
	_, err := standby.Promote()
	if role := standby.Role(); role != shard.RoleStandby {
		t.Fatalf("the standby is %s (promotion: %v): it took another pair's witness's grant",
			role, err)
	}
	if !errors.Is(err, ErrWitnessIdentity) || !strings.Contains(err.Error(), witnessIDPairA) ||
		!strings.Contains(err.Error(), witnessIDPairB) {
		t.Fatalf("promotion refused with %v, want ErrWitnessIdentity naming %q and %q", err,
			witnessIDPairA, witnessIDPairB)
	}
	if holder := holderOf(witnessB); holder != "" {
		t.Fatalf("witness B was asked: it holds a lease for %q", holder)
	}
	if primary.Role() != shard.RolePrimary {
		t.Fatalf("the primary is %s", primary.Role())
	}
	// The control: the same request, not pinned, is granted by B (the attack is real).
	answer, err := askWitness(t.Context(), addressB, nil, testKey, leaseAcquire, "b", 1,
		time.Now().Add(waitMax))
	if err != nil || !answer.granted {
		t.Fatalf("witness B to a node that pins nothing: %+v, %v; want a grant", answer, err)
	}
}

// TestPrimaryFencesOnAnotherWitnessAsOnALostOne: a primary pinned to witness A whose
// renewals reach witness B (same key) counts each as a failed renewal, asks B nothing,
// and fences once its lease runs out, naming the identity, as it does when its witness
// is unreachable or its replies forged; B's grants would otherwise keep it primary while
// pair B's witness knows nothing of it.
func TestPrimaryFencesOnAnotherWitnessAsOnALostOne(t *testing.T) {
	lease := testLeaseDuration
	witnessB, addressB := startIdentifiedWitness(t, witnessIDPairB, lease)
	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a", addressB, lease)
	config.WitnessID = witnessIDPairA
	config.Logger = slog.New(messages)
	primary := startNode(t, config)
	defer primary.Close()
	waitFor(t, "the primary to fence", func() bool {
		return primary.Status().Lease.Losses >= 1 && primary.Role() != shard.RolePrimary
	})
	const unrenewed = "replication: witness unreachable and the lease ran out: fencing"
	if value, ok := messages.attr(unrenewed, "last_error"); !ok ||
		!errors.Is(valueError(value), ErrWitnessIdentity) {
		t.Fatalf("fenced naming %v (logged: %v), want ErrWitnessIdentity", value, ok)
	}
	if status := primary.Status().Lease; status.Renewals != 0 || status.RenewalFailures == 0 {
		t.Fatalf("lease counters %+v, want no renewal and failed ones", status)
	}
	if holder := holderOf(witnessB); holder != "" {
		t.Fatalf("witness B was asked: it holds a lease for %q", holder)
	}
}

// TestStandbyWatchRefusesAnotherPairsWitness: the failover watch of a standby pinned to
// witness A, its primary silent (a lease far shorter than the primary's heartbeat) and
// its witness connection reaching witness B, never promotes: it says once at Error that
// it refused the witness, naming the identity, and keeps asking (B is asked nothing).
func TestStandbyWatchRefusesAnotherPairsWitness(t *testing.T) {
	lease := 100 * time.Millisecond // Far shorter than the primary's heartbeat interval.
	witnessB, addressB := startIdentifiedWitness(t, witnessIDPairB, lease)
	setManualClock(witnessB).advance(time.Hour) // B grants any acquisition.
	proxy := newWitnessProxy(t, addressB)
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, "")) // No witness.
	defer primary.Close()
	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		proxy.address(), lease)
	config.WitnessID = witnessIDPairA
	config.Logger = slog.New(messages)
	standby := startNode(t, config)
	defer standby.Close()
	// Each request is one challenge: a third means the watch dealt with two refusals.
	waitFor(t, "three refused requests", func() bool { return len(proxy.frames()) >= 3 })
	const refused = "replication: automatic failover refused the witness's answer"
	if value, ok := messages.attr(refused, "error"); !ok ||
		!errors.Is(valueError(value), ErrWitnessIdentity) {
		t.Fatalf("refusal logged with %v (logged: %v), want ErrWitnessIdentity", value, ok)
	}
	if count := messages.count(refused); count != 1 {
		t.Fatalf("%q logged %d times, want once", refused, count)
	}
	if role := standby.Role(); role != shard.RoleStandby {
		t.Fatalf("the standby is %s", role)
	}
	if holder := holderOf(witnessB); holder != "" {
		t.Fatalf("witness B was asked: it holds a lease for %q", holder)
	}
}

// TestPinnedNodeAndItsWitness: a primary pinning its witness's id keeps its lease, over
// v3 only (every reply the witness sends it is an identified one), and does not say that
// the id is not pinned; a pinned acquisition and its renewal are granted.
func TestPinnedNodeAndItsWitness(t *testing.T) {
	lease := testLeaseDuration
	witness, address := startIdentifiedWitness(t, witnessIDPairA, lease)
	proxy := newWitnessProxy(t, address)
	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a", proxy.address(),
		lease)
	config.WitnessID = witnessIDPairA
	config.Logger = slog.New(messages)
	primary := startNode(t, config)
	waitFor(t, "two renewals", func() bool { return primary.Status().Lease.Renewals >= 2 })
	primary.Close()
	replies := 0
	for _, f := range proxy.frames() {
		if f.kind != frameChallenge && f.kind != frameLeaseReplyIdentified {
			t.Fatalf("the witness sent the pinned node a frame of type %d", f.kind)
		}
		if f.kind == frameLeaseReplyIdentified {
			replies++
		}
	}
	if replies < 2 {
		t.Fatalf("%d identified replies, want one per renewal (2 at least)", replies)
	}
	if messages.logged(witnessNotPinnedMessage) {
		t.Fatal("a pinned node said that the witness's id is not pinned")
	}

	// Past any lease a renewed on the real clock (the test is bounded far below an hour).
	setManualClock(witness).advance(time.Hour)
	granted, err := askPinned(t, address, witnessIDPairA, leaseAcquire, "b", 1)
	if err != nil || !granted.granted || !granted.signed || granted.holder != "b" {
		t.Fatalf("pinned acquisition: %+v, %v; want granted to b, signed by %q", granted, err,
			witnessIDPairA)
	}
	if renewed, err := askPinned(t, address, witnessIDPairA, leaseRenew, "b",
		granted.epoch); err != nil || !renewed.granted || renewed.epoch != granted.epoch {
		t.Fatalf("pinned renewal: %+v, %v; want granted at epoch %d", renewed, err,
			granted.epoch)
	}
}

// TestUnpinnedNodeWarnsOnce: nodes that pin no witness id keep their lease as before,
// and each says once, at Warn and at start, that the id is not pinned and how to pin it:
// the standby too, which asks the witness only when failing over (too late to be told).
func TestUnpinnedNodeWarnsOnce(t *testing.T) {
	lease := testLeaseDuration
	_, address := startIdentifiedWitness(t, witnessIDPairA, lease)
	primaryMessages, standbyMessages := &recordingHandler{}, &recordingHandler{}
	primaryAddress := freeAddress(t)
	config := withWitness(nodeConfig(t.TempDir(), primaryAddress, ""), "a", address, lease)
	config.Logger = slog.New(primaryMessages)
	primary := startNode(t, config)
	defer primary.Close()
	config = withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		address, lease)
	config.Logger = slog.New(standbyMessages)
	standby := startNode(t, config)
	defer standby.Close()
	waitFor(t, "three renewals", func() bool { return primary.Status().Lease.Renewals >= 3 })
	for name, messages := range map[string]*recordingHandler{"primary": primaryMessages,
		"standby": standbyMessages} {
		if count := messages.count(witnessNotPinnedMessage); count != 1 ||
			!messages.loggedAt(slog.LevelWarn, witnessNotPinnedMessage) {
			t.Fatalf("%s: %q said %d times, want once at Warn", name, witnessNotPinnedMessage,
				count)
		}
	}
}

// TestPinnedNodeRefusesAWitnessWithoutIdentity: a witness of session 37 (it signs, it
// announces no id) or of an earlier build (it does not sign) cannot prove an id: a pinned
// node refuses it before asking anything, telling to upgrade the witness, even when it
// would otherwise accept unsigned answers. Nodes that pin nothing keep using both as
// before (TestNodeAndAnUnsigningWitness, TestWitnessServesEarlierNodes).
func TestPinnedNodeRefusesAWitnessWithoutIdentity(t *testing.T) {
	for _, build := range []string{"session 37", "before session 37"} {
		witness, address := startIdentifiedWitness(t, witnessIDPairA, testLeaseDuration)
		witness.beforeIdentity.Store(true)
		witness.earlierBuild.Store(build != "session 37")
		client := witnessClient{address: address, key: testKey, pinnedID: witnessIDPairA,
			unsignedAllowed: true}
		answer, err := client.ask(t.Context(), leaseRenew, "a", 1, time.Now().Add(waitMax))
		if !errors.Is(err, ErrWitnessIdentity) || !strings.Contains(err.Error(), "upgrade") ||
			answer.granted {
			t.Fatalf("witness of %s: %+v, %v; want ErrWitnessIdentity saying to upgrade",
				build, answer, err)
		}
		if holder := holderOf(witness); holder != "" {
			t.Fatalf("witness of %s was asked: holder %q", build, holder)
		}
		unpinned := witnessClient{address: address, key: testKey, unsignedAllowed: true}
		if answer, err := unpinned.ask(t.Context(), leaseRenew, "a", 1,
			time.Now().Add(waitMax)); err != nil || !answer.granted {
			t.Fatalf("witness of %s, node without a pin: %+v, %v; want granted", build,
				answer, err)
		}
	}
}

// announceID rewrites a challenge to announce id (with both features), as an attacker
// on the path would to pass a witness off as another.
func announceID(id string) func(frame) frame {
	return func(f frame) frame {
		if f.kind == frameChallenge && len(f.body) >= nonceSize {
			f.body = encodeWitnessChallenge(f.body[:nonceSize],
				witnessSignsReplies|witnessProvesIdentity, id)
		}
		return f
	}
}

// TestAnnouncedIdentityTamperedInTransit: an attacker between a pinned node and a
// witness of another id rewrites the challenge to announce the pinned id: the node asks
// (v3), and that witness closes the request unanswered, since its mac covers the id the
// node pins, not the witness's own (before, the witness answered, having acted on the
// request, and its reply, whose mac covers its own id, failed the node's check). Rewriting a right witness's id, clearing its identity bit, or
// cutting its id short are refused before anything is asked, and an identified reply
// passed off as a v2 one is refused too. The witness of a session 37 build behind such a
// rewritten challenge closes the v3 request unanswered.
func TestAnnouncedIdentityTamperedInTransit(t *testing.T) {
	_, addressB := startIdentifiedWitness(t, witnessIDPairB, testLeaseDuration)
	proxyB := newWitnessProxy(t, addressB)
	witnessA, addressA := startIdentifiedWitness(t, witnessIDPairA, testLeaseDuration)
	proxyA := newWitnessProxy(t, addressA)
	if answer, err := askPinned(t, proxyA.address(), witnessIDPairA, leaseRenew, "a",
		1); err != nil || !answer.granted {
		t.Fatalf("untouched: %+v, %v; want granted", answer, err)
	}
	onChallenge := func(change func([]byte) []byte) func(frame) frame {
		return func(f frame) frame {
			if f.kind == frameChallenge {
				f.body = change(f.body)
			}
			return f
		}
	}
	for _, attack := range []struct {
		name    string
		proxy   *witnessProxy
		rewrite func(frame) frame
		want    error
	}{
		{"witness B announced as A", proxyB, announceID(witnessIDPairA), io.EOF},
		{"witness A announced as B", proxyA, announceID(witnessIDPairB), ErrWitnessIdentity},
		{"identity bit cleared", proxyA, onChallenge(func(body []byte) []byte {
			body[nonceSize] &^= witnessProvesIdentity
			return body
		}), ErrWitnessIdentity},
		{"id cut short", proxyA, onChallenge(func(body []byte) []byte {
			return body[:len(body)-1]
		}), ErrFrame},
		{"identified reply passed off as v2", proxyA, func(f frame) frame {
			if f.kind == frameLeaseReplyIdentified {
				f.kind = frameLeaseReplySigned
			}
			return f
		}, ErrFrame},
	} {
		rewrittenBefore := attack.proxy.rewritten.Load()
		attack.proxy.setRewrite(attack.rewrite)
		answer, err := askPinned(t, attack.proxy.address(), witnessIDPairA, leaseRenew, "a", 1)
		if !errors.Is(err, attack.want) || answer.granted {
			t.Fatalf("%s: %+v, %v; want %v and no grant", attack.name, answer, err, attack.want)
		}
		if attack.proxy.rewritten.Load() == rewrittenBefore {
			t.Fatalf("%s: the proxy changed nothing: the attack did not happen", attack.name)
		}
	}
	// The signing bit cleared (identity kept): a pinned node asks v3 all the same, whose
	// reply the mac authenticates, so the attacker gains nothing and the lease is renewed.
	proxyA.setRewrite(onChallenge(func(body []byte) []byte {
		body[nonceSize] &^= witnessSignsReplies
		return body
	}))
	if answer, err := askPinned(t, proxyA.address(), witnessIDPairA, leaseRenew, "a",
		1); err != nil || !answer.granted || !answer.signed {
		t.Fatalf("signing bit cleared: %+v, %v; want granted, signed", answer, err)
	}
	witnessA.beforeIdentity.Store(true)
	proxyA.setRewrite(announceID(witnessIDPairA))
	if answer, err := askPinned(t, proxyA.address(), witnessIDPairA, leaseRenew, "a",
		1); err == nil || answer.granted {
		t.Fatalf("a session 37 witness announced as A: %+v, %v; want no answer", answer, err)
	}
}

// TestWitnessChallengeLayout: the challenge of a witness that proves its id, built by
// hand from its layout (nonce | features u64 | id length u16 | id, little-endian), as a
// node of another build reads it. The v3 reply mac's layout is pinned with the others
// (TestMACLayoutsAreTheWireContract).
func TestWitnessChallengeLayout(t *testing.T) {
	witnessNonce := bytes.Repeat([]byte{0xA5}, nonceSize)
	challenge := encodeWitnessChallenge(witnessNonce, 3, "w-1")
	want := append(bytes.Clone(witnessNonce), 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 'w', '-', '1')
	if !bytes.Equal(challenge, want) {
		t.Fatalf("challenge %x, want %x", challenge, want)
	}
}

// TestWitnessChallengeDecoding: the node reads a challenge's nonce, features and id, and
// refuses one cut short anywhere after the nonce (the id's length, the id): it must
// never read past the body, even where the buffer holds more (here the rest of a longer
// challenge, which would name the pinned id).
func TestWitnessChallengeDecoding(t *testing.T) {
	nonce := bytes.Repeat([]byte{9}, nonceSize)
	whole := encodeWitnessChallenge(nonce, witnessSignsReplies|witnessProvesIdentity,
		witnessIDPairA)
	for _, length := range []int{nonceSize + 1, witnessChallengeBytes - 1,
		witnessChallengeBytes, witnessChallengeBytes + 1, len(whole) - 1} {
		if challenge, err := decodeWitnessChallenge(whole[:length]); !errors.Is(err, ErrFrame) {
			t.Errorf("challenge cut to %d bytes of %d: %+v, %v; want ErrFrame", length,
				len(whole), challenge, err)
		}
	}
	for _, test := range []struct {
		name     string
		body     []byte
		features uint64
		id       string
	}{
		{"nonce only (the earliest builds)", nonce, 0, ""},
		{"signs, no id", encodeWitnessChallenge(nonce, witnessSignsReplies, ""),
			witnessSignsReplies, ""},
		{"with the id", whole, witnessSignsReplies | witnessProvesIdentity, witnessIDPairA},
		{"with the id, then later features' bytes", append(bytes.Clone(whole), 1, 2, 3),
			witnessSignsReplies | witnessProvesIdentity, witnessIDPairA},
	} {
		challenge, err := decodeWitnessChallenge(test.body)
		if err != nil || !bytes.Equal(challenge.nonce, nonce) ||
			challenge.features != test.features || challenge.id != test.id {
			t.Errorf("%s: %+v, %v; want features %d, id %q", test.name, challenge, err,
				test.features, test.id)
		}
	}
}

// TestWitnessIdentityIsKeptInTheStateFile: a witness started on a state file of the
// build before session 38 (version 1, written by that build's encoder: testdata) keeps
// its epoch and holder, draws an id and rewrites the file as version 2; restarted, it
// announces the same id, and a grant that rewrites the file keeps it. A configured id
// overrides the stored one without replacing it; without a state file, each start draws
// another id.
func TestWitnessIdentityIsKeptInTheStateFile(t *testing.T) {
	earlier, err := os.ReadFile(filepath.Join("testdata", "witness_state_v1.bin"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "witness.state")
	if err := os.WriteFile(path, earlier, 0o600); err != nil {
		t.Fatal(err)
	}
	lease := testLeaseDuration
	first := openStatefulWitness(t, path, lease)
	id := first.witness.ID()
	first.witness.Close()
	if ValidateWitnessID(id) != nil || len(id) != 2*witnessIDGeneratedBytes {
		t.Fatalf("generated id %q, want %d hex characters", id, 2*witnessIDGeneratedBytes)
	}
	state, err := loadWitnessState(path)
	// Nothing known below the epoch of a file before session 52: its grant counts as
	// written (writtenBefore its epoch).
	if err != nil || state != (witnessState{epoch: 7, holder: "10.0.0.2:7400", id: id,
		writtenBefore: 7}) {
		t.Fatalf("migrated file: %+v, %v; want epoch 7, holder 10.0.0.2:7400, id %q", state,
			err, id)
	}
	if record, _ := os.ReadFile(path); binary.LittleEndian.Uint32(
		record[witnessStateOffsetVersion:]) != witnessStateVersion {
		t.Fatalf("the migrated file is of version %d", record[witnessStateOffsetVersion])
	}
	second := openStatefulWitness(t, path, lease)
	second.clock.advance(lease + time.Millisecond)
	if second.witness.ID() != id {
		t.Fatalf("restarted witness: id %q, want %q", second.witness.ID(), id)
	}
	if answer := second.ask(t, leaseAcquire, "b", 7); !answer.granted || answer.epoch != 8 {
		t.Fatalf("acquisition: %+v, want granted at epoch 8", answer)
	}
	second.witness.Close()
	if state, err := loadWitnessState(path); err != nil || state.epoch != 8 || state.id != id {
		t.Fatalf("after a grant: %+v, %v; want epoch 8, id %q", state, err, id)
	}

	// A configured id: announced, but the file keeps the generated one, also through a
	// grant (which rewrites the file).
	configured := openStatefulWitnessWith(t, WitnessConfig{Key: testKey, LeaseDuration: lease,
		Logger: testLogger, StatePath: path, ID: witnessIDPairA})
	configured.clock.advance(lease + time.Millisecond)
	if answer := configured.ask(t, leaseAcquire, "a", 8); !answer.granted || answer.epoch != 9 {
		t.Fatalf("acquisition at the configured witness: %+v, want granted at epoch 9", answer)
	}
	configured.witness.Close()
	if state, err := loadWitnessState(path); configured.witness.ID() != witnessIDPairA ||
		err != nil || state.epoch != 9 || state.id != id {
		t.Fatalf("configured id: announces %q, file %+v, %v; want %q, the file at epoch 9 "+
			"keeping %q", configured.witness.ID(), state, err, witnessIDPairA, id)
	}
	inMemory, _ := startTestWitness(t, lease)
	again, _ := startTestWitness(t, lease)
	if inMemory.ID() == again.ID() || ValidateWitnessID(inMemory.ID()) != nil {
		t.Fatalf("in-memory witnesses: ids %q and %q, want two valid, different ids",
			inMemory.ID(), again.ID())
	}
}

// TestWitnessIDIsValidated: a witness refuses to start with an id it could not announce,
// a node refuses to pin one (or to pin one without a witness), and a challenge announcing
// an empty id is refused.
func TestWitnessIDIsValidated(t *testing.T) {
	for _, id := range []string{"with space", "tab\there", "é", strings.Repeat("i",
		WitnessIDBytesMax+1)} {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if witness, err := OpenWitness(WitnessConfig{Listener: listener, Key: testKey,
			Logger: testLogger, ID: id}); err == nil {
			witness.Close()
			t.Fatalf("the witness started with id %q", id)
		}
		config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a", "127.0.0.1:1",
			testLeaseDuration)
		config.WitnessID = id
		if err := config.withDefaults(); err == nil {
			t.Fatalf("a node pins the id %q", id)
		}
	}
	if ValidateWitnessID(strings.Repeat("~", WitnessIDBytesMax)) != nil {
		t.Fatal("the longest printable id is refused")
	}
	// An empty id proves nothing: no witness announces one, and a challenge that does is
	// refused (a pinned node never compares it, an unpinned one never uses it).
	if ValidateWitnessID("") == nil {
		t.Fatal("an empty id is valid")
	}
	empty := encodeWitnessChallenge(make([]byte, nonceSize),
		witnessSignsReplies|witnessProvesIdentity, "")
	if _, err := decodeWitnessChallenge(empty); !errors.Is(err, ErrFrame) {
		t.Fatalf("a challenge announcing an empty id: %v, want ErrFrame", err)
	}
	config := nodeConfig(t.TempDir(), freeAddress(t), "")
	config.WitnessID = witnessIDPairA
	if err := config.withDefaults(); err == nil {
		t.Fatal("a node pins a witness id without a witness")
	}
}

// FuzzWitnessChallenge: a challenge of arbitrary bytes never panics the decoder; what it
// accepts encodes back to the body's start (the rest is ignored), an announced id is
// valid, and a v3 reply signed for one id is refused for any other id and with any byte
// changed.
func FuzzWitnessChallenge(f *testing.F) {
	nonce := bytes.Repeat([]byte{7}, nonceSize)
	f.Add(encodeWitnessChallenge(nonce, witnessSignsReplies|witnessProvesIdentity, "w-1"),
		uint16(3))
	f.Add(encodeWitnessChallenge(nonce, witnessSignsReplies, ""), uint16(0))
	f.Add(bytes.Clone(nonce), uint16(1))
	f.Add(append(encodeWitnessChallenge(nonce, 3, "w-1"), 9, 9), uint16(40))
	f.Fuzz(func(t *testing.T, body []byte, flip uint16) {
		challenge, err := decodeWitnessChallenge(body)
		if err != nil {
			return
		}
		if len(body) == nonceSize {
			if challenge.features != 0 || challenge.id != "" {
				t.Fatalf("a bare nonce read as %+v", challenge)
			}
			return
		}
		if challenge.features&witnessProvesIdentity != 0 && ValidateWitnessID(challenge.id) != nil {
			t.Fatalf("accepted the invalid id %q", challenge.id)
		}
		again := encodeWitnessChallenge(challenge.nonce, challenge.features, challenge.id)
		if !bytes.HasPrefix(body, again) {
			t.Fatalf("challenge %x read as %+v, which encodes to %x", body, challenge, again)
		}
		if challenge.id == "" {
			return
		}
		reply := leaseAnswer{granted: true, holder: "b", epoch: 2, valid: time.Second}.encode()
		signed := append(leaseIdentifiedReplyMAC(testKey, challenge.id, nonce,
			challenge.nonce, 2, reply), reply...)
		if answer, err := decodeIdentifiedLeaseAnswer(testKey, challenge.id, nonce,
			challenge.nonce, 2, signed, decodeLeaseAnswer); err != nil ||
			!answer.granted {
			t.Fatalf("a reply signed for %q: %+v, %v", challenge.id, answer, err)
		}
		for _, other := range []string{challenge.id + "x", challenge.id[1:]} {
			if _, err := decodeIdentifiedLeaseAnswer(testKey, other, nonce, challenge.nonce,
				2, signed, decodeLeaseAnswer); !errors.Is(err, ErrWitnessReplyForged) {
				t.Fatalf("a reply signed for %q accepted for %q: %v", challenge.id, other, err)
			}
		}
		signed[int(flip)%len(signed)] ^= 1
		if _, err := decodeIdentifiedLeaseAnswer(testKey, challenge.id, nonce,
			challenge.nonce, 2, signed, decodeLeaseAnswer); !errors.Is(err,
			ErrWitnessReplyForged) {
			t.Fatalf("a reply with byte %d changed: %v", int(flip)%len(signed), err)
		}
	})
}
