package router

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shardmap"
)

// TestSplitReplyOpIsTheHighestPartOp pins what PROTOCOL.md section 18 says of a split
// reply's aux: the highest of its parts' ops, each a position in its own shard's log
// (here shard 1's 40 over shard 0's 7, whatever order the parts answer in).
func TestSplitReplyOpIsTheHighestPartOp(t *testing.T) {
	rig := newSubmitRig(t, shardmap.Hashed(2))
	if status := rig.router.Submit(&backend.Request{Connection: 1, Client: 1, Session: 1,
		Number: 1, Operation: model.OperationCreateTransfers,
		Body: rig.transfers(false, 0, 1)}); status != model.StatusOK {
		t.Fatal(status)
	}
	parts := rig.shards.accepted(model.OperationCreateTransfers)
	if len(parts) != 2 {
		t.Fatalf("%d parts", len(parts))
	}
	for _, answer := range []struct {
		index int
		op    uint64
	}{{1, 40}, {0, 7}} {
		part := parts[answer.index]
		rig.router.Deliver(part.shard, []backend.Reply{{Connection: part.request.Connection,
			Client: 1, Session: 1, Number: 1, Operation: part.request.Operation,
			Status: model.StatusOK, Op: answer.op, Body: make([]byte, model.EventResultSize)}})
	}
	if len(rig.replier.replies) != 1 || rig.replier.replies[0].Op != 40 {
		t.Fatalf("replies %+v", rig.replier.replies)
	}
}
