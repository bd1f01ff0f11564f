package ops

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"sequent/core/model"
)

// rawExchange sends one request as written (head without its blank line, then body) and
// reads the answer: for targets the Go client would change (it cuts a "#" off).
func rawExchange(t *testing.T, server *Server, head, body string) response {
	t.Helper()
	return rawSend(t, server, head+"Content-Length: "+strconv.Itoa(len(body))+"\r\n", body)
}

// TestOpsQuery50RepeatedArgumentOrFragmentIsRefused: the operators' routes that read
// query arguments served a query other than the one a proxy or log in front reads.
// settlementArguments and chainArguments took the first of a repeated from, until,
// transfers or anchor_op, /v1/depth the last of a repeated levels, where a reader of the
// other one (net/http's Get takes the first, others the last) sees another window or
// book; and fasthttp cuts a query at "#", so "?level=debug#x" set debug where Go's
// net/http reads level "debug#x", "promote?#x" ran the action with a query a proxy reads
// as "#x", and "until=now#&from=X" dropped the from a proxy sees. Each is now 400
// bad_request, in the port's usual JSON, and reaches no source; an argument a route
// takes more than once (partner) and an escaped "%23" are still served.
func TestOpsQuery50RepeatedArgumentOrFragmentIsRefused(t *testing.T) {
	fake := newFakeSources()
	sources := fake.sources()
	var mutex sync.Mutex
	var settlements []SettlementQuery
	var chains []ChainQuery
	sources.Settlement = func(_ context.Context, query SettlementQuery) (any, error) {
		mutex.Lock()
		defer mutex.Unlock()
		settlements = append(settlements, query)
		return map[string]any{"partners": len(query.Partners)}, nil
	}
	sources.VerifyChain = func(_ context.Context, query ChainQuery) (any, error) {
		mutex.Lock()
		defer mutex.Unlock()
		chains = append(chains, query)
		return map[string]any{"ok": true}, nil
	}
	sources.RiskSet = func(rules []model.RiskRule) ([]RiskOutcome, error) {
		_ = fake.act(ActionRiskSet)
		return make([]RiskOutcome, len(rules)), nil
	}
	sources.RiskRemove = func(ids []uint32) ([]RiskOutcome, error) {
		_ = fake.act(ActionRiskRemove)
		return make([]RiskOutcome, len(ids)), nil
	}
	var depthReads atomic.Int64
	sources.Console = fakeConsoleSources(&depthReads)
	server := startServer(t, Config{Tokens: TokenChecker(testTokens),
		RequestsPerSecondPerAddress: -1}, sources)
	send := func(method, target, body string) response {
		head := method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
			"Authorization: Bearer " + testTokens["alice"] + "\r\n"
		if body != "" {
			head += "Content-Type: application/json\r\n"
		}
		return rawExchange(t, server, head, body)
	}
	const rule = `{"rules":[{"id":4,"kind":"max_amount","scope":"ledger","ledger":1,` +
		`"amount":"100"}]}`
	const remove = `{"ids":[4]}`
	settlement := PathSettlement + "?partner=5&until=2026-02-01"
	refused := []struct{ method, target, body string }{
		{"GET", settlement + "&from=2026-01-01&from=2025-01-01", ""},
		{"GET", settlement + "&until=2026-03-01", ""},
		{"GET", settlement + "&transfers=1&transfers=100000", ""},
		{"GET", settlement + "&from=2026-01-01&fr%6Fm=2025-01-01", ""}, // Key decoded.
		{"GET", settlement + "#&from=2026-01-01", ""},
		{"GET", settlement + "&from=2026-01-01#", ""},
		{"GET", PathChain + "?from=2026-01-01&from=2025-01-01", ""},
		{"GET", PathChain + "?until=now&until=2026-01-01", ""},
		{"GET", PathChain + "?anchor_op=1&anchor_op=2", ""},
		{"GET", PathChain + "?shard=0&shard=1", ""},
		{"GET", PathChain + "?until=now#&from=2026-01-01", ""},
		{"GET", PathChain + "?#", ""},
		{"GET", PathDepth + "?instrument=7&levels=1&levels=2", ""},
		{"GET", PathDepth + "?instrument=7&instrument=8", ""},
		{"GET", PathDepth + "?instrument=7#&instrument=8", ""},
		{"GET", "http://127.0.0.1" + PathDepth + "?instrument=7#", ""}, // Absolute form.
		{"POST", PathLogLevel + "?level=debug#x", ""},
		{"POST", PathLogLevel + "?level=debug&level=error", ""},
		{"POST", PathPromote + "?#x", ""},
		{"POST", PathSnapshot + "?#", ""},
		{"POST", PathReloadKeys + "?#level=debug", ""},
		{"POST", PathLogLevel + "?#", `{"level":"debug"}`},
		{"POST", PathRiskSet + "?#", rule},
		{"POST", PathRiskRemove + "?#x", remove},
	}
	for _, c := range refused {
		got := send(c.method, c.target, c.body)
		if got.code != http.StatusBadRequest || got.reply(t).Code != CodeBadRequest ||
			got.reply(t).OK || got.reply(t).Error == "" {
			t.Errorf("%s %s: %d %.120s, want 400 %s", c.method, c.target, got.code, got.body,
				CodeBadRequest)
		}
	}
	mutex.Lock()
	reached := fmt.Sprint(settlements, chains)
	mutex.Unlock()
	if reached != "[] []" || depthReads.Load() != 0 || len(fake.eventList()) != 0 {
		t.Fatalf("refused queries reached sources: settlement and chain %s, %d depth reads, "+
			"events %v", reached, depthReads.Load(), fake.eventList())
	}

	// Served: partner repeated (a list), an escaped "#" (a character of the value), the
	// actions without a query or with an empty one.
	served := []struct{ method, target, body string }{
		{"GET", PathSettlement + "?partner=5&partner=6&until=now%23&from=2026-01-01", ""},
		{"GET", PathChain + "?until=now&shard=1&anchor_op=3", ""},
		{"GET", PathDepth + "?instrument=7&levels=1", ""},
		{"POST", PathLogLevel + "?level=debug", ""},
		{"POST", PathPromote + "?", ""},
		{"POST", PathRiskSet, rule},
		{"POST", PathRiskRemove, remove},
	}
	for _, c := range served {
		if got := send(c.method, c.target, c.body); got.code != http.StatusOK {
			t.Errorf("%s %s: %d %.120s, want 200", c.method, c.target, got.code, got.body)
		}
	}
	mutex.Lock()
	reached = fmt.Sprint(settlements, chains)
	mutex.Unlock()
	if want := "[{[5 6] 2026-01-01 now# 10000}] [{ now 3 1}]"; reached != want {
		t.Errorf("sources were asked %s, want %s", reached, want)
	}
	if depthReads.Load() != 1 {
		t.Errorf("%d depth reads, want 1", depthReads.Load())
	}
	want := "[audit:log-level log-level:debug audit:promote promote audit:risk-set " +
		"risk-set audit:risk-remove risk-remove]"
	if events := fmt.Sprint(fake.eventList()); events != want {
		t.Errorf("events %s, want %s", events, want)
	}
}
