package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/jsonview"
)

// stallingBackend passes requests to next, except the one whose first transfer has id
// stallID: its first Submit waits until released (a handler goroutine descheduled between
// taking its number in the server's own session and handing the request to the shard: a
// loaded machine does that for milliseconds), and its later Submits (the server's own
// resubmissions) are refused with refuseAgain, or passed on when refuseAgain is
// StatusOK.
type stallingBackend struct {
	next        backend.Submitter
	stallID     model.Uint128
	refuseAgain model.Status
	stalled     chan struct{} // Closed when the stalled request entered Submit.
	released    chan struct{} // Closed to let it go on.
	mutex       sync.Mutex
	submits     int // Of the request with stallID.
}

func newStallingBackend(next backend.Submitter, stallID model.Uint128,
	refuseAgain model.Status) *stallingBackend {
	return &stallingBackend{next: next, stallID: stallID, refuseAgain: refuseAgain,
		stalled: make(chan struct{}), released: make(chan struct{})}
}

func (b *stallingBackend) Submit(request *backend.Request) model.Status {
	if request.Operation == model.OperationCreateTransfers &&
		len(request.Body) >= model.TransferSize {
		var transfer model.Transfer
		transfer.Decode(request.Body)
		if transfer.ID == b.stallID {
			b.mutex.Lock()
			b.submits++
			submits := b.submits
			b.mutex.Unlock()
			if submits == 1 {
				close(b.stalled)
				<-b.released
			} else if b.refuseAgain != model.StatusOK {
				return b.refuseAgain
			}
		}
	}
	return b.next.Submit(request)
}

// sendStalled signs body as the operator's POST /v1/transfers in the test's goroutine
// (h.do is for that goroutine alone), sends it from another, and returns once the request
// waits in stalling's Submit; the channel carries its answer (code 0 if it failed, which
// is reported as a test error).
func (h *harness) sendStalled(stalling *stallingBackend, body string) <-chan response {
	h.t.Helper()
	request, err := http.NewRequest("POST", h.base+"/v1/transfers", bytes.NewReader([]byte(body)))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.signer(operatorClient).Sign(request.Header, "POST", "/v1/transfers",
		[]byte(body)); err != nil {
		h.t.Fatal(err)
	}
	answers := make(chan response, 1)
	go func() {
		answer := response{}
		reply, err := h.http.Do(request)
		if err != nil {
			h.t.Error(err)
		} else {
			answer.code = reply.StatusCode
			answer.body, _ = io.ReadAll(reply.Body)
			reply.Body.Close()
		}
		answers <- answer
	}()
	select {
	case <-stalling.stalled:
	case <-time.After(waitMax):
		h.t.Fatal("the request did not reach Submit")
	}
	return answers
}

// releaseStalled lets the stalled request go on and returns its answer.
func (h *harness) releaseStalled(stalling *stallingBackend, answers <-chan response) response {
	h.t.Helper()
	close(stalling.released)
	select {
	case answer := <-answers:
		return answer
	case <-time.After(waitMax):
		h.t.Fatal("no answer to the stalled request")
	}
	return response{}
}

// TestHunt44aKeylessRequestNeverAnsweredTooOld: a request without an Idempotency-Key is
// numbered in the server's own session for its client when it is admitted, and handed to
// the shard after; when the handler is descheduled in between while 256 later requests of
// the client are applied, the shard finds its number below its session's window and
// answers request_too_old, which the API turns into 409 "this Idempotency-Key was applied
// too long ago: look the ids up", for a request that carried no key and was never
// applied. The server's own numbering must reach the shard in order.
func TestHunt44aKeylessRequestNeverAnsweredTooOld(t *testing.T) {
	var stalling *stallingBackend
	h := wrappedHarness(t, func(shard backend.Submitter) backend.Submitter {
		stalling = newStallingBackend(shard, model.U128(999), model.StatusOK)
		return stalling
	})
	h.createAccounts("1", "2")
	transfer := func(id int) string {
		return fmt.Sprintf(`{"id":"%d","debit_account_id":"1","credit_account_id":"2",`+
			`"amount":"1","ledger":1,"code":1}`, id)
	}
	answers := h.sendStalled(stalling, transfer(999))
	for id := 1000; id < 1000+300; id++ {
		h.expect(h.operator("POST", "/v1/transfers", transfer(id)), 201, "")
	}
	answer := h.releaseStalled(stalling, answers)
	if answer.code == 0 {
		return
	}
	if answer.code != 201 {
		t.Fatalf("a request without Idempotency-Key, handed to the shard after 300 later "+
			"ones of its client: HTTP %d %s", answer.code, bytes.TrimSpace(answer.body))
	}
	if account := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/2", "")); account.CreditsPosted != "301" {
		t.Fatalf("account 2 credited %s, want 301 (300 transfers and the stalled one, once)",
			account.CreditsPosted)
	}
}
