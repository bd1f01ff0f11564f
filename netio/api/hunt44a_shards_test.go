package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
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

// nodeHarness is an API server on a node of two shards (ids below 100 on shard 0, the
// rest on shard 1), memory logs; the server's backend is wrap(node) (nil wrap: the node).
func nodeHarness(t *testing.T, wrap func(backend.Submitter) backend.Submitter) *harness {
	t.Helper()
	return nodeHarnessOn(t, shardmap.ByRange(model.U128(0), model.U128(100)), wrap)
}

// nodeHarnessOn is nodeHarness on a node of two shards placed by placement.
func nodeHarnessOn(t *testing.T, placement *shardmap.Map,
	wrap func(backend.Submitter) backend.Submitter) *harness {
	t.Helper()
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
	submitter := backend.Submitter(n)
	if wrap != nil {
		submitter = wrap(n)
	}
	clock := &testClock{}
	server, err := New(Config{Address: "127.0.0.1:0", Keys: keys, Now: clock.now,
		Admission: netio.NewControls(netio.ControlsConfig{LoginAttemptsPerMinute: 20,
			Now: clock.now}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, submitter)
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
	return &harness{t: t, server: server, base: "http://" + server.Address(), private: private,
		http: &http.Client{Timeout: 30 * time.Second}, clock: clock}
}

// TestHunt44aReusedKeyOnTwoShardsSaysNothingApplied: on a node of two shards, an
// Idempotency-Key reused with another body is refused 422 request_number_reused by the
// shard that applied the key, while the other shard applies its events (PROTOCOL.md
// §18); the API's answer tells the client "nothing applied", and README's "HTTP API"
// section promises a plain refusal. A client that believes it books the transfer again
// under new ids: paid twice.
func TestHunt44aReusedKeyOnTwoShardsSaysNothingApplied(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("1", "2", "101", "102") // 1, 2 on shard 0; 101, 102 on shard 1.
	first := `{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"100","ledger":1,"code":1}`
	h.expect(h.operator("POST", "/v1/transfers", first, HeaderIdempotencyKey, "7:1"), 201, "")
	// The same key, another body: a transfer on shard 0 again and one on shard 1.
	second := `[{"id":"20","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1},` +
		`{"id":"21","debit_account_id":"101","credit_account_id":"102","amount":"7","ledger":1,"code":1}]`
	answer := h.operator("POST", "/v1/transfers", second, HeaderIdempotencyKey, "7:1")
	h.expect(answer, 422, "request_number_reused")
	message := decode[Error](t, answer).Message
	payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", ""))
	if payee.CreditsPosted != "0" && strings.Contains(message, "nothing applied") {
		t.Fatalf("refused with %q, yet account 102 was credited %s (transfer 21 applied)",
			message, payee.CreditsPosted)
	}
}
