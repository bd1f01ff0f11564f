package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"sequent/core/node/reconcile"
	"sequent/core/shard"
	"sequent/netio/ops"
)

// TestOpsleft52ReconcileTimeoutAnswers504: GET /v1/reconcile gave each shard read the
// whole 60 s rather than what remained of the request, and answered any failure 409
// `refused`, a read not answered in time too, where the other clearing reads and
// /v1/depth answer 504 `timeout`. A slow source whose reads run past the request's
// deadline is now given that one deadline and answered 504 timeout; another failure
// stays 409 refused.
func TestOpsleft52ReconcileTimeoutAnswers504(t *testing.T) {
	var mutex sync.Mutex
	var given time.Time
	failure := fmt.Errorf("reconcile: shard 1: saga_outbox: %w", shard.ErrQueryTimeout)
	slow := func(deadline time.Time) (*reconcile.Reconciliation, error) {
		mutex.Lock()
		defer mutex.Unlock()
		given = deadline
		return nil, failure
	}
	sources := ops.Sources{
		Snapshot:  func() ops.Snapshot { return ops.Snapshot{Version: "test"} },
		Audit:     func(ops.AuditRecord) error { return nil },
		Reconcile: reconcileSource(slow),
	}
	server := startOpsTestServer(t, sources)
	client := &http.Client{Timeout: 30 * time.Second}
	for _, test := range []struct {
		failure error
		status  int
		code    string
	}{
		{fmt.Errorf("reconcile: shard 1: saga_outbox: %w", shard.ErrQueryTimeout),
			http.StatusGatewayTimeout, ops.CodeTimeout},
		{fmt.Errorf("reconcile: shard 0: get_ledger_totals: %s", "not_primary"),
			http.StatusConflict, ops.CodeRefused},
	} {
		mutex.Lock()
		failure, given = test.failure, time.Time{}
		mutex.Unlock()
		request, err := http.NewRequest(http.MethodGet, "http://"+server.Address()+
			ops.PathReconcile, nil)
		if err != nil {
			t.Fatal(err)
		}
		request.Header.Set("Authorization", "Bearer "+adminTestToken)
		response, err := client.Do(request)
		if err != nil {
			t.Fatal(err)
		}
		answered := time.Now()
		var reply ops.Reply
		decodeErr := json.NewDecoder(response.Body).Decode(&reply)
		response.Body.Close()
		if response.StatusCode != test.status || decodeErr != nil || reply.Code != test.code {
			t.Errorf("%v: %d %+v (%v), want %d %s", test.failure, response.StatusCode, reply,
				decodeErr, test.status, test.code)
		}
		mutex.Lock()
		deadline := given
		mutex.Unlock()
		// The deadline is the request's (clearingTimeout, 60 s, from its arrival): set,
		// and no later than 60 s after the answer came.
		if deadline.IsZero() || deadline.After(answered.Add(time.Minute)) {
			t.Errorf("%v: the source was given deadline %v, want one within a minute of %v",
				test.failure, deadline, answered)
		}
	}
}

// startOpsTestServer starts an ops server on sources, with adminTestToken as the "ops"
// token and no rate limits, and shuts it down when the test ends.
func startOpsTestServer(t *testing.T, sources ops.Sources) *ops.Server {
	t.Helper()
	server, err := ops.New(ops.Config{Address: "127.0.0.1:0",
		Tokens:                      ops.TokenChecker(map[string]string{"ops": adminTestToken}),
		RequestsPerSecondPerAddress: -1, ConnectionsPerAddressMax: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sources)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	})
	return server
}
