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

// placementThenSilent answers every create_transfers event placement_field_missing (a
// node of several shards refusing a post or void that names no debit account, recording
// nothing) and takes every other request without ever answering it.
type placementThenSilent struct {
	server  atomic.Pointer[Server]
	lookups atomic.Int64
}

func (n *placementThenSilent) Submit(request *backend.Request) model.Status {
	if request.Operation != model.OperationCreateTransfers {
		n.lookups.Add(1)
		return model.StatusOK
	}
	events := len(request.Body) / model.TransferSize
	body := make([]byte, events*model.EventResultBalancesSize)
	for i := range events {
		result := model.TransferResult{EventResult: model.EventResult{
			Status: model.StatusPlacementFieldMissing}}
		result.EncodeWithBalances(body[i*model.EventResultBalancesSize:])
	}
	n.server.Load().deliver(&backend.Reply{Connection: request.Connection,
		Status: model.StatusOK, Body: body})
	return model.StatusOK
}

// TestTimeoutMessageSaysWhetherAnythingMayBeApplied: a submit left without a reply
// within ReplyTimeout is answered 503 outcome_unknown whatever its operation, and the
// message says what the client may assume: a write "may yet be applied" (retry under
// the same key or ids), a read applies nothing (send it again). A post whose node
// refused it placement_field_missing and whose lookup of the pending transfer then went
// unanswered applied nothing: it was told "the request may yet be applied" until session
// 48's re-read.
func TestTimeoutMessageSaysWhetherAnythingMayBeApplied(t *testing.T) {
	message := func(h *harness, r response) string {
		h.expect(r, 503, "outcome_unknown")
		return decode[Error](t, r).Message
	}
	keys, _ := testKeys(t)
	client := &http.Client{Timeout: 60 * time.Second}
	serve := func(b backend.Submitter, placement *placementThenSilent) *harness {
		server, err := New(Config{Address: "127.0.0.1:0", Keys: keys,
			ReplyTimeout: 50 * time.Millisecond}, b)
		if err != nil {
			t.Fatal(err)
		}
		if placement != nil {
			placement.server.Store(server)
		}
		if err := server.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = server.Shutdown(t.Context()) })
		return &harness{t: t, server: server, base: "http://" + server.Address(),
			clock: &testClock{}, http: client}
	}
	held := serve(heldBackend{status: model.StatusOK}, nil)
	if got := message(held, held.operator("GET", "/v1/accounts/1", "")); !strings.Contains(got,
		"lookup_accounts, a read, which applies nothing") || strings.Contains(got, "applied;") {
		t.Fatalf("a lookup's timeout: %q, want a read's message", got)
	}
	if got := message(held, held.operator("POST", "/v1/transfers",
		`{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,`+
			`"code":1}`)); !strings.Contains(got, "the request may yet be applied") {
		t.Fatalf("a write's timeout: %q, want \"may yet be applied\"", got)
	}

	node := &placementThenSilent{}
	h := serve(node, node)
	got := message(h, h.operator("POST", "/v1/transfers/10/post", `{"id":"20"}`))
	if node.lookups.Load() != 1 {
		t.Fatalf("%d lookups asked of the node, want 1 (the pending transfer's)",
			node.lookups.Load())
	}
	if !strings.Contains(got, "lookup_transfers, a read, which applies nothing") ||
		strings.Contains(got, "may yet be applied") {
		t.Fatalf("a post whose placement lookup timed out: %q, want a read's message", got)
	}
}
