package replication

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/testport"
	"sequent/wal"
)

var testKey = []byte("replication test key")

// collector gathers replies per connection id.
type collector struct {
	mutex   sync.Mutex
	replies map[uint64]backend.Reply
	bodies  map[uint64][]byte
}

func newCollector() *collector {
	return &collector{replies: map[uint64]backend.Reply{}, bodies: map[uint64][]byte{}}
}

func (c *collector) Deliver(replies []backend.Reply) {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	for _, reply := range replies {
		c.bodies[reply.Connection] = append([]byte(nil), reply.Body...)
		reply.Body = nil
		c.replies[reply.Connection] = reply
	}
}

func (c *collector) DeliverReports([]backend.Report) {}

func (c *collector) get(connection uint64) (backend.Reply, []byte, bool) {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	reply, ok := c.replies[connection]
	return reply, c.bodies[connection], ok
}

// waitMax bounds the tests' waits for a reply or a condition. It is a hang guard, not a
// timing assertion: under -race on a loaded 2-core machine a healthy step can take
// seconds, and a wait that ends early fails a test that would have passed.
const waitMax = time.Minute

// wait waits (bounded) for the reply on a connection id.
func (c *collector) wait(t *testing.T, connection uint64) (backend.Reply, []byte) {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for time.Now().Before(deadline) {
		if reply, body, ok := c.get(connection); ok {
			return reply, body
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no reply on connection %d within %v", connection, waitMax)
	return backend.Reply{}, nil
}

// freeAddress returns a loopback address for a node to listen on later: tests hand a
// node's address to its partner's config before it listens, and reopen a node on its
// address after closing it (testport says why not a port from a listen on :0).
func freeAddress(t *testing.T) string { return testport.Address(t) }

type testNode struct {
	*Node
	replies *collector
	dir     string
	config  NodeConfig
}

// primary0 returns shard 0's Primary (nil unless serving as a replicated primary).
func (n *testNode) primary0() *Primary { return n.groups[0].primary.Load() }

// testRules starts the tests' machines at the current rules version, so that the ops
// they count are their own requests' (a primary below it opens its first write entry
// with upgrade_rules: core/shard's rules_test.go covers that, with a standby).
var testRules = core.RulesVersionCurrent

func nodeConfig(dir, listen, standbyOf string) NodeConfig {
	return NodeConfig{Groups: []GroupConfig{{LogDir: filepath.Join(dir, "log"),
		SnapshotDir: filepath.Join(dir, "snapshots"),
		Machine:     core.Config{RulesVersion: testRules}}},
		EpochPath: filepath.Join(dir, "epoch"), Listen: listen, StandbyOf: standbyOf, Key: testKey,
		ClientAddress: "client-" + listen, Snapshots: &shard.SnapshotConfig{},
		Shard: shard.Config{CloseTimeout: 200 * time.Millisecond}, Logger: testLogger}
}

// startWaitMax bounds startNode's open. It is a hang guard, not a timing assertion: a
// standby with an empty log waits for ever for a primary that refuses it (one that
// fenced itself too early in a test), and that used to hang the whole package until go
// test's 10-minute timeout instead of failing the one test.
const startWaitMax = 30 * time.Second

func startNode(t *testing.T, config NodeConfig) *testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{Node: node, replies: newCollector(), config: config}
	node.Start([]shard.Outputs{shard.RepliesOnly(n.replies)})
	return n
}

// startSyncPair starts a primary in primaryDir and its sync standby in standbyDir on
// fresh loopback addresses (their configs hold the addresses), and has the primary
// create accounts 1 and 2, acknowledged, so both nodes hold them. The caller closes both.
func startSyncPair(t *testing.T, primaryDir, standbyDir string) (primary, standby *testNode) {
	t.Helper()
	primaryAddress := freeAddress(t)
	primary = startNode(t, nodeConfig(primaryDir, primaryAddress, ""))
	standby = startNode(t, nodeConfig(standbyDir, freeAddress(t), primaryAddress))
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	return primary, standby
}

func accounts(ids ...uint64) []byte {
	body := make([]byte, len(ids)*model.AccountSize)
	for i, id := range ids {
		account := model.Account{ID: model.U128(id), Ledger: 1, Code: 1}
		account.Encode(body[i*model.AccountSize:])
	}
	return body
}

func transfer(id, debit, credit, amount uint64) []byte {
	body := make([]byte, model.TransferSize)
	t := model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount), Ledger: 1, Code: 1}
	t.Encode(body)
	return body
}

// submit sends one request on its own connection id and returns that id.
func (n *testNode) submit(t *testing.T, connection, number uint64, operation model.Operation,
	body []byte) {
	t.Helper()
	status := n.Shard().Submit(&backend.Request{Connection: connection, Client: 7, Session: 1,
		Number: number, Operation: operation, Body: body})
	if status != model.StatusOK {
		t.Fatalf("submit %d: %s", number, status)
	}
}

func waitFor(t *testing.T, what string, condition func() bool) {
	t.Helper()
	waitWithin(t, waitMax, what, condition)
}

// promptWaitMax bounds a wait for what a healthy node does within milliseconds of the
// event the test caused (a standby that stops on a plan it cannot follow). It is a hang
// guard too, with room for -race at load averages of 30, but kept under the mutation
// guard's timeout slack (30 s, tools/mutation): a guarded mutant that makes the wait last
// for ever then fails the test in 20 s instead of timing out after 3 times the test's
// duration plus 30 s (259 s of CI for replication's three such mutants in session 47).
const promptWaitMax = 20 * time.Second

// waitWithin polls condition until it holds, failing the test after bound.
func waitWithin(t *testing.T, bound time.Duration, what string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSyncReplicationAndFailover: replies wait for the standby; the standby's state
// follows; after the primary dies, the promoted standby answers a retry from the
// replicated session cache and takes new writes; the old primary, restarted, cannot
// acknowledge anything and rejoins as a standby.
func TestSyncReplicationAndFailover(t *testing.T) {
	primaryDir, standbyDir := t.TempDir(), t.TempDir()
	primaryAddress, standbyAddress := freeAddress(t), freeAddress(t)
	primary := startNode(t, nodeConfig(primaryDir, primaryAddress, ""))
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	time.Sleep(100 * time.Millisecond)
	if _, _, ok := primary.replies.get(1); ok {
		t.Fatal("a reply left before any standby acknowledged it (sync mode)")
	}
	standbyConfig := nodeConfig(standbyDir, standbyAddress, primaryAddress)
	standbyConfig.Peer = primaryAddress
	standby := startNode(t, standbyConfig)
	primary.replies.wait(t, 1)
	for i := uint64(0); i < 20; i++ {
		primary.submit(t, 10+i, 2+i, model.OperationCreateTransfers, transfer(100+i, 1, 2, 1))
	}
	last, _ := primary.replies.wait(t, 29)
	waitFor(t, "the standby to apply everything", func() bool {
		return standby.Log().Durable() >= last.Op
	})
	if got, want := standby.Shard().Epoch(), uint64(1); got != want {
		t.Fatalf("standby epoch %d", got)
	}
	// The primary dies (closed without a goodbye); the standby is promoted.
	primary.Close()
	epoch, err := standby.Promote()
	if err != nil || epoch != 2 {
		t.Fatalf("promote: %d %v", epoch, err)
	}
	// Its status is a primary's now, although it was configured as a standby.
	if status := standby.Status(); status.Standby != nil || status.Primary == nil {
		t.Fatalf("status of the promoted standby: standby %+v, primary %+v", status.Standby, status.Primary)
	}
	standby.submit(t, 100, 21, model.OperationCreateTransfers, transfer(100+19, 1, 2, 1))
	retry, _ := standby.replies.wait(t, 100)
	if !retry.Duplicate {
		t.Fatal("a retry of an acknowledged request was applied again after failover")
	}
	standby.submit(t, 101, 22, model.OperationCreateTransfers, transfer(500, 2, 1, 3))
	if reply, _ := standby.replies.wait(t, 101); reply.Status != model.StatusOK {
		t.Fatalf("write on the new primary: %s", reply.Status)
	}
	// The old primary comes back as the standby of the new one.
	rejoinConfig := nodeConfig(primaryDir, primaryAddress, standbyAddress)
	rejoined := startNode(t, rejoinConfig)
	defer rejoined.Close()
	defer standby.Close()
	waitFor(t, "the old primary to catch up", func() bool {
		return rejoined.Log().Durable() >= standby.Log().LastOp()
	})
	if rejoined.Shard().Role() != shard.RoleStandby || rejoined.Shard().Epoch() != 2 {
		t.Fatalf("rejoined as %s at epoch %d", rejoined.Shard().Role(), rejoined.Shard().Epoch())
	}
	if status := rejoined.Shard().Submit(&backend.Request{Connection: 1, Client: 7, Session: 2,
		Number: 1, Operation: model.OperationCreateAccounts, Body: accounts(9)}); status != model.StatusNotPrimary {
		t.Fatalf("write on the rejoined old primary: %s", status)
	}
}

// TestRejoinTruncatesDivergentSuffix: a primary writes entries its standby never
// acknowledges (the standby was stopped), the standby is promoted, and when the old
// primary rejoins, its divergent suffix is discarded and its state equals the new
// primary's.
func TestRejoinTruncatesDivergentSuffix(t *testing.T) {
	primaryDir, standbyDir := t.TempDir(), t.TempDir()
	primary, standby := startSyncPair(t, primaryDir, standbyDir)
	primaryAddress, standbyAddress := primary.config.Listen, standby.config.Listen
	standby.Close() // The standby stops; the primary goes on alone...
	waitFor(t, "the primary to notice", func() bool { return primary.primary0().current.Load() == nil })
	primary.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 50))
	waitFor(t, "the unacknowledged entry to be written", func() bool { return primary.Log().Durable() >= 2 })
	if _, _, ok := primary.replies.get(2); ok {
		t.Fatal("sync mode released a reply the standby never acknowledged")
	}
	primary.Close() // ...and dies with entry 2 unacknowledged.
	// The standby restarts, is promoted, and writes something else at op 2.
	restarted := startNode(t, nodeConfig(standbyDir, standbyAddress, ""))
	restarted.Close()
	standbyConfig := nodeConfig(standbyDir, standbyAddress, "")
	standbyConfig.DegradeAfter = time.Millisecond // Alone: release on local durability.
	newPrimary := startNode(t, standbyConfig)
	defer newPrimary.Close()
	newPrimary.submit(t, 3, 3, model.OperationCreateTransfers, transfer(11, 2, 1, 7))
	newPrimary.replies.wait(t, 3)
	old := startNode(t, nodeConfig(primaryDir, primaryAddress, standbyAddress))
	defer old.Close()
	waitFor(t, "the old primary to follow", func() bool {
		return old.Log().Durable() >= newPrimary.Log().LastOp()
	})
	var oldDigest, newDigest [32]byte
	waitFor(t, "digests", func() bool {
		oldDigest = digestOf(t, old.Node)
		newDigest = digestOf(t, newPrimary.Node)
		return oldDigest == newDigest
	})
	if old.Log().LastChain() != newPrimary.Log().LastChain() {
		t.Fatal("chains differ after rejoin")
	}
}

// digestOf asks the node's shard for a snapshot-free digest through a lookup-free path:
// it recovers a machine from the node's log (the log is the state).
func digestOf(t *testing.T, n *Node) [32]byte {
	machine, _, err := shard.Recover(n.config.Groups[0].Machine, n.Log(), "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return machine.Digest()
}

// TestStandbyFarBehindGetsSnapshot: the primary retired the log a new standby needs, so
// the standby starts from the primary's snapshot and then streams.
func TestStandbyFarBehindGetsSnapshot(t *testing.T) {
	primaryDir, standbyDir := t.TempDir(), t.TempDir()
	primaryAddress := freeAddress(t)
	config := nodeConfig(primaryDir, primaryAddress, "")
	config.Mode = ModeAsync
	config.WAL = wal.Options{SegmentBytes: 5 << 19, Compression: wal.CodecNone}
	written := make(chan shard.SnapshotResult, 4)
	config.Snapshots = &shard.SnapshotConfig{RetireLog: true, Keep: 1,
		OnWritten: func(r shard.SnapshotResult) { written <- r }}
	primary := startNode(t, config)
	defer primary.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	for i := uint64(0); i < 60; i++ { // 60 requests of 1,000 transfers: ~8 MB, 3 segments.
		var body []byte
		for j := uint64(0); j < 1000; j++ {
			body = append(body, transfer(1000+i*1000+j, 1, 2, 1)...)
		}
		primary.submit(t, 10+i, 2+i, model.OperationCreateTransfers, body)
		primary.replies.wait(t, 10+i)
	}
	primary.Shard().RequestSnapshot()
	select {
	case result := <-written:
		if result.Err != nil {
			t.Fatal(result.Err)
		}
	case <-time.After(waitMax):
		t.Fatal("no snapshot")
	}
	if primary.Log().FirstOp() <= 1 {
		t.Fatalf("the log was not retired (first op %d)", primary.Log().FirstOp())
	}
	primary.submit(t, 5000, 62, model.OperationCreateTransfers, transfer(9, 2, 1, 5))
	primary.replies.wait(t, 5000)
	standby := startNode(t, nodeConfig(standbyDir, freeAddress(t), primaryAddress))
	defer standby.Close()
	waitFor(t, "the standby to catch up", func() bool {
		return standby.Log().Durable() >= primary.Log().LastOp()
	})
	if digestOfStandby(t, standby.Node) != primary.Node.shardDigest(t) {
		t.Fatal("standby state differs from the primary's after a snapshot catch-up")
	}
}

func digestOfStandby(t *testing.T, n *Node) [32]byte {
	machine, report, err := shard.Recover(n.config.Groups[0].Machine, n.Log(), n.config.Groups[0].SnapshotDir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.SnapshotPath == "" {
		t.Fatal("the standby did not start from a snapshot")
	}
	return machine.Digest()
}

func (n *Node) shardDigest(t *testing.T) [32]byte {
	machine, _, err := shard.Recover(n.config.Groups[0].Machine, n.Log(), n.config.Groups[0].SnapshotDir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return machine.Digest()
}

func TestWrongKeyIsRefused(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	config := nodeConfig(t.TempDir(), "", primaryAddress)
	config.Key = []byte("not the key")
	log, err := wal.Open(wal.Options{Dir: config.Groups[0].LogDir, Logger: config.Logger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	_, err = Dial(context.Background(), StandbyConfig{Address: primaryAddress, Key: config.Key, Log: log}, 0)
	if err == nil {
		t.Fatal("a standby with the wrong key was accepted")
	}
	if primary.primary0().current.Load() != nil {
		t.Fatal("a session was attached for an unauthenticated peer")
	}

}

var testLogger = slog.New(slog.DiscardHandler)

// TestAutomaticFailoverWithWitness: with a witness, killing the primary lets the standby
// take the lease and promote itself; the old primary, if it comes back as primary, finds
// the lease taken and fences itself instead of acknowledging anything.
func TestAutomaticFailoverWithWitness(t *testing.T) {
	lease := testLeaseDuration
	witness, witnessAddress := startTestWitness(t, lease)
	primaryDir, standbyDir := t.TempDir(), t.TempDir()
	primaryAddress, standbyAddress := freeAddress(t), freeAddress(t)
	primary := startNode(t, withWitness(nodeConfig(primaryDir, primaryAddress, ""), "a",
		witnessAddress, lease))
	standby := startNode(t, withWitness(nodeConfig(standbyDir, standbyAddress, primaryAddress), "b",
		witnessAddress, lease))
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	// Renewals go on past the witness's start-up wait (from then on it would grant the
	// standby an expired lease): no failover while the primary lives.
	waitFor(t, "renewals past the witness's start-up wait", func() bool {
		return primary.Status().Lease.Renewals >= 3 &&
			time.Now().After(witness.acquireAfter.Add(lease/2))
	})
	if standby.Shard().Role() != shard.RoleStandby {
		t.Fatal("the standby promoted itself while the primary was alive")
	}
	killed := time.Now()
	primary.Close()
	waitFor(t, "automatic promotion", func() bool { return standby.Shard().Role() == shard.RolePrimary })
	t.Logf("automatic failover took %v", time.Since(killed))
	standby.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	if reply, _ := standby.replies.wait(t, 2); reply.Status != model.StatusOK {
		t.Fatalf("write after automatic failover: %s", reply.Status)
	}
	// The old primary restarts as a primary (an operator mistake): it must fence itself.
	stale := startNode(t, withWitness(nodeConfig(primaryDir, primaryAddress, ""), "a",
		witnessAddress, lease))
	defer stale.Close()
	waitFor(t, "the stale primary to fence itself", func() bool {
		return stale.Shard().Role() == shard.RoleFenced
	})
}

// TestPromotedPrimaryReturnsToSync: a promoted node starts alone (released on local
// durability); once its new standby has caught up it must wait for acknowledgements
// again, even with DegradeAfter zero (never degrade on its own).
func TestPromotedPrimaryReturnsToSync(t *testing.T) {
	primary, standby := startSyncPair(t, t.TempDir(), t.TempDir())
	defer standby.Close()
	primary.Close()
	if _, err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	if !standby.primary0().degraded.Load() {
		t.Fatal("a node promoted without a standby is not released from waiting for one")
	}
	rejoined := startNode(t, nodeConfig(t.TempDir(), primary.config.Listen, standby.config.Listen))
	defer rejoined.Close()
	waitFor(t, "sync mode after the new standby caught up", func() bool {
		return !standby.primary0().degraded.Load()
	})
	rejoined.Close() // The standby is gone: replies must wait again.
	waitFor(t, "the primary to notice", func() bool { return standby.primary0().current.Load() == nil })
	standby.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	time.Sleep(200 * time.Millisecond)
	if _, _, ok := standby.replies.get(2); ok {
		t.Fatal("a reply left without a standby acknowledgement in sync mode")
	}
}

// TestCloseDuringPromotion: a node closed while a promotion waits for its follower to
// stop abandons the promotion (ErrNodeClosed) instead of persisting a new epoch and
// starting a primary on a closing shard; a promotion asked for after Close is refused.
func TestCloseDuringPromotion(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	standbyConfig := nodeConfig(t.TempDir(), freeAddress(t), primaryAddress)
	standby := startNode(t, standbyConfig)
	waitFor(t, "the standby to connect", func() bool { return standby.groups[0].standby.connected.Load() })

	paused, resume := make(chan struct{}), make(chan struct{})
	testHookPromotionUnlocked = func() {
		close(paused)
		<-resume
	}
	defer func() { testHookPromotionUnlocked = nil }()
	promoted := make(chan error, 1)
	go func() {
		_, err := standby.Promote()
		promoted <- err
	}()
	<-paused
	closed := make(chan error, 1)
	go func() { closed <- standby.Close() }()
	waitFor(t, "Close to begin", func() bool {
		standby.mutex.Lock()
		defer standby.mutex.Unlock()
		return standby.closed
	})
	close(resume)
	if err := <-promoted; !errors.Is(err, ErrNodeClosed) {
		t.Fatalf("promotion during Close: %v, want ErrNodeClosed", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	if epoch, err := LoadEpoch(standbyConfig.EpochPath); err != nil || epoch != 1 {
		t.Fatalf("persisted epoch %d (%v), want 1: a closed node raised it", epoch, err)
	}
	if role := standby.Shard().Role(); role != shard.RoleStandby {
		t.Fatalf("closed node became %s", role)
	}
	if _, err := standby.Promote(); !errors.Is(err, ErrNodeClosed) {
		t.Fatalf("promotion after Close: %v, want ErrNodeClosed", err)
	}
}

// TestPromotedNodeFencesRestartedOldPrimary: the old primary is down when its standby is
// promoted, so the first fence call fails. Restarted later as a primary (its usual command
// line), it keeps its old epoch and, with DegradeAfter, would acknowledge writes alone
// once that delay passed. The promoted node keeps retrying the fence, so the restarted
// node is fenced and redirects writes to the new primary.
func TestPromotedNodeFencesRestartedOldPrimary(t *testing.T) {
	primary, standby := startSyncPair(t, t.TempDir(), t.TempDir())
	defer standby.Close()
	primary.Close()
	if _, err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	primaryConfig := primary.config          // Its usual command line...
	primaryConfig.DegradeAfter = time.Minute // ...with a long delay: the fence must come first.
	restarted := startNode(t, primaryConfig)
	defer restarted.Close()
	waitFor(t, "the restarted old primary to be fenced", func() bool {
		return restarted.Shard().Role() == shard.RoleFenced
	})
	if status := restarted.Shard().Submit(&backend.Request{Connection: 2, Client: 7, Session: 2,
		Number: 1, Operation: model.OperationCreateAccounts, Body: accounts(3)}); status != model.StatusNotPrimary {
		t.Fatalf("write on the fenced old primary: %s", status)
	}
	if got, want := restarted.Shard().PrimaryAddress(), standby.config.ClientAddress; got != want {
		t.Fatalf("the fenced node redirects to %q, want the new primary %q", got, want)
	}
}

// TestOpenNodeDefaults: a node opened without a logger, a name, a lease duration or a
// wait at start gets the defaults (a zero lease would expire at once, a zero wait would
// give up on the primary at once, and the witness knows a node by its name: without
// one, it is known by its client address).
func TestOpenNodeDefaults(t *testing.T) {
	config := nodeConfig(t.TempDir(), "", "")
	config.Logger, config.LeaseDuration, config.PrimaryWaitAtStart = nil, 0, 0
	config.NodeName, config.ClientAddress = "", "client:1"
	node := startNode(t, config)
	defer node.Close()
	got := node.Node.config
	if got.Logger == nil || got.LeaseDuration != LeaseDurationDefault ||
		got.PrimaryWaitAtStart != PrimaryWaitAtStartDefault || got.NodeName != "client:1" {
		t.Fatalf("logger %v, lease %v, wait at start %v, name %q; want a logger, %v, %v and "+
			"the client address", got.Logger, got.LeaseDuration, got.PrimaryWaitAtStart,
			got.NodeName, LeaseDurationDefault, PrimaryWaitAtStartDefault)
	}
}

// TestPromoteBeforeStartIsRefused: a standby opened but not started yet refuses a
// promotion (ErrNodeNotStarted) and changes nothing: no epoch stored, still a standby.
// It used to promote, serving standbys and fencing its primary with shards that did not
// run; Start then found a primary and began serving a second time. After Close the
// refusal is ErrNodeClosed.
func TestPromoteBeforeStartIsRefused(t *testing.T) {
	primaryAddress, standbyAddress := freeAddress(t), freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	standbyConfig := nodeConfig(t.TempDir(), standbyAddress, primaryAddress)
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	standby, err := OpenNode(ctx, standbyConfig)
	if err != nil {
		t.Fatal(err)
	}
	if epoch, err := standby.Promote(); !errors.Is(err, ErrNodeNotStarted) || epoch != 0 {
		t.Fatalf("promotion before Start: epoch %d, %v; want ErrNodeNotStarted", epoch, err)
	}
	if epoch, err := LoadEpoch(standbyConfig.EpochPath); err != nil || epoch != 1 {
		t.Fatalf("persisted epoch %d (%v), want 1", epoch, err)
	}
	if role := standby.Role(); role != shard.RoleStandby {
		t.Fatalf("refused promotion left the node %s, want standby", role)
	}
	if role := primary.Role(); role != shard.RolePrimary {
		t.Fatalf("the primary is %s after its standby's refused promotion", role)
	}
	if err := standby.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := standby.Promote(); !errors.Is(err, ErrNodeClosed) {
		t.Fatalf("promotion after Close: %v, want ErrNodeClosed", err)
	}
}

// TestNodeNameLongerThanTheWitnessRecordsIsRefused: with a witness, a node whose name
// (NodeName, or ClientAddress by default) is longer than NodeNameBytesMax does not open:
// a witness with a state file would refuse it every grant, and automatic failover would
// fail only when needed. The longest name opens, and without a witness the name is unused.
func TestNodeNameLongerThanTheWitnessRecordsIsRefused(t *testing.T) {
	long := strings.Repeat("n", NodeNameBytesMax+1)
	for _, c := range []struct {
		name        string
		change      func(config *NodeConfig)
		wantRefused bool
	}{
		{"longest name", func(config *NodeConfig) {
			config.NodeName = long[:NodeNameBytesMax]
		}, false},
		{"name too long", func(config *NodeConfig) { config.NodeName = long }, true},
		{"client address too long", func(config *NodeConfig) {
			config.ClientAddress = long
		}, true},
		{"no witness", func(config *NodeConfig) {
			config.Witness, config.NodeName = "", long
		}, false},
	} {
		config := withWitness(nodeConfig(t.TempDir(), "", ""), "", "127.0.0.1:9",
			testLeaseDuration)
		c.change(&config)
		err := config.withDefaults()
		if refused := err != nil; refused != c.wantRefused {
			t.Fatalf("%s: %v, want refused %v", c.name, err, c.wantRefused)
		}
		if err != nil && !strings.Contains(err.Error(), "257 bytes, longer than the 256") {
			t.Fatalf("%s: %v, want the length and the bound named", c.name, err)
		}
	}
}
