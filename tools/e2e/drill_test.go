package e2e

import (
	"encoding/json"
	"flag"
	"strconv"
	"strings"
	"testing"
)

var drillCycles = flag.Int("e2e.drillcycles", 2, "failover cycles of each TestDrill mode")

// TestDrill runs `sequent drill` (real primary and standby processes, SIGKILL, promotion,
// rejoin) in both modes and requires its verdict: nothing acknowledged lost, nothing
// applied twice, both replicas at the same state.
func TestDrill(t *testing.T) {
	for _, mode := range []string{"manual", "automatic"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"drill", "--json", "--cycles", strconv.Itoa(*drillCycles),
				"--dir", t.TempDir(), "--seed", "7"}
			if mode == "automatic" {
				args = append(args, "--automatic")
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
			}
			if jsonErr := json.Unmarshal([]byte(firstJSONObject(output)), &report); jsonErr != nil {
				t.Fatalf("drill output: %v\n%s", jsonErr, output)
			}
			if err != nil || !report.OK || report.Lost != 0 || report.Duplicated != 0 ||
				!report.DigestsEqual || report.Acknowledged == 0 {
				t.Fatalf("drill: %v\n%s", err, output)
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
