package saga

import (
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
	"sequent/core/shardmap"
)

// twoShards is a debit shard (0) and a credit shard (1), each a Book over its own ledger,
// with an account of client 7 on each; the messages between them are carried by hand.
type twoShards struct {
	placement        *shardmap.Map
	debit, credit    *Book
	debitLedger      *ledger.Ledger
	creditLedger     *ledger.Ledger
	debitClock       uint64
	creditClock      uint64
	from, to         model.Uint128 // Accounts on shard 0 and 1.
	messagesToCredit []Message
}

const stepsClient = 7

// accountOn returns the first account id from 1 up that the map places on shard.
func accountOn(placement *shardmap.Map, shard uint16) model.Uint128 {
	for id := uint64(1); ; id++ {
		if placement.AccountShard(model.U128(id), 1) == shard {
			return model.U128(id)
		}
	}
}

func newTwoShards(t *testing.T) *twoShards {
	s := &twoShards{placement: shardmap.Hashed(2), debitLedger: ledger.New(ledger.Config{}),
		creditLedger: ledger.New(ledger.Config{}), debitClock: 100, creditClock: 100}
	s.debit, s.credit = New(s.placement, 0), New(s.placement, 1)
	s.from, s.to = accountOn(s.placement, 0), accountOn(s.placement, 1)
	for _, side := range []struct {
		l     *ledger.Ledger
		clock *uint64
		id    model.Uint128
	}{{s.debitLedger, &s.debitClock, s.from}, {s.creditLedger, &s.creditClock, s.to}} {
		var results [1]model.EventResult
		side.l.CreateAccountsAs(stepsClient, next(side.clock), []model.Account{{ID: side.id,
			Ledger: 1, Code: 1, Flags: model.AccountDebitsMustNotExceedCredits}}, results[:])
		if results[0].Status != model.StatusOK {
			t.Fatalf("account %s: %s", side.id, results[0].Status)
		}
	}
	// The system issues 100 to the debit account, from an account of its own.
	issuer := model.U128(1 << 40)
	var results [1]model.EventResult
	s.debitLedger.CreateAccounts(next(&s.debitClock), []model.Account{{ID: issuer, Ledger: 1, Code: 1}},
		results[:])
	var funded [1]model.TransferResult
	s.debitLedger.CreateTransfers(next(&s.debitClock), []model.Transfer{{ID: model.U128(1 << 40),
		DebitAccountID: issuer, CreditAccountID: s.from, Amount: model.U128(100), Ledger: 1,
		Code: 1}}, funded[:])
	if results[0].Status != model.StatusOK || funded[0].Status != model.StatusOK {
		t.Fatalf("funding: %s, %s", results[0].Status, funded[0].Status)
	}
	return s
}

// start applies step 1 of transfer id (amount) on the debit shard and returns its Credit.
func (s *twoShards) start(t *testing.T, id, amount uint64) Credit {
	events := []model.Transfer{{ID: model.U128(id), DebitAccountID: s.from,
		CreditAccountID: s.to, Amount: model.U128(amount), Ledger: 1, Code: 1}}
	credit, cross := s.debit.Cross(&events[0])
	if !cross || credit != 1 {
		t.Fatalf("transfer %d: cross %v to shard %d", id, cross, credit)
	}
	credits := []uint16{credit}
	s.debit.EnsureSettlements(s.debitLedger, &s.debitClock, events, []bool{true}, credits)
	results := make([]model.TransferResult, 1)
	var messages []Message
	s.debit.StartRun(s.debitLedger, stepsClient, events, credits, next(&s.debitClock), false,
		results, &messages)
	if results[0].Status != model.StatusSagaInFlight || len(messages) != 1 ||
		messages[0].Kind != MessageCredit {
		t.Fatalf("step 1 of %d: %s, messages %+v", id, results[0].Status, messages)
	}
	return messages[0].Credit
}

// decide applies step 2 on the credit shard and returns the decisions it sent.
func (s *twoShards) decide(credits ...Credit) []Decision {
	var messages []Message
	s.credit.ApplyCredits(s.creditLedger, &s.creditClock, credits, &messages)
	var decisions []Decision
	for _, m := range messages {
		if m.Kind == MessageDecision {
			decisions = append(decisions, m.Decision)
		}
	}
	return decisions
}

// finish applies step 3 on the debit shard and returns the sagas it made final.
func (s *twoShards) finish(decisions ...Decision) []Finished {
	var messages []Message
	s.debit.ApplyFinishes(s.debitLedger, &s.debitClock, decisions, &messages)
	var finished []Finished
	for _, m := range messages {
		if m.Kind == MessageFinished {
			finished = append(finished, m.Finished)
		}
	}
	return finished
}

func (s *twoShards) lookup(t *testing.T, id uint64) State {
	out := s.debit.Lookup(s.debitLedger, []model.Uint128{model.U128(id)}, nil)
	if len(out) != model.SagaStateSize {
		t.Fatalf("lookup of %d: %d bytes", id, len(out))
	}
	var state State
	state.Decode(out)
	return state
}

// Step 3 takes only the decision of the saga's own credit shard, for the saga's own
// transfer, of at most what step 1 reserved, once: any other decision (a forged or
// misrouted one, another history's decision for a reused saga number, a copy) moves no
// money and leaves the saga running until its own decision comes.
func TestFinishTakesOnlyTheSagasOwnDecision(t *testing.T) {
	s := newTwoShards(t)
	credit := s.start(t, 1001, 10)
	if state := s.lookup(t, 1001); state.Phase != PhaseRunning {
		t.Fatalf("after step 1: phase %d", state.Phase)
	}
	if summary := s.debit.Summary(); summary.Running != 1 || summary.Next != 2 || summary.Lowest != 1 {
		t.Fatalf("after step 1: %+v", summary)
	}
	misrouted := credit
	misrouted.To = 0
	if decisions := s.decide(misrouted); len(decisions) != 0 || s.credit.Decisions() != 0 {
		t.Fatalf("a Credit for another shard was decided: %+v", decisions)
	}
	decisions := s.decide(credit)
	if len(decisions) != 1 || decisions[0].Status != model.StatusOK ||
		decisions[0].Amount != model.U128(10) || decisions[0].Transfer != model.U128(1001) {
		t.Fatalf("step 2: %+v", decisions)
	}
	own := decisions[0]
	fromElsewhere, tooMuch, otherTransfer, refused := own, own, own, own
	fromElsewhere.From = 0
	tooMuch.Amount = model.U128(11)
	otherTransfer.Transfer = model.U128(1002)
	refused.Status = model.StatusExceedsCredits
	for _, wrong := range []Decision{fromElsewhere, tooMuch, otherTransfer} {
		if finished := s.finish(wrong); len(finished) != 0 {
			t.Fatalf("decision %+v finished %+v", wrong, finished)
		}
	}
	if state := s.lookup(t, 1001); state.Phase != PhaseRunning {
		t.Fatalf("a wrong decision ended the saga: phase %d", state.Phase)
	}
	finished := s.finish(own, own, refused) // Copies in one batch: the first one counts.
	if len(finished) != 1 || finished[0].Result.Status != model.StatusOK ||
		finished[0].ID != model.U128(1001) || finished[0].Sequence != 1 {
		t.Fatalf("step 3: %+v", finished)
	}
	if again := s.finish(refused); len(again) != 0 {
		t.Fatalf("a final saga finished again: %+v", again)
	}
	state := s.lookup(t, 1001)
	if state.Phase != PhaseFinal || state.Result.Status != model.StatusOK ||
		state.Result.DebitAccount.DebitsPosted != model.U128(10) ||
		!state.Result.DebitAccount.DebitsPending.IsZero() {
		t.Fatalf("after step 3: %+v", state)
	}
	if summary := s.debit.Summary(); summary.Running != 0 || summary.Lowest != 2 {
		t.Fatalf("after step 3: %+v", summary)
	}
}

// A refusal on the credit shard voids step 1: the debit account's reservation is
// released and nothing is posted.
func TestRefusedCreditVoidsTheReservation(t *testing.T) {
	s := newTwoShards(t)
	credit := s.start(t, 2001, 10)
	credit.Abort = true // The debit shard gave up waiting: decided saga_timed_out.
	decisions := s.decide(credit)
	if len(decisions) != 1 || decisions[0].Status != model.StatusSagaTimedOut {
		t.Fatalf("step 2: %+v", decisions)
	}
	finished := s.finish(decisions[0])
	if len(finished) != 1 || finished[0].Result.Status != model.StatusSagaTimedOut {
		t.Fatalf("step 3: %+v", finished)
	}
	accounts := s.debitLedger.LookupAccounts([]model.Uint128{s.from}, nil)
	if len(accounts) != 1 || !accounts[0].DebitsPending.IsZero() || !accounts[0].DebitsPosted.IsZero() {
		t.Fatalf("debit account after a refused saga: %+v", accounts)
	}
}

// The outbox lists the Credit of every running saga after a sequence, and no final one.
func TestOutboxListsRunningSagas(t *testing.T) {
	s := newTwoShards(t)
	first, second := s.start(t, 3001, 1), s.start(t, 3002, 2)
	outbox := func(after uint64) []Credit {
		out := s.debit.Outbox(after, nil)
		var credits []Credit
		for body := out[model.SagaOutboxSummarySize:]; len(body) > 0; body = body[model.SagaCreditSize:] {
			var c Credit
			if !c.Decode(body) {
				t.Fatal("the outbox holds a malformed Credit")
			}
			credits = append(credits, c)
		}
		return credits
	}
	if got := outbox(0); len(got) != 2 || got[0] != first || got[1] != second {
		t.Fatalf("outbox after 0: %+v", got)
	}
	if got := outbox(1); len(got) != 1 || got[0] != second {
		t.Fatalf("outbox after 1: %+v", got)
	}
	s.finish(s.decide(first)...)
	if got := outbox(0); len(got) != 1 || got[0] != second {
		t.Fatalf("outbox once saga 1 is final: %+v", got)
	}
}
