package wal

import (
	"bytes"
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

// TestEncodeLatencyCountsLargeEntries: EncodeLatency counts one encoding per large entry
// (above encodeInlineBytesMax, taken by an encoder), not the small bodies the writer
// encodes itself, and its quantiles are set and ordered.
func TestEncodeLatencyCountsLargeEntries(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	if q := l.EncodeLatency(); q.Count != 0 {
		t.Fatalf("fresh log: %d encodings counted, want 0", q.Count)
	}
	const small, large = 20, 3
	last := appendEntries(t, l, small)
	body := bytes.Repeat([]byte("a large body, compressed by an encoder goroutine. "),
		2*encodeInlineBytesMax/50)
	for range large {
		last++
		if err := l.Append(Entry{Epoch: 1, FirstOp: last, Count: 1,
			Timestamp: 1_700_000_000_000_000_000 + last*1000, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, l, last)
	q := l.EncodeLatency()
	if q.Count != large {
		t.Fatalf("%d encodings counted, want %d (the large entries)", q.Count, large)
	}
	if q.P50 <= 0 || q.P90 < q.P50 || q.P99 < q.P90 || q.P999 < q.P99 || q.Max < q.P999 ||
		q.Mean < 1 || q.Mean > float64(q.Max) {
		t.Errorf("quantiles not set or not ordered: %+v", q)
	}
}
