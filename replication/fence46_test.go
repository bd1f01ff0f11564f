package replication

import (
	"context"
	"sync"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
)

// Session 45 left two windows in which a fence meets a write the shard cannot take back
// (core/shard: release checks the role once per slot, so the fence may land while the
// Replier delivers a slot; and a fence landing during the log's append leaves that entry
// in the deposed primary's log, never released). These tests pin why neither loses an
// acknowledged write in sync mode.

// deliveryHook is a Replier that runs onDeliver (on the sequencer's goroutine, before the
// collector records them) for every batch of replies it delivers.
type deliveryHook struct {
	*collector
	mutex     sync.Mutex
	onDeliver func(replies []backend.Reply)
}

func (h *deliveryHook) Deliver(replies []backend.Reply) {
	h.mutex.Lock()
	onDeliver := h.onDeliver
	h.mutex.Unlock()
	if onDeliver != nil {
		onDeliver(replies)
	}
	h.collector.Deliver(replies)
}

// TestFenceDuringDeliveryLosesNoAcknowledgedWrite (fence46): in sync mode a reply
// leaves only once the standby has acknowledged its entry, that is, once the entry is in
// the standby's log. A fence that lands while the Replier delivers it (after release's
// per-slot role check) lets that reply go ok, and that is true: the fence comes from the
// promotion of that standby, whose log holds the entry. Here the fence lands inside the
// delivery of a transfer's reply; the standby's log must hold the entry already, and once
// promoted it must answer the client's resend from its replicated session cache (the
// write was applied once, and kept).
func TestFenceDuringDeliveryLosesNoAcknowledgedWrite(t *testing.T) {
	primaryAddress := freeAddress(t)
	hooked := &deliveryHook{collector: newCollector()}
	primary := startNodeDeliveringTo(t, nodeConfig(t.TempDir(), primaryAddress, ""), hooked)
	defer primary.Close()
	standby := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), primaryAddress))
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	hooked.wait(t, 1)
	var standbyDurable uint64
	fencedDuring := false
	primaryShard := primary.Shard()
	hooked.mutex.Lock()
	hooked.onDeliver = func(replies []backend.Reply) {
		for _, reply := range replies {
			if reply.Connection == 2 && !fencedDuring {
				standbyDurable = standby.Log().Durable()
				primaryShard.Fence(primaryShard.Epoch()+1, standby.config.ClientAddress)
				fencedDuring = primaryShard.Role() == shard.RoleFenced
			}
		}
	}
	hooked.mutex.Unlock()
	primary.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	reply, _ := hooked.wait(t, 2)
	if !fencedDuring {
		t.Fatal("the fence did not land during the delivery")
	}
	if reply.Status != model.StatusOK {
		t.Fatalf("the reply being delivered as the fence landed: %s, want ok (release "+
			"checked the role before the fence)", reply.Status)
	}
	if standbyDurable < reply.Op {
		t.Fatalf("sync mode delivered ok for op %d while the standby's log was durable to "+
			"op %d only", reply.Op, standbyDurable)
	}
	primary.Close()
	if _, err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	standby.submit(t, 3, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	resent, _ := standby.replies.wait(t, 3)
	if resent.Status != model.StatusOK || !resent.Duplicate || resent.Op != reply.Op {
		t.Fatalf("the new primary answered the resend of op %d with %s at op %d "+
			"(duplicate %v): the acknowledged write was lost", reply.Op, resent.Status,
			resent.Op, resent.Duplicate)
	}
}

// startNodeDeliveringTo is startNode with the node's replies going to replier (the
// returned testNode's own collector gets none).
func startNodeDeliveringTo(t *testing.T, config NodeConfig, replier backend.Replier) *testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	node.Start([]shard.Outputs{shard.RepliesOnly(replier)})
	return &testNode{Node: node, replies: newCollector(), config: config}
}

// TestDeposedPrimarysExtraEntryIsTruncatedAtItsRejoin (fence46): a fence that lands
// during the log's append leaves that entry (under the old epoch) in the deposed
// primary's log, never released (core/shard TestFence* tests); likewise an entry the
// standby never acknowledged before the promotion. When the deposed node rejoins as the
// standby of a new primary that has written nothing since (its log ends before that
// entry), the plan must truncate the entry away, not stream after it: the node would
// otherwise keep a write the new primary never had, diverging at its next entry. Here
// the new primary starts at epoch 2 from the standby's log, which ends at op 1; the
// deposed node's log ends at op 2 (epoch 1). After the rejoin both logs must end at the
// same op with the same chain, and the new primary's next write must reach the rejoined
// node with the two states equal.
func TestDeposedPrimarysExtraEntryIsTruncatedAtItsRejoin(t *testing.T) {
	primaryDir, standbyDir := t.TempDir(), t.TempDir()
	primary, standby := startSyncPair(t, primaryDir, standbyDir)
	primaryAddress, standbyAddress := primary.config.Listen, standby.config.Listen
	standby.Close()
	waitFor(t, "the primary to notice", func() bool { return primary.primary0().current.Load() == nil })
	primary.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 50))
	waitFor(t, "the extra entry to be durable", func() bool { return primary.Log().Durable() >= 2 })
	primary.Shard().Fence(2, standby.config.ClientAddress)
	if reply, _ := primary.replies.wait(t, 2); reply.Status != model.StatusOutcomeUnknown {
		t.Fatalf("the fenced primary answered its unacknowledged write %s, want "+
			"outcome_unknown", reply.Status)
	}
	primary.Close()
	if err := StoreEpoch(standby.config.EpochPath, 2); err != nil { // Its promotion.
		t.Fatal(err)
	}
	newPrimary := startNode(t, nodeConfig(standbyDir, standbyAddress, ""))
	defer newPrimary.Close()
	if last := newPrimary.Log().LastOp(); last != 1 {
		t.Fatalf("the new primary's log ends at op %d, want 1", last)
	}
	rejoined := startNode(t, nodeConfig(primaryDir, primaryAddress, standbyAddress))
	defer rejoined.Close()
	if last, want := rejoined.Log().LastOp(), newPrimary.Log().LastOp(); last != want ||
		rejoined.Log().LastChain() != newPrimary.Log().LastChain() {
		t.Fatalf("the rejoined node's log ends at op %d, the new primary's at op %d (or "+
			"their chains differ): the deposed primary's extra entry was kept", last, want)
	}
	newPrimary.submit(t, 3, 3, model.OperationCreateTransfers, transfer(11, 2, 1, 7))
	written, _ := newPrimary.replies.wait(t, 3)
	if written.Status != model.StatusOK || written.Op != 2 {
		t.Fatalf("the new primary's write: %s at op %d, want ok at op 2", written.Status,
			written.Op)
	}
	waitFor(t, "the rejoined node to follow", func() bool {
		return rejoined.Log().Durable() >= written.Op
	})
	if rejoined.Log().LastChain() != newPrimary.Log().LastChain() ||
		digestOf(t, rejoined.Node) != digestOf(t, newPrimary.Node) {
		t.Fatal("the rejoined node's history differs from the new primary's")
	}
}
