package router

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shardmap"
)

// TestReviewha46OutcomeUnknownCarriesNoOp: a split write whose parts disagree (shard 1
// applied its part, op 40; shard 0's log was unavailable) is answered outcome_unknown,
// and, like every reply but ok (PROTOCOL.md section 3), with aux 0 and no duplicate flag.
// hunt46b's fix (merge.go finish) covered it, but its tests pinned only request_too_old
// and request_number_reused: clearing the op for those two statuses alone passed them.
func TestReviewha46OutcomeUnknownCarriesNoOp(t *testing.T) {
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
		index  int
		status model.Status
		op     uint64
	}{{1, model.StatusOK, 40}, {0, model.StatusLogUnavailable, 0}} {
		part := parts[answer.index]
		reply := backend.Reply{Connection: part.request.Connection, Client: 1, Session: 1,
			Number: 1, Operation: part.request.Operation, Status: answer.status, Op: answer.op,
			Duplicate: answer.status == model.StatusOK}
		if answer.status == model.StatusOK {
			reply.Body = make([]byte, model.EventResultSize)
		}
		rig.router.Deliver(part.shard, []backend.Reply{reply})
	}
	if len(rig.replier.replies) != 1 {
		t.Fatalf("replies %+v", rig.replier.replies)
	}
	if got := rig.replier.replies[0]; got.Status != model.StatusOutcomeUnknown || got.Op != 0 ||
		got.Duplicate || len(got.Body) != 0 {
		t.Fatalf("reply %s op %d duplicate %v, %d bytes; want outcome_unknown, op 0", got.Status,
			got.Op, got.Duplicate, len(got.Body))
	}
}
