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
	replies := answerSplitTransfers(t, []partAnswer{{1, model.StatusOK, 40, false},
		{0, model.StatusOK, 7, false}})
	if len(replies) != 1 || replies[0].Op != 40 {
		t.Fatalf("replies %+v", replies)
	}
}

// partAnswer is one shard's reply to its part of answerSplitTransfers' request: the
// part's index among those the shards accepted, its status, op and duplicate flag.
type partAnswer struct {
	index     int
	status    model.Status
	op        uint64
	duplicate bool
}

// answerSplitTransfers submits a create_transfers that a two-shard map splits in two
// parts, delivers the answers in their order (an ok one with its result) and returns
// the router's replies.
func answerSplitTransfers(t *testing.T, answers []partAnswer) []backend.Reply {
	t.Helper()
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
	for _, answer := range answers {
		part := parts[answer.index]
		reply := backend.Reply{Connection: part.request.Connection, Client: 1, Session: 1,
			Number: 1, Operation: part.request.Operation, Status: answer.status, Op: answer.op,
			Duplicate: answer.duplicate}
		if answer.status == model.StatusOK {
			reply.Body = make([]byte, model.EventResultSize)
		}
		rig.router.Deliver(part.shard, []backend.Reply{reply})
	}
	return rig.replier.replies
}
