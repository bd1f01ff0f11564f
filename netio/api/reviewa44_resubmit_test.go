package api

import (
	"bytes"
	"fmt"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/jsonview"
)

// TestReviewa44ResubmissionNeverSaysNotAppliedOfAnAppliedPart: on a node of two shards, a
// keyless request split over both shards is numbered, then reaches the node after 300
// later requests of its client went to shard 0 alone: shard 0 answers its part
// request_too_old (not applied) while shard 1, which saw none of them, applies its part
// (transfer 21, 7 to account 102). The merged answer is request_too_old, and the server
// (5973505) submits the request again under a new number. When that resubmission is
// refused (here log_unavailable: "not applied"), the API answers the refusal as the
// request's outcome: 503 "not applied; retry later", while transfer 21 was applied. The
// router's own rule (core/node/router mergedStatus) is never to say "not applied" of a
// write some part of which was applied; a client believing it may drop the batch, or
// book transfer 21's payment by other means.
func TestReviewa44ResubmissionNeverSaysNotAppliedOfAnAppliedPart(t *testing.T) {
	// Its first Submit stalls; the server's resubmission is refused as a node whose log
	// just failed (disk full: log_unavailable) refuses writes.
	var faults *stallingBackend
	h := nodeHarness(t, func(node backend.Submitter) backend.Submitter {
		faults = newStallingBackend(node, model.U128(20), model.StatusLogUnavailable)
		return faults
	})
	h.createAccounts("1", "2", "101", "102") // 1, 2 on shard 0; 101, 102 on shard 1.

	// Transfer 20 on shard 0, 21 on shard 1, in one keyless request.
	body := `[{"id":"20","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1},` +
		`{"id":"21","debit_account_id":"101","credit_account_id":"102","amount":"7","ledger":1,"code":1}]`
	answers := h.sendStalled(faults, body)
	for id := 1000; id < 1300; id++ { // Shard 0 only.
		h.expect(h.operator("POST", "/v1/transfers", fmt.Sprintf(`{"id":"%d",`+
			`"debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1}`,
			id)), 201, "")
	}
	answer := h.releaseStalled(faults, answers)
	payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", ""))
	if payee.CreditsPosted != "7" {
		t.Fatalf("shard 1 did not apply its part (account 102 credited %s): the case "+
			"this test is about did not arise", payee.CreditsPosted)
	}
	if answer.code != 503 || !bytes.Contains(answer.body, []byte(`"outcome_unknown"`)) ||
		bytes.Contains(answer.body, []byte("not applied")) {
		t.Fatalf("transfer 21 was applied (account 102 credited 7), and the request was "+
			"answered HTTP %d %s (want 503 outcome_unknown)", answer.code,
			bytes.TrimSpace(answer.body))
	}
}
