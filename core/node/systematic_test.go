package node

// Tests of the systematic mutation pass over core/node (tools/mutation/RESULTS.md): every
// refusal of New, NewLocal, Recover and the data directory's layout, and the node's
// runtime paths no other test drove (a reply made within Submit, a second Start, a Close
// without Start, a failed log, snapshots, execution reports, sessions, reconcile).

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/wal"
)

// waitBound bounds every wait of these tests for something the node does on its own
// goroutines (a failure, not a timing measure: the waits end as soon as it happens).
const waitBound = 20 * time.Second

// reportReplies records replies (clientReplies) and execution reports.
type reportReplies struct {
	*clientReplies
	reportsMutex sync.Mutex
	reports      []model.ExecutionReport
}

func newReportReplies() *reportReplies { return &reportReplies{clientReplies: newClientReplies()} }

func (r *reportReplies) DeliverReports(reports []backend.Report) {
	r.reportsMutex.Lock()
	for _, report := range reports {
		var decoded model.ExecutionReport
		decoded.Decode(report.Body)
		r.reports = append(r.reports, decoded)
	}
	r.reportsMutex.Unlock()
}

// waitForReport waits (bounded) until a report of kind has arrived and returns it.
func (r *reportReplies) waitForReport(t *testing.T, kind model.ReportKind) model.ExecutionReport {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for time.Now().Before(deadline) {
		r.reportsMutex.Lock()
		for _, report := range r.reports {
			if report.Kind == kind {
				r.reportsMutex.Unlock()
				return report
			}
		}
		r.reportsMutex.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no report of kind %d delivered", kind)
	return model.ExecutionReport{}
}

// freshParts returns one empty machine and memory log per shard of placement.
func freshParts(placement *shardmap.Map) ([]Part, []*wal.MemoryLog) {
	parts := make([]Part, placement.Shards)
	logs := make([]*wal.MemoryLog, placement.Shards)
	for i := range parts {
		logs[i] = wal.NewMemoryLog()
		parts[i] = Part{Machine: core.New(core.Config{Shard: core.ShardConfig{Map: placement,
			Index: uint16(i)}}), Log: logs[i]}
	}
	return parts, logs
}

// buildNode builds (does not start) a node over parts, client 1 being the operator.
func buildNode(t *testing.T, placement *shardmap.Map, parts []Part, config Config) *Node {
	t.Helper()
	return buildNodeOf(t, placement, shard.Config{CloseTimeout: 300 * time.Millisecond}, parts,
		config)
}

// buildNodeOf is buildNode with its shards configured by shardConfig.
func buildNodeOf(t *testing.T, placement *shardmap.Map, shardConfig shard.Config, parts []Part,
	config Config) *Node {
	t.Helper()
	local, err := NewLocal(placement, shardConfig, parts)
	if err != nil {
		t.Fatal(err)
	}
	operator := model.AppendGrants(nil, []model.Grant{{Client: 1, Scopes: model.ScopeOperator}})
	for _, s := range local.Shards() {
		if err := s.SetGrants(operator); err != nil {
			t.Fatal(err)
		}
	}
	config.Map = placement
	node, err := New(config, local)
	if err != nil {
		t.Fatal(err)
	}
	return node
}

// Every place of a data directory: shard 0 in the directory itself (as before shards),
// shard n ≥ 1 under shard-n, the node's files at the top.
func TestLayoutPlacesEveryFile(t *testing.T) {
	dir := filepath.Join("data", "node")
	layout := Layout{Dir: dir}
	for _, c := range []struct{ got, want string }{
		{layout.LogDir(0), filepath.Join(dir, "log")},
		{layout.SnapshotDir(0), filepath.Join(dir, "snapshots")},
		{layout.LogDir(1), filepath.Join(dir, "shard-1", "log")},
		{layout.SnapshotDir(1), filepath.Join(dir, "shard-1", "snapshots")},
		{layout.LogDir(12), filepath.Join(dir, "shard-12", "log")},
		{layout.EpochPath(), filepath.Join(dir, "epoch")},
		{layout.KeysPath(), filepath.Join(dir, "keys.json")},
		{layout.ShardMapPath(), filepath.Join(dir, "SHARDMAP")},
	} {
		if c.got != c.want {
			t.Errorf("%s, want %s", c.got, c.want)
		}
	}
}

// A record that cannot be read (here a directory in its place) is an error, neither a
// new directory nor a mismatch, and RecordShardMap leaves it as it is.
func TestUnreadableShardMapRecordIsAnError(t *testing.T) {
	layout := Layout{Dir: t.TempDir()}
	if err := os.Mkdir(layout.ShardMapPath(), 0o755); err != nil {
		t.Fatal(err)
	}
	// The error is the file system's, naming the record, not a decoding error of nothing.
	var pathError *fs.PathError
	if stored, err := layout.ReadShardMap(); !errors.As(err, &pathError) || stored != nil ||
		pathError.Path != layout.ShardMapPath() {
		t.Fatalf("unreadable record read as %v, %v", stored, err)
	}
	if err := layout.RecordShardMap(twoShards); err == nil || errors.Is(err, ErrShardMapMismatch) {
		t.Fatalf("recorded over an unreadable record: %v", err)
	}
	if info, err := os.Stat(layout.ShardMapPath()); err != nil || !info.IsDir() {
		t.Fatalf("the record's place was changed: %v", err)
	}
}

// RecordShardMap creates the directory (and its parents) of a new node; a directory it
// cannot create is an error and nothing is recorded.
func TestRecordShardMapCreatesTheDirectory(t *testing.T) {
	layout := Layout{Dir: filepath.Join(t.TempDir(), "new", "node")}
	if err := layout.RecordShardMap(twoShards); err != nil {
		t.Fatal(err)
	}
	if stored, err := layout.ReadShardMap(); err != nil || stored == nil || !stored.Equal(twoShards) {
		t.Fatalf("recorded %v, %v", stored, err)
	}
	// A dangling symbolic link: nothing recorded, no log, so a new directory for
	// ReadShardMap, but MkdirAll cannot make a directory where the link is.
	base := t.TempDir()
	dangling := filepath.Join(base, "link")
	if err := os.Symlink(filepath.Join(base, "missing"), dangling); err != nil {
		t.Fatal(err)
	}
	layout = Layout{Dir: dangling}
	if stored, err := layout.ReadShardMap(); stored != nil || err != nil {
		t.Fatalf("a directory not created yet reads as %v, %v", stored, err)
	}
	if err := layout.RecordShardMap(twoShards); err == nil {
		t.Fatal("recorded in a directory that could not be created")
	}
	if _, err := os.Lstat(filepath.Join(base, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the link's target was created: %v", err)
	}
}

// Recording the map a directory already holds only checks it: the record is not written
// again (a check must not touch the data directory).
func TestRecordShardMapLeavesAMatchingRecordAlone(t *testing.T) {
	layout := Layout{Dir: t.TempDir()}
	if err := layout.RecordShardMap(twoShards); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(layout.ShardMapPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := layout.RecordShardMap(shardmap.ByRange(model.U128(0), model.U128(100))); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(layout.ShardMapPath())
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Fatal("the matching record was written again")
	}
}

// New refuses a missing map or groups, an invalid map and groups with another number of
// shards than the map, each with an error (not a panic).
func TestNewRefusesWhatItCannotRun(t *testing.T) {
	parts, _ := freshParts(twoShards)
	local, err := NewLocal(twoShards, shard.Config{}, parts)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	oneParts, _ := freshParts(shardmap.Single())
	one, err := NewLocal(shardmap.Single(), shard.Config{}, oneParts)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	invalid := *twoShards
	invalid.InstrumentDefault = 2 // Past the last shard.
	for _, c := range []struct {
		name   string
		config Config
		groups Groups
		is     error
	}{
		{"no map", Config{}, local, nil},
		{"no groups", Config{Map: twoShards}, nil, nil},
		{"neither", Config{}, nil, nil},
		{"invalid map", Config{Map: &invalid}, local, shardmap.ErrInvalid},
		// A map of no shard is invalid, not a count mismatch with the two shards given.
		{"no shard", Config{Map: &shardmap.Map{Placement: shardmap.PlacementRange}}, local,
			shardmap.ErrInvalid},
		{"one shard for two", Config{Map: twoShards}, one, nil},
		{"two shards for one", Config{Map: shardmap.Single()}, local, nil},
	} {
		node, err := New(c.config, c.groups)
		if err == nil || node != nil || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("%s: %v, %v", c.name, node, err)
		}
	}
	if node, err := New(Config{Map: twoShards}, local); err != nil || node == nil {
		t.Fatalf("the right groups: %v", err)
	}
}

// A shard that cannot be built fails NewLocal, with the shard's index in the error.
func TestNewLocalRefusesAShardThatCannotBeBuilt(t *testing.T) {
	parts, _ := freshParts(twoShards)
	local, err := NewLocal(twoShards, shard.Config{EntryBytesMax: 1}, parts)
	if err == nil || local != nil || !strings.Contains(err.Error(), "node: shard 0:") {
		t.Fatalf("a shard config below the entry size: %v, %v", local, err)
	}
}

// Start needs a replier; a second Start changes nothing (the first replier keeps the
// replies); Close without Start returns, and so does a second Close.
func TestStartAndCloseEdges(t *testing.T) {
	parts, _ := freshParts(twoShards)
	node := buildNode(t, twoShards, parts, Config{TickInterval: time.Millisecond})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Start without a replier did not panic")
			}
		}()
		node.Start(nil)
	}()
	first, second := newClientReplies(), newClientReplies()
	node.Start(first)
	node.Start(second)
	tn := &testNode{t: t, node: node, replies: first}
	reply := tn.call(1, 1, model.OperationCreateAccounts, 0, accountsBody(1, 100))
	if reply.Status != model.StatusOK {
		t.Fatalf("split request: %s", reply.Status)
	}
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
	if err := node.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	second.mutex.Lock()
	defer second.mutex.Unlock()
	if len(second.replies) != 0 {
		t.Fatalf("the second Start's replier got %v", second.replies)
	}

	parts, _ = freshParts(twoShards)
	never := buildNode(t, twoShards, parts, Config{})
	if err := never.Close(); err != nil {
		t.Fatalf("Close without Start: %v", err)
	}
	if err := never.Close(); err != nil {
		t.Fatalf("second Close without Start: %v", err)
	}
}

// A request the router answers alone (a linked chain across shards: no shard sees it)
// is delivered at once, not at the next tick (an hour away here).
func TestReplyMadeWithinSubmitIsDeliveredAtOnce(t *testing.T) {
	parts, _ := freshParts(twoShards)
	node := buildNode(t, twoShards, parts, Config{TickInterval: time.Hour})
	tn := &testNode{t: t, node: node, replies: newClientReplies()}
	node.Start(tn.replies)
	defer node.Close()
	body := spanningChainBody()
	for connection := uint64(1); connection <= 2; connection++ { // The second finds the wake set.
		reply := tn.call(connection, connection, model.OperationCreateTransfers, 0, body)
		got := statuses(reply.Body, model.EventResultSize)
		want := []model.Status{model.StatusLinkedEventFailed, model.StatusLinkedChainSpansShards}
		if reply.Status != model.StatusOK || !equalStatuses(got, want) {
			t.Fatalf("chain across shards: %s %v, want %v", reply.Status, got, want)
		}
	}
}

// The router's time is the configured clock, read at every tick (a negative interval
// takes the default).
func TestTicksReadTheConfiguredClock(t *testing.T) {
	parts, _ := freshParts(twoShards)
	var reads atomic.Uint64
	node := buildNode(t, twoShards, parts, Config{TickInterval: -time.Millisecond,
		Clock: func() uint64 { return 1_000_000 + reads.Add(1) }})
	node.Start(newClientReplies())
	defer node.Close()
	for deadline := time.Now().Add(waitBound); reads.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the configured clock was never read")
		}
	}
}

// A shard whose log failed makes Close (Local's, and so the node's) return that error.
func TestCloseReturnsAShardsLogFailure(t *testing.T) {
	parts, logs := freshParts(twoShards)
	node := buildNode(t, twoShards, parts, Config{TickInterval: time.Millisecond})
	tn := &testNode{t: t, node: node, replies: newClientReplies()}
	node.Start(tn.replies)
	failure := errors.New("disk gone")
	logs[1].Fail(failure)
	// The shard may find its log failed before this write (writing the grant table its
	// first turn logs) and refuse it at once, or while appending it: either is a refusal.
	if status := node.Submit(&backend.Request{Connection: 1, Client: 1, Session: 1,
		Number: 1, Operation: model.OperationCreateAccounts, Body: accountsBody(100)}); status == model.StatusOK {
		if reply := tn.replies.waitFor(t, 1); reply.Status == model.StatusOK {
			t.Fatalf("a write on the failed shard: %s", reply.Status)
		}
	} else if status != model.StatusLogUnavailable {
		t.Fatalf("submit to the failed shard: %s, want log_unavailable", status)
	}
	if err := node.Close(); !errors.Is(err, failure) {
		t.Fatalf("Close: %v, want the log's failure", err)
	}
}

// A part's snapshot configuration reaches its shard; Recover reads each shard's snapshot
// directory, so a shard whose log lost what its snapshot holds is refused, naming it.
func TestPartSnapshotsAndRecoverUseThem(t *testing.T) {
	parts, logs := freshParts(twoShards)
	dir := t.TempDir()
	written := make(chan shard.SnapshotResult, 4)
	parts[1].Snapshots = &shard.SnapshotConfig{Dir: dir,
		OnWritten: func(result shard.SnapshotResult) { written <- result }}
	node := buildNode(t, twoShards, parts, Config{TickInterval: time.Millisecond})
	tn := &testNode{t: t, node: node, replies: newClientReplies()}
	node.Start(tn.replies)
	tn.call(1, 1, model.OperationCreateAccounts, 0, accountsBody(1, 100))
	node.Shards()[1].RequestSnapshot()
	select {
	case result := <-written:
		if result.Err != nil || result.Superseded {
			t.Fatalf("snapshot: %+v", result)
		}
	case <-time.After(waitBound):
		t.Fatal("no snapshot of shard 1 was written")
	}
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
	machines, err := Recover(twoShards, core.Config{}, []shard.LogReader{logs[0], logs[1]},
		[]string{"", dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := machines[1].Ledger().LookupAccounts([]model.Uint128{model.U128(100)}, nil)
	if len(found) != 1 {
		t.Fatalf("shard 1 recovered without its account: %v", found)
	}
	_, err = Recover(twoShards, core.Config{}, []shard.LogReader{logs[0], wal.NewMemoryLog()},
		[]string{"", dir}, nil)
	if !errors.Is(err, shard.ErrLogBehindSnapshot) || !strings.Contains(err.Error(), "node: shard 1:") {
		t.Fatalf("a log behind its shard's snapshot: %v", err)
	}
}

// With the instruments on shard 1, orders, execution reports, cancel-on-disconnect and
// the replay of reports all go through that shard.
func TestOrdersReportsAndSessionsOnTheInstrumentsShard(t *testing.T) {
	placement := shardmap.ByRange(model.U128(0), model.U128(100))
	placement.InstrumentDefault = 1
	parts, _ := freshParts(placement)
	node := buildNode(t, placement, parts, Config{TickInterval: time.Millisecond})
	replies := newReportReplies()
	tn := &testNode{t: t, node: node, replies: replies.clientReplies}
	node.Start(replies)
	defer node.Close()
	accounts := make([]byte, 2*model.AccountSize)
	(&model.Account{ID: model.U128(110), Ledger: 1, Code: 1}).Encode(accounts)
	(&model.Account{ID: model.U128(120), Ledger: 2, Code: 1}).Encode(accounts[model.AccountSize:])
	if got := statuses(tn.call(1, 1, model.OperationCreateAccounts, 0, accounts).Body,
		model.EventResultSize); !equalStatuses(got, []model.Status{model.StatusOK, model.StatusOK}) {
		t.Fatalf("accounts: %v", got)
	}
	instrument := make([]byte, model.InstrumentSize)
	(&model.Instrument{ID: 5, BaseLedger: 1, QuoteLedger: 2, TickSize: 1, LotSize: 1,
		QuantityMin: 1, QuantityMax: 1000}).Encode(instrument)
	if got := statuses(tn.call(2, 2, model.OperationCreateInstruments, 0, instrument).Body,
		model.EventResultSize); !equalStatuses(got, []model.Status{model.StatusOK}) {
		t.Fatalf("instrument: %v", got)
	}
	order := make([]byte, model.OrderSize)
	(&model.Order{ClientOrderID: 1, Account: 1, BaseAccountID: model.U128(110),
		QuoteAccountID: model.U128(120), Price: 50, Quantity: 10, Instrument: 5,
		Side: model.SideSell, Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}).Encode(order)
	var placed model.OrderResult
	placed.Decode(tn.call(3, 3, model.OperationPlaceOrders, 0, order).Body)
	if placed.Status != model.StatusOK {
		t.Fatalf("order: %s", placed.Status)
	}
	accepted := replies.waitForReport(t, model.ReportAccepted)
	node.SessionClosed(1, 1, true)
	canceled := replies.waitForReport(t, model.ReportCanceled)
	if accepted.Client != 1 || canceled.OrderID != accepted.OrderID {
		t.Fatalf("reports: accepted %+v, canceled %+v", accepted, canceled)
	}
	var replayed []model.ReportKind
	oldest, next := node.ReplayReports(1, 1, func(reports []backend.Report) {
		for _, report := range reports {
			var decoded model.ExecutionReport
			decoded.Decode(report.Body)
			replayed = append(replayed, decoded.Kind)
		}
	})
	if oldest != 1 || next != 3 || len(replayed) != 2 || replayed[0] != model.ReportAccepted ||
		replayed[1] != model.ReportCanceled {
		t.Fatalf("replay: oldest %d, next %d, kinds %v", oldest, next, replayed)
	}
	if node.Map() != placement || len(node.Shards()) != 2 || node.Router() == nil {
		t.Fatal("the node's accessors")
	}
}

// Reconcile reads every shard: after one cross-shard transfer, the ledger's totals count
// both shards' accounts and the pair's credit on shard 0 equals its debit on shard 1.
func TestReconcileReadsEveryShard(t *testing.T) {
	tn := newTestNode(t)
	tn.call(1, 1, model.OperationCreateAccounts, 0, accountsBody(1, 100))
	reply := tn.call(2, 2, model.OperationCreateTransfers, 0, transfersBody([4]uint64{10, 1, 100, 5}))
	if got := statuses(reply.Body, model.EventResultSize); !equalStatuses(got,
		[]model.Status{model.StatusOK}) {
		t.Fatalf("transfer: %v", got)
	}
	reconciliation, err := tn.node.Reconcile(time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(reconciliation.Ledgers) != 1 || reconciliation.Ledgers[0].Accounts != 4 ||
		reconciliation.Ledgers[0].DebitsPosted != (model.WideSum{Low: model.U128(10)}) {
		t.Fatalf("ledgers %+v", reconciliation.Ledgers)
	}
	if len(reconciliation.Pairs) != 1 || reconciliation.Pairs[0].From != 0 ||
		reconciliation.Pairs[0].To != 1 || reconciliation.Pairs[0].Credited != model.U128(5) ||
		reconciliation.Pairs[0].Debited != model.U128(5) || len(reconciliation.Running) != 0 {
		t.Fatalf("pairs %+v, running %+v", reconciliation.Pairs, reconciliation.Running)
	}
	if err := reconciliation.Check(true); err != nil {
		t.Fatal(err)
	}
}

// gatedReplies records replies like clientReplies, but holds the first delivery to
// connection 1 until released: the ticker is then busy, as on a loaded machine.
type gatedReplies struct {
	*clientReplies
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gatedReplies) Deliver(replies []backend.Reply) {
	for _, reply := range replies {
		if reply.Connection == 1 {
			g.once.Do(func() {
				close(g.entered)
				<-g.release
			})
		}
	}
	g.clientReplies.Deliver(replies)
}

// A reply the router made within Submit reaches the client even when Close comes before
// the ticker took the wake-up (the ticker was busy delivering an earlier reply): the
// ticker delivers it on its way out, before Close returns.
func TestReplyMadeWithinSubmitIsDeliveredByClose(t *testing.T) {
	body := spanningChainBody()
	parts, _ := freshParts(twoShards)
	node := buildNode(t, twoShards, parts, Config{TickInterval: time.Hour})
	replies := &gatedReplies{clientReplies: newClientReplies(), entered: make(chan struct{}),
		release: make(chan struct{})}
	node.Start(replies)
	submit := func(connection uint64) {
		if status := node.Submit(&backend.Request{Connection: connection, Client: 1, Session: 1,
			Number: connection, Operation: model.OperationCreateTransfers, Body: body}); status != model.StatusOK {
			t.Fatal(status)
		}
	}
	submit(1)
	<-replies.entered // The ticker is inside the first delivery.
	submit(2)
	// The scheduler may run Close before the ticker looks at its wake-up: take the
	// wake-up away to stand for that order (the ticker, held, cannot have taken it).
	<-node.wake
	closed := make(chan error, 1)
	go func() { closed <- node.Close() }()
	for deadline := time.Now().Add(waitBound); ; time.Sleep(time.Millisecond) {
		select {
		case <-node.stop:
		default:
			if time.Now().After(deadline) {
				t.Fatal("Close did not stop the ticker")
			}
			continue
		}
		break
	}
	close(replies.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	replies.mutex.Lock()
	defer replies.mutex.Unlock()
	if len(replies.replies[1]) != 1 || len(replies.replies[2]) != 1 {
		t.Fatalf("delivered by Close: %d and %d replies", len(replies.replies[1]),
			len(replies.replies[2]))
	}
}

// spanningChainBody is a create_transfers body of one linked chain whose two transfers
// debit accounts of different shards (1 and 100 under twoShards): the router refuses it
// by itself, answering within Submit.
func spanningChainBody() []byte {
	body := make([]byte, 2*model.TransferSize)
	chain := []model.Transfer{
		{ID: model.U128(10), DebitAccountID: model.U128(1), CreditAccountID: model.U128(2),
			Amount: model.U128(1), Ledger: 1, Code: 1, Flags: model.TransferLinked},
		{ID: model.U128(11), DebitAccountID: model.U128(100), CreditAccountID: model.U128(101),
			Amount: model.U128(1), Ledger: 1, Code: 1}}
	for i := range chain {
		chain[i].Encode(body[i*model.TransferSize:])
	}
	return body
}
