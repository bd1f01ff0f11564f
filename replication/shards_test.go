package replication

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/core/shardmap"
)

// twoShards places ids below 100 on shard 0 and the rest on shard 1.
var twoShards = shardmap.ByRange(model.U128(0), model.U128(100))

// shardedConfig is nodeConfig for a node of placement's shards (shard i in dir/shard-i).
func shardedConfig(dir, listen, standbyOf string, placement *shardmap.Map) NodeConfig {
	config := nodeConfig(dir, listen, standbyOf)
	config.Map, config.Groups = placement, nil
	for index := range placement.Shards {
		shardDir := filepath.Join(dir, fmt.Sprintf("shard-%d", index))
		config.Groups = append(config.Groups, GroupConfig{LogDir: filepath.Join(shardDir, "log"),
			SnapshotDir: filepath.Join(shardDir, "snapshots"),
			Machine: core.Config{Shard: core.ShardConfig{Map: placement, Index: index},
				RulesVersion: testRules}})
	}
	return config
}

// startSharded starts a node of several shards; every shard's replies go to replies.
func startSharded(t *testing.T, config NodeConfig) *testNode {
	t.Helper()
	node, err := OpenNode(context.Background(), config)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{Node: node, replies: newCollector(), config: config}
	// Client 7 is the operator (its accounts may go negative, package ledger): every
	// primary shard logs the table before its first request.
	operator := model.AppendGrants(nil, []model.Grant{{Client: 7, Scopes: model.ScopeOperator}})
	for _, s := range node.Shards() {
		if err := s.SetGrants(operator); err != nil {
			t.Fatal(err)
		}
	}
	outputs := make([]shard.Outputs, len(node.Groups()))
	for i := range outputs {
		outputs[i] = shard.RepliesOnly(n.replies)
	}
	node.Start(outputs)
	return n
}

// submitTo sends one request to one shard (connection ids must differ across shards).
func (n *testNode) submitTo(t *testing.T, index int, connection, number uint64,
	operation model.Operation, body []byte) {
	t.Helper()
	status := n.Shards()[index].Submit(&backend.Request{Connection: connection, Client: 7,
		Session: uint64(1 + index), Number: number, Operation: operation, Body: body})
	if status != model.StatusOK {
		t.Fatalf("submit to shard %d: %s", index, status)
	}
}

// A node of two shards replicates both through its one listener, in sync mode (each
// shard's replies wait for its own standby shard); promotion switches every shard to
// the new epoch together, fences the old primary's every shard, and the old primary
// rejoins as the standby of every shard.
func TestShardedNodeReplicatesAndFailsOverAsOne(t *testing.T) {
	primaryDir, standbyDir := t.TempDir(), t.TempDir()
	primaryAddress, standbyAddress := freeAddress(t), freeAddress(t)
	primary := startSharded(t, shardedConfig(primaryDir, primaryAddress, "", twoShards))
	standbyConfig := shardedConfig(standbyDir, standbyAddress, primaryAddress, twoShards)
	standbyConfig.Peer = primaryAddress
	standby := startSharded(t, standbyConfig)
	primary.submitTo(t, 0, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.submitTo(t, 1, 2, 1, model.OperationCreateAccounts, accounts(101, 102))
	primary.submitTo(t, 0, 3, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	primary.submitTo(t, 1, 4, 2, model.OperationCreateTransfers, transfer(11, 101, 102, 6))
	for connection := uint64(1); connection <= 4; connection++ {
		if reply, body := primary.replies.wait(t, connection); reply.Status != model.StatusOK ||
			eventStatus(body) != model.StatusOK {
			t.Fatalf("connection %d: %s", connection, reply.Status)
		}
	}
	for index, group := range standby.Groups() {
		waitFor(t, fmt.Sprintf("standby shard %d to apply", index), func() bool {
			return group.Log().Durable() >= primary.Groups()[index].Log().LastOp()
		})
	}
	// The old primary fences as a whole when the standby is promoted.
	epoch, err := standby.Promote()
	if err != nil || epoch != 2 {
		t.Fatalf("promote: %d %v", epoch, err)
	}
	for index, s := range standby.Shards() {
		if s.Role() != shard.RolePrimary || s.Epoch() != 2 {
			t.Fatalf("promoted shard %d: %s at epoch %d", index, s.Role(), s.Epoch())
		}
	}
	for index, s := range primary.Shards() {
		waitFor(t, fmt.Sprintf("the old primary's shard %d to be fenced", index), func() bool {
			return s.Role() == shard.RoleFenced
		})
	}
	standby.submitTo(t, 1, 5, 3, model.OperationCreateTransfers, transfer(12, 102, 101, 1))
	if reply, _ := standby.replies.wait(t, 5); reply.Status != model.StatusOK {
		t.Fatalf("write on the new primary's shard 1: %s", reply.Status)
	}
	primary.Close()
	rejoined := startSharded(t, shardedConfig(primaryDir, primaryAddress, standbyAddress,
		twoShards))
	defer rejoined.Close()
	defer standby.Close()
	for index, group := range rejoined.Groups() {
		waitFor(t, fmt.Sprintf("rejoined shard %d to catch up", index), func() bool {
			return group.Log().Durable() >= standby.Groups()[index].Log().LastOp()
		})
		if s := group.Shard(); s.Role() != shard.RoleStandby || s.Epoch() != 2 {
			t.Fatalf("rejoined shard %d as %s at epoch %d", index, s.Role(), s.Epoch())
		}
	}
}

// A standby whose shard map differs from its primary's (another shard count, or the same
// count placed otherwise) stops at start with ErrShardMapMismatch instead of retrying.
func TestStandbyWithAnotherShardMapIsRefused(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startSharded(t, shardedConfig(t.TempDir(), primaryAddress, "", twoShards))
	defer primary.Close()
	for _, placement := range []*shardmap.Map{shardmap.Single(), shardmap.Hashed(2)} {
		config := shardedConfig(t.TempDir(), freeAddress(t), primaryAddress, placement)
		node, err := OpenNode(context.Background(), config)
		if err == nil {
			node.Close()
			t.Fatalf("a standby of %s was accepted by a primary of %s", placement, twoShards)
		}
		if !errors.Is(err, ErrShardMapMismatch) {
			t.Fatalf("standby of %s: %v, want ErrShardMapMismatch", placement, err)
		}
	}
}

func eventStatus(body []byte) model.Status {
	var result model.EventResult
	result.Decode(body)
	return result.Status
}
