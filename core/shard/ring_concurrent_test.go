package shard

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
)

var ringConcurrentSeed = flag.Uint64("ring-concurrent-seed", 1,
	"seed of TestRingConcurrentProducersKeepRequestsIntact")

// ringProducerRequest returns producer's request number, with a body of length bytes
// derived from both, so that a request written over by another shows in its bytes.
func ringProducerRequest(producer uint64, number uint64, length int) *backend.Request {
	body := make([]byte, length)
	for i := range body {
		body[i] = byte(producer*131 + number*31 + uint64(i)*7)
	}
	return &backend.Request{Connection: 1, Client: producer, Session: 1, Number: number,
		Operation: model.OperationCreateTransfers, Body: body}
}

// TestRingConcurrentProducersKeepRequestsIntact runs several producer goroutines pushing
// requests of random sizes into a small ring while one consumer goroutine takes them,
// reads them, yields (so that producers run while it holds them), reads them again and
// releases them, as the sequencer does. Every request must come out once, in its
// producer's order, with the bytes it went in with, while the ring empties and restarts
// at the front of its buffer many times (counted: the run must see restarts) and skips
// the buffer's tail. Under -race it also holds the ring's hand-over of bytes between
// goroutines to the mutex. Seed: -ring-concurrent-seed.
func TestRingConcurrentProducersKeepRequestsIntact(t *testing.T) {
	seed := *ringConcurrentSeed
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (rerun with -ring-concurrent-seed %d)", seed, seed)
		}
	})
	const producers, perProducer = 4, 1500
	ring := newInputRing(1<<15, 16)
	size := uint64(len(ring.buffer))
	var group sync.WaitGroup
	var stopped atomic.Bool // The consumer gave up: producers stop too.
	for producer := range uint64(producers) {
		group.Go(func() {
			random := rand.New(rand.NewPCG(seed, producer))
			for number := uint64(1); number <= perProducer; number++ {
				request := ringProducerRequest(producer+1, number, random.IntN(6000))
				for ring.push(request, true) != model.StatusOK {
					if stopped.Load() {
						return
					}
					runtime.Gosched() // Busy: the consumer frees room.
				}
				if random.IntN(4) == 0 {
					runtime.Gosched() // Now and then let the ring empty.
				}
			}
		})
	}
	consumed := make(chan struct{})
	var failure string
	restarts := 0
	go func() {
		defer close(consumed)
		defer stopped.Store(true)
		random := rand.New(rand.NewPCG(seed, 0x5eed))
		next := make([]uint64, producers+1)
		var taken []requestMeta
		var request core.Request
		for received := 0; received < producers*perProducer; {
			taken, _ = ring.take(taken[:0], 1+random.IntN(6), 1+random.IntN(20000))
			if len(taken) == 0 {
				runtime.Gosched()
				continue
			}
			for round := range 2 {
				for i := range taken {
					if round == 0 && taken[i].start%size == 0 && taken[i].start >= size {
						restarts++
					}
					if err := core.DecodeRequest(ring.bytes(&taken[i]), &request); err != nil {
						failure = "a taken request does not decode: " + err.Error()
						return
					}
					if round == 0 && request.Number != next[request.Client]+1 {
						failure = "a producer's requests came out of order or twice"
						return
					}
					if round == 0 {
						next[request.Client] = request.Number
					}
					want := ringProducerRequest(request.Client, request.Number, len(request.Body))
					if !bytes.Equal(request.Body, want.Body) {
						failure = "a taken request's bytes were written over"
						return
					}
				}
				runtime.Gosched() // Producers run while the requests are held.
			}
			ring.release(&taken[len(taken)-1])
			received += len(taken)
		}
	}()
	select {
	case <-consumed:
	case <-time.After(time.Minute):
		stopped.Store(true)
		t.Fatal("the consumer did not receive every request within a minute")
	}
	group.Wait()
	if failure != "" {
		t.Fatalf("seed %d: %s", seed, failure)
	}
	if restarts == 0 {
		t.Fatalf("seed %d: the ring never restarted at its front: the run tested nothing new",
			seed)
	}
	t.Logf("%d requests, %d restarts at the front", producers*perProducer, restarts)
}
