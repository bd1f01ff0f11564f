package ops

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestRiskActions: setting and removing rules need the admin token (nothing is audited
// or run without it), a strict JSON body (400 otherwise, naming the problem), and write
// the audit record (who, which ids) before the change; each rule's status comes back,
// and ok is false unless every rule was accepted. Listing needs the token too.
func TestRiskActions(t *testing.T) {
	fake := newFakeSources()
	sources := fake.sources()
	var set [][]model.RiskRule
	var removed [][]uint32
	rules := []model.RiskRule{{ID: 4, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger,
		Ledger: 1, Amount: model.U128(100), Timestamp: 9}}
	sources.RiskSet = func(r []model.RiskRule) ([]RiskOutcome, error) {
		_ = fake.act("risk-set")
		set = append(set, r)
		outcomes := make([]RiskOutcome, len(r))
		if len(r) > 1 {
			outcomes[1].Status = model.StatusRiskRuleConflict
		}
		return outcomes, nil
	}
	sources.RiskRemove = func(ids []uint32) ([]RiskOutcome, error) {
		_ = fake.act("risk-remove")
		removed = append(removed, ids)
		return []RiskOutcome{{Status: model.StatusRiskRuleNotFound, Shards: []RiskShardStatus{
			{Shard: 0, Status: model.StatusRiskRuleNotFound},
			{Shard: 1, Status: model.StatusRiskRuleNotFound}}}}, nil
	}
	sources.RiskRules = func() ([]model.RiskRule, error) { return rules, nil }
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, sources)
	base := "http://" + server.Address()
	jsonType := map[string]string{"Content-Type": "application/json"}
	body := []byte(`{"rules":[{"id":4,"kind":"max_amount","scope":"ledger","ledger":1,"amount":"100"},` +
		`{"id":5,"kind":"blocked","scope":"account","account":"7"}]}`)

	refusals := []struct {
		token  string
		body   string
		header map[string]string
		code   int
	}{
		{"", string(body), jsonType, 401},
		{"wrong", string(body), jsonType, 403},
		{testTokens["bob"], string(body), nil, 400},                              // Not JSON.
		{testTokens["bob"], `{"rules":[]}`, jsonType, 400},                       // No rule.
		{testTokens["bob"], `{"rules":[{"id":1,"kind":"nope"}]}`, jsonType, 400}, // Unknown kind.
		{testTokens["bob"], `{"rules":[],"extra":1}`, jsonType, 400},
		{testTokens["bob"], `{"rules":[{"id":1,"kind":"blocked","scope":"account","account":"x"}]}`,
			jsonType, 400},
	}
	for _, r := range refusals {
		result := call(t, nil, http.MethodPost, base+PathRiskSet, r.token, []byte(r.body), r.header)
		if result.code != r.code {
			t.Errorf("set %q with %q: %d %s, want %d", r.body, r.token, result.code, result.body, r.code)
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Fatalf("refused requests left events %v", events)
	}
	result := call(t, nil, http.MethodPost, base+PathRiskSet, testTokens["bob"], body, jsonType)
	reply := result.reply(t)
	want := []RiskRuleResult{{ID: 4, Status: "ok"}, {ID: 5, Status: "risk_rule_conflict", Code: 322}}
	if result.code != 200 || reply.OK || !reflect.DeepEqual(reply.Rules, want) {
		t.Fatalf("set: %d %s", result.code, result.body)
	}
	if events := fake.eventList(); !reflect.DeepEqual(events, []string{"audit:risk-set", "risk-set"}) {
		t.Fatalf("events %v: the audit record must come first", events)
	}
	if record := fake.auditRecords()[0]; record.Who != "bob" || record.Detail != "ids=4,5" {
		t.Fatalf("audit record %+v", record)
	}
	if len(set) != 1 || set[0][1].Kind != model.RiskBlocked || set[0][1].Account != model.U128(7) {
		t.Fatalf("rules handed to the shard: %+v", set)
	}
	result = call(t, nil, http.MethodPost, base+PathRiskRemove, testTokens["bob"],
		[]byte(`{"ids":[9]}`), jsonType)
	if reply := result.reply(t); result.code != 200 || reply.OK || reply.Rules[0].Status != "risk_rule_not_found" ||
		!reflect.DeepEqual(removed, [][]uint32{{9}}) {
		t.Fatalf("remove: %d %s", result.code, result.body)
	}
	// On a node of several shards each shard's answer is in the reply (and only there:
	// the set above, from one shard, has no "shards").
	if !strings.Contains(string(result.body), `"shards":[{"shard":0,"status":"risk_rule_not_found",`+
		`"code":324},{"shard":1,"status":"risk_rule_not_found","code":324}]`) {
		t.Fatalf("remove on two shards: %s", result.body)
	}
	if result := call(t, nil, http.MethodGet, base+PathRiskRules, "", nil, nil); result.code != 401 {
		t.Fatalf("list without a token: %d", result.code)
	}
	result = call(t, nil, http.MethodGet, base+PathRiskRules, testTokens["alice"], nil, nil)
	var listed RiskRules
	if err := json.Unmarshal(result.body, &listed); err != nil || result.code != 200 ||
		len(listed.Rules) != 1 || listed.Rules[0].Amount != "100" || listed.Rules[0].Timestamp != 9 {
		t.Fatalf("list: %d %s", result.code, result.body)
	}
}
