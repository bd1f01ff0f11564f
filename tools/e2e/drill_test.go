package e2e

import (
	"encoding/json"
	"flag"
	"strconv"
	"strings"
	"testing"
)

var drillCycles = flag.Int("e2e.drillcycles", 2, "failover cycles of each TestDrill mode")

// TestDrill runs `sequent drill` (real primary and standby processes, SIGKILL or SIGSTOP,
// promotion, rejoin) in both modes and requires its verdict: nothing acknowledged lost,
// nothing applied twice, both replicas at the same state; with the stop fault, each
// resumed old primary found itself fenced without having released anything its standby
// had not acknowledged (the drill lists that as a problem otherwise).
func TestDrill(t *testing.T) {
	for _, mode := range []string{"manual", "automatic", "automatic-stop"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"drill", "--json", "--cycles", strconv.Itoa(*drillCycles),
				"--dir", t.TempDir(), "--seed", "7"}
			if strings.HasPrefix(mode, "automatic") {
				args = append(args, "--automatic")
			}
			if strings.HasSuffix(mode, "-stop") {
				args = append(args, "--fault", "stop")
			}
			output, err := run(t, args...)
			var report struct {
				Cycles       int  `json:"cycles"`
				Acknowledged int  `json:"acknowledged"`
				Lost         int  `json:"lost"`
				Duplicated   int  `json:"duplicated"`
				DigestsEqual bool `json:"digests_equal"`
				OK           bool `json:"ok"`
				RTOMs        struct {
					P50 float64 `json:"p50"`
					Max float64 `json:"max"`
				} `json:"rto_ms"`
				CycleReports []struct {
					Fault    string  `json:"fault"`
					FencedMs float64 `json:"fenced_ms"`
				} `json:"cycle_reports"`
			}
			if jsonErr := json.Unmarshal([]byte(firstJSONObject(output)), &report); jsonErr != nil {
				t.Fatalf("drill output: %v\n%s", jsonErr, output)
			}
			if err != nil || !report.OK || report.Lost != 0 || report.Duplicated != 0 ||
				!report.DigestsEqual || report.Acknowledged == 0 {
				t.Fatalf("drill: %v\n%s", err, output)
			}
			for i, cycle := range report.CycleReports {
				if strings.HasSuffix(mode, "-stop") && (cycle.Fault != "stop" || cycle.FencedMs <= 0) {
					t.Fatalf("cycle %d: fault %q, fenced after %.0f ms\n%s", i+1, cycle.Fault,
						cycle.FencedMs, output)
				}
			}
			t.Logf("%s: %d cycles, %d acknowledged, RTO p50 %.0f ms max %.0f ms", mode,
				report.Cycles, report.Acknowledged, report.RTOMs.P50, report.RTOMs.Max)
		})
	}
}

// firstJSONObject returns the first JSON object in the output (the drill prints progress
// lines and errors on stderr, which run() merges around it).
func firstJSONObject(output string) string {
	start := strings.IndexByte(output, '{')
	if start < 0 {
		return output
	}
	var object json.RawMessage
	if err := json.NewDecoder(strings.NewReader(output[start:])).Decode(&object); err != nil {
		return output[start:]
	}
	return string(object)
}
