package deploy

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"sequent/netio/ops"
)

// TestWitnessRunbookStatusPathsShowWhatTheySay (review of session 39): the
// SequentWitnessAnswerRefused runbook sends the operator to /v1/status through jq paths
// and says what they show: the pin, the signed-replies ratchet and the refusals by
// reason. Each path must exist in the status a node serves, and together they must
// show all three; on main the one path given, .replication.witness, holds no refusal
// (they are in .replication.witness_refused), so the page's first step finds no count.
func TestWitnessRunbookStatusPathsShowWhatTheySay(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	runbook := ""
	for _, rule := range rules {
		if rule.Alert == "SequentWitnessAnswerRefused" {
			runbook = rule.Annotations["runbook"]
		}
	}
	if runbook == "" {
		t.Fatal("no SequentWitnessAnswerRefused runbook")
	}
	snapshot := ops.Snapshot{Replication: ops.ReplicationStats{
		WitnessRefused: ops.WitnessRefusals{Forged: 1, Identity: 2, Unsigned: 3, Downgrade: 4},
		Witness: &ops.WitnessStats{Pinned: true, PinnedID: "w", SignedRequired: true,
			SignedRequiredSinceUnixMs: 1, RatchetPath: "/data/witness-signed"}}}
	encoded, err := json.Marshal(ops.Status{Snapshot: snapshot})
	if err != nil {
		t.Fatal(err)
	}
	var document any
	if err := json.Unmarshal(encoded, &document); err != nil {
		t.Fatal(err)
	}
	paths := regexp.MustCompile(`jq '?(\.[a-z_.]+)`).FindAllStringSubmatch(runbook, -1)
	if len(paths) == 0 {
		t.Fatalf("the runbook gives no jq path: %s", runbook)
	}
	shown := map[string]bool{}
	for _, path := range paths {
		value := document
		for _, key := range strings.Split(strings.TrimPrefix(path[1], "."), ".") {
			object, ok := value.(map[string]any)
			if !ok || object[key] == nil {
				t.Fatalf("jq %s: no %q in the status", path[1], key)
			}
			value = object[key]
		}
		object, ok := value.(map[string]any)
		if !ok {
			t.Fatalf("jq %s: %v, want an object", path[1], value)
		}
		for key := range object {
			shown[key] = true
		}
	}
	for _, field := range []string{"pinned", "signed_required", "ratchet_path", "forged",
		"identity", "unsigned", "downgrade"} {
		if !shown[field] {
			t.Errorf("the runbook says its status paths show the pin, the ratchet and the "+
				"refusals by reason; %q is in none of %v", field, paths)
		}
	}
}
