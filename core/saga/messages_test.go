package saga

import (
	"testing"

	"sequent/core/model"
)

// staleMessages returns messages as an earlier entry leaves them in an output's capacity:
// each kind with its payload set in full (a Credit with Abort, which the Book never sets,
// so that a reused Credit slot must clear it), and a Forget whose other payloads are set
// too (not made by reserveMessages: the slot is cleared whole).
func staleMessages() []Message {
	balance := model.Balance{DebitsPending: model.U128(3), CreditsPosted: model.U128(4)}
	credit := Credit{Transfer: model.Transfer{ID: model.U128(77), Amount: model.U128(5),
		UserData64: 9, Timestamp: 11}, Sequence: 12, From: 1, To: 0, Abort: true, Client: 13}
	decision := Decision{Sequence: 14, From: 0, To: 1, Status: model.StatusSagaTimedOut,
		Amount: model.U128(15), Credit: balance, Timestamp: 16, Transfer: model.U128(17)}
	finished := Finished{ID: model.U128(18), Sequence: 19, Result: model.TransferResult{
		EventResult:  model.EventResult{Timestamp: 20, Status: model.StatusExceedsCredits},
		DebitAccount: balance, CreditAccount: balance}}
	return []Message{{Kind: MessageCredit, To: 1, Credit: credit},
		{Kind: MessageDecision, To: 0, Decision: decision},
		{Kind: MessageFinished, To: 0, Finished: finished},
		{Kind: MessageForget, To: 1, Forget: Forget{From: 2, Below: 21}, Credit: credit,
			Decision: decision, Finished: finished}}
}

// The Book appends its messages into slots that the slice's capacity still holds
// (reserveMessages): the messages must be the ones it makes into a fresh slice, bit for
// bit. Two identical pairs of shards run the same sagas, four per step, one into fresh
// slices, one into slices that hold a stale message of each kind, in an order rotated at
// each step: every kind of message lands on a slot of every kind.
func TestAppendMessageReusesSlots(t *testing.T) {
	fresh, reused := newTwoShards(t), newTwoShards(t)
	stale := staleMessages()
	var want []Message
	step := func(name string, run func(s *twoShards, messages *[]Message)) []Message {
		t.Helper()
		want = nil
		run(fresh, &want)
		stale = append(stale[1:], stale[0])
		slots := append([]Message(nil), stale...)[:0]
		run(reused, &slots)
		if len(want) != len(slots) {
			t.Fatalf("%s: %d messages into a fresh slice, %d into a reused one", name, len(want),
				len(slots))
		}
		for i := range want {
			if want[i] != slots[i] {
				t.Fatalf("%s: message %d into a reused slot\n%+v\nwant\n%+v", name, i, slots[i],
					want[i])
			}
		}
		return want
	}
	for round := range uint64(5) {
		var credits []Credit
		var decisions []Decision
		for _, m := range step("step 1", func(s *twoShards, messages *[]Message) {
			events := []model.Transfer{s.transfer(100+round*10, 1), s.transfer(101+round*10, 2),
				s.transfer(102+round*10, 3), s.transfer(103+round*10, 4)}
			shards := []uint16{1, 1, 1, 1}
			s.debit.EnsureSettlements(s.debitLedger, &s.debitClock, events,
				[]bool{true, true, true, true}, shards)
			results := make([]model.TransferResult, len(events))
			s.debit.StartRun(s.debitLedger, stepsClient, events, shards,
				next(&s.debitClock), false, results, messages)
			s.debitClock += uint64(len(events))
		}) {
			credits = append(credits, m.Credit)
		}
		if round%2 == 1 {
			credits[1].Abort = true // A refused saga: a Finished of another status.
		}
		for _, m := range step("step 2", func(s *twoShards, messages *[]Message) {
			s.credit.ApplyCredits(s.creditLedger, &s.creditClock, append([]Credit(nil), credits...),
				messages)
		}) {
			decisions = append(decisions, m.Decision)
		}
		finished := step("step 3", func(s *twoShards, messages *[]Message) {
			s.debit.ApplyFinishes(s.debitLedger, &s.debitClock,
				append([]Decision(nil), decisions...), messages)
		})
		if len(finished) != 4 || finished[0].Kind != MessageFinished {
			t.Fatalf("round %d: %+v", round, finished)
		}
	}
}

// Step 3 compacts the decisions it applies to the front of the batch, and a decision
// there is no longer copied onto itself (xshard42). Review (session 42): when ignored
// decisions (another transfer's, a copy) come before applied ones, every saga must still
// be finished with its own decision: its sequence, amount, status and the credit
// balances of that decision, in batch order.
func TestFinishCompactsDecisionsPastIgnoredOnes(t *testing.T) {
	s := newTwoShards(t)
	first, second, third := s.start(t, 6001, 10), s.start(t, 6002, 20), s.start(t, 6003, 5)
	third.Abort = true // Refused on the credit shard: saga_timed_out, voided.
	decisions := s.decide(first, second, third)
	if len(decisions) != 3 || decisions[0].Status != model.StatusOK ||
		decisions[1].Status != model.StatusOK || decisions[2].Status != model.StatusSagaTimedOut {
		t.Fatalf("step 2: %+v", decisions)
	}
	if decisions[0].Credit == decisions[1].Credit {
		t.Fatal("the two credits' balances are alike: the checks below cannot tell them apart")
	}
	foreign := decisions[0]
	foreign.Transfer = model.U128(6999) // Another history's decision for saga 1's number.
	finished := s.finish(foreign, decisions[1], decisions[1], decisions[0], decisions[2])
	want := []struct {
		id       uint64
		sequence uint64
		status   model.Status
		credit   model.Balance
	}{{6002, 2, model.StatusOK, decisions[1].Credit}, {6001, 1, model.StatusOK, decisions[0].Credit},
		{6003, 3, model.StatusSagaTimedOut, model.Balance{}}}
	if len(finished) != len(want) {
		t.Fatalf("step 3 finished %d sagas, want %d: %+v", len(finished), len(want), finished)
	}
	for i, w := range want {
		f := &finished[i]
		if f.ID != model.U128(w.id) || f.Sequence != w.sequence || f.Result.Status != w.status ||
			f.Result.CreditAccount != w.credit || (w.status != model.StatusOK &&
			f.Result.DebitAccount != (model.Balance{})) {
			t.Fatalf("finished %d: %+v, want saga %d (%d) %s, credit %+v", i, *f, w.sequence,
				w.id, w.status, w.credit)
		}
	}
	accounts := s.debitLedger.LookupAccounts([]model.Uint128{s.from}, nil)
	if len(accounts) != 1 || accounts[0].DebitsPosted != model.U128(30) ||
		!accounts[0].DebitsPending.IsZero() {
		t.Fatalf("debit account after step 3: %+v", accounts)
	}
}
