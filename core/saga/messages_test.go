package saga

import (
	"testing"

	"sequent/core/model"
)

// staleMessages returns messages as an earlier entry leaves them in an output's capacity:
// each kind with its payload set in full (a Credit with Abort, which the Book never sets,
// so that a reused Credit slot must clear it), and a Forget whose other payloads are set
// too (not made by appendMessage: the slot is cleared whole).
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
// (appendMessage): the messages must be the ones it makes into a fresh slice, bit for
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
