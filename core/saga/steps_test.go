package saga

import (
	"bytes"
	"errors"
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

func (s *twoShards) transfer(id, amount uint64) model.Transfer {
	return model.Transfer{ID: model.U128(id), DebitAccountID: s.from, CreditAccountID: s.to,
		Amount: model.U128(amount), UserData32: 5, Ledger: 1, Code: 1}
}

// startStatus applies step 1 of a transfer on the debit shard.
func (s *twoShards) startStatus(t *testing.T, transfer model.Transfer) (model.Status, []Message) {
	events := []model.Transfer{transfer}
	credit, cross := s.debit.Cross(&events[0])
	if !cross || credit != 1 {
		t.Fatalf("transfer %s: cross %v to shard %d", transfer.ID, cross, credit)
	}
	credits := []uint16{credit}
	s.debit.EnsureSettlements(s.debitLedger, &s.debitClock, events, []bool{true}, credits)
	results := make([]model.TransferResult, 1)
	var messages []Message
	s.debit.StartRun(s.debitLedger, stepsClient, events, credits, next(&s.debitClock), false,
		results, &messages)
	return results[0].Status, messages
}

// start applies step 1 of transfer id (amount) on the debit shard and returns its Credit.
func (s *twoShards) start(t *testing.T, id, amount uint64) Credit {
	return s.startTransfer(t, s.transfer(id, amount))
}

// startTransfer applies step 1 of a transfer on the debit shard, which must answer
// saga_in_flight with one Credit, and returns that Credit.
func (s *twoShards) startTransfer(t *testing.T, transfer model.Transfer) Credit {
	status, messages := s.startStatus(t, transfer)
	if status != model.StatusSagaInFlight || len(messages) != 1 || messages[0].Kind != MessageCredit {
		t.Fatalf("step 1 of %s: %s, messages %+v", transfer.ID, status, messages)
	}
	return messages[0].Credit
}

// ofKind returns what the messages of one kind carry, in order.
func ofKind[T any](messages []Message, kind MessageKind, carried func(m *Message) T) []T {
	var out []T
	for i := range messages {
		if messages[i].Kind == kind {
			out = append(out, carried(&messages[i]))
		}
	}
	return out
}

// decide applies step 2 on the credit shard and returns the decisions it sent.
func (s *twoShards) decide(credits ...Credit) []Decision {
	var messages []Message
	s.credit.ApplyCredits(s.creditLedger, &s.creditClock, credits, &messages)
	return ofKind(messages, MessageDecision, func(m *Message) Decision { return m.Decision })
}

// finish applies step 3 on the debit shard and returns the sagas it made final.
func (s *twoShards) finish(decisions ...Decision) []Finished {
	var messages []Message
	s.debit.ApplyFinishes(s.debitLedger, &s.debitClock, decisions, &messages)
	return ofKind(messages, MessageFinished, func(m *Message) Finished { return m.Finished })
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

// A retry of a saga's transfer is answered like a local transfer's retry: an identical
// one gets saga_in_flight_retry while the saga runs and exists once it posted, a different
// one exists_with_different_*; neither starts a second saga (no Credit).
func TestRetryOfASagasTransfer(t *testing.T) {
	s := newTwoShards(t)
	credit := s.start(t, 5001, 10)
	for _, c := range []struct {
		transfer model.Transfer
		want     model.Status
	}{{s.transfer(5001, 10), model.StatusSagaInFlightRetry},
		{s.transfer(5001, 11), model.StatusExistsWithDifferentAmount}} {
		if status, messages := s.startStatus(t, c.transfer); status != c.want || len(messages) != 0 {
			t.Fatalf("retry while running: %s (messages %+v), want %s", status, messages, c.want)
		}
	}
	s.finish(s.decide(credit)...)
	if status, messages := s.startStatus(t, s.transfer(5001, 10)); status != model.StatusExists ||
		len(messages) != 0 {
		t.Fatalf("retry once posted: %s (messages %+v)", status, messages)
	}
}

// A Credit below its debit shard's watermark (its decision forgotten; a failover may have
// lost the saga's end on the debit shard) is answered from the ledger: credited when step
// 2's transfer is the one this Credit makes, else saga_decision_unknown (a lost saga's
// number reused for another transfer must not be told it was credited).
func TestForgottenCreditIsAnsweredFromTheLedger(t *testing.T) {
	s := newTwoShards(t)
	credit := s.start(t, 6001, 10)
	s.finish(s.decide(credit)...)
	s.credit.ApplyForget(&Forget{From: 0, Below: 2})
	if s.credit.Decisions() != 0 {
		t.Fatalf("%d decisions kept after forget", s.credit.Decisions())
	}
	if d := s.decide(credit); len(d) != 1 || d[0].Status != model.StatusOK || d[0].Amount != model.U128(10) {
		t.Fatalf("a forgotten credit's copy: %+v", d)
	}
	other := func(change func(t *model.Transfer)) Credit {
		c := credit
		c.Transfer.ID = model.U128(6002)
		change(&c.Transfer)
		return c
	}
	for name, c := range map[string]Credit{
		"amount":         other(func(t *model.Transfer) { t.Amount = model.U128(9) }),
		"credit account": other(func(t *model.Transfer) { t.CreditAccountID = model.U128(1 << 41) }),
		"code":           other(func(t *model.Transfer) { t.Code = 2 }),
		"user data 32":   other(func(t *model.Transfer) { t.UserData32 = 6 }),
		"user data 64":   other(func(t *model.Transfer) { t.UserData64 = 6 }),
		"user data 128":  other(func(t *model.Transfer) { t.UserData128 = model.U128(6) }),
		"ledger":         other(func(t *model.Transfer) { t.Ledger = 2 }),
	} {
		if d := s.decide(c); len(d) != 1 || d[0].Status != model.StatusSagaDecisionUnknown {
			t.Errorf("a forgotten saga's number with another %s: %+v", name, d)
		}
	}
}

// Step 2's ledger transfers get the timestamps of their decisions, also when a decision
// without a ledger event (an abort) comes first in the batch.
func TestCreditBatchTimestamps(t *testing.T) {
	s := newTwoShards(t)
	aborted, credited := s.start(t, 7001, 1), s.start(t, 7002, 2)
	aborted.Abort = true
	decisions := s.decide(aborted, credited)
	if len(decisions) != 2 || decisions[1].Status != model.StatusOK {
		t.Fatalf("step 2: %+v", decisions)
	}
	made := s.creditLedger.LookupTransfers([]model.Uint128{CreditTransferID(0, 2)}, nil)
	if len(made) != 1 || made[0].Timestamp != decisions[1].Timestamp {
		t.Fatalf("step 2's transfer %+v, decision at %d", made, decisions[1].Timestamp)
	}
}

// A lookup of transfers on the debit shard shows a saga's transfer as the client sent it
// once it posted, hides it while it runs, and keeps local transfers as they are.
func TestViewOfSagaTransfers(t *testing.T) {
	s := newTwoShards(t)
	credit := s.start(t, 8001, 10)
	ids := []model.Uint128{model.U128(8001), model.U128(1 << 40)} // The saga's; the funding.
	view := func() []model.Transfer {
		return s.debit.View(s.debitLedger, s.debitLedger.LookupTransfers(ids, nil))
	}
	if got := view(); len(got) != 1 || got[0].ID != model.U128(1<<40) {
		t.Fatalf("while running: %+v", got)
	}
	s.finish(s.decide(credit)...)
	got := view()
	if len(got) != 2 || got[0].ID != model.U128(8001) || got[0].CreditAccountID != s.to ||
		got[0].Amount != model.U128(10) || got[1].ID != model.U128(1<<40) {
		t.Fatalf("once posted: %+v", got)
	}
}

// After a restore, Index finds each saga's step 1 in the ledger (lookups work again) and
// refuses a ledger that lacks them.
func TestIndexAfterRestore(t *testing.T) {
	s := newTwoShards(t)
	s.start(t, 9001, 1)
	s.finish(s.decide(s.start(t, 9002, 2))...)
	section := s.debit.AppendSnapshot(nil)
	restored, err := ReadSnapshot(bytes.NewReader(section), s.placement, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.Index(s.debitLedger); err != nil {
		t.Fatal(err)
	}
	s.debit = restored
	if state := s.lookup(t, 9002); state.Phase != PhaseFinal || state.Result.Status != model.StatusOK {
		t.Fatalf("saga 2 after the restore: %+v", state)
	}
	if state := s.lookup(t, 9001); state.Phase != PhaseRunning {
		t.Fatalf("saga 1 after the restore: %+v", state)
	}
	again, _ := ReadSnapshot(bytes.NewReader(section), s.placement, 0)
	if err := again.Index(ledger.New(ledger.Config{})); !errors.Is(err, ErrSnapshotInvalid) {
		t.Fatalf("indexing against an empty ledger: %v", err)
	}
}

// An aborted Credit (the debit shard gave up waiting: saga_timed_out) creates no
// settlement account on the credit shard, even as the pair's first Credit: only a Credit
// that reaches the ledger ensures it. The README's "A node of several shards" (change
// capture) tells consumers when account_created of S(A→B, L) shows on B; it said "even
// one B then refuses" without this exception.
func TestAbortedFirstCreditCreatesNoSettlementAccount(t *testing.T) {
	s := newTwoShards(t)
	credit := s.start(t, 2101, 10)
	credit.Abort = true
	if decisions := s.decide(credit); len(decisions) != 1 ||
		decisions[0].Status != model.StatusSagaTimedOut {
		t.Fatalf("step 2: %+v", decisions)
	}
	settlement := SettlementAccountID(0, 1, 1)
	if found := s.creditLedger.LookupAccounts([]model.Uint128{settlement}, nil); len(found) != 0 {
		t.Fatalf("an aborted credit created the settlement account on the credit shard: %+v", found)
	}
}
