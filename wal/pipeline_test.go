package wal

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"sequent/core/invariants"
)

// TestGroupCommit holds the writer inside its first group (the observer blocks until
// released), queues more entries meanwhile, then lets it go: every entry queued during
// the first write must go out in one second group, with one fdatasync.
func TestGroupCommit(t *testing.T) {
	l := openTest(t, t.TempDir(), func(o *Options) { o.PipelineDepth = 16 })
	defer l.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	l.SetObserver(func(stored []byte, meta EntryMeta) {
		if first {
			first = false
			close(entered)
			<-release
		}
	})
	appendEntries(t, l, 1)
	<-entered
	last := appendEntries(t, l, 15)
	close(release)
	waitDurable(t, l, last)
	stats := l.Stats()
	if stats.Groups != 2 || stats.Syncs != 2 || stats.Entries != 16 {
		t.Fatalf("stats %+v, want 16 entries in 2 groups with 2 syncs", stats)
	}
	readAll(t, l, 0)
}

// TestSyncPolicies checks what each policy does: SyncEvery syncs every group before
// publishing it; SyncInterval publishes only at syncs, which a timer triggers even when
// no more entries come; SyncNone never syncs but publishes what it wrote. Close syncs
// under every policy, so a reopened log holds everything.
func TestSyncPolicies(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncEvery, SyncInterval, SyncNone} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, func(o *Options) { o.Sync = policy })
			var last uint64
			for range 50 {
				last = appendEntries(t, l, 1)
				waitDurable(t, l, last)
			}
			stats := l.Stats()
			switch policy {
			case SyncEvery:
				if stats.Syncs != stats.Groups {
					t.Fatalf("SyncEvery: %d syncs for %d groups", stats.Syncs, stats.Groups)
				}
			case SyncInterval:
				if stats.Syncs == 0 || stats.Syncs > stats.Groups {
					t.Fatalf("SyncInterval: %d syncs for %d groups", stats.Syncs, stats.Groups)
				}
			case SyncNone:
				if stats.Syncs != stats.Rolls {
					t.Fatalf("SyncNone: %d syncs with %d rolls", stats.Syncs, stats.Rolls)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTest(t, dir)
			defer l.Close()
			if _, readLast := readAll(t, l, 0); readLast != last {
				t.Fatalf("reopened log ends at %d, want %d", readLast, last)
			}
		})
	}
}

// TestAppendAllocations checks the steady state allocates nothing: once slot buffers
// have grown, an Append of a compressible body and its whole trip through encoder,
// writer and fdatasync must not allocate (runtime-wide count, so it covers the other
// goroutines too).
func TestAppendAllocations(t *testing.T) {
	if invariants.Enabled {
		t.Skip("invariant checks allocate")
	}
	l := openTest(t, t.TempDir())
	defer l.Close()
	entry := entryFor(4) // compressible transfer records
	entry.Body = append(entry.Body, entryFor(8).Body...)
	big := append([]byte(nil), transfersBody(newRand(3), 1, 1000)...) // offloaded to encoders
	next := uint64(1)
	appendOne := func(body []byte) {
		e := Entry{Epoch: 1, FirstOp: next, Count: 1, Timestamp: next, Body: body}
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
		for l.Durable() < next {
			<-l.DurableNotify()
		}
		next++
	}
	for range 3 * PipelineDepthDefault { // grow every slot's buffers
		appendOne(entry.Body)
		appendOne(big)
	}
	allocations := testing.AllocsPerRun(50, func() {
		appendOne(entry.Body)
		appendOne(big)
	})
	if allocations > 0 {
		t.Fatalf("%.1f allocations per two appends, want 0", allocations)
	}
}

// TestLoneEntriesReuseTheLastSlotsBuffers holds Append to the buffers of the slot written
// last when nothing is queued (one entry at a time: their lines are still in the cache,
// where the next slot's have not been touched for PipelineDepth entries), and the log to
// reading back every entry intact whether the buffers were handed on or not.
func TestLoneEntriesReuseTheLastSlotsBuffers(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	random := rand.New(rand.NewPCG(3, 4))
	var bodies [][]byte
	appendOne := func() uint64 {
		op := l.LastOp() + 1
		body := transfersBody(random, op, 1000) // 128 KB, compressed by an encoder
		if err := l.Append(Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op,
			Body: body}); err != nil {
			t.Fatalf("append at op %d: %v", op, err)
		}
		bodies = append(bodies, body)
		return op
	}
	var lastBuffer, lastCompressed *byte
	for range 3 {
		op := appendOne()
		waitDurable(t, l, op)
		s := l.pipeline.slot(l.pipeline.produced.Load() - 1)
		if s.codec == CodecNone {
			t.Fatalf("entry at op %d was not compressed: the test needs both buffers", op)
		}
		if lastBuffer != nil && (&s.buffer[0] != lastBuffer || &s.compressed[0] != lastCompressed) {
			t.Fatalf("entry at op %d was copied into new buffers, not the last slot's", op)
		}
		lastBuffer, lastCompressed = &s.buffer[0], &s.compressed[0]
	}
	// Queued behind each other: each slot keeps its own buffers while it is in use.
	op := uint64(0)
	for range 2 * PipelineDepthDefault {
		op = appendOne()
	}
	waitDurable(t, l, op)
	next := uint64(1)
	if err := l.Read(0, func(e *Entry) error {
		if e.FirstOp != next || !bytes.Equal(e.Body, bodies[next-1]) {
			t.Fatalf("entry at op %d (want %d) differs from what was appended", e.FirstOp, next)
		}
		next++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if next != op+1 {
		t.Fatalf("read entries up to op %d, want %d", next-1, op)
	}
}
