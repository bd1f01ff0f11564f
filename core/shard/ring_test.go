package shard

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"testing"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
)

var ringSeed = flag.Uint64("ring-seed", 1, "seed of TestRingKeepsEveryRequestIntact")

// ringRequest returns a request whose body is length bytes derived from tag, so that a
// request overwritten by another one shows in its bytes.
func ringRequest(tag uint64, length int) *backend.Request {
	body := make([]byte, length)
	for i := range body {
		body[i] = byte(tag*31 + uint64(i)*7)
	}
	return &backend.Request{Connection: 1, Client: 7, Session: 1, Number: tag,
		Operation: model.OperationCreateTransfers, Body: body}
}

// checkRingBytes fails unless the ring's bytes for meta are request, encoded.
func checkRingBytes(t *testing.T, ring *inputRing, meta *requestMeta, request *backend.Request) {
	t.Helper()
	want := core.AppendRequest(nil, &core.Request{Client: request.Client,
		Session: request.Session, Number: request.Number, Operation: request.Operation,
		Body: request.Body})
	if !bytes.Equal(ring.bytes(meta), want) {
		t.Fatalf("request %d: the ring's bytes differ from what was pushed", request.Number)
	}
}

// TestEmptyRingRestartsAtTheFront holds the ring to writing a request at the front of its
// buffer when nothing is queued or being read (the front is what the cache holds), and
// to going on after the last request while one is still queued.
func TestEmptyRingRestartsAtTheFront(t *testing.T) {
	ring := newInputRing(1<<16, 8)
	size := uint64(len(ring.buffer))
	first, second, third := ringRequest(1, 5000), ringRequest(2, 3000), ringRequest(3, 4000)
	for _, request := range []*backend.Request{first, second} {
		if status := ring.push(request, true); status != model.StatusOK {
			t.Fatalf("push of request %d: %v", request.Number, status)
		}
	}
	taken, _ := ring.take(nil, 8, 1<<20)
	if len(taken) != 2 || taken[1].start != taken[0].end {
		t.Fatalf("took %d requests; the second should follow the first: %+v", len(taken), taken)
	}
	checkRingBytes(t, ring, &taken[0], first)
	checkRingBytes(t, ring, &taken[1], second)
	ring.release(&taken[1])

	if status := ring.push(third, true); status != model.StatusOK {
		t.Fatalf("push into the empty ring: %v", status)
	}
	taken, _ = ring.take(taken[:0], 8, 1<<20)
	if len(taken) != 1 || taken[0].start%size != 0 || taken[0].start < size {
		t.Fatalf("a request pushed into an empty ring should start the next lap at offset 0: %+v",
			taken)
	}
	checkRingBytes(t, ring, &taken[0], third)

	// Queued and not released: the next request goes after it, not over it.
	fourth := ringRequest(4, 2000)
	if status := ring.push(fourth, true); status != model.StatusOK {
		t.Fatalf("push behind a request being read: %v", status)
	}
	next, _ := ring.take(nil, 8, 1<<20)
	if len(next) != 1 || next[0].start != taken[0].end {
		t.Fatalf("a request pushed behind one being read should follow it: %+v after %+v",
			next, taken)
	}
	checkRingBytes(t, ring, &taken[0], third)
	checkRingBytes(t, ring, &next[0], fourth)
}

// TestRingKeepsEveryRequestIntact pushes requests of random sizes into a small ring and
// takes and releases them at random moments, checking that every request comes out once,
// in order, with the bytes it went in with: no restart at the front and no skip of the
// buffer's tail lets a request be written over one not yet released. Busy pushes are
// dropped, as the shard answers them. Seed: -ring-seed.
func TestRingKeepsEveryRequestIntact(t *testing.T) {
	seed := *ringSeed
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (rerun with -ring-seed %d)", seed, seed)
		}
	})
	random := rand.New(rand.NewPCG(seed, seed^0x5eed))
	ring := newInputRing(1<<15, 16)
	var queued []*backend.Request // pushed, not taken yet, in order
	var reading []requestMeta     // taken, not released yet
	var readingRequests []*backend.Request
	pushed, busy, released := 0, 0, 0
	for step := range 20000 {
		switch choice := random.IntN(10); {
		case choice < 5:
			request := ringRequest(uint64(step+1), random.IntN(9000))
			switch status := ring.push(request, true); status {
			case model.StatusOK:
				queued = append(queued, request)
				pushed++
			case model.StatusBusy:
				busy++
			default:
				t.Fatalf("seed %d step %d: push: %v", seed, step, status)
			}
		case choice < 8:
			if len(reading) > 0 {
				continue // The sequencer releases what it took before it takes again.
			}
			reading, _ = ring.take(reading[:0], 1+random.IntN(4), 1+random.IntN(20000))
			readingRequests = append(readingRequests[:0], queued[:len(reading)]...)
			queued = queued[len(reading):]
			for i := range reading {
				checkRingBytes(t, ring, &reading[i], readingRequests[i])
			}
		default:
			if len(reading) == 0 {
				continue
			}
			// Check again just before release: pushes since the take must not have landed
			// on these bytes.
			for i := range reading {
				checkRingBytes(t, ring, &reading[i], readingRequests[i])
			}
			ring.release(&reading[len(reading)-1])
			released += len(reading)
			reading = reading[:0]
		}
	}
	if pushed == 0 || busy == 0 || released == 0 {
		t.Fatalf("seed %d: the run did not exercise the ring: %d pushed, %d busy, %d released",
			seed, pushed, busy, released)
	}
}

// TestRingTakeStopsAtABarrierSetSinceItsCount: a take given the barrier count read before
// a barrier takes the request queued before the barrier and stops at the one queued
// after it; the next take, with the count read again, takes that one; a plain take
// ignores barriers.
func TestRingTakeStopsAtABarrierSetSinceItsCount(t *testing.T) {
	ring := newInputRing(1<<16, 8)
	seen := ring.barrierCount()
	before, after := ringRequest(1, 100), ringRequest(2, 100)
	ring.push(before, true)
	ring.barrier()
	ring.push(after, true)
	taken, _, _ := ring.takeUpTo(nil, 8, 1<<20, true, seen)
	if len(taken) != 1 {
		t.Fatalf("took %d requests with a count older than the barrier, want 1 (the one "+
			"queued before it)", len(taken))
	}
	checkRingBytes(t, ring, &taken[0], before)
	ring.release(&taken[0])
	if taken, _, _ := ring.takeUpTo(nil, 8, 1<<20, true, seen); len(taken) != 0 {
		t.Fatalf("took %d requests queued after a barrier with the older count", len(taken))
	}
	taken, _, _ = ring.takeUpTo(nil, 8, 1<<20, true, ring.barrierCount())
	if len(taken) != 1 {
		t.Fatalf("took %d requests with the barrier counted, want 1", len(taken))
	}
	checkRingBytes(t, ring, &taken[0], after)
	ring.release(&taken[0])
	ring.barrier()
	ring.push(before, true)
	ring.barrier()
	ring.push(after, true)
	if taken, _ := ring.take(nil, 8, 1<<20); len(taken) != 2 {
		t.Fatalf("a plain take took %d requests after barriers, want 2", len(taken))
	}
}
