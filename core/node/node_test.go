package node

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/wal"
)

// twoShards places ids below 100 on shard 0 and the rest on shard 1.
var twoShards = shardmap.ByRange(model.U128(0), model.U128(100))

// clientReplies records the replies a node delivers to clients, by connection.
type clientReplies struct {
	mutex   sync.Mutex
	replies map[uint64][]backend.Reply
	arrived chan struct{}
}

func newClientReplies() *clientReplies {
	return &clientReplies{replies: map[uint64][]backend.Reply{}, arrived: make(chan struct{}, 1)}
}

func (c *clientReplies) Deliver(replies []backend.Reply) {
	c.mutex.Lock()
	for _, reply := range replies {
		reply.Body = bytes.Clone(reply.Body)
		c.replies[reply.Connection] = append(c.replies[reply.Connection], reply)
	}
	c.mutex.Unlock()
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

func (c *clientReplies) DeliverReports([]backend.Report) {}

// waitFor waits (bounded) for the reply on a connection; exactly one must come.
func (c *clientReplies) waitFor(t *testing.T, connection uint64) backend.Reply {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		c.mutex.Lock()
		replies := c.replies[connection]
		c.mutex.Unlock()
		if len(replies) > 1 {
			t.Fatalf("connection %d got %d replies", connection, len(replies))
		}
		if len(replies) == 1 {
			return replies[0]
		}
		select {
		case <-c.arrived:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no reply on connection %d in 20 s", connection)
		}
	}
}

// testNode runs a node over memory logs.
type testNode struct {
	t       *testing.T
	node    *Node
	logs    []*wal.MemoryLog
	replies *clientReplies
}

func startNode(t *testing.T, machines []*core.Machine, logs []*wal.MemoryLog) *testNode {
	t.Helper()
	tn := &testNode{t: t, logs: logs, replies: newClientReplies()}
	parts := make([]Part, len(machines))
	for i := range machines {
		parts[i] = Part{Machine: machines[i], Log: logs[i]}
	}
	local, err := NewLocal(twoShards, shard.Config{CloseTimeout: 300 * time.Millisecond}, parts)
	if err != nil {
		t.Fatal(err)
	}
	// Client 1, the only one, is the operator (a single-tenant keys file): its accounts
	// may go negative (package ledger, "Ownership"). Each shard logs the table first.
	operator := model.AppendGrants(nil, []model.Grant{{Client: 1, Scopes: model.ScopeOperator}})
	for _, s := range local.Shards() {
		if err := s.SetGrants(operator); err != nil {
			t.Fatal(err)
		}
	}
	node, err := New(Config{Map: twoShards,
		SagaResendAfter: uint64(20 * time.Millisecond), OutboxInterval: uint64(10 * time.Millisecond),
		TickInterval: time.Millisecond}, local)
	if err != nil {
		t.Fatal(err)
	}
	tn.node = node
	node.Start(tn.replies)
	return tn
}

func newTestNode(t *testing.T) *testNode {
	machines := make([]*core.Machine, 2)
	logs := make([]*wal.MemoryLog, 2)
	for i := range machines {
		machines[i] = core.New(core.Config{Shard: core.ShardConfig{Map: twoShards, Index: uint16(i)}})
		logs[i] = wal.NewMemoryLog()
	}
	tn := startNode(t, machines, logs)
	t.Cleanup(func() { tn.node.Close() })
	return tn
}

// call submits a request and waits for its reply.
func (tn *testNode) call(connection, number uint64, operation model.Operation, flags uint8,
	body []byte) backend.Reply {
	tn.t.Helper()
	if status := tn.node.Submit(&backend.Request{Connection: connection, Client: 1, Session: 1,
		Number: number, Operation: operation, Flags: flags, Body: body}); status != model.StatusOK {
		tn.t.Fatalf("submit %s: %s", operation, status)
	}
	return tn.replies.waitFor(tn.t, connection)
}

func accountsBody(ids ...uint64) []byte {
	body := make([]byte, len(ids)*model.AccountSize)
	for i, id := range ids {
		a := model.Account{ID: model.U128(id), Ledger: 1, Code: 1}
		a.Encode(body[i*model.AccountSize:])
	}
	return body
}

func transfersBody(transfers ...[4]uint64) []byte {
	body := make([]byte, len(transfers)*model.TransferSize)
	for i, t := range transfers {
		transfer := model.Transfer{ID: model.U128(t[0]), DebitAccountID: model.U128(t[1]),
			CreditAccountID: model.U128(t[2]), Amount: model.U128(t[3]), Ledger: 1, Code: 1}
		transfer.Encode(body[i*model.TransferSize:])
	}
	return body
}

func statuses(body []byte, size int) []model.Status {
	var out []model.Status
	for offset := 0; offset < len(body); offset += size {
		var result model.EventResult
		result.Decode(body[offset:])
		out = append(out, result.Status)
	}
	return out
}

// lookup returns the accounts found, in the order asked (a split lookup).
func (tn *testNode) lookup(connection uint64, ids ...uint64) []model.Account {
	body := make([]byte, len(ids)*model.IDSize)
	for i, id := range ids {
		model.U128(id).PutLE(body[i*model.IDSize:])
	}
	reply := tn.call(connection, 0, model.OperationLookupAccounts, 0, body)
	var accounts []model.Account
	for offset := 0; offset < len(reply.Body); offset += model.AccountSize {
		var a model.Account
		a.Decode(reply.Body[offset:])
		accounts = append(accounts, a)
	}
	return accounts
}

// A request with accounts and transfers on both shards is split, its cross-shard
// transfer settles as a saga, and the merged reply keeps the events' order.
func TestNodeSplitsAndSettles(t *testing.T) {
	tn := newTestNode(t)
	reply := tn.call(1, 1, model.OperationCreateAccounts, 0, accountsBody(1, 100, 2, 101))
	if got := statuses(reply.Body, model.EventResultSize); len(got) != 4 ||
		got[0]|got[1]|got[2]|got[3] != model.StatusOK {
		t.Fatalf("accounts: %v", got)
	}
	reply = tn.call(2, 2, model.OperationCreateTransfers, core.RequestFlagReplyBalances,
		transfersBody([4]uint64{10, 1, 2, 5}, [4]uint64{11, 1, 100, 7}, [4]uint64{12, 101, 100, 3},
			[4]uint64{13, 2, 999, 1}))
	got := statuses(reply.Body, model.EventResultBalancesSize)
	want := []model.Status{model.StatusOK, model.StatusOK, model.StatusOK,
		model.StatusCreditAccountNotFound}
	if !equalStatuses(got, want) {
		t.Fatalf("transfers: %v, want %v", got, want)
	}
	var cross model.TransferResult
	cross.DecodeWithBalances(reply.Body[model.EventResultBalancesSize:])
	// Events on different shards are not ordered among themselves: the local transfer 12
	// on shard 1 came before the saga's credit there, whose balances count it.
	if cross.DebitAccount.DebitsPosted != model.U128(12) || cross.CreditAccount.CreditsPosted != model.U128(10) {
		t.Fatalf("cross-shard result balances %+v", cross)
	}
	accounts := tn.lookup(3, 100, 999, 1, 2)
	if len(accounts) != 3 || accounts[0].ID != model.U128(100) || accounts[1].ID != model.U128(1) ||
		accounts[2].ID != model.U128(2) {
		t.Fatalf("lookup order: %+v", accounts)
	}
	if accounts[0].CreditsPosted != model.U128(10) || accounts[1].DebitsPosted != model.U128(12) ||
		accounts[2].DebitsPosted != (model.Uint128{}) {
		t.Fatalf("balances: %+v", accounts)
	}
	// The trial balance sums every shard, over the accounts the client may read: the
	// operator reads all, its four and the pair's two settlement accounts (the saga's 7
	// went in on shard 0 and out on shard 1): debits 12 + 3 + 7 = 22 = credits 5 + 10 + 7.
	filter := make([]byte, model.LedgerFilterSize)
	(&model.LedgerFilter{Limit: 10}).Encode(filter)
	reply = tn.call(4, 0, model.OperationGetLedgerTotals, 0, filter)
	var totals model.LedgerTotals
	if len(reply.Body) != model.LedgerTotalsSize {
		t.Fatalf("totals: %d bytes", len(reply.Body))
	}
	totals.Decode(reply.Body)
	if totals.Accounts != 6 || !totals.Balanced() || totals.DebitsPosted.Low != model.U128(22) {
		t.Fatalf("totals %+v", totals)
	}
}

func equalStatuses(a, b []model.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A split request sent again under the same number (a client after a reconnect) gets
// its original reply, from the shards' session caches and the saga table, and nothing
// is applied twice.
func TestNodeRetriedSplitRequestGetsItsReply(t *testing.T) {
	tn := newTestNode(t)
	tn.call(1, 1, model.OperationCreateAccounts, 0, accountsBody(1, 100))
	body := transfersBody([4]uint64{10, 1, 100, 5}, [4]uint64{11, 100, 1, 2})
	first := tn.call(2, 2, model.OperationCreateTransfers, 0, body)
	again := tn.call(3, 2, model.OperationCreateTransfers, 0, body)
	if !bytes.Equal(first.Body, again.Body) || again.Status != model.StatusOK || !again.Duplicate {
		t.Fatalf("retry: %+v vs %+v", again, first)
	}
	accounts := tn.lookup(4, 1, 100)
	if accounts[0].DebitsPosted != model.U128(5) || accounts[0].CreditsPosted != model.U128(2) {
		t.Fatalf("applied twice? %+v", accounts[0])
	}
}

// The node stops while a saga waits for its credit shard's log (held); the client gets
// an outcome-unknown answer. After a restart from what was durable, the same request
// gets the final answer and the transfer happened once.
func TestNodeRestartMidSaga(t *testing.T) {
	machines := make([]*core.Machine, 2)
	logs := make([]*wal.MemoryLog, 2)
	for i := range machines {
		machines[i] = core.New(core.Config{Shard: core.ShardConfig{Map: twoShards, Index: uint16(i)}})
		logs[i] = wal.NewMemoryLog()
	}
	tn := startNode(t, machines, logs)
	tn.call(1, 1, model.OperationCreateAccounts, 0, accountsBody(1, 100))
	logs[1].Hold() // The credit shard's entries are written but never durable.
	body := transfersBody([4]uint64{10, 1, 100, 5})
	if status := tn.node.Submit(&backend.Request{Connection: 2, Client: 1, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: body}); status != model.StatusOK {
		t.Fatal(status)
	}
	for logs[1].LastOp() <= logs[1].Durable() { // Wait for step 2 to be written (not durable).
		time.Sleep(time.Millisecond)
	}
	if err := tn.node.Close(); err != nil {
		t.Fatal(err)
	}
	if reply := tn.replies.waitFor(t, 2); reply.Status != model.StatusOutcomeUnknown {
		t.Fatalf("before the restart: %s", reply.Status)
	}
	// Restart from the durable entries only (what a crash leaves).
	readers := make([]shard.LogReader, 2)
	for i := range logs {
		logs[i] = durableCopy(t, logs[i])
		readers[i] = logs[i]
	}
	recovered, err := Recover(twoShards, core.Config{}, readers, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	restarted := startNode(t, recovered, logs)
	defer restarted.node.Close()
	reply := restarted.call(3, 2, model.OperationCreateTransfers, 0, body)
	if got := statuses(reply.Body, model.EventResultSize); reply.Status != model.StatusOK ||
		len(got) != 1 || got[0] != model.StatusOK {
		t.Fatalf("after the restart: %s %v", reply.Status, got)
	}
	accounts := restarted.lookup(4, 1, 100)
	if accounts[0].DebitsPosted != model.U128(5) || accounts[1].CreditsPosted != model.U128(5) {
		t.Fatalf("balances after the restart: %+v", accounts)
	}
}

// durableCopy returns a new memory log holding the durable entries of an old one.
func durableCopy(t *testing.T, old *wal.MemoryLog) *wal.MemoryLog {
	copied := wal.NewMemoryLog()
	err := old.Read(0, func(e *wal.Entry) error { return copied.Append(*e) })
	if err != nil {
		t.Fatal(err)
	}
	return copied
}

func TestNodeRefusesPartsOfAnotherShardOrMap(t *testing.T) {
	machines := []*core.Machine{
		core.New(core.Config{Shard: core.ShardConfig{Map: twoShards, Index: 1}}),
		core.New(core.Config{Shard: core.ShardConfig{Map: twoShards, Index: 0}}),
	}
	parts := []Part{{Machine: machines[0], Log: wal.NewMemoryLog()},
		{Machine: machines[1], Log: wal.NewMemoryLog()}}
	if _, err := NewLocal(twoShards, shard.Config{}, parts); err == nil {
		t.Fatal("parts in the wrong order were accepted")
	}
	if _, err := NewLocal(shardmap.Hashed(2), shard.Config{}, []Part{parts[1], parts[0]}); err == nil {
		t.Fatal("machines of another map were accepted")
	}
}

func TestRecordShardMap(t *testing.T) {
	layout := Layout{Dir: t.TempDir()}
	if err := layout.RecordShardMap(twoShards); err != nil {
		t.Fatal(err)
	}
	if err := layout.RecordShardMap(twoShards); err != nil {
		t.Fatalf("the same map again: %v", err)
	}
	if err := layout.RecordShardMap(shardmap.Hashed(2)); !errors.Is(err, ErrShardMapMismatch) {
		t.Fatalf("another map: %v", err)
	}
	recorded, _ := os.ReadFile(layout.ShardMapPath())
	recorded[20] ^= 1
	os.WriteFile(layout.ShardMapPath(), recorded, 0o644)
	if err := layout.RecordShardMap(twoShards); err == nil || errors.Is(err, ErrShardMapMismatch) {
		t.Fatalf("a damaged record: %v", err)
	}
}

// A directory with a log but no map was created before shards: it holds one shard, and
// only the one-shard map may open it (which it then records).
func TestShardMapOfAnOlderDirectory(t *testing.T) {
	layout := Layout{Dir: t.TempDir()}
	if err := os.MkdirAll(layout.LogDir(0), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(layout.LogDir(0), "00000000000000000001.wal"), []byte{0},
		0o644); err != nil {
		t.Fatal(err)
	}
	if err := layout.RecordShardMap(twoShards); !errors.Is(err, ErrShardMapMismatch) {
		t.Fatalf("two shards over an unsharded directory: %v", err)
	}
	if err := layout.RecordShardMap(shardmap.Single()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(layout.ShardMapPath()); err != nil {
		t.Fatalf("the one-shard map was not recorded: %v", err)
	}
	if got := layout.LogDir(1); got != filepath.Join(layout.Dir, "shard-1", "log") {
		t.Fatalf("shard 1's log in %s", got)
	}
}

// A node built with the default timings (no tick interval given) runs: a split request
// is answered.
func TestNodeWithDefaultTimings(t *testing.T) {
	parts := make([]Part, 2)
	for i := range parts {
		parts[i] = Part{Machine: core.New(core.Config{Shard: core.ShardConfig{Map: twoShards,
			Index: uint16(i)}}), Log: wal.NewMemoryLog()}
	}
	local, err := NewLocal(twoShards, shard.Config{CloseTimeout: 300 * time.Millisecond}, parts)
	if err != nil {
		t.Fatal(err)
	}
	node, err := New(Config{Map: twoShards}, local)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{t: t, node: node, replies: newClientReplies()}
	node.Start(tn.replies)
	defer node.Close()
	reply := tn.call(1, 1, model.OperationCreateAccounts, 0, accountsBody(1, 100))
	if reply.Status != model.StatusOK || len(reply.Body) != 2*model.EventResultSize {
		t.Fatalf("split request: %s, %d bytes", reply.Status, len(reply.Body))
	}
}

// The shards given must be as many as the map has: parts to NewLocal, logs to Recover.
func TestNodeCountsFollowTheMap(t *testing.T) {
	one := []Part{{Machine: core.New(core.Config{Shard: core.ShardConfig{Map: twoShards}}),
		Log: wal.NewMemoryLog()}}
	if _, err := NewLocal(twoShards, shard.Config{}, one); err == nil {
		t.Fatal("one part for two shards was accepted")
	}
	if _, err := Recover(twoShards, core.Config{}, []shard.LogReader{wal.NewMemoryLog()}, nil,
		nil); err == nil {
		t.Fatal("one log for two shards was recovered")
	}
}

// A data directory whose shard-0 log directory exists but is empty (created, nothing
// written) is a new directory, not one from before shards: any map may be recorded.
func TestShardMapOfAnEmptyLogDirectory(t *testing.T) {
	layout := Layout{Dir: t.TempDir()}
	if err := os.MkdirAll(layout.LogDir(0), 0o755); err != nil {
		t.Fatal(err)
	}
	if stored, err := layout.ReadShardMap(); stored != nil || err != nil {
		t.Fatalf("an empty log directory reads as %v, %v", stored, err)
	}
	if err := layout.RecordShardMap(twoShards); err != nil {
		t.Fatal(err)
	}
}

// TestNodeStartedAsStandbyCountsTheSagaTimeoutFromStep1: a node that started as a
// standby builds its router to count the saga timeout from step 1 alone (its logs may
// lack an abort its former primary answered); a node that started from its own logs
// counts from when it serves.
func TestNodeStartedAsStandbyCountsTheSagaTimeoutFromStep1(t *testing.T) {
	for _, standby := range []bool{false, true} {
		parts := make([]Part, 2)
		for i := range parts {
			parts[i] = Part{Machine: core.New(core.Config{Shard: core.ShardConfig{Map: twoShards,
				Index: uint16(i)}}), Log: wal.NewMemoryLog()}
		}
		local, err := NewLocal(twoShards, shard.Config{}, parts)
		if err != nil {
			t.Fatal(err)
		}
		n, err := New(Config{Map: twoShards, SagaTimeout: 3_000_000_000,
			StartedAsStandby: standby}, local)
		if err != nil {
			t.Fatal(err)
		}
		got := n.routerConfig()
		if got.SagaTimeoutFromStep1 != standby || got.SagaTimeout != 3_000_000_000 {
			t.Fatalf("StartedAsStandby %v: router SagaTimeoutFromStep1 %v, SagaTimeout %d ns; "+
				"want %v, 3,000,000,000", standby, got.SagaTimeoutFromStep1, got.SagaTimeout,
				standby)
		}
	}
}
