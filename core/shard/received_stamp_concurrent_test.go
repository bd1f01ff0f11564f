package shard

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/model"
)

// TestRingStampedPushesConcurrentEachItsOwnStamp: the ring's one-entry cache of the last
// Received stamp converted (receivedLocked) is shared by the event loops, which push at
// the same time; every request must still carry its own stamp's value. Method: two
// producer goroutines push stamped requests into one ring at once, each in runs of three
// equal stamps (as a read's requests), the two producers' stamps always different, while
// one consumer takes them; each taken request's received value must equal its stamp's
// Sub(processStart). Under -race it also holds the cache to the ring's mutex: a
// conversion moved before the Lock (the cache read and written by both producers
// unguarded) is reported as a race, and without -race shows as a request carrying the
// other producer's stamp whenever the two interleave inside it.
func TestRingStampedPushesConcurrentEachItsOwnStamp(t *testing.T) {
	const producers, perProducer, runLength = 2, 3000, 3
	base := time.Now()
	stampOf := func(producer uint64, number uint64) time.Time {
		return base.Add(time.Duration(producer)*time.Second +
			time.Duration((number-1)/runLength)*time.Microsecond)
	}
	ring := newInputRing(1<<14, 16)
	var group sync.WaitGroup
	var stopped atomic.Bool // The consumer gave up: producers stop too.
	for producer := range uint64(producers) {
		group.Go(func() {
			for number := uint64(1); number <= perProducer; number++ {
				request := ringProducerRequest(producer+1, number, model.TransferSize)
				request.Received = stampOf(producer+1, number)
				for ring.push(request, true) != model.StatusOK {
					if stopped.Load() {
						return
					}
					runtime.Gosched() // Busy: the consumer frees room.
				}
			}
		})
	}
	consumed := make(chan struct{})
	var failure string
	go func() {
		defer close(consumed)
		defer stopped.Store(true)
		var taken []requestMeta
		var request core.Request
		for received := 0; received < producers*perProducer; {
			taken, _ = ring.take(taken[:0], 8, 1<<14)
			if len(taken) == 0 {
				runtime.Gosched()
				continue
			}
			for i := range taken {
				if err := core.DecodeRequest(ring.bytes(&taken[i]), &request); err != nil {
					failure = "a taken request does not decode: " + err.Error()
					return
				}
				want := int64(stampOf(request.Client, request.Number).Sub(processStart))
				if taken[i].received != want && failure == "" {
					failure = "a request's received value is not its own stamp's"
				}
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
		t.Fatal(failure)
	}
}
