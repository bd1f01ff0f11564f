package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sequent/core/model"
	"sequent/netio/ops"
)

// TestReview52aRiskSetReadsTheRuleFileAsStrictlyAsTheServer: hunt52a made the server
// refuse risk bodies with a key given twice or not spelled as the field is
// (TestHunt52aRiskBodyKeysAreReadOnce), because encoding/json keeps the last of two keys
// and folds case, so a reviewer reading the JSON saw other accounts than were applied.
// `sequent admin risk set FILE`, the documented way to send those bodies, read its rule
// file with that same lenient encoding/json and re-encoded it, so the server only ever
// saw a clean body: a reviewed rule file naming account 7 (then, further on, 8 under the
// same key, or under "Account") blocked account 8, a bare list silently dropped a
// misspelt field, and {"rules":[…]} ignored anything after the first object. The same
// bug by another path: the CLI must refuse what the server would refuse (a usage error,
// nothing sent), and still send a well-formed file of either form.
func TestReview52aRiskSetReadsTheRuleFileAsStrictlyAsTheServer(t *testing.T) {
	var mutex sync.Mutex
	var applied []string
	sources := ops.Sources{
		Snapshot: func() ops.Snapshot { return ops.Snapshot{Version: "test"} },
		Audit:    func(ops.AuditRecord) error { return nil },
		RiskSet: func(rules []model.RiskRule) ([]ops.RiskOutcome, error) {
			mutex.Lock()
			defer mutex.Unlock()
			for _, rule := range rules {
				applied = append(applied, rule.Account.String())
			}
			return make([]ops.RiskOutcome, len(rules)), nil
		},
	}
	server := startOpsTestServer(t, sources)
	taken := func() []string {
		mutex.Lock()
		defer mutex.Unlock()
		result := applied
		applied = nil
		return result
	}
	file := filepath.Join(t.TempDir(), "rules.json")
	set := func(content string) (string, error) {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return runAdmin(t, "risk", "set", file, "--http", server.Address(), "--token",
			adminTestToken)
	}
	rule := `"id":1,"kind":"blocked","scope":"account"`
	for _, content := range []string{
		`{"rules":[{` + rule + `,"account":"7","account":"8"}]}`,
		`{"rules":[{` + rule + `,"Account":"8"}]}`,
		`{"Rules":[{` + rule + `,"account":"8"}]}`,
		`{"rules":[{` + rule + `,"account":"7"}],"rules":[{` + rule + `,"account":"8"}]}`,
		`[{` + rule + `,"account":"7","account":"8"}]`,
		`[{` + rule + `,"ACCOUNT":"8"}]`,
		`[{` + rule + `,"account":"8","acount":"7"}]`,
		`{"rules":[{` + rule + `,"account":"8"}]} {"rules":[{` + rule + `,"account":"7"}]}`,
	} {
		out, err := set(content)
		if err == nil || !isUsage(err) {
			t.Errorf("rule file %s: %q %v, want a usage error", content, out, err)
		}
		if got := taken(); len(got) != 0 {
			t.Errorf("rule file %s: applied accounts %v, want none", content, got)
		}
	}
	for _, content := range []string{
		`{"rules":[{` + rule + `,"account":"8"}]}`,
		"[{" + rule + `,"account":"8"}]` + "\n",
	} {
		if out, err := set(content); err != nil || !strings.Contains(out, "rule 1: ok") {
			t.Errorf("rule file %s: %q %v, want rule 1 ok", content, out, err)
		}
		if got := taken(); len(got) != 1 || got[0] != "8" {
			t.Errorf("rule file %s: applied accounts %v, want [8]", content, got)
		}
	}
}
