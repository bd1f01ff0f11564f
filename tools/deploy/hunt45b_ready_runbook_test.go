package deploy

import (
	"strings"
	"testing"

	"sequent/netio/ops"
)

// TestPrimaryNotReadyRunbookNamesEveryReason (hunt45b): SequentPrimaryNotReady pages
// for a primary whose /readyz answers 503, and its runbook lists the reasons to look
// for. A primary's reasons are every Ready* code but not_primary and no_shards (a primary
// has shards); the list lacked log_full, the reason of a full disk, the
// one case where the page's own step 2 gave no next alert.
func TestPrimaryNotReadyRunbookNamesEveryReason(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range rules {
		if rule.Alert != "SequentPrimaryNotReady" {
			continue
		}
		text := rule.Annotations["description"] + "\n" + rule.Annotations["runbook"]
		for _, code := range []string{ops.ReadyLogNotOpen, ops.ReadyLogFailed, ops.ReadyLogFull,
			ops.ReadyStandbyNotAcknowledging} {
			if !strings.Contains(rule.Annotations["runbook"], code) {
				t.Errorf("the runbook does not name the reason %s:\n%s", code, text)
			}
		}
		return
	}
	t.Fatal("no SequentPrimaryNotReady rule")
}
