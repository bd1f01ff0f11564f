package api

import (
	"strings"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/jsonview"
)

// TestReviewpt49TwoShardLookupWorstCaseOnTheRouter: TestTwoShardLookupNeedsAtMostSevenSubmits
// reaches readRecords' worst case of 7 submits on a fake node that copies the router's
// cutting rule; a change of the router's rule (core/node/router mergeLookup) would leave
// it passing. Here the same worst case runs on a real node of two shards: one transfer id
// used by both shards, asked 8,189 times, takes 7 lookups of the node (the whole list,
// each half, the four quarters) and answers both transfers for every copy asked.
func TestReviewpt49TwoShardLookupWorstCaseOnTheRouter(t *testing.T) {
	counter := &lookupCounter{}
	h := nodeHarness(t, func(node backend.Submitter) backend.Submitter {
		counter.Submitter = node
		return counter
	})
	h.createAccounts("1", "2", "101", "102") // Shard 0's 1, 2; shard 1's 101, 102.
	for _, transfer := range []string{`"debit_account_id":"1","credit_account_id":"2"`,
		`"debit_account_id":"101","credit_account_id":"102"`} {
		h.expect(h.operator("POST", "/v1/transfers", `{"id":"7",`+transfer+
			`,"amount":"1","ledger":1,"code":1}`), 201, "")
	}
	ids := make([]string, model.EventsPerRequestMax)
	for i := range ids {
		ids[i] = `"7"`
	}
	counter.lookups.Store(0)
	answer := h.operator("POST", "/v1/transfers/lookup", `{"ids":[`+strings.Join(ids, ",")+`]}`)
	h.expect(answer, 200, "")
	found := decode[[]jsonview.Transfer](t, answer)
	if len(found) != 2*model.EventsPerRequestMax {
		t.Fatalf("%d transfers answered, want %d (both shards' for each id asked)",
			len(found), 2*model.EventsPerRequestMax)
	}
	for i, transfer := range found {
		want := []string{"1", "101"}[i%2]
		if transfer.ID != "7" || transfer.DebitAccountID != want {
			t.Fatalf("transfer %d: id %s debit %s, want id 7 debit %s (shard order)", i,
				transfer.ID, transfer.DebitAccountID, want)
		}
	}
	if submits := counter.lookups.Load(); submits != 7 {
		t.Errorf("%d lookups asked of the node, want 7 (readRecords' worst case on two "+
			"shards)", submits)
	}
}
