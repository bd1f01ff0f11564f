package main

import (
	"encoding/json"
	"testing"

	"sequent/core/model"
)

// TestReportsJSONCarriesEachSequence: `sequent client reports --json` prints one row per
// report, and a script resumes with --from the last row's sequence + 1. The rows carried
// every field of the report but its sequence, and the JSON has no "replayed through"
// line (the text has): a script could not tell where to resume, nor see a gap (a first
// row above --from). The fake shard holds reports 1..3; --from 2 must print 2 and 3.
func TestReportsJSONCarriesEachSequence(t *testing.T) {
	address, path, backend, dev := startTestBackend(t)
	for order := uint64(1); order <= 3; order++ {
		body := make([]byte, model.ExecutionReportSize)
		(&model.ExecutionReport{OrderID: 100 + order}).Encode(body)
		backend.Report(dev.Client, body)
	}
	out, err := runClient(t, "--addr", address, "--keys", path, "--json",
		"reports", "--from", "2")
	if err != nil {
		t.Fatalf("reports --json: %v\n%s", err, out)
	}
	var rows []struct {
		Sequence *uint64 `json:"sequence"`
		OrderID  uint64  `json:"order_id"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("reports --json: %v\n%s", err, out)
	}
	if len(rows) != 2 {
		t.Fatalf("reports --json --from 2: %d rows, want 2:\n%s", len(rows), out)
	}
	for i, row := range rows {
		want := uint64(2 + i)
		if row.Sequence == nil || *row.Sequence != want || row.OrderID != 100+want {
			t.Errorf("row %d: %s, want sequence %d of order %d", i, out, want, 100+want)
		}
	}
}
