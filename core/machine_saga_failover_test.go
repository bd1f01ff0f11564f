package core

import (
	"bytes"
	"testing"

	"sequent/core/model"
)

// TestSagaDecisionOfALostSagaIsNotReused: the shards of a node replicate one log each, so
// after a failover in async (or degraded) mode the new primary's debit shard may lack a
// saga's step 1 whose credit its credit shard took (both shards' logs trail by their own
// amounts). The debit shard then numbers its next saga as the lost one was numbered.
// That saga must not be finished with the lost saga's decision (which moved the lost
// transfer's amount to the lost transfer's account): it was posted with that amount while
// its own credit account got nothing, or stuck when that amount exceeded its own. The
// credit shard answers saga_sequence_reused instead; the saga is voided.
func TestSagaDecisionOfALostSagaIsNotReused(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 100: 0, 101: 0})
	// The standby's copy of shard 0: everything before the lost saga's step 1.
	var before bytes.Buffer
	if _, err := p.shards[0].machine.Snapshot().WriteTo(&before); err != nil {
		t.Fatal(err)
	}
	op := p.shards[0].op
	_, lost := p.transfer(simpleTransfer(7, 1, 100, 15))
	p.deliver(lost...) // Shard 1 credits account 100 and keeps the decision.
	promoted, err := Restore(p.shards[0].machine.config, &before)
	if err != nil {
		t.Fatal(err)
	}
	p.shards[0].machine, p.shards[0].op = promoted, op
	result, messages := p.transfer(simpleTransfer(8, 1, 101, 20))
	if result.Status != model.StatusSagaInFlight {
		t.Fatalf("step 1 of the new saga: %s", result.Status)
	}
	finished := p.settle(messages)
	if len(finished) != 1 {
		t.Fatalf("transfer 8's saga did not finish (%d finished): stuck", len(finished))
	}
	final := finished[0].Finished.Result
	if final.Status != model.StatusSagaSequenceReused {
		t.Fatalf("transfer 8: %s, want saga_sequence_reused", final.Status)
	}
	if a, b := p.account(1), p.account(101); !a.DebitsPosted.IsZero() ||
		!a.DebitsPending.IsZero() || !b.CreditsPosted.IsZero() {
		t.Fatalf("transfer 8 refused, yet account 1 %+v, account 101 %+v", a.Balance(),
			b.Balance())
	}
	if retry, _ := p.transfer(simpleTransfer(8, 1, 101, 20)); retry.Status !=
		model.StatusIDAlreadyFailed {
		t.Fatalf("retry of transfer 8: %s", retry.Status)
	}
	// Sent again under a new id, it gets the next number and goes through.
	_, again := p.transfer(simpleTransfer(9, 1, 101, 20))
	finished = p.settle(again)
	if len(finished) != 1 || finished[0].Finished.Result.Status != model.StatusOK ||
		p.account(101).CreditsPosted != model.U128(20) || p.account(1).DebitsPosted != model.U128(20) {
		t.Fatalf("transfer 9: %+v", finished)
	}
}
