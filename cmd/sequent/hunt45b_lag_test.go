package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio/ops"
	"sequent/replication"
	"sequent/tools/testport"
)

// repliesSeen counts the replies a test node releases.
type repliesSeen struct {
	mutex sync.Mutex
	count int
}

func (r *repliesSeen) Deliver(replies []backend.Reply) {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	r.count += len(replies)
}

func (r *repliesSeen) DeliverReports([]backend.Report) {}

func (r *repliesSeen) seen() int {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return r.count
}

// TestReplicationLagBytesFollowsLagOps (hunt45b): sequent_replication_lag_bytes ("how many
// stored log bytes the standby is behind", README "Metrics") must not read 0 while the
// standby is ops behind. An async primary whose standby never attached releases writes
// on its own durability, so its standby's lag grows with every one: lag_ops says so,
// lag_bytes stayed 0 — nothing ever set ReplicationStats.LagBytes, so the first branch of
// the SequentStandbyLagging alert (lag_bytes > 64 MiB) could never fire.
func TestReplicationLagBytesFollowsLagOps(t *testing.T) {
	dir := t.TempDir()
	config := replication.NodeConfig{Groups: []replication.GroupConfig{{
		LogDir: filepath.Join(dir, "log"), SnapshotDir: filepath.Join(dir, "snapshots"),
		Machine: core.Config{RulesVersion: core.RulesVersionCurrent}}},
		EpochPath: filepath.Join(dir, "epoch"), Listen: testport.Address(t),
		Mode: replication.ModeAsync, Key: []byte("hunt45b replication key"),
		ClientAddress: "client", Snapshots: &shard.SnapshotConfig{},
		Shard:  shard.Config{CloseTimeout: 200 * time.Millisecond},
		Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node, err := replication.OpenNode(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	seen := &repliesSeen{}
	node.Start([]shard.Outputs{shard.RepliesOnly(seen)})
	const requests = 20
	for i := uint64(1); i <= requests; i++ {
		body := make([]byte, model.AccountSize)
		account := model.Account{ID: model.U128(i), Ledger: 1, Code: 1}
		account.Encode(body)
		if status := node.Shard().Submit(&backend.Request{Connection: i, Client: 7, Session: 1,
			Number: i, Operation: model.OperationCreateAccounts, Body: body}); status != model.StatusOK {
			t.Fatalf("submit %d: %s", i, status)
		}
	}
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for seen.seen() < requests {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d replies released", seen.seen(), requests)
		}
		time.Sleep(2 * time.Millisecond)
	}
	status := node.Status()
	stats := replicationStats(&status, ops.ModeAsync)
	if stats.LagOps < requests {
		t.Fatalf("lag_ops %d with no standby after %d acknowledged writes", stats.LagOps, requests)
	}
	if stats.LagBytes == 0 {
		t.Fatalf("lag_ops %d but lag_bytes 0: the standby is %d ops behind and the bytes "+
			"metric (and SequentStandbyLagging's first branch) says it is not behind at all",
			stats.LagOps, stats.LagOps)
	}
}
