package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/node"
	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/netio/jsonview"
	"sequent/wal"
)

// resubmitFaultBackend passes requests to a node, except the one whose first transfer
// has id stallID: its first Submit waits until released (the handler descheduled between
// numbering and submitting, as in TestHunt44aKeylessRequestNeverAnsweredTooOld), and its
// next Submit (the server's own resubmission after request_too_old) is refused with
// refusal, as a node whose log just failed (disk full: log_unavailable) refuses writes.
type resubmitFaultBackend struct {
	next     backend.Submitter
	stallID  model.Uint128
	refusal  model.Status
	stalled  chan struct{}
	released chan struct{}
	mutex    sync.Mutex
	submits  int
}

func (b *resubmitFaultBackend) Submit(request *backend.Request) model.Status {
	if request.Operation == model.OperationCreateTransfers &&
		len(request.Body) >= model.TransferSize {
		var transfer model.Transfer
		transfer.Decode(request.Body)
		if transfer.ID == b.stallID {
			b.mutex.Lock()
			b.submits++
			submits := b.submits
			b.mutex.Unlock()
			switch submits {
			case 1:
				close(b.stalled)
				<-b.released
			default:
				return b.refusal
			}
		}
	}
	return b.next.Submit(request)
}

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
	placement := shardmap.ByRange(model.U128(0), model.U128(100))
	keys, private := testKeys(t)
	parts := make([]node.Part, 2)
	for i := range parts {
		parts[i] = node.Part{Machine: core.New(core.Config{Shard: core.ShardConfig{Map: placement,
			Index: uint16(i)}}), Log: wal.NewMemoryLog()}
	}
	local, err := node.NewLocal(placement, shard.Config{CloseTimeout: 300 * time.Millisecond}, parts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range local.Shards() {
		if err := s.SetGrants(keys.GrantsBody()); err != nil {
			t.Fatal(err)
		}
	}
	n, err := node.New(node.Config{Map: placement, SagaResendAfter: uint64(20 * time.Millisecond),
		OutboxInterval: uint64(10 * time.Millisecond), TickInterval: time.Millisecond}, local)
	if err != nil {
		t.Fatal(err)
	}
	faults := &resubmitFaultBackend{next: n, stallID: model.U128(20),
		refusal: model.StatusLogUnavailable, stalled: make(chan struct{}),
		released: make(chan struct{})}
	clock := &testClock{}
	server, err := New(Config{Address: "127.0.0.1:0", Keys: keys, Now: clock.now,
		Admission: netio.NewControls(netio.ControlsConfig{LoginAttemptsPerMinute: 20}),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil))}, faults)
	if err != nil {
		t.Fatal(err)
	}
	n.Start(NewReplier(nopReplier{}, server))
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
		n.Close()
	})
	h := &harness{t: t, server: server, base: "http://" + server.Address(), private: private,
		http: &http.Client{Timeout: 30 * time.Second}, clock: clock}
	h.createAccounts("1", "2", "101", "102") // 1, 2 on shard 0; 101, 102 on shard 1.

	// Transfer 20 on shard 0, 21 on shard 1, in one keyless request.
	body := `[{"id":"20","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1},` +
		`{"id":"21","debit_account_id":"101","credit_account_id":"102","amount":"7","ledger":1,"code":1}]`
	request, err := http.NewRequest("POST", h.base+"/v1/transfers", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.signer(operatorClient).Sign(request.Header, "POST", "/v1/transfers",
		[]byte(body)); err != nil {
		t.Fatal(err)
	}
	answers := make(chan response, 1)
	go func() {
		answer := response{}
		reply, err := h.http.Do(request)
		if err != nil {
			t.Error(err)
		} else {
			answer.code = reply.StatusCode
			answer.body, _ = io.ReadAll(reply.Body)
			reply.Body.Close()
		}
		answers <- answer
	}()
	select {
	case <-faults.stalled:
	case <-time.After(waitMax):
		t.Fatal("the request did not reach Submit")
	}
	for id := 1000; id < 1300; id++ { // Shard 0 only.
		h.expect(h.operator("POST", "/v1/transfers", fmt.Sprintf(`{"id":"%d",`+
			`"debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1}`,
			id)), 201, "")
	}
	close(faults.released)
	var answer response
	select {
	case answer = <-answers:
	case <-time.After(waitMax):
		t.Fatal("no answer to the stalled request")
	}
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
