package wal

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

var loneSeed = flag.Uint64("lone-seed", 1, "seed of TestLoneEntriesReachFollowersIntact")

// followAll drains tail until it has handed over op last, checking each entry's body
// against bodies (indexed by op - 1), and returns what went wrong ("" when nothing).
func followAll(l *Log, tail *Tail, bodies [][]byte, last uint64) string {
	defer tail.Close()
	deadline := time.After(waitMax) // A hang guard, not a timing assertion.
	for tail.Position() < last {
		_, err := tail.Drain(func(stored []byte, meta EntryMeta) error {
			// A new buffer each time: a raw body aliases stored, which must not be written.
			entry, _, err := DecodeStored(stored, nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(entry.Body, bodies[entry.FirstOp-1]) {
				return fmt.Errorf("op %d: the body handed over differs from the appended one",
					entry.FirstOp)
			}
			return nil
		})
		if err != nil {
			return err.Error()
		}
		if tail.Position() >= last {
			return ""
		}
		select {
		case <-tail.Wake():
		case <-l.DurableNotify():
		case <-deadline:
			return fmt.Sprintf("stopped at op %d of %d after a minute", tail.Position(), last)
		}
	}
	return ""
}

// TestLoneEntriesReachFollowersIntact appends entries one at a time (each written before
// the next is appended, so that each takes the buffers of the slot written last), now
// and then a few in a row, small ones (encoded by the writer, or written by the appender
// with AppendDeferred and WriteDeferred) and large ones (compressed by an encoder), while
// two tails follow the log (one handed entries as written, as replication is, one once
// durable) and a reader reads it. Every entry must reach each of them with the body it
// was appended with: nothing reads a slot's buffers after it is released. Under -race
// this also holds the hand-over of the buffers between goroutines. Seed: -lone-seed.
func TestLoneEntriesReachFollowersIntact(t *testing.T) {
	seed := *loneSeed
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (rerun with -lone-seed %d)", seed, seed)
		}
	})
	random := rand.New(rand.NewPCG(seed, seed^0x10e))
	const entries = 300
	bodies := make([][]byte, entries)
	for i := range bodies {
		count := 1 + random.IntN(40) // Small: up to 5 KB.
		if random.IntN(3) == 0 {
			count = 520 + random.IntN(500) // Large: above 64 KiB, to an encoder.
		}
		bodies[i] = transfersBody(random, uint64(i+1)*10_000, count)
	}
	l := openTest(t, t.TempDir())
	defer l.Close()
	failures := make(chan string, 3)
	var group sync.WaitGroup
	for _, options := range []TailOptions{{Written: true}, {}} {
		tail := l.Follow(0, options)
		group.Go(func() { failures <- followAll(l, tail, bodies, entries) })
	}
	group.Go(func() {
		deadline := time.After(waitMax)
		for reads := 0; reads < 5 && l.Durable() < entries; reads++ {
			err := l.Read(0, func(e *Entry) error {
				if !bytes.Equal(e.Body, bodies[e.FirstOp-1]) {
					return fmt.Errorf("op %d: the body read differs from the appended one",
						e.FirstOp)
				}
				return nil
			})
			if err != nil {
				failures <- err.Error()
				return
			}
			select {
			case <-l.DurableNotify():
			case <-deadline:
			}
		}
		failures <- ""
	})
	for i, body := range bodies {
		op := uint64(i + 1)
		entry := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: body}
		var err error
		if random.IntN(2) == 0 {
			err = l.AppendDeferred(entry)
			l.WriteDeferred()
		} else {
			err = l.Append(entry)
		}
		if err != nil {
			t.Fatalf("seed %d: append at op %d: %v", seed, op, err)
		}
		if random.IntN(4) != 0 { // Mostly alone; now and then a few queued together.
			waitDurable(t, l, op)
		}
	}
	waitDurable(t, l, entries)
	group.Wait()
	close(failures)
	for failure := range failures {
		if failure != "" {
			t.Fatalf("seed %d: %s", seed, failure)
		}
	}
}
