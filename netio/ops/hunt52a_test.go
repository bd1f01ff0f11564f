package ops

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestHunt52aTwoAuthorizationHeadersAreRefused: a request with two Authorization headers
// was authorized by the first alone (fasthttp's Peek), so "Bearer <alice's token>" then
// "Bearer junk" ran the action, audited as alice. Authorization is a single-value field
// (RFC 9110 §11.6.2); a proxy in front that checks or logs the last one (or both) sees
// another credential, or another holder, than the one the action was audited under. Every
// route that takes a token now refuses two of them, whatever their order or case, as a
// token not accepted (403), and runs and audits nothing; one header still works.
func TestHunt52aTwoAuthorizationHeadersAreRefused(t *testing.T) {
	fake := newFakeSources()
	sources := fake.sources()
	sources.Settlement = func(context.Context, SettlementQuery) (any, error) {
		_ = fake.act("settlement")
		return struct{}{}, nil
	}
	sources.Reconcile = func(context.Context) (any, error) {
		_ = fake.act("reconcile")
		return struct{}{}, nil
	}
	sources.RiskRules = func() ([]model.RiskRule, error) {
		_ = fake.act("risk-rules")
		return nil, nil
	}
	sources.RiskRemove = func(ids []uint32) ([]RiskOutcome, error) {
		_ = fake.act("risk-remove")
		return make([]RiskOutcome, len(ids)), nil
	}
	server := startServer(t, Config{Tokens: TokenChecker(testTokens),
		RequestsPerSecondPerAddress: -1}, sources)
	routes := []struct{ method, target, body string }{
		{"POST", PathSnapshot, ""},
		{"POST", PathLogLevel + "?level=debug", ""},
		{"POST", PathRiskRemove, `{"ids":[3]}`},
		{"GET", PathRiskRules, ""},
		{"GET", PathSettlement + "?partner=1&until=now", ""},
		{"GET", PathReconcile, ""},
	}
	alice, bob := "Bearer "+testTokens["alice"], "Bearer "+testTokens["bob"]
	pairs := [][2]string{{alice, "Bearer junk"}, {"Bearer junk", alice}, {alice, bob},
		{"Basic YWxpY2U6eA==", alice}, {alice, ""}}
	send := func(method, target, body string, values ...string) response {
		head := method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		for i, value := range values {
			name := "Authorization"
			if i == 1 {
				name = "authorization" // Header names are case-insensitive.
			}
			head += name + ": " + value + "\r\n"
		}
		if body != "" {
			head += "Content-Type: application/json\r\n"
		}
		return rawSend(t, server, head+"Content-Length: "+strconv.Itoa(len(body))+"\r\n", body)
	}
	for _, route := range routes {
		for _, pair := range pairs {
			got := send(route.method, route.target, route.body, pair[0], pair[1])
			if got.code != http.StatusForbidden || got.reply(t).Code != CodeForbidden {
				t.Errorf("%s %s with Authorization %q and %q: %d %.100s, want 403 %s",
					route.method, route.target, pair[0], pair[1], got.code, got.body,
					CodeForbidden)
			}
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Fatalf("requests with two Authorization headers ran or audited: %v", events)
	}
	for _, route := range routes {
		if got := send(route.method, route.target, route.body, alice); got.code != http.StatusOK {
			t.Errorf("%s %s with one Authorization header: %d %.100s, want 200",
				route.method, route.target, got.code, got.body)
		}
	}
}

// TestHunt52aRiskAuditDetailNamesOnlyRequestedIDs: a risk-set or risk-remove's audit
// detail ("ids=…") was cut by AuditRecord.Encode at detailBytesMax bytes wherever that fell, so a request of
// model.RiskRulesPerRequestMax rules with ten-digit ids left an audit record that named
// a part of an id ("ids=4000000000,…,40000") as changed — an id nobody asked for — and
// left the rest out without a word. The detail now lists whole ids only, and says how
// many it leaves out when they do not all fit.
func TestHunt52aRiskAuditDetailNamesOnlyRequestedIDs(t *testing.T) {
	fake := newFakeSources()
	sources := fake.sources()
	sources.RiskRemove = func(ids []uint32) ([]RiskOutcome, error) {
		return make([]RiskOutcome, len(ids)), nil
	}
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, sources)
	for _, count := range []int{1, 36, model.RiskRulesPerRequestMax} {
		requested := map[string]bool{}
		texts := make([]string, count)
		for i := range texts {
			texts[i] = strconv.FormatUint(4_000_000_000+uint64(i), 10)
			requested[texts[i]] = true
		}
		got := call(t, nil, http.MethodPost, "http://"+server.Address()+PathRiskRemove,
			testTokens["alice"], []byte(`{"ids":[`+strings.Join(texts, ",")+`]}`),
			map[string]string{"Content-Type": "application/json"})
		if got.code != http.StatusOK {
			t.Fatalf("remove %d ids: %d %s", count, got.code, got.body)
		}
		// What the log keeps: the record as Encode writes it.
		records := fake.auditRecords()
		logged, err := DecodeAuditRecord(records[len(records)-1].Encode())
		if err != nil {
			t.Fatal(err)
		}
		detail := logged.Detail
		list, more, _ := strings.Cut(strings.TrimPrefix(detail, "ids="), " ")
		named := strings.Split(list, ",")
		for _, id := range named {
			if !requested[id] {
				t.Errorf("%d ids: the audit detail %q names id %q, not one removed", count,
					detail, id)
			}
		}
		left := count - len(named)
		wantMore := ""
		if left > 0 {
			wantMore = "(+" + strconv.Itoa(left) + " more)"
		}
		if more != wantMore {
			t.Errorf("%d ids: the audit detail %q names %d and ends %q, want %q", count,
				detail, len(named), more, wantMore)
		}
	}
}

// TestHunt52aSharedTokenNamesNoOne: two names holding the same token (the keys file
// allows it) made TokenChecker name whichever came last in its map's random order, and
// the node builds a checker per request, so one token's actions were audited under
// either name from one request to the next. A token that more than one name holds now
// names no one: it is refused, as a token the checker cannot attribute; the others still
// name their holders.
func TestHunt52aSharedTokenNamesNoOne(t *testing.T) {
	tokens := map[string]string{"alice": "shared-token", "bob": "shared-token",
		"carol": "carol-token", "dave": "dave-token", "erin": "erin-token"}
	seen := map[string]bool{}
	for range 64 { // A checker per request, as the node builds them.
		check := TokenChecker(tokens)
		if who, ok := check("shared-token"); ok {
			seen[who] = true
		}
		if who, ok := check("carol-token"); !ok || who != "carol" {
			t.Fatalf("carol's token: %q %v", who, ok)
		}
	}
	if len(seen) != 0 {
		t.Fatalf("a token two names hold was accepted as %v", seen)
	}
}

// TestHunt52aRiskBodyKeysAreReadOnce: the risk bodies were decoded by encoding/json,
// which keeps the last of two equal keys and matches a key to a field whatever its case
// ("IDS", "Account", even "ſcope" with U+017F), so {"ids":[1],"ids":[2]} removed rule 2
// and {"rules":[{…,"account":"7","Account":"8"}]} blocked account 8, where a proxy, a log
// or a reviewer reading the body as JSON (keys distinct, case significant) sees rule 1
// and account 7; log-level's body was already held to one exact key (parseLevelBody).
// Now a body with a key given twice, or not exactly as the field is named, is 400 and
// nothing is audited or run.
func TestHunt52aRiskBodyKeysAreReadOnce(t *testing.T) {
	fake := newFakeSources()
	sources := fake.sources()
	sources.RiskRemove = func(ids []uint32) ([]RiskOutcome, error) {
		_ = fake.act("risk-remove")
		return make([]RiskOutcome, len(ids)), nil
	}
	sources.RiskSet = func(rules []model.RiskRule) ([]RiskOutcome, error) {
		_ = fake.act("risk-set")
		return make([]RiskOutcome, len(rules)), nil
	}
	server := startServer(t, Config{Tokens: TokenChecker(testTokens),
		RequestsPerSecondPerAddress: -1}, sources)
	jsonType := map[string]string{"Content-Type": "application/json"}
	send := func(path, body string) response {
		return call(t, nil, http.MethodPost, "http://"+server.Address()+path,
			testTokens["alice"], []byte(body), jsonType)
	}
	rule := `"id":1,"kind":"blocked","scope":"account"`
	refused := []struct{ path, body string }{
		{PathRiskRemove, `{"ids":[1],"ids":[2]}`},
		{PathRiskRemove, `{"IDS":[2]}`},
		{PathRiskRemove, `{"Ids":[2]}`},
		{PathRiskSet, `{"rules":[{` + rule + `,"account":"7"}],"rules":[{` + rule + `,"account":"8"}]}`},
		{PathRiskSet, `{"rules":[{` + rule + `,"account":"7","Account":"8"}]}`},
		{PathRiskSet, `{"rules":[{` + rule + `,"account":"7","account":"8"}]}`},
		{PathRiskSet, `{"rules":[{"id":1,"kind":"blocked","ſcope":"account","account":"7"}]}`},
		{PathRiskSet, `{"Rules":[{` + rule + `,"account":"7"}]}`},
	}
	for _, r := range refused {
		if got := send(r.path, r.body); got.code != http.StatusBadRequest {
			t.Errorf("%s %s: %d %.100s, want 400", r.path, r.body, got.code, got.body)
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Fatalf("bodies with a key twice or in another case ran: %v", events)
	}
	for _, r := range []struct{ path, body string }{
		{PathRiskRemove, `{"ids":[1,2]}`},
		{PathRiskSet, `{"rules":[{` + rule + `,"account":"7"},{"id":2,"kind":"blocked",` +
			`"scope":"account","account":"8"}]}`},
	} {
		if got := send(r.path, r.body); got.code != http.StatusOK {
			t.Errorf("%s %s: %d %.100s, want 200", r.path, r.body, got.code, got.body)
		}
	}
}
