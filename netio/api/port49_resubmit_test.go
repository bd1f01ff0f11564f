package api

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
)

// tooOldThenRefusing answers a request's submission request_too_old (its number fell
// below the session's window: not applied) and refuses the next one, the server's
// resubmission, with refusal (requests sent one at a time).
type tooOldThenRefusing struct {
	server     atomic.Pointer[Server]
	refusal    model.Status
	refuseNext atomic.Bool
}

func (b *tooOldThenRefusing) Submit(request *backend.Request) model.Status {
	if b.refuseNext.Swap(false) {
		return b.refusal
	}
	b.refuseNext.Store(true)
	b.server.Load().deliver(&backend.Reply{Connection: request.Connection,
		Status: model.StatusRequestTooOld})
	return model.StatusOK
}

// TestResubmittedReadRefusedSaysItAppliedNothing: a keyless request answered
// request_too_old is submitted again under a new number, and when that resubmission is
// refused the answer is 503 outcome_unknown, as a part of a write split over shards may
// have been applied. A lookup applies nothing, on any shard, yet it was told "a part of
// the first submission may have been applied": it now says it is a read and applied
// nothing (status and code unchanged). A write's message is unchanged.
func TestResubmittedReadRefusedSaysItAppliedNothing(t *testing.T) {
	keys, _ := testKeys(t)
	client := &http.Client{Timeout: 60 * time.Second}
	serve := func() *harness {
		node := &tooOldThenRefusing{refusal: model.StatusBusy}
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
	for _, path := range []string{"/v1/accounts/1", "/v1/transfers/1"} {
		got := message(read, read.operator("GET", path, ""))
		if !strings.Contains(got, "refused (busy)") ||
			!strings.Contains(got, "a read, which applies nothing") ||
			strings.Contains(got, "may have been applied") {
			t.Errorf("GET %s resubmitted and refused: %q, want a read's message", path, got)
		}
	}
	write := serve()
	got := message(write, write.operator("POST", "/v1/transfers",
		`{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,`+
			`"code":1}`))
	if !strings.Contains(got, "may have been applied") {
		t.Errorf("a write resubmitted and refused: %q, want \"may have been applied\"", got)
	}
}
