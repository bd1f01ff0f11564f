package api

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// tooOldThenRefusalReply answers a request's submission request_too_old and the server's
// resubmission with a reply of status refusal (accepted by Submit, refused in its reply),
// the other way a resubmission is refused (requests sent one at a time).
type tooOldThenRefusalReply struct {
	server  atomic.Pointer[Server]
	refusal model.Status
	second  atomic.Bool
}

func (b *tooOldThenRefusalReply) Submit(request *backend.Request) model.Status {
	status := model.StatusRequestTooOld
	if second := b.second.Load(); second {
		status = b.refusal
	}
	b.second.Store(status == model.StatusRequestTooOld)
	b.server.Load().deliver(&backend.Reply{Connection: request.Connection, Status: status})
	return model.StatusOK
}

// TestReviewpt49ResubmissionRefusedInItsReplySaysAReadAppliedNothing:
// TestResubmittedReadRefusedSaysItAppliedNothing has Submit refuse the resubmission, so
// submitAdmitted's other call of resubmissionRefused (a resubmission accepted, then
// refused in its reply) could pass a write's operation and the test still passed (the
// mutant survived every netio/api test). Both GET routes and the lookup route of a read
// say it applied nothing; a write still says a part may have been applied.
func TestReviewpt49ResubmissionRefusedInItsReplySaysAReadAppliedNothing(t *testing.T) {
	keys, _ := testKeys(t)
	client := &http.Client{Timeout: 60 * time.Second}
	serve := func() *harness {
		node := &tooOldThenRefusalReply{refusal: model.StatusNotPrimary}
		server, err := New(Config{Address: "127.0.0.1:0", Keys: keys}, node)
		if err != nil {
			t.Fatal(err)
		}
		node.server.Store(server)
		if err := server.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = server.Shutdown(t.Context()) })
		return &harness{t: t, server: server, base: "http://" + server.Address(),
			clock: &testClock{}, http: client}
	}
	message := func(h *harness, r response) string {
		h.expect(r, 503, "outcome_unknown")
		return decode[Error](t, r).Message
	}
	read := serve()
	for _, route := range [][3]string{{"GET", "/v1/accounts/1", ""},
		{"GET", "/v1/transfers/1", ""}, {"POST", "/v1/transfers/lookup", `{"ids":["1","2"]}`}} {
		got := message(read, read.operator(route[0], route[1], route[2]))
		if !strings.Contains(got, "refused ("+model.StatusNotPrimary.String()+")") ||
			!strings.Contains(got, "a read, which applies nothing") ||
			strings.Contains(got, "may have been applied") {
			t.Errorf("%s %s resubmitted and refused in its reply: %q, want a read's message",
				route[0], route[1], got)
		}
	}
	write := serve()
	got := message(write, write.operator("POST", "/v1/transfers",
		`{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,`+
			`"code":1}`))
	if !strings.Contains(got, "may have been applied") {
		t.Errorf("a write resubmitted and refused in its reply: %q, want \"may have been "+
			"applied\"", got)
	}
}
