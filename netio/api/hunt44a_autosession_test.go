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
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/jsonview"
	"sequent/wal"
)

// stallingBackend passes requests to the shard, except that the first one whose body
// holds a transfer with id stallID waits in Submit until released: a handler goroutine
// descheduled between taking its number in the server's own session and handing the
// request to the shard (a loaded machine does that for milliseconds).
type stallingBackend struct {
	shard    *shard.Shard
	stallID  model.Uint128
	stalled  chan struct{} // Closed when the stalled request entered Submit.
	released chan struct{} // Closed to let it go on.
	once     sync.Once
}

func (b *stallingBackend) Submit(request *backend.Request) model.Status {
	if request.Operation == model.OperationCreateTransfers &&
		len(request.Body) >= model.TransferSize {
		var transfer model.Transfer
		transfer.Decode(request.Body)
		if transfer.ID == b.stallID {
			b.once.Do(func() {
				close(b.stalled)
				<-b.released
			})
		}
	}
	return b.shard.Submit(request)
}

// TestHunt44aKeylessRequestNeverAnsweredTooOld: a request without an Idempotency-Key is
// numbered in the server's own session for its client when it is admitted, and handed to
// the shard after; when the handler is descheduled in between while 256 later requests of
// the client are applied, the shard finds its number below its session's window and
// answers request_too_old, which the API turns into 409 "this Idempotency-Key was applied
// too long ago: look the ids up", for a request that carried no key and was never
// applied. The server's own numbering must reach the shard in order.
func TestHunt44aKeylessRequestNeverAnsweredTooOld(t *testing.T) {
	log := wal.NewMemoryLog()
	s, err := shard.New(shard.Config{}, core.New(core.Config{}), log)
	if err != nil {
		t.Fatal(err)
	}
	keys, private := testKeys(t)
	if err := s.SetGrants(keys.GrantsBody()); err != nil {
		t.Fatal(err)
	}
	stalling := &stallingBackend{shard: s, stallID: model.U128(999),
		stalled: make(chan struct{}), released: make(chan struct{})}
	clock := &testClock{}
	server, err := New(Config{Address: "127.0.0.1:0", Keys: keys, Now: clock.now,
		Admission: netio.NewControls(netio.ControlsConfig{LoginAttemptsPerMinute: 20}),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil))}, stalling)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(shard.RepliesOnly(NewReplier(nopReplier{}, server)))
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, server: server, shard: s, log: log, base: "http://" + server.Address(),
		private: private, http: &http.Client{Timeout: 30 * time.Second}, clock: clock}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
		_ = s.Close()
	})
	h.createAccounts("1", "2")
	transfer := func(id int) string {
		return fmt.Sprintf(`{"id":"%d","debit_account_id":"1","credit_account_id":"2",`+
			`"amount":"1","ledger":1,"code":1}`, id)
	}
	// The stalled request is signed here, sent from another goroutine (h.do is for the
	// test's goroutine).
	body := transfer(999)
	request, err := http.NewRequest("POST", h.base+"/v1/transfers", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.signer(operatorClient).Sign(request.Header, "POST", "/v1/transfers",
		[]byte(body)); err != nil {
		t.Fatal(err)
	}
	answers := make(chan *http.Response, 1)
	go func() {
		response, err := h.http.Do(request)
		if err != nil {
			t.Error(err)
		}
		answers <- response
	}()
	select {
	case <-stalling.stalled:
	case <-time.After(waitMax):
		t.Fatal("the request did not reach Submit")
	}
	for id := 1000; id < 1000+300; id++ {
		h.expect(h.operator("POST", "/v1/transfers", transfer(id)), 201, "")
	}
	close(stalling.released)
	var response *http.Response
	select {
	case response = <-answers:
	case <-time.After(waitMax):
		t.Fatal("no answer to the stalled request")
	}
	if response == nil {
		return
	}
	defer response.Body.Close()
	answer, _ := io.ReadAll(response.Body)
	if response.StatusCode != 201 {
		t.Fatalf("a request without Idempotency-Key, handed to the shard after 300 later "+
			"ones of its client: HTTP %d %s", response.StatusCode, bytes.TrimSpace(answer))
	}
	if account := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/2", "")); account.CreditsPosted != "301" {
		t.Fatalf("account 2 credited %s, want 301 (300 transfers and the stalled one, once)",
			account.CreditsPosted)
	}
}
