package reconcile

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	noderec "sequent/core/node/reconcile"
)

// testToken is the admin token fakeShards wants, as a node does.
const testToken = "t0ken"

// fakeShards serves GET /v1/reconcile with a fixed report.
func fakeShards(t *testing.T, report noderec.Report) string {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/reconcile" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			http.Error(w, "token", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(report)
	}))
	t.Cleanup(server.Close)
	return server.URL
}

// The shards section passes a consistent node (sagas in flight listed, not failed),
// fails one whose report names a broken invariant, and cannot run without an answer.
func TestShardsCheck(t *testing.T) {
	healthy := noderec.Report{OK: true, Ledgers: []noderec.LedgerReport{{Ledger: 1, Balanced: true}},
		Pairs:   []noderec.PairReport{{From: 0, To: 1, Ledger: 1, Nets: false}},
		Running: []noderec.RunningReport{{Shard: 0, Sequence: 4, AgeMs: 12}}}
	if _, err := (ShardsCheck{Address: fakeShards(t, healthy)}).Run(context.Background()); err == nil {
		t.Fatal("the report was read without the admin token")
	}
	section, err := ShardsCheck{Address: fakeShards(t, healthy), Token: testToken}.Run(context.Background())
	if err != nil || !section.OK || !strings.Contains(section.Summary, "1 sagas in flight (oldest 12 ms)") {
		t.Fatalf("healthy node: %+v %v", section, err)
	}
	broken := healthy
	broken.OK, broken.Problem = false, "ledger 1: debits 5/0 (posted/pending) != credits 4/0"
	section, err = ShardsCheck{Address: fakeShards(t, broken), Token: testToken}.Run(context.Background())
	if err != nil || section.OK || len(section.Problems) != 1 || section.Problems[0] != broken.Problem {
		t.Fatalf("broken node: %+v %v", section, err)
	}
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	if _, err := (ShardsCheck{Address: missing.URL}).Run(context.Background()); err == nil {
		t.Fatal("a node without the endpoint passed")
	}
}
