package core

import (
	"bytes"
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// TestSagaDecisionOfALostSagaIsNotReused: the shards of a node replicate one log each, so
// after a failover in async (or degraded) mode the new primary's debit shard may lack a
// saga's step 1 whose credit its credit shard took (both shards' logs trail by their own
// amounts). The debit shard then numbers its next saga as the lost one was numbered.
// That saga must not be finished with the lost saga's decision (which moved the lost
// transfer's amount to the lost transfer's account): it was posted with that amount while
// its own credit account got nothing, or stuck when that amount exceeded its own. The
// credit shard answers saga_decision_unknown instead; the saga is voided.
func TestSagaDecisionOfALostSagaIsNotReused(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 100: 0, 101: 0})
	// The standby's copy of shard 0: everything before the lost saga's step 1.
	failover := p.standby(0)
	_, lost := p.transfer(simpleTransfer(7, 1, 100, 15))
	p.deliver(lost...) // Shard 1 credits account 100 and keeps the decision.
	// Shard 1 restarts from a snapshot: the decision keeps its transfer's id.
	p.standby(1)()
	failover()
	result, messages := p.transfer(simpleTransfer(8, 1, 101, 20))
	if result.Status != model.StatusSagaInFlight {
		t.Fatalf("step 1 of the new saga: %s", result.Status)
	}
	finished := p.settle(messages)
	if len(finished) != 1 {
		t.Fatalf("transfer 8's saga did not finish (%d finished): stuck", len(finished))
	}
	final := finished[0].Finished.Result
	if final.Status != model.StatusSagaDecisionUnknown {
		t.Fatalf("transfer 8: %s, want saga_decision_unknown", final.Status)
	}
	if a, b := p.account(1), p.account(101); !a.DebitsPosted.IsZero() ||
		!a.DebitsPending.IsZero() || !b.CreditsPosted.IsZero() {
		t.Fatalf("transfer 8 refused, yet account 1 %+v, account 101 %+v", a.Balance(),
			b.Balance())
	}
	// The lost saga's credit stays: the failover's loss, shown by the pair's net.
	if net, pending := p.settlementNet(); net != -15 || pending != 0 {
		t.Fatalf("settlement pair: net %d, pending %d (want -15, 0)", net, pending)
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

// TestSagaForgottenDecisionAfterFailover: the debit shard's watermark (saga_forget) leaves
// it once its sagas below are final and durable on the primary, which in async or
// degraded mode says nothing about the standby. After a failover the promoted debit
// shard may still run a saga (its step 3 lost) whose decision the credit shard has
// forgotten. Its Credit was then ignored for good (the saga stuck, the debit held): the
// credit shard now answers it from its ledger, which keeps step 2's transfer.
func TestSagaForgottenDecisionAfterFailover(t *testing.T) {
	for _, test := range []struct {
		name   string
		credit uint64
		want   model.Status
		posted uint64
	}{
		{"credited", 100, model.StatusOK, 30},
		{"refused", 199, model.StatusSagaDecisionUnknown, 0},
	} {
		t.Run(test.name, func(t *testing.T) {
			forgottenAfterFailover(t, test.credit, test.want, test.posted)
		})
	}
}

func forgottenAfterFailover(t *testing.T, creditAccount uint64, want model.Status, posted uint64) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	_, credit := p.transfer(simpleTransfer(7, 1, creditAccount, 30))
	// The standby's copy of shard 0: step 1 made, step 3 not yet.
	failover := p.standby(0)
	p.settle(credit)
	body := make([]byte, model.SagaForgetSize)
	(&saga.Forget{From: 0, Below: 2}).Encode(body)
	p.shards[1].apply(Request{Operation: model.OperationSagaForget, Body: body})
	promoted := failover()
	// The promoted shard's outbox lists the saga; the router sends its Credit again.
	var resent []saga.Message
	promoted.Sagas().Running(func(c *saga.Credit) {
		resent = append(resent, saga.Message{Kind: saga.MessageCredit, To: c.To, Credit: *c})
	})
	if len(resent) != 1 {
		t.Fatalf("running sagas on the promoted shard: %d", len(resent))
	}
	var finished []saga.Message
	for messages := resent; len(messages) > 0 && len(finished) == 0; {
		messages = p.deliver(messages...)
		for _, m := range messages {
			if m.Kind == saga.MessageFinished {
				finished = append(finished, m)
			}
		}
	}
	if len(finished) != 1 {
		t.Fatalf("the saga never finishes: its credit is ignored (account 1 pending %s)",
			p.account(1).DebitsPending)
	}
	if a, status := p.account(1), finished[0].Finished.Result.Status; status != want ||
		a.DebitsPosted != model.U128(posted) || !a.DebitsPending.IsZero() {
		t.Fatalf("finished %s, account 1 %+v (want %s, %d posted)", status, a.Balance(), want,
			posted)
	}
}

// TestSagaForgottenDecisionOfALostSaga: a saga numbered as a lost one whose decision the
// credit shard has also forgotten is not taken for the lost saga's credit (same account,
// another amount): it is voided with saga_decision_unknown.
func TestSagaForgottenDecisionOfALostSaga(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	failover := p.standby(0)
	_, lost := p.transfer(simpleTransfer(7, 1, 100, 15))
	p.settle(lost)
	body := make([]byte, model.SagaForgetSize)
	(&saga.Forget{From: 0, Below: 2}).Encode(body)
	p.shards[1].apply(Request{Operation: model.OperationSagaForget, Body: body})
	failover()
	_, messages := p.transfer(simpleTransfer(8, 1, 100, 20))
	finished := p.settle(messages)
	if len(finished) != 1 || finished[0].Finished.Result.Status != model.StatusSagaDecisionUnknown {
		t.Fatalf("transfer 8: %+v", finished)
	}
	if a := p.account(1); !a.DebitsPosted.IsZero() || !a.DebitsPending.IsZero() {
		t.Fatalf("account 1 %+v", a.Balance())
	}
}

// standby copies a shard's machine as it is now (a standby's copy of it) and returns what
// replaces the shard's machine by that copy later (the failover), as restored from a
// snapshot: op numbers go on from the copy's.
func (p *pair) standby(shard int) (promote func() *Machine) {
	p.t.Helper()
	var copied bytes.Buffer
	if _, err := p.shards[shard].machine.Snapshot().WriteTo(&copied); err != nil {
		p.t.Fatal(err)
	}
	op := p.shards[shard].op
	return func() *Machine {
		p.t.Helper()
		restored, err := Restore(p.shards[shard].machine.config, &copied)
		if err != nil {
			p.t.Fatal(err)
		}
		p.shards[shard].machine, p.shards[shard].op = restored, op
		return restored
	}
}
