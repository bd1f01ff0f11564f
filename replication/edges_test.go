package replication

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// The tests in this file pin edges that mutation testing (tools/mutation) found
// unguarded: a comparison moved by one or a condition dropped there passed every other
// test, and each sits where a bug would cost availability or data.

// exchangeWaitMax bounds the test's own side of an exchange with a peer in this process
// (a node's gate, a scripted peer): a hang guard, not the product's handshakeTimeout, so
// that a test on a loaded machine does not fail for a slow answer. The serving side still
// ends a handshake at its own bound (the gate: handshakeTimeout unless the node's config
// sets gateHandshakeTimeout).
const exchangeWaitMax = waitMax

// sendFence makes one correctly signed fence call at epoch to a primary's replication
// address, as a promoted node does, and returns once the primary has handled it (it
// closes the connection after handling a fence).
func sendFence(t *testing.T, address string, epoch uint64, newPrimary string) {
	t.Helper()
	conn, err := dialLink(context.Background(), address, nil, exchangeWaitMax)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(exchangeWaitMax))
	challenge, err := newFrameReader(conn).read()
	if err != nil || challenge.kind != frameChallenge {
		t.Fatalf("fence: no challenge (%v)", err)
	}
	payload := []byte(newPrimary) // Where the fenced node redirects clients.
	body := append(mac(testKey, frameFence, challenge.body[:nonceSize], epoch, payload), payload...)
	writer := bufio.NewWriter(conn)
	if err := writeFrame(writer, frameFence, epoch, body); err != nil || writer.Flush() != nil {
		t.Fatalf("fence: %v", err)
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("fence: waiting for the primary to close: %v", err)
	}
}

// TestFenceAtOwnOrLowerEpochIsIgnored: only a higher epoch fences a primary. A correctly
// signed fence at the primary's own epoch, or a lower one (a node that was promoted
// before this one), must leave it serving; one epoch more fences it, and it redirects to
// the node that fenced it. A later fence at its own epoch must not change that redirect
// either: a node of its epoch is not the new primary. (core/shard's Fence also ignores
// an equal epoch, but only while the shard is primary: the check here is what guards a
// fenced node.)
func TestFenceAtOwnOrLowerEpochIsIgnored(t *testing.T) {
	address := freeAddress(t)
	config := nodeConfig(t.TempDir(), address, "")
	config.Mode = ModeAsync // Writes are acknowledged without a standby.
	if err := os.MkdirAll(filepath.Dir(config.EpochPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := StoreEpoch(config.EpochPath, 2); err != nil {
		t.Fatal(err)
	}
	primary := startNode(t, config)
	defer primary.Close()
	for connection, epoch := range []uint64{1, 2} {
		sendFence(t, address, epoch, "client-of-a-node-at-epoch-"+strconv.FormatUint(epoch, 10))
		if role := primary.Shard().Role(); role != shard.RolePrimary {
			t.Fatalf("a fence at epoch %d made a primary of epoch 2 %s", epoch, role)
		}
		primary.submit(t, uint64(connection+1), uint64(connection+1), model.OperationCreateAccounts,
			accounts(uint64(connection+1)))
		if reply, _ := primary.replies.wait(t, uint64(connection+1)); reply.Status != model.StatusOK {
			t.Fatalf("write after a fence at epoch %d: %s", epoch, reply.Status)
		}
	}
	sendFence(t, address, 3, "client-of-the-new-primary")
	if role := primary.Shard().Role(); role != shard.RoleFenced {
		t.Fatalf("a fence at epoch 3 left a primary of epoch 2 %s", role)
	}
	sendFence(t, address, 2, "client-of-another-node-at-epoch-2")
	if got := primary.Shard().PrimaryAddress(); got != "client-of-the-new-primary" {
		t.Fatalf("the fenced node redirects to %q after a fence at its own epoch, want the new primary", got)
	}
}

// fenceRetriesRunning reports whether a promoted node's fencing goroutine is alive.
func fenceRetriesRunning() bool {
	stacks := make([]byte, 1<<20)
	stacks = stacks[:runtime.Stack(stacks, true)]
	return bytes.Contains(stacks, []byte("replication.(*Node).fencePeer("))
}

// TestFenceRetriesStopOnceTheOldPrimaryFollows: the old primary is down when its standby
// is promoted, so the promoted node retries its fence every fenceRetryInterval. Once the
// old node has rejoined as its standby there is nothing left to fence and the retries
// must stop (a retry needs up to handshakeTimeout against a standby, which never answers
// a fence, then one interval: the bound below is several times that). The rejoined node
// follows, unfenced.
func TestFenceRetriesStopOnceTheOldPrimaryFollows(t *testing.T) {
	primaryDir := t.TempDir()
	primary, standby := startSyncPair(t, primaryDir, t.TempDir())
	defer standby.Close()
	primary.Close()
	if _, err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	// The retrying goroutine may not have started when Promote returns; once it has, it
	// stays for at least a retry interval (the old primary is down).
	waitFor(t, "the fence retries to run", fenceRetriesRunning)
	rejoined := startNode(t, nodeConfig(primaryDir, primary.config.Listen, standby.config.Listen))
	defer rejoined.Close()
	waitFor(t, "the old primary to follow", func() bool { return standby.peerFollows() })
	// The product's bound on a retry, plus a hang guard for a loaded machine.
	for deadline := time.Now().Add(4*(handshakeTimeout+fenceRetryInterval) + waitMax); fenceRetriesRunning(); {
		if time.Now().After(deadline) {
			t.Fatal("the promoted node still retries its fence while the old primary follows it")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if role := rejoined.Shard().Role(); role != shard.RoleStandby {
		t.Fatalf("the rejoined old primary is %s, want standby", role)
	}
}

// TestInSyncStandbySurvivesADroppedStream: a standby that has everything the primary
// wrote loses its connection (a network blip) and reconnects. Both logs end at the same
// entry, so the primary's plan must be to stream on, not to truncate: a running Node
// standby cannot carry out a truncation and would stop with ErrResyncNeeded, leaving a
// sync primary unable to acknowledge anything.
func TestInSyncStandbySurvivesADroppedStream(t *testing.T) {
	primary, standby := startSyncPair(t, t.TempDir(), t.TempDir())
	defer primary.Close()
	defer standby.Close()
	for round := uint64(1); round <= 2; round++ {
		waitFor(t, "the standby to have everything", func() bool {
			return standby.Log().Durable() == primary.Log().LastOp()
		})
		session := primary.primary0().current.Load()
		if session == nil {
			t.Fatal("no standby session")
		}
		session.conn.Close() // The blip.
		// Each wait also ends when the standby stops: a stopped standby never
		// reconnects nor acknowledges, and the test fails at once on its error instead of
		// waiting out waitMax (the mutation guard's Primary.plan mutant then timed out).
		stopped := func() bool { return standby.Err() != nil }
		waitFor(t, "the standby to reconnect", func() bool {
			current := primary.primary0().current.Load()
			return stopped() || (current != nil && current != session)
		})
		if err := standby.Err(); err != nil {
			t.Fatalf("the standby stopped after a dropped stream: %v", err)
		}
		primary.submit(t, 1+round, 1+round, model.OperationCreateTransfers, transfer(10+round, 1, 2, 5))
		waitFor(t, "the write's reply", func() bool {
			_, _, answered := primary.replies.get(1 + round)
			return answered || stopped()
		})
		if err := standby.Err(); err != nil {
			t.Fatalf("the standby stopped after a dropped stream: %v", err)
		}
		if reply, _ := primary.replies.wait(t, 1+round); reply.Status != model.StatusOK {
			t.Fatalf("write after reconnect %d: %s", round, reply.Status)
		}
	}
}

// TestDegradedClearsWhenAcknowledgedReachesTheLossWindow: after going back to sync, a
// primary still reports itself degraded while replies it released alone may be
// unacknowledged: until the standby's acknowledgement reaches the durable op of the
// switch (lossWindowUntil). The moment it does, Degraded must clear; with no further
// writes nothing would ever acknowledge beyond it.
func TestDegradedClearsWhenAcknowledgedReachesTheLossWindow(t *testing.T) {
	p := &Primary{}
	p.lossWindowUntil.Store(7)
	for _, c := range []struct {
		degraded bool
		acked    uint64
		want     bool
	}{{false, 6, true}, {false, 7, false}, {false, 8, false}, {true, 7, true}} {
		p.degraded.Store(c.degraded)
		p.acked.Store(c.acked)
		if got := p.Degraded(); got != c.want {
			t.Fatalf("degraded flag %v, acknowledged %d, loss window until 7: Degraded() %v, want %v",
				c.degraded, c.acked, got, c.want)
		}
	}
}

// TestPromotedPrimaryClearsDegradedOnceCaughtUp is the same edge end to end: a promoted
// node starts degraded; its rejoined standby catches up and no write follows. Degraded
// must then report false: acknowledgements reached exactly what was durable at the
// switch, and will never go beyond it while idle.
func TestPromotedPrimaryClearsDegradedOnceCaughtUp(t *testing.T) {
	primary, standby := startSyncPair(t, t.TempDir(), t.TempDir())
	defer standby.Close()
	primary.Close()
	if _, err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	rejoined := startNode(t, nodeConfig(t.TempDir(), primary.config.Listen, standby.config.Listen))
	defer rejoined.Close()
	waitFor(t, "Degraded() to clear once the standby has caught up", func() bool {
		return !standby.primary0().Degraded()
	})
}

// TestSnapshotAtTheTruncationOpIsKept: a rejoining old primary truncates its log after
// the last op it shares with the new primary and removes its snapshots of later ops,
// which hold state the new primary never had. A snapshot at exactly that op holds only
// shared state: it is kept (it is what the rejoined node restarts from).
func TestSnapshotAtTheTruncationOpIsKept(t *testing.T) {
	dir := t.TempDir()
	for _, op := range []uint64{5, 10, 15} {
		if _, err := wal.WriteSnapshot(dir, wal.SnapshotMeta{Op: op}, bytes.NewReader([]byte("state"))); err != nil {
			t.Fatal(err)
		}
	}
	ops := func() string {
		infos, err := wal.ListSnapshots(dir)
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, info := range infos {
			listed = append(listed, strconv.FormatUint(info.Meta.Op, 10))
		}
		return strings.Join(listed, ",")
	}
	if err := removeSnapshotsAfter(dir, 10); err != nil {
		t.Fatal(err)
	}
	if got := ops(); got != "10,5" {
		t.Fatalf("snapshots after truncating after op 10: %s, want 10,5", got)
	}
	if err := removeSnapshotsAfter(dir, 0); err != nil { // Start over: none is valid.
		t.Fatal(err)
	}
	if got := ops(); got != "" {
		t.Fatalf("snapshots after starting over: %s, want none", got)
	}
}

// scriptedPeer accepts connections on loopback and answers each with one of answers in
// turn: the frames a misbehaving witness or primary could send.
func scriptedPeer(t *testing.T, answers ...func(w *bufio.Writer, r *frameReader)) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	go func() {
		for _, answer := range answers {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(exchangeWaitMax))
			writer := bufio.NewWriter(conn)
			answer(writer, newFrameReader(conn))
			writer.Flush()
			conn.Close()
		}
	}()
	return listener.Addr().String()
}

// TestAskWitnessRefusesMalformedAnswers: a witness (or an impostor) that answers with
// the wrong frame or a short challenge gets no lease request (nothing is signed over a
// nonce that is not one); a reply that is short, of the wrong kind, whose holder length
// does not match, whose granted byte is neither 0 nor 1, whose reserved bytes are not
// zero or whose valid time does not fit a time.Duration is an error, never a lease.
func TestAskWitnessRefusesMalformedAnswers(t *testing.T) {
	nonce := make([]byte, nonceSize)
	requested := make(chan bool, 8) // Whether a lease request arrived after a bad challenge.
	challenge := func(kind frameType, body []byte) func(w *bufio.Writer, r *frameReader) {
		return func(w *bufio.Writer, r *frameReader) {
			writeFrame(w, kind, 1, body)
			w.Flush()
			_, err := r.read() // Returns when the client sends or hangs up.
			requested <- err == nil
		}
	}
	reply := func(kind frameType, body []byte) func(w *bufio.Writer, r *frameReader) {
		return func(w *bufio.Writer, r *frameReader) {
			writeFrame(w, frameChallenge, 1, nonce)
			w.Flush()
			r.read() // The lease request.
			writeFrame(w, kind, 1, body)
		}
	}
	edited := func(body []byte, index int, value byte) []byte {
		body[index] = value
		return body
	}
	withHolder := func(holder string, claimed uint16) []byte {
		body := make([]byte, 26, 26+len(holder))
		body[0] = 1
		binary.LittleEndian.PutUint16(body[24:], claimed)
		return append(body, holder...)
	}
	cases := []struct {
		name      string
		answer    func(w *bufio.Writer, r *frameReader)
		challenge bool
	}{
		{"not a challenge", challenge(frameHello, nonce), true},
		{"short challenge", challenge(frameChallenge, nonce[:nonceSize-1]), true},
		{"reply of another kind", reply(frameWelcome, withHolder("a", 1)), false},
		{"short reply", reply(frameLeaseReply, make([]byte, 25)), false},
		{"holder longer than said", reply(frameLeaseReply, withHolder("abc", 2)), false},
		{"holder shorter than said", reply(frameLeaseReply, withHolder("a", 2)), false},
		// A later version's meaning for these is refused, not misread as a grant.
		{"reserved byte set", reply(frameLeaseReply, edited(withHolder("a", 1), 7, 1)), false},
		{"granted byte 2", reply(frameLeaseReply, edited(withHolder("a", 1), 0, 2)), false},
		{"valid past a Duration", reply(frameLeaseReply, edited(withHolder("a", 1), 23, 0x80)),
			false},
	}
	answers := make([]func(w *bufio.Writer, r *frameReader), len(cases))
	for i, c := range cases {
		answers[i] = c.answer
	}
	address := scriptedPeer(t, answers...)
	// The scripted witness announces no features (an earlier build's v1): allowed, so
	// that the v1 reply's checks are what refuses (not ErrWitnessUnsigned, first).
	client := witnessClient{address: address, key: testKey, unsignedAllowed: true}
	for _, c := range cases {
		answer, err := client.ask(context.Background(), leaseAcquire, "node", 1,
			time.Now().Add(exchangeWaitMax))
		if err == nil || errors.Is(err, ErrWitnessUnsigned) {
			t.Fatalf("%s: answer %+v, %v; want the reply's error", c.name, answer, err)
		}
		if c.challenge && <-requested {
			t.Fatalf("%s: a lease request was sent over it", c.name)
		}
	}
}

// TestSecondStandbyIsRefused: a primary streams to one standby; a second one that
// connects while the first is attached is refused and the first keeps streaming.
func TestSecondStandbyIsRefused(t *testing.T) {
	primary, standby := startSyncPair(t, t.TempDir(), t.TempDir())
	defer primary.Close()
	defer standby.Close()
	second, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if _, err := Dial(context.Background(), StandbyConfig{Address: primary.config.Listen, Key: testKey, Log: second,
		Shards: primary.shards(), MapChecksum: primary.mapChecksum()}, 1); err == nil ||
		!strings.Contains(err.Error(), "already attached") {
		t.Fatalf("a second standby: %v, want a refusal", err)
	}
	primary.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	if reply, _ := primary.replies.wait(t, 2); reply.Status != model.StatusOK {
		t.Fatalf("write with the first standby: %s", reply.Status)
	}
}

// TestMalformedFenceIsIgnored: a fence frame too short to hold its signature is ignored
// (the primary keeps serving), not read past its end.
func TestMalformedFenceIsIgnored(t *testing.T) {
	address := freeAddress(t)
	config := nodeConfig(t.TempDir(), address, "")
	config.Mode = ModeAsync
	primary := startNode(t, config)
	defer primary.Close()
	conn, err := dialLink(context.Background(), address, nil, exchangeWaitMax)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(exchangeWaitMax))
	if _, err := newFrameReader(conn).read(); err != nil {
		t.Fatal(err)
	}
	writer := bufio.NewWriter(conn)
	if err := writeFrame(writer, frameFence, 9, []byte("short")); err != nil || writer.Flush() != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, conn) // The primary closes the connection once it has handled it.
	if role := primary.Shard().Role(); role != shard.RolePrimary {
		t.Fatalf("a malformed fence made the primary %s", role)
	}
}

// TestPrimaryStatsShowTheLag: with no standby, what the primary wrote and nobody
// acknowledged is its replication lag.
func TestPrimaryStatsShowTheLag(t *testing.T) {
	primary := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), ""))
	defer primary.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	waitFor(t, "the local write", func() bool { return primary.Log().Durable() >= 1 })
	stats := primary.primary0().Stats()
	if stats.AcknowledgedOp != 0 || stats.LagOps != primary.Log().LastOp() || stats.LagOps == 0 {
		t.Fatalf("stats %+v with op %d written, none acknowledged", stats, primary.Log().LastOp())
	}
}

// TestStandbyStatusAndRedirect: a standby knows its primary from the first handshake on:
// it redirects writes to the primary's client address and its status describes the
// replication it receives.
func TestStandbyStatusAndRedirect(t *testing.T) {
	primary, standby := startSyncPair(t, t.TempDir(), t.TempDir())
	defer primary.Close()
	defer standby.Close()
	if got := standby.Shard().PrimaryAddress(); got != primary.config.ClientAddress {
		t.Fatalf("the standby redirects to %q, want the primary's %q", got, primary.config.ClientAddress)
	}
	waitFor(t, "the standby to have everything", func() bool {
		return standby.Log().Durable() >= primary.Log().LastOp()
	})
	status := standby.Status()
	if status.Primary != nil || status.Standby == nil || !status.Replicated ||
		status.Standby.PrimaryReplication != primary.config.Listen || status.Standby.EntriesReceived == 0 {
		t.Fatalf("standby status %+v (standby part %+v)", status, status.Standby)
	}
	if primaryStatus := primary.Status(); primaryStatus.Standby != nil || primaryStatus.Primary == nil {
		t.Fatalf("primary status %+v", primaryStatus)
	}
}

// TestNodeThatCannotListenReleasesItsLog: a node whose replication address is taken
// fails to open, and leaves its log closed (unlocked) behind it, so a retry can open it.
func TestNodeThatCannotListenReleasesItsLog(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	config := nodeConfig(t.TempDir(), taken.Addr().String(), "")
	if node, err := OpenNode(context.Background(), config); err == nil {
		node.Close()
		t.Fatal("a node opened on a taken address")
	}
	log, err := wal.Open(wal.Options{Dir: config.Groups[0].LogDir, Logger: testLogger})
	if err != nil {
		t.Fatalf("the failed node left its log open: %v", err)
	}
	log.Close()
}

// TestRefusedAcquisitionSaysHowLongToWait: a restarted witness refuses acquisitions for
// one lease; its refusal says how long is left of that wait (not of an expired lease).
func TestRefusedAcquisitionSaysHowLongToWait(t *testing.T) {
	lease := time.Minute // Long: the answer cannot be near zero however slow the machine.
	_, address := startTestWitness(t, lease)
	answer, err := askWitness(context.Background(), address, nil, testKey, leaseAcquire, "standby", 1, time.Now().Add(handshakeTimeout))
	if err != nil {
		t.Fatal(err)
	}
	if answer.granted || answer.valid < lease/2 {
		t.Fatalf("acquisition at a restarted witness: %+v, want refused with about a lease to wait", answer)
	}
}

// TestReplicationNeedsAKey: a node that replicates (listens, or follows a primary) must
// have the replication key; one that does neither needs none.
func TestReplicationNeedsAKey(t *testing.T) {
	for _, c := range []struct {
		name              string
		listen, standbyOf string
		ok                bool
	}{
		{"listens", "127.0.0.1:0", "", false},
		{"follows", "", "127.0.0.1:1", false},
		{"alone", "", "", true},
	} {
		config := nodeConfig(t.TempDir(), c.listen, c.standbyOf)
		config.Key = nil
		node, err := OpenNode(context.Background(), config)
		if (err == nil) != c.ok {
			t.Fatalf("%s without a key: %v, want allowed %v", c.name, err, c.ok)
		}
		if node != nil {
			node.Close()
		}
	}
}

// TestWitnessGrantsTheLeaseToOneNode: once the witness grants an acquisition, the lease
// is that node's: another node's acquisition is refused while it lasts, naming the
// holder, and the holder's renewal is granted. A request signed with another key is
// answered with nothing and takes nothing.
func TestWitnessGrantsTheLeaseToOneNode(t *testing.T) {
	witness, address := startTestWitness(t, time.Minute) // Lasts the whole test.
	witness.mutex.Lock()
	witness.acquireAfter = time.Now() // Past the restart wait.
	witness.mutex.Unlock()
	ask := func(key []byte, kind byte, node string, epoch uint64) (leaseAnswer, error) {
		return askWitness(context.Background(), address, nil, key, kind, node, epoch, time.Now().Add(handshakeTimeout))
	}
	if answer, err := ask([]byte("not the key"), leaseAcquire, "impostor", 1); err == nil {
		t.Fatalf("a request with the wrong key was answered: %+v", answer)
	}
	first, err := ask(testKey, leaseAcquire, "b", 1)
	if err != nil || !first.granted || first.holder != "b" {
		t.Fatalf("first acquisition: %+v (%v)", first, err)
	}
	if second, err := ask(testKey, leaseAcquire, "c", first.epoch); err != nil || second.granted || second.holder != "b" {
		t.Fatalf("a second node's acquisition during b's lease: %+v (%v)", second, err)
	}
	if renewal, err := ask(testKey, leaseRenew, "b", first.epoch); err != nil || !renewal.granted {
		t.Fatalf("the holder's renewal: %+v (%v)", renewal, err)
	}
}

// TestPromotionNeedsTheEpochStored: a promotion persists the new epoch before the node
// acts as primary; when it cannot (the epoch file's place is taken), Promote fails and
// the node stays a standby at its old epoch.
func TestPromotionNeedsTheEpochStored(t *testing.T) {
	primary, standby := startSyncPair(t, t.TempDir(), t.TempDir())
	defer standby.Close()
	primary.Close()
	epochPath := standby.config.EpochPath
	if err := os.Remove(epochPath); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(epochPath, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	if epoch, err := standby.Promote(); err == nil {
		t.Fatalf("promoted to epoch %d without storing it", epoch)
	}
	if role, epoch := standby.Shard().Role(), standby.Shard().Epoch(); role != shard.RoleStandby || epoch != 1 {
		t.Fatalf("after a failed promotion: %s at epoch %d, want a standby at epoch 1", role, epoch)
	}
}
