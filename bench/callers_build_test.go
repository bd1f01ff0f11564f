package bench

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// TestCallersBuildTheTransfersTheBodyHolds checks that in callers mode the build puts in
// the call's transfers (w.transfers, which callTransfers passes to the client without a
// body to decode) exactly the transfers a connection's worker of the same run, seed and
// index encodes into its request body, for every transfer workload (single-phase,
// linked chains, and two-phase with posts and voids of pending transfers settled), with
// one event per call too, whose caller keeps its buffers and random source in one
// allocation with it (oneEventCaller): the same source, so the same transfers.
func TestCallersBuildTheTransfersTheBodyHolds(t *testing.T) {
	for _, events := range []int{5, 1} {
		t.Run(fmt.Sprintf("events=%d", events), func(t *testing.T) {
			testCallersBuildTheTransfersTheBodyHolds(t, events)
		})
	}
}

func testCallersBuildTheTransfersTheBodyHolds(t *testing.T, events int) {
	base := Config{Addresses: []string{"x"}, Events: events, Accounts: 40, Seed: 11,
		RunID: 3, Mix: Mix{KindSingle: 1, KindTwoPhase: 1, KindLinked: 1}, Count: 1}
	withBody := base
	callers := base
	callers.Callers = 2
	bodyWorker := newWorker(1, newRun(withBody.WithDefaults()), nil, &recorder{interval: newSample()})
	callWorker := newWorker(1, newRun(callers.WithDefaults()), nil, &recorder{interval: newSample()})
	if callWorker.transfers == nil || bodyWorker.transfers != nil {
		t.Fatal("want one worker in callers mode and one without")
	}
	results := make([]byte, base.Events*model.EventResultSize)
	for i := range base.Events {
		result := model.EventResult{Status: model.StatusOK}
		result.Encode(results[i*model.EventResultSize:])
	}
	flags := map[uint16]bool{}
	for request := range 40 {
		kind := []Kind{KindSingle, KindTwoPhase, KindLinked}[request%3]
		slotA, slotB := &bodyWorker.slots[0], &callWorker.slots[0]
		slotA.kind, slotB.kind = kind, kind
		_, body := bodyWorker.build(slotA)
		_, unused := callWorker.build(slotB)
		if len(unused) != len(body) {
			t.Fatalf("request %d: body of %d bytes in callers mode, want %d", request,
				len(unused), len(body))
		}
		for i := range slotA.events {
			var want model.Transfer
			want.Decode(body[i*model.TransferSize:])
			if got := callWorker.transfers[i]; got != want {
				t.Fatalf("request %d transfer %d: %+v, want %+v", request, i, got, want)
			}
			flags[want.Flags&(model.TransferPending|model.TransferPostPending|
				model.TransferVoidPending|model.TransferLinked)] = true
		}
		bodyWorker.settleTransfers(results, slotA, nil)
		callWorker.settleTransfers(results, slotB, nil)
	}
	want := []uint16{0, model.TransferPending, model.TransferPostPending,
		model.TransferVoidPending}
	if events > 1 { // A chain of one event is a transfer of its own, not linked.
		want = append(want, model.TransferLinked)
	}
	for _, flag := range want {
		if !flags[flag] {
			t.Errorf("no transfer with flags %#x built", flag)
		}
	}
}
