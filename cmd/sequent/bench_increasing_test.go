package main

import (
	"strconv"
	"strings"
	"testing"

	"sequent/core/shardmap"
)

// TestBenchClientOrderIDsIncreasing: `sequent bench --mix orders
// --client-order-ids-increasing` opts the traders' trading accounts in, and two runs
// against one node (the second with a larger run id, as the clock gives) both run clean:
// their ids climb across runs, so none is refused client_order_id_not_increasing. Then a
// place of trader 0's trading account (1) under a low key is refused: the opt-in took.
func TestBenchClientOrderIDsIncreasing(t *testing.T) {
	running, keys, _ := startDevNode(t, shardmap.Spec{})
	common := []string{"--addr", running.server.Address(), "--keys", keys, "--http", ""}
	for _, runID := range []uint64{1 << 40, 1 << 41} {
		stdout, stderr, err := runBenchCommand(t, append([]string{"--json", "--quiet",
			"--mix", "orders", "--client-order-ids-increasing", "--run-id",
			strconv.FormatUint(runID, 10), "--connections", "2", "--inflight", "2",
			"--events", "8", "--accounts", "8", "--count", "200", "--warmup", "0s"},
			common...)...)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", runID, err, stderr)
		}
		report := decodeReport(t, stdout)
		if !report.InvariantOK || report.RequestsFailed != 0 || report.Results["ok"] == 0 ||
			report.Results["client_order_id_not_increasing"] != 0 {
			t.Fatalf("run %d: invariant %v (%v), failed %d, results %v", runID,
				report.InvariantOK, report.Invariant.Problems, report.RequestsFailed,
				report.Results)
		}
	}
	// The bench's instrument is derived from the seed; a refusal for the key comes
	// before any check of the instrument (precedence: PROTOCOL.md), so a made-up one
	// shows whether trading account 1 is opted in.
	output, err := runClient(t, "order", "place", "--client-order-id", "5", "--account",
		"1", "--instrument", "1", "--side", "buy", "--price", "100", "--quantity", "1",
		"--base-account", "2", "--quote-account", "1", "--addr", running.server.Address(),
		"--keys", keys)
	if err == nil || !strings.Contains(output, "client_order_id_not_increasing") {
		t.Fatalf("low key after the runs: %v\n%s", err, output)
	}
}
