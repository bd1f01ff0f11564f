package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/node"
	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/wal"
)

// realNode is a node of real machines (ledger, matching engine, sagas) behind a netio
// server on a loopback port, as the embedded server is, with its machines kept so that
// a test can count what their ledgers store once the node is closed.
type realNode struct {
	address  string
	machines []*core.Machine
	close    func()
}

// startRealNode starts a node of shards hash-placed shards. close stops it (once); only
// then may the machines be read.
func startRealNode(t *testing.T, shards int) *realNode {
	t.Helper()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	placement := shardmap.Hashed(shards)
	parts := make([]node.Part, shards)
	machines := make([]*core.Machine, shards)
	for i := range parts {
		machines[i] = core.New(core.Config{Shard: core.ShardConfig{Map: placement,
			Index: uint16(i)}})
		parts[i] = node.Part{Log: wal.NewMemoryLog(), Machine: machines[i]}
	}
	local, err := node.NewLocal(placement, shard.Config{CloseTimeout: time.Second,
		Logger: discard}, parts)
	if err != nil {
		t.Fatal(err)
	}
	operator := model.AppendGrants(nil, []model.Grant{{Client: testClient,
		Scopes: model.ScopeOperator}})
	for _, s := range local.Shards() {
		if err := s.SetGrants(operator); err != nil {
			t.Fatal(err)
		}
	}
	n, err := node.New(node.Config{Map: placement}, local)
	if err != nil {
		t.Fatal(err)
	}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: testKeyring(t),
		Logger: discard}, n)
	if err != nil {
		t.Fatal(err)
	}
	n.Start(server.Replier())
	if err := server.Start(); err != nil {
		_ = n.Close()
		t.Fatal(err)
	}
	closed := false
	stop := func() {
		if closed {
			return
		}
		closed = true
		ctx, cancel := context.WithTimeout(context.Background(), shutdownLimit)
		defer cancel()
		_ = server.Shutdown(ctx)
		_ = n.Close()
	}
	t.Cleanup(stop)
	return &realNode{address: server.Address(), machines: machines, close: stop}
}

// config returns a small closed-loop configuration against the node (each test sets its
// mix, accounts and count).
func (n *realNode) config() Config {
	return Config{Addresses: []string{n.address}, Client: testClient, Key: testKey,
		Secret: testSecret, Connections: 2, Inflight: 2, Events: 4, Seed: 1, RunID: 1}
}

// TestReview50TransferTableCountsWhatTheServerStores: claim (review-bench50) —
// TransferTableReport.StoredMost is documented as an upper bound of the transfer records
// the run stored on its fullest shard, and Grew as "the shard's tables grew"; but a run
// whose mix has orders stores records the generator never counts: the traders' funding
// (two transfers per account, at setup) and every fill's transfers
// (from_reservation payments, proceeds). The report then says "within ... (no growth)"
// for a shard whose transfer table went past the capacity. Method: a real node (ledger
// and matching engine), a mix of single transfers and orders, a capacity the funding
// alone passes; after the run, each shard's ledger is asked how many transfer records
// it holds.
func TestReview50TransferTableCountsWhatTheServerStores(t *testing.T) {
	for _, test := range []struct {
		mix    string
		shards int
		cross  float64 // The cross-shard share, or -1: as the choice falls.
	}{
		{"single=1,orders=3", 1, -1},
		{"single=1,orders=3", 2, -1},
		{"single=1,two-phase=1,linked=1", 1, -1},
		{"single=1,two-phase=1,linked=1", 2, -1},
		{"single=1,two-phase=1,linked=1", 2, 1},
	} {
		name := fmt.Sprintf("%s/shards=%d/cross=%v", test.mix, test.shards, test.cross)
		t.Run(name, func(t *testing.T) {
			real := startRealNode(t, test.shards)
			mix, err := ParseMix(test.mix)
			if err != nil {
				t.Fatal(err)
			}
			config := real.config()
			config.Accounts, config.Count, config.Mix = 600, 60, mix
			config.TransfersCapacity = 1000
			if test.cross >= 0 {
				config.CrossShard, config.CrossShardSet = test.cross, true
			}
			ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
			defer cancel()
			result, err := Run(ctx, config)
			if err != nil {
				t.Fatal(err)
			}
			real.close()
			table := result.Report.TransferTable
			var most uint32
			for _, machine := range real.machines {
				most = max(most, machine.Ledger().TransferCount())
			}
			if !result.Report.InvariantOK {
				t.Fatalf("invariant: %v", result.Report.Invariant.Problems)
			}
			if table != nil && uint64(most) > table.StoredMost {
				t.Fatalf("a shard stores %d transfer records, the report's upper bound is %d "+
					"(capacity %d, grew %v)", most, table.StoredMost, table.CapacityPerShard,
					table.Grew)
			}
			if table != nil && uint64(most) > config.TransfersCapacity && !table.Grew {
				t.Fatalf("a shard stores %d transfer records past the capacity %d, the "+
					"report says it did not grow: %+v", most, config.TransfersCapacity, table)
			}
			// Without orders every record is the generator's own: the report is given.
			if table == nil && !mix.Has(KindOrders) {
				t.Fatal("no transfer table for a run of the transfer workloads")
			}
		})
	}
}

// TestReview50CapacityCoversTradersFunding: claim (review-bench50) — the embedded
// server's default capacity is "sized for the run", but with orders the setup funds every
// trader with two transfers (fundTraders) before the load, which TransfersCapacityFor
// leaves out: `--mix orders --accounts 1048576` gets 2,097,152 transfers, exactly what
// the funding stores, so the first fill of the run grows the table. Method: the default
// for that run must exceed the funding by what the load can store.
func TestReview50CapacityCoversTradersFunding(t *testing.T) {
	config := Config{Mix: Mix{KindOrders: 1}, Accounts: AccountsMax,
		Duration: 10 * time.Second, Warmup: 2 * time.Second}
	funding := uint64(2 * config.Accounts)
	if capacity := TransfersCapacityFor(config, 1); capacity <= funding {
		t.Fatalf("capacity %d for a run whose setup alone stores %d funding transfers",
			capacity, funding)
	}
}

// TestReview50RouterRefusalsStoreNothing: claim (review-bench50) — on a server of
// several shards the report counts three records (two on the debit shard) for every
// linked event that crosses shards and two for every refused cross-shard pending
// transfer, but the router refuses such chains (linked_chain_spans_shards, the rest
// linked_event_failed) and pending transfers (pending_transfer_spans_shards) before any
// shard sees them: nothing is stored, yet the report says "transfer table: GREW", so a
// steady-state figure is taken for one measured while the tables grew. Method: every
// transfer crosses (--cross-shard 100) on a real node of two shards; the ledgers store
// no transfer at all; the report must not say the tables grew past a capacity of 100.
func TestReview50RouterRefusalsStoreNothing(t *testing.T) {
	for _, mix := range []string{"linked", "two-phase"} {
		t.Run(mix, func(t *testing.T) {
			real := startRealNode(t, 2)
			parsed, err := ParseMix(mix)
			if err != nil {
				t.Fatal(err)
			}
			config := real.config()
			config.Accounts, config.Count, config.Mix = 60, 50, parsed
			config.TransfersCapacity, config.CrossShard, config.CrossShardSet = 100, 1, true
			ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
			defer cancel()
			result, err := Run(ctx, config)
			if err != nil {
				t.Fatal(err)
			}
			real.close()
			for i, machine := range real.machines {
				if count := machine.Ledger().TransferCount(); count != 0 {
					t.Fatalf("shard %d stores %d transfers: the premise (all refused) "+
						"does not hold; results %v", i, count, result.Report.Results)
				}
			}
			if table := result.Report.TransferTable; table == nil || table.Grew {
				t.Fatalf("nothing stored, the report says %+v (results %v)", table,
					result.Report.Results)
			}
		})
	}
}

// TestReview50TwoPhasePostsPlacedOnShards: claim (review-bench50, found while checking
// what a sharded run stores; older than session 50) — the two-phase workload sends its
// posts and voids with only the pending id, which a node of several shards refuses as
// placement_field_missing (PROTOCOL.md: a post or void names its debit account there),
// so on `--shards N` no pending transfer is ever posted or voided and the workload
// measures refusals. Method: a real node of two shards, two-phase transfers that stay on
// their shard; no event may be refused so.
func TestReview50TwoPhasePostsPlacedOnShards(t *testing.T) {
	real := startRealNode(t, 2)
	config := real.config()
	config.Accounts, config.Count, config.Mix = 60, 50, Mix{KindTwoPhase: 1}
	config.CrossShard, config.CrossShardSet = 0, true
	ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
	defer cancel()
	result, err := Run(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	report := &result.Report
	if report.Results["placement_field_missing"] != 0 || report.Results["ok"] == 0 ||
		!report.InvariantOK {
		t.Fatalf("results %v, invariant %v", report.Results, report.Invariant.Problems)
	}
}
