package wal

import (
	"testing"
)

// TestRoundTrip appends entries of every kind (tiny raw, large random, compressible
// transfer records) across several segments, reopens the log, and reads everything back:
// every entry must come back identical and in order, and the log must continue where it
// stopped.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	last := appendEntries(t, l, 1000)
	waitDurable(t, l, last)
	chain := l.LastChain()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if l.LastOp() != last || l.Durable() != last || l.FirstOp() != 1 {
		t.Fatalf("reopened: first %d last %d durable %d, want 1, %d, %d",
			l.FirstOp(), l.LastOp(), l.Durable(), last, last)
	}
	if l.LastChain() != chain {
		t.Fatal("chain changed across reopen")
	}
	if len(l.segments) < 3 {
		t.Fatalf("%d segments: the test must roll segments", len(l.segments))
	}
	entries, readLast := readAll(t, l, 0)
	if entries != 1000 || readLast != last {
		t.Fatalf("read %d entries up to op %d, want 1000 up to %d", entries, readLast, last)
	}
	last = appendEntries(t, l, 10)
	waitDurable(t, l, last)
	if _, readLast = readAll(t, l, 0); readLast != last {
		t.Fatalf("after more appends read up to %d, want %d", readLast, last)
	}
}

// TestLatencies checks the write and sync distributions after some group commits: every
// quantile is set and ordered, and the mean (a Prometheus summary's sum is mean × count)
// lies between the smallest and the largest value.
func TestLatencies(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	waitDurable(t, l, appendEntries(t, l, 50))
	write, sync := l.Latencies()
	for name, q := range map[string]LatencyQuantiles{"write": write, "sync": sync} {
		if q.Count == 0 || q.P50 <= 0 || q.P90 < q.P50 || q.P99 < q.P90 || q.P999 < q.P99 ||
			q.Max < q.P999 {
			t.Errorf("%s quantiles not set or not ordered: %+v", name, q)
		}
		if q.Mean < 1 || q.Mean > float64(q.Max) {
			t.Errorf("%s mean %v outside [1, %d]", name, q.Mean, q.Max)
		}
	}
}
