package router

import (
	"testing"

	"sequent/core/model"
)

// TestReviewha46OutcomeUnknownCarriesNoOp: a split write whose parts disagree (shard 1
// applied its part, op 40; shard 0's log was unavailable) is answered outcome_unknown,
// and, like every reply but ok (PROTOCOL.md section 3), with aux 0 and no duplicate flag.
// hunt46b's fix (merge.go finish) covered it, but its tests pinned only request_too_old
// and request_number_reused: clearing the op for those two statuses alone passed them.
func TestReviewha46OutcomeUnknownCarriesNoOp(t *testing.T) {
	replies := answerSplitTransfers(t, []partAnswer{{1, model.StatusOK, 40, true},
		{0, model.StatusLogUnavailable, 0, false}})
	if len(replies) != 1 {
		t.Fatalf("replies %+v", replies)
	}
	if got := replies[0]; got.Status != model.StatusOutcomeUnknown || got.Op != 0 ||
		got.Duplicate || len(got.Body) != 0 {
		t.Fatalf("reply %s op %d duplicate %v, %d bytes; want outcome_unknown, op 0", got.Status,
			got.Op, got.Duplicate, len(got.Body))
	}
}
