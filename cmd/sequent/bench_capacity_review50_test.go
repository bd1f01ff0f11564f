package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"sequent/bench"
)

// TestReview50BenchHelpCapacityBound: claim (review-bench50) — `sequent bench --help`
// says the default transfer capacity is "at least 2,097,152 transfers per shard and at
// most 8,388,608 over all shards", but on more than four shards the least per shard wins
// (--shards 8: 16,777,216 over all shards, ~2.4 GiB preallocated), so the help must say
// which bound gives way. Method: the default of a long closed-loop run on 8 shards, and
// the help's wording.
func TestReview50BenchHelpCapacityBound(t *testing.T) {
	config := bench.Config{Connections: 2, Inflight: 4, Events: 8189,
		Duration: time.Minute, Warmup: 2 * time.Second}
	const shards = 8
	total := bench.TransfersCapacityFor(config, shards) * shards
	if total <= bench.TransfersCapacityMax {
		t.Fatalf("%d shards: %d transfers in all, within the stated most", shards, total)
	}
	help := strings.Join(strings.Fields(newBenchCommand().Long), " ")
	want := fmt.Sprintf("%s each on more than %d shards", "2,097,152",
		bench.TransfersCapacityMax/bench.TransfersCapacityMin)
	if !strings.Contains(help, want) {
		t.Fatalf("--shards %d gives %d transfers in all, above the help's most over all "+
			"shards, and the help does not say so (%q)", shards, total, want)
	}
}
