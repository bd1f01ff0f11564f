package router

import (
	"testing"

	"sequent/core/model"
)

// The status of a split request with a part not answered ok: never "not applied" for a
// write some part of which was or may have been applied.
func TestMergedStatus(t *testing.T) {
	const unanswered = model.Status(0xffff) // The part was abandoned before its reply.
	for _, test := range []struct {
		name  string
		write bool
		parts []model.Status
		want  model.Status
	}{
		{"one part's log failed", true, []model.Status{model.StatusOK, model.StatusOutcomeUnknown},
			model.StatusOutcomeUnknown},
		{"applied here, no room in the log there", true,
			[]model.Status{model.StatusOK, model.StatusLogUnavailable}, model.StatusOutcomeUnknown},
		{"applied here, not primary there", true,
			[]model.Status{model.StatusNotPrimary, model.StatusOK}, model.StatusOutcomeUnknown},
		{"applied here, shard stopping there", true,
			[]model.Status{model.StatusOK, model.StatusShuttingDown}, model.StatusOutcomeUnknown},
		{"abandoned when the node stopped", true, []model.Status{model.StatusOK, unanswered},
			model.StatusOutcomeUnknown},
		{"unknown beats a definite refusal", true,
			[]model.Status{model.StatusOutcomeUnknown, model.StatusLogUnavailable},
			model.StatusOutcomeUnknown},
		{"nothing applied anywhere", true,
			[]model.Status{model.StatusLogUnavailable, model.StatusLogUnavailable},
			model.StatusLogUnavailable},
		{"nothing applied, the most telling refusal", true,
			[]model.Status{model.StatusLogUnavailable, model.StatusNotPrimary},
			model.StatusNotPrimary},
		{"too old holds even with a part applied", true,
			[]model.Status{model.StatusOK, model.StatusRequestTooOld}, model.StatusRequestTooOld},
		{"a reused number holds even with a part applied", true,
			[]model.Status{model.StatusRequestNumberReused, model.StatusOK},
			model.StatusRequestNumberReused},
		{"a read refused by one shard", false,
			[]model.Status{model.StatusOK, model.StatusLogUnavailable}, model.StatusLogUnavailable},
		{"a read abandoned", false, []model.Status{model.StatusOK, unanswered},
			model.StatusShuttingDown},
		{"equally telling refusals: the first part's", false,
			[]model.Status{model.StatusRateLimited, model.StatusBusy}, model.StatusRateLimited},
		{"equally telling refusals, the other order", false,
			[]model.Status{model.StatusBusy, model.StatusRateLimited}, model.StatusBusy},
		{"a read refused busy everywhere", false,
			[]model.Status{model.StatusBusy, model.StatusBusy}, model.StatusBusy},
		{"internal_error tells more than busy", false,
			[]model.Status{model.StatusBusy, model.StatusInternalError}, model.StatusInternalError},
		{"log_unavailable tells more than internal_error", false,
			[]model.Status{model.StatusInternalError, model.StatusLogUnavailable},
			model.StatusLogUnavailable},
		{"shutting_down tells more than not_primary", false,
			[]model.Status{model.StatusShuttingDown, model.StatusNotPrimary},
			model.StatusShuttingDown},
		{"too old tells more than a reused number", true,
			[]model.Status{model.StatusRequestNumberReused, model.StatusRequestTooOld},
			model.StatusRequestTooOld},
		{"a reused number tells more than shutting_down", true,
			[]model.Status{model.StatusShuttingDown, model.StatusRequestNumberReused},
			model.StatusRequestNumberReused},
	} {
		req := &request{write: test.write}
		for _, status := range test.parts {
			pt := &part{request: req, status: status, answered: status != unanswered}
			req.parts = append(req.parts, pt)
		}
		if got := mergedStatus(req); got != test.want {
			t.Errorf("%s: %s, want %s", test.name, got, test.want)
		}
	}
}
