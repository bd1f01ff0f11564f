package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/node"
	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/wal"
)

// Tests of Config.RouteByShard against a real node of three shards (core/node over
// in-memory logs) behind a netio server on a random loopback port. Two observables:
//   - recordingNode sees every create_transfers request the server hands to the node, as
//     the client sent it (one per client request: the node's router has not split it yet);
//   - each shard's Stats().Requests counts the requests it sequenced. When the router
//     passes a request through to one shard, that shard counts one; when it splits a
//     request over n shards, n shards count one each. So, with no cross-shard transfer (no
//     saga steps) and nothing else written, "every shard counts exactly the recorded
//     requests of its debit shard" means the server split none of them.

// routeShards places ids below 100 on shard 0, 100 to 199 on shard 1 and the rest on
// shard 2. Accounts are created at 1..4, 101..104 and 201..204 (createAccountsAt); the
// even ones (2, 4, 102, ...) may not go negative.
var routeShards = shardmap.ByRange(model.U128(0), model.U128(100), model.U128(200))

// recordingNode is the node as the server's backend, recording the create_transfers
// requests submitted to it; while holding, it keeps them (answering ok) until release.
type recordingNode struct {
	*node.Node
	mutex    sync.Mutex
	requests []backend.Request // create_transfers, bodies copied.
	holding  bool
	held     []backend.Request
	// refuse, when set, may refuse a create_transfers request (recorded, not submitted)
	// with the status it returns; ok submits it.
	refuse func(request *backend.Request) model.Status
}

func (r *recordingNode) Submit(request *backend.Request) model.Status {
	if request.Operation != model.OperationCreateTransfers {
		return r.Node.Submit(request)
	}
	kept := *request
	kept.Body = bytes.Clone(request.Body) // The server reuses its buffer after Submit.
	r.mutex.Lock()
	r.requests = append(r.requests, kept)
	if r.refuse != nil {
		if status := r.refuse(&kept); status != model.StatusOK {
			r.mutex.Unlock()
			return status
		}
	}
	if r.holding {
		r.held = append(r.held, kept)
		r.mutex.Unlock()
		return model.StatusOK
	}
	r.mutex.Unlock()
	return r.Node.Submit(&kept)
}

// hold makes Submit keep create_transfers requests until release.
func (r *recordingNode) hold() {
	r.mutex.Lock()
	r.holding = true
	r.mutex.Unlock()
}

// release submits the held requests to the node and stops holding.
func (r *recordingNode) release(t *testing.T) {
	r.mutex.Lock()
	held := r.held
	r.held, r.holding = nil, false
	r.mutex.Unlock()
	for i := range held {
		if status := r.Node.Submit(&held[i]); status != model.StatusOK {
			t.Errorf("held request %d: %s", held[i].Number, status)
		}
	}
}

// recorded returns the create_transfers requests recorded from index from on.
func (r *recordingNode) recorded(from int) []backend.Request {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return slices.Clone(r.requests[from:])
}

func (r *recordingNode) count() int {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return len(r.requests)
}

type shardedServer struct {
	server    *netio.Server
	node      *recordingNode
	placement *shardmap.Map
}

func startShardedServer(t *testing.T) *shardedServer {
	t.Helper()
	return startShardedServerWith(t, routeShards)
}

// startShardedServerWith starts a node of placement's shards (routeShards for the route
// tests) behind a netio server, as startShardedServer does.
func startShardedServerWith(t *testing.T, placement *shardmap.Map) *shardedServer {
	t.Helper()
	keys, err := netio.NewKeyring(netio.KeysFile{Version: netio.KeysFileVersion,
		Clients: []netio.KeysFileClient{{ID: 1, Name: "all",
			Permissions: []string{"read", "transfer", "trade", "admin"},
			Keys:        []netio.KeysFileKey{{ID: 1, Secret: hex.EncodeToString(testSecret)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	parts := make([]node.Part, placement.Shards)
	for i := range parts {
		parts[i] = node.Part{Log: wal.NewMemoryLog(), Machine: core.New(core.Config{
			Shard: core.ShardConfig{Map: placement, Index: uint16(i)}})}
	}
	local, err := node.NewLocal(placement, shard.Config{CloseTimeout: time.Second,
		Logger: discard}, parts)
	if err != nil {
		t.Fatal(err)
	}
	// Client 1, the only one, is the operator (as in a single-tenant keys file): its
	// accounts may go negative unless flagged otherwise. Each shard logs the table first.
	operator := model.AppendGrants(nil, []model.Grant{{Client: 1, Scopes: model.ScopeOperator}})
	for _, s := range local.Shards() {
		if err := s.SetGrants(operator); err != nil {
			t.Fatal(err)
		}
	}
	n, err := node.New(node.Config{Map: placement}, local)
	if err != nil {
		t.Fatal(err)
	}
	recording := &recordingNode{Node: n}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: discard}, recording)
	if err != nil {
		t.Fatal(err)
	}
	n.Start(server.Replier())
	if err := server.Start(); err != nil {
		_ = n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = server.Shutdown(ctx)
		_ = n.Close()
	})
	started := &shardedServer{server: server, node: recording, placement: placement}
	started.waitForStartUpEntries(t)
	return started
}

// waitForStartUpEntries waits until every shard has sequenced the node's start-up
// entries: the grants table, and the first saga watermark of each other shard, which the
// router sends after its first outbox polls. They are written asynchronously; a test
// that counted each shard's requests from before they landed would count them as its own
// (seen on a loaded CI machine: two more per shard than the test sent).
func (s *shardedServer) waitForStartUpEntries(t *testing.T) {
	t.Helper()
	startUp := uint64(1 + s.placement.Shards - 1)
	deadline := time.Now().Add(waitLimit) // A hang guard: a healthy node takes milliseconds.
	for {
		counts := s.shardRequests()
		if !slices.ContainsFunc(counts, func(count uint64) bool { return count < startUp }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("start-up entries per shard %v, want %d each", counts, startUp)
		}
		time.Sleep(time.Millisecond)
	}
}

// dial connects a client with RouteByShard on and creates the accounts of every shard.
func (s *shardedServer) dial(t *testing.T, configure func(*Config)) *Client {
	t.Helper()
	c := dialTestClient(t, s.server.Address(), func(config *Config) {
		config.RouteByShard = true
		if configure != nil {
			configure(config)
		}
	})
	for _, base := range []uint64{0, 100, 200} {
		createAccountsAt(t, c, base)
	}
	return c
}

// shardRequests returns the requests each shard has sequenced so far.
func (s *shardedServer) shardRequests() []uint64 {
	counts := make([]uint64, s.placement.Shards)
	for i, sh := range s.node.Shards() {
		counts[i] = sh.Stats().Requests
	}
	return counts
}

// debitShards returns the debit shard of every transfer of a create_transfers body.
func debitShards(body []byte) []uint16 {
	shards := make([]uint16, 0, len(body)/model.TransferSize)
	for offset := 0; offset+model.TransferSize <= len(body); offset += model.TransferSize {
		var t model.Transfer
		t.Decode(body[offset:])
		debit, _, _ := routeShards.TransferShards(&t)
		shards = append(shards, debit)
	}
	return shards
}

// requestShard returns the one debit shard of a request's transfers, or an error naming
// the shards it mixes.
func requestShard(request *backend.Request) (uint16, error) {
	shards := debitShards(request.Body)
	if len(shards) == 0 {
		return 0, fmt.Errorf("request %d: empty", request.Number)
	}
	for _, s := range shards {
		if s != shards[0] {
			return 0, fmt.Errorf("request %d mixes debit shards: %v", request.Number,
				requestShards([]backend.Request{*request})[0])
		}
	}
	return shards[0], nil
}

// checkOneShardEach requires every request to hold transfers of one debit shard and
// every shard to have sequenced exactly the requests of its debit shard since before
// (the server split none of them); it returns the requests per shard.
func checkOneShardEach(t *testing.T, s *shardedServer, requests []backend.Request,
	before []uint64) []int {
	t.Helper()
	perShard := make([]int, routeShards.Shards)
	for i := range requests {
		debit, err := requestShard(&requests[i])
		if err != nil {
			t.Error(err)
			continue
		}
		perShard[debit]++
	}
	after := s.shardRequests()
	for i := range after {
		if sequenced := after[i] - before[i]; sequenced != uint64(perShard[i]) {
			t.Errorf("shard %d sequenced %d requests for %d sent to it (requests: %q)", i,
				sequenced, perShard[i], requestShards(requests))
		}
	}
	return perShard
}

// requestShards describes requests by their transfers' debit shards, in runs (for
// messages): "0x4 1x2" is four transfers of shard 0, then two of shard 1.
func requestShards(requests []backend.Request) []string {
	out := make([]string, len(requests))
	for i := range requests {
		shards := debitShards(requests[i].Body)
		var runs []string
		for start := 0; start < len(shards); {
			end := start + 1
			for end < len(shards) && shards[end] == shards[start] {
				end++
			}
			runs = append(runs, fmt.Sprintf("%dx%d", shards[start], end-start))
			start = end
		}
		out[i] = strings.Join(runs, " ")
	}
	return out
}

func transferIDs(body []byte) []uint64 {
	var ids []uint64
	for offset := 0; offset+model.TransferSize <= len(body); offset += model.TransferSize {
		var t model.Transfer
		t.Decode(body[offset:])
		ids = append(ids, t.ID.Lo)
	}
	return ids
}

// TestRouteByShardSendsOneRequestPerDebitShard: a batch of eleven transfers of three
// debit shards, interleaved, with RouteByShard on. The client sends three requests, one
// per debit shard, each with that shard's transfers in the batch's order; each shard
// sequences exactly one request (the server split none). Results come back in the
// batch's order with each transfer's own status, including statuses that depend on the
// transfers before it on its shard (a balance limit met only after an earlier credit).
func TestRouteByShardSendsOneRequestPerDebitShard(t *testing.T) {
	s := startShardedServer(t)
	c := s.dial(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	batch := []model.Transfer{
		transfer(1, 1, 3, 5, 0),       // Shard 0.
		transfer(101, 101, 103, 5, 0), // Shard 1.
		transfer(201, 202, 201, 7, 0), // Shard 2: 202 has no credits yet.
		transfer(2, 2, 1, 1, 0),       // Shard 0: 2 has no credits yet.
		transfer(102, 150, 101, 1, 0), // Shard 1: no account 150.
		transfer(202, 201, 202, 7, 0), // Shard 2: credits 202 with 7.
		transfer(3, 1, 2, 2, 0),       // Shard 0: credits 2 with 2.
		transfer(103, 104, 103, 1, 0), // Shard 1: 104 has no credits.
		transfer(4, 2, 1, 2, 0),       // Shard 0: 2 now has 2.
		transfer(203, 202, 201, 7, 0), // Shard 2: 202 now has 7.
		transfer(101, 101, 103, 5, 0), // Shard 1: the same as the second.
	}
	want := []model.Status{model.StatusOK, model.StatusOK, model.StatusExceedsCredits,
		model.StatusExceedsCredits, model.StatusDebitAccountNotFound, model.StatusOK,
		model.StatusOK, model.StatusExceedsCredits, model.StatusOK, model.StatusOK,
		model.StatusExists}
	from, before := s.node.count(), s.shardRequests()
	results, err := c.CreateTransfers(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(results); !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	requests := s.node.recorded(from)
	perShard := checkOneShardEach(t, s, requests, before)
	if len(requests) != 3 || !slices.Equal(perShard, []int{1, 1, 1}) {
		t.Errorf("%d requests %q, want one per debit shard", len(requests),
			requestShards(requests))
	}
	wantIDs := [][]uint64{{1, 2, 3, 4}, {101, 102, 103, 101}, {201, 202, 203}}
	for i := range requests {
		debit, err := requestShard(&requests[i])
		if err == nil && !slices.Equal(transferIDs(requests[i].Body), wantIDs[debit]) {
			t.Errorf("request of shard %d: ids %v, want %v (the batch's order)", debit,
				transferIDs(requests[i].Body), wantIDs[debit])
		}
	}
	// The created transfers are those the statuses say, with their own fields.
	found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(1), model.U128(3),
		model.U128(4), model.U128(101), model.U128(202), model.U128(203)})
	if err != nil || len(found) != 6 {
		t.Fatalf("lookup: %d found, %v", len(found), err)
	}
	for _, f := range found {
		if f.Amount.Lo != map[uint64]uint64{1: 5, 3: 2, 4: 2, 101: 5, 202: 7, 203: 7}[f.ID.Lo] {
			t.Errorf("transfer %d: amount %d", f.ID.Lo, f.Amount.Lo)
		}
	}
}

// TestRouteByShardCutsEachShardAtTheRequestLimit: a batch of one shard's 8,199 transfers
// and another's 20 (interleaved at the end) takes three requests: shard 0's first 8,189
// (model.EventsPerRequestMax), its last 10, and shard 1's 20; none mixes shards and none
// is split by the server. Every result is ok, in the batch's order.
func TestRouteByShardCutsEachShardAtTheRequestLimit(t *testing.T) {
	s := startShardedServer(t)
	c := s.dial(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const first = model.EventsPerRequestMax + 10
	var batch []model.Transfer
	for i := range uint64(first) {
		batch = append(batch, transfer(1000+i, 1, 3, 1, 0))
		if i >= first-20 {
			batch = append(batch, transfer(1000+i, 101, 103, 1, 0)) // Ids are per shard.
		}
	}
	from, before := s.node.count(), s.shardRequests()
	results, err := c.CreateTransfers(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(batch) || slices.ContainsFunc(results,
		func(r model.EventResult) bool { return r.Status != model.StatusOK }) {
		t.Errorf("%d results for %d transfers, not all ok", len(results), len(batch))
	}
	requests := s.node.recorded(from)
	perShard := checkOneShardEach(t, s, requests, before)
	var sizes []int
	for i := range requests {
		sizes = append(sizes, len(requests[i].Body)/model.TransferSize)
	}
	slices.Sort(sizes)
	if !slices.Equal(perShard, []int{2, 1, 0}) || !slices.Equal(sizes, []int{10, 20, model.EventsPerRequestMax}) {
		t.Errorf("requests of %v events, %v per shard; want shard 0's 8189 and 10, shard 1's 20",
			sizes, perShard)
	}
}

// TestRouteByShardSendsALinkedBatchWhole: a batch holding a linked event is not routed:
// it goes as one request in the batch's order, which the server splits (three shards
// sequence a part each). A chain whose events all debit one shard is created; one that
// spans shards is refused by the server (linked_chain_spans_shards on the event that
// leaves the chain's shard).
func TestRouteByShardSendsALinkedBatchWhole(t *testing.T) {
	s := startShardedServer(t)
	c := s.dial(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	batch := []model.Transfer{
		transfer(201, 201, 203, 1, 0),
		transfer(101, 101, 103, 1, model.TransferLinked), // A chain on shard 1.
		transfer(102, 103, 101, 1, 0),
		transfer(1, 1, 3, 1, 0),
		transfer(2, 1, 3, 1, model.TransferLinked), // A chain from shard 0 to shard 1.
		transfer(104, 101, 103, 1, 0),
	}
	from, before := s.node.count(), s.shardRequests()
	results, err := c.CreateTransfers(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Status{model.StatusOK, model.StatusOK, model.StatusOK, model.StatusOK,
		model.StatusLinkedEventFailed, model.StatusLinkedChainSpansShards}
	if got := statuses(results); !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	requests := s.node.recorded(from)
	if len(requests) != 1 || !slices.Equal(transferIDs(requests[0].Body),
		[]uint64{201, 101, 102, 1, 2, 104}) {
		t.Fatalf("requests %q, want the batch as one request", requestShards(requests))
	}
	after := s.shardRequests()
	for i := range after {
		if after[i]-before[i] != 1 {
			t.Errorf("shard %d sequenced %d requests, want one part of the split request",
				i, after[i]-before[i])
		}
	}
}

// TestRouteByShardMergedRequestsKeepOneShard: with merging on and the window full (one
// request in flight, held before the node), callers arrive with one transfer of each
// shard, with small batches of all three shards and with a chain on one shard. Their
// events wait in requests formed per debit shard: three requests after the held one,
// each of one shard, none split by the server; each caller gets its own results.
func TestRouteByShardMergedRequestsKeepOneShard(t *testing.T) {
	s, c, ctx := shardedWindowOfOne(t)
	from, before := s.node.count(), s.shardRequests()
	s.node.hold()
	blocker := holdWindow(ctx, t, c, transfer(10, 1, 3, 1, 0))
	calls := [][]model.Transfer{
		{transfer(11, 1, 3, 1, 0)},
		{transfer(111, 101, 103, 1, 0)},
		{transfer(211, 201, 203, 1, 0)},
		{transfer(212, 201, 203, 1, 0), transfer(12, 1, 3, 1, 0), transfer(112, 101, 103, 1, 0)},
		{transfer(113, 101, 103, 1, 0), transfer(13, 1, 3, 1, 0), transfer(14, 3, 1, 1, 0)},
		{transfer(114, 101, 103, 1, model.TransferLinked), transfer(115, 103, 101, 1, 0)},
		{transfer(213, 201, 203, 1, 0)},
	}
	events := 0
	for _, call := range calls {
		events += len(call)
	}
	results := make([][]model.EventResult, len(calls))
	errs := make([]error, len(calls))
	var group sync.WaitGroup
	for i, transfers := range calls {
		group.Go(func() { results[i], errs[i] = c.CreateTransfers(ctx, transfers) })
	}
	waitForFormingEvents(t, c, events)
	s.node.release(t)
	group.Wait()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	requireEveryCallOK(t, calls, results, errs)
	requests := s.node.recorded(from)
	perShard := checkOneShardEach(t, s, requests, before)
	// The held one (shard 0), then one merged request per shard.
	if !slices.Equal(perShard, []int{2, 1, 1}) {
		t.Errorf("requests %q, want the held one and one merged request per shard",
			requestShards(requests))
	}
}

// TestRouteByShardKeepsALinkedBatchOfSeveralShardsApart: with merging on and the window
// full, a batch with a linked event whose transfers debit two shards (sent whole: it
// mixes shards by itself) forms a request of its own; the one-transfer callers of those
// shards that arrive after it do not join it, and it does not join theirs.
func TestRouteByShardKeepsALinkedBatchOfSeveralShardsApart(t *testing.T) {
	s, c, ctx := shardedWindowOfOne(t)
	from := s.node.count()
	s.node.hold()
	blocker := holdWindow(ctx, t, c, transfer(10, 1, 3, 1, 0))
	calls := [][]model.Transfer{
		{transfer(11, 1, 3, 1, 0)},
		{transfer(111, 101, 103, 1, model.TransferLinked), transfer(112, 103, 101, 1, 0),
			transfer(12, 1, 3, 1, 0)},
		{transfer(113, 101, 103, 1, 0)},
		{transfer(13, 1, 3, 1, 0)},
	}
	results := make([][]model.EventResult, len(calls))
	errs := make([]error, len(calls))
	var group sync.WaitGroup
	events := 0
	for i, transfers := range calls { // One after the other, in this order.
		group.Go(func() { results[i], errs[i] = c.CreateTransfers(ctx, transfers) })
		events += len(transfers)
		waitForFormingEvents(t, c, events)
	}
	s.node.release(t)
	group.Wait()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	requireEveryCallOK(t, calls, results, errs)
	requests := s.node.recorded(from + 1) // After the held one.
	ids := sortedRequestIDs(requests)
	if want := [][]uint64{{11, 13}, {111, 112, 12}, {113}}; !slices.EqualFunc(ids, want,
		slices.Equal) {
		t.Errorf("requests of transfers %v, want %v", ids, want)
	}
}

// TestRouteByShardCrossShardTransfer: with RouteByShard, a transfer whose credit account
// is on another shard goes in its debit shard's request, like a local one, and is
// created through the saga; CreateTransfersWithBalances is routed alike and each result,
// in the batch's order, carries its own transfer's balances.
func TestRouteByShardCrossShardTransfer(t *testing.T) {
	s := startShardedServer(t)
	c := s.dial(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	batch := []model.Transfer{
		transfer(1, 1, 103, 5, 0),     // Shard 0 to shard 1.
		transfer(101, 101, 103, 1, 0), // Shard 1.
		transfer(2, 1, 3, 2, 0),       // Shard 0.
	}
	from := s.node.count()
	results, err := c.CreateTransfersWithBalances(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Status != model.StatusOK {
			t.Errorf("transfer %d: %s", i, r.Status)
		}
	}
	// Each result carries its own accounts' balances: account 1 (debited 5 by the first
	// transfer, pending or posted by then, and 2 by the third) and 3 for the third; 103 for
	// the first two, which shard 1 applies in no set order (the saga's credit and the
	// local transfer), so one of them sees both.
	third := results[2]
	if debits := third.DebitAccount.DebitsPending.Lo + third.DebitAccount.DebitsPosted.Lo; debits != 7 ||
		third.CreditAccount.CreditsPosted.Lo != 2 {
		t.Errorf("third transfer's balances %+v, want account 1 debited 7 and 3 credited 2", third)
	}
	if seen := max(results[0].CreditAccount.CreditsPosted.Lo,
		results[1].CreditAccount.CreditsPosted.Lo); seen != 6 {
		t.Errorf("account 103's credits after the first two transfers: %d, want 6", seen)
	}
	accounts, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(103)})
	if err != nil || len(accounts) != 1 || accounts[0].CreditsPosted.Lo != 6 {
		t.Fatalf("account 103: %+v %v, want credits posted 6", accounts, err)
	}
	requests := s.node.recorded(from)
	for i := range requests {
		if _, err := requestShard(&requests[i]); err != nil {
			t.Error(err)
		}
	}
	ids := sortedRequestIDs(requests)
	if want := [][]uint64{{1, 2}, {101}}; !slices.EqualFunc(ids, want, slices.Equal) {
		t.Errorf("requests of transfers %v, want %v", ids, want)
	}
}

// TestRouteByShardOneRequestRefused: a routed batch of three debit shards is three
// requests; when one of them is refused at request level (shard 1's, shutting_down),
// CreateTransfers returns that *StatusError and no results, while the other two
// requests were applied on their own (exactly once each): a batch is not one request,
// and the caller learns that one part failed, not which transfers were created.
func TestRouteByShardOneRequestRefused(t *testing.T) {
	s := startShardedServer(t)
	c := s.dial(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	s.node.mutex.Lock()
	s.node.refuse = func(request *backend.Request) model.Status {
		if shard, err := requestShard(request); err == nil && shard == 1 {
			return model.StatusShuttingDown
		}
		return model.StatusOK
	}
	s.node.mutex.Unlock()
	batch := []model.Transfer{
		transfer(1, 1, 3, 1, 0),       // Shard 0.
		transfer(101, 101, 103, 1, 0), // Shard 1: refused.
		transfer(201, 201, 203, 1, 0), // Shard 2.
	}
	results, err := c.CreateTransfers(ctx, batch)
	var status *StatusError
	if !errors.As(err, &status) || status.Status != model.StatusShuttingDown || results != nil {
		t.Fatalf("results %v, error %v; want no results and shard 1's shutting_down", results, err)
	}
	found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(1), model.U128(101),
		model.U128(201)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, f := range found {
		ids = append(ids, f.ID.Lo)
	}
	if !slices.Equal(ids, []uint64{1, 201}) {
		t.Errorf("transfers created %v, want 1 and 201 (the requests not refused)", ids)
	}
}

// waitForFormingEvents waits until the client's forming requests hold events events in
// all (every caller so far has joined one, none was sealed yet).
func waitForFormingEvents(t *testing.T, c *Client, events int) {
	t.Helper()
	waitFor(t, c, "the callers' events in forming requests", func() bool {
		waiting := 0
		for _, call := range c.forming {
			waiting += call.events
		}
		return waiting == events
	})
}

// shardedWindowOfOne starts a sharded server and a RouteByShard client with a window of
// one request that has fetched the shard map (so that no get_shard_map takes the window
// later), and a context bounded by the hang guard.
func shardedWindowOfOne(t *testing.T) (*shardedServer, *Client, context.Context) {
	t.Helper()
	s := startShardedServer(t)
	c := s.dial(t, func(config *Config) { config.InflightMax = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	if _, err := c.ShardMap(ctx); err != nil {
		t.Fatal(err)
	}
	return s, c, ctx
}

// requireEveryCallOK requires each call to have returned one ok result per transfer.
func requireEveryCallOK(t *testing.T, calls [][]model.Transfer, results [][]model.EventResult,
	errs []error) {
	t.Helper()
	for i := range calls {
		if errs[i] != nil || len(results[i]) != len(calls[i]) || slices.ContainsFunc(results[i],
			func(r model.EventResult) bool { return r.Status != model.StatusOK }) {
			t.Errorf("call %d: %v %v", i, statuses(results[i]), errs[i])
		}
	}
}

// sortedRequestIDs returns the transfer ids of each request, the requests ordered by
// their first id.
func sortedRequestIDs(requests []backend.Request) [][]uint64 {
	var ids [][]uint64
	for i := range requests {
		ids = append(ids, transferIDs(requests[i].Body))
	}
	slices.SortFunc(ids, func(a, b []uint64) int { return int(a[0]) - int(b[0]) })
	return ids
}
