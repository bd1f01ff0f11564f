package router

import (
	"sync"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shardmap"
)

// gatedShards accepts every request except the parts of request refusedNumber on shard 0,
// which it refuses busy while refusing is set. While gate is set, the refused part's
// resubmission (from a Tick) stops inside Submit, reports entered and waits for release:
// the moment at which the router has taken the part out of busy to submit it again. It
// records the numbers shard 0 accepted, in order.
type gatedShards struct {
	mutex         sync.Mutex
	refusedNumber uint64
	refusing      bool
	gate          bool
	entered       chan struct{}
	release       chan struct{}
	acceptedZero  []uint64
}

func (s *gatedShards) Submit(shard uint16, request *backend.Request) model.Status {
	s.mutex.Lock()
	refuse := shard == 0 && request.Number == s.refusedNumber && s.refusing
	gate := refuse && s.gate
	if gate {
		s.gate = false
	}
	s.mutex.Unlock()
	if gate {
		close(s.entered)
		<-s.release
	}
	s.mutex.Lock()
	defer s.mutex.Unlock()
	if refuse {
		return model.StatusBusy
	}
	if shard == 0 {
		s.acceptedZero = append(s.acceptedZero, request.Number)
	}
	return model.StatusOK
}

func (s *gatedShards) SubmitInternal(uint16, *backend.Request) model.Status {
	return model.StatusOK
}

// TestHeldPartStaysCountedWhileResubmitted: a write's part held busy on shard 0 is
// resubmitted at each Tick, concurrently with the sessions' new requests. While the Tick
// submits it again (and the shard refuses it again), a later write of the same session
// handed to shard 0 whole must still be refused busy: the part is held all along. The
// router's quick check (the count of held parts, read without the lock) must not read
// zero in that moment, or the later write is queued on shard 0 ahead of the held part,
// the order the hold exists to keep (PROTOCOL.md §7: only writes the client saw refused
// apply after later ones).
func TestHeldPartStaysCountedWhileResubmitted(t *testing.T) {
	shards := &gatedShards{refusedNumber: 2, refusing: true, entered: make(chan struct{}),
		release: make(chan struct{})}
	placement := shardmap.ByRange(model.U128(0), model.U128(rigShardOneStart))
	r, err := New(Config{Map: placement, Shards: shards, Transport: discardTransport{},
		Replier: discardReplier{}})
	if err != nil {
		t.Fatal(err)
	}
	accounts := func(ids ...model.Uint128) []byte {
		body := make([]byte, len(ids)*model.AccountSize)
		for i, id := range ids {
			(&model.Account{ID: id, Ledger: 1, Code: 1}).Encode(body[i*model.AccountSize:])
		}
		return body
	}
	submit := func(number uint64, body []byte) model.Status {
		return r.Submit(&backend.Request{Connection: number, Client: 1, Session: 1,
			Number: number, Operation: model.OperationCreateAccounts, Body: body})
	}
	// Request 2: its part on shard 1 is queued first, its part on shard 0 is held.
	if status := submit(2, accounts(rigB1, rigA1)); status != model.StatusOK {
		t.Fatalf("request 2: %s", status)
	}
	later := accounts(rigA2) // Request 3: a write of the session to shard 0 only.
	shards.mutex.Lock()
	shards.gate = true
	shards.mutex.Unlock()
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		r.Tick(1)
	}()
	select {
	case <-shards.entered:
	case <-time.After(time.Minute):
		t.Fatal("the held part was not resubmitted")
	}
	if r.holding.Load() == 0 {
		// The quick check lets request 3 through without the lock (which the Tick holds):
		// it is submitted now, while request 2's part is being refused again.
		if status := submit(3, later); status != model.StatusBusy {
			t.Errorf("request 3 while the held part is resubmitted: %s, want busy", status)
		}
	}
	close(shards.release)
	select {
	case <-ticked:
	case <-time.After(time.Minute):
		t.Fatal("the Tick did not end")
	}
	if status := submit(3, later); status != model.StatusBusy {
		t.Errorf("request 3 behind the held part: %s, want busy", status)
	}
	shards.mutex.Lock()
	shards.refusing = false
	shards.mutex.Unlock()
	r.Tick(2) // Request 2's part is queued.
	if status := submit(3, later); status != model.StatusOK {
		t.Fatalf("request 3 resent once the part was queued: %s", status)
	}
	shards.mutex.Lock()
	defer shards.mutex.Unlock()
	if first := shards.acceptedZero; len(first) == 0 || first[0] != 2 {
		t.Fatalf("shard 0 accepted requests %v: request 2's held part must come first",
			shards.acceptedZero)
	}
}
