package shard

import (
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"

	"sequent/core/model"
)

// TestLatencyRunsRecordEveryRequest: latencies recorded in runs of equal values (as a
// release of one entry records them) reach the histograms exactly as one by one,
// whichever way the runs break (a new value, a new operation, the end of a release),
// and a reader sees every request recorded once the release has unlocked.
func TestLatencyRunsRecordEveryRequest(t *testing.T) {
	type release struct {
		operation   model.Operation
		nanoseconds int64
	}
	releases := [][]release{
		{{model.OperationCreateTransfers, 1_500}, {model.OperationCreateTransfers, 1_500},
			{model.OperationCreateTransfers, 1_500}, {model.OperationCreateTransfers, 2_700},
			{model.OperationLookupAccounts, 2_700}, {model.OperationCreateTransfers, 2_700}},
		{{model.OperationCreateTransfers, 2_700}, {model.OperationCreateTransfers, 2_700}},
		{{model.OperationCreateTransfers, 90}, {model.OperationCreateTransfers, 9_000_000}},
	}
	var s Shard
	want := map[model.Operation]*hdrhistogram.Histogram{}
	count := 0
	for _, replies := range releases {
		s.latencies.lock()
		for _, reply := range replies {
			s.latencies.record(reply.operation, model.StatusOK, reply.nanoseconds)
			if want[reply.operation] == nil {
				want[reply.operation] = hdrhistogram.New(latencyMicrosecondsMin,
					latencyMicrosecondsMax, latencySignificantDigits)
			}
			microseconds := max(reply.nanoseconds/1000, latencyMicrosecondsMin)
			if err := want[reply.operation].RecordValue(microseconds); err != nil {
				t.Fatal(err)
			}
			count++
		}
		s.latencies.unlock()
		// A reader between releases sees every request released so far.
		latencies, statuses := s.Latencies()
		total := int64(0)
		for _, summary := range latencies {
			total += summary.Count
		}
		if total != int64(count) || statuses[model.StatusOK.String()] != uint64(count) {
			t.Fatalf("after %d requests released: %d latencies, %d statuses", count, total,
				statuses[model.StatusOK.String()])
		}
	}
	got := s.LatencyHistograms()
	if len(got) != len(want) {
		t.Fatalf("%d operations recorded, want %d", len(got), len(want))
	}
	for operation, histogram := range want {
		snapshot := got[operation.String()]
		if snapshot == nil || !hdrhistogram.Import(snapshot).Equals(histogram) {
			t.Fatalf("%s: histogram differs from the one recorded one by one", operation)
		}
	}
}
