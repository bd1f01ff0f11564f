package bench

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestReportEchoesLoneReads_review52c — review of client52, claim (3): `sequent bench
// --lone-reads` is measured against runs without it (bench/PERFORMANCE.md, session 52:
// alternated sets off/on), but the report, which "echoes the settings of the run"
// (ReportConfig), did not say which a run was: two reports of an alternated set could
// not be told apart. Method: a lone run's report, as JSON, must carry lone_reads.
func TestReportEchoesLoneReads_review52c(t *testing.T) {
	h := newHarness(t, lieNone)
	config := h.config()
	config.Connections, config.Inflight, config.Events = 1, 1, 2
	config.Count, config.RunID, config.LoneReads = 10, 301, true
	report := &runOrFail(t, config).Report
	encoded, err := json.Marshal(&report.Config)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(encoded), `"lone_reads":true`) {
		t.Fatalf("the report's settings do not say the run read lone: %s", encoded)
	}
}
