package saga

import (
	"bytes"
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// Tests of the saga promises that the mutation run of session 51 found unchecked by this
// package's own tests (tools/mutation/guard.txt names each with the mutant it kills).

// A retry of a transfer whose saga ended is answered as a local transfer's retry would
// be: exists after it was created, id_already_failed after a transient failure, a
// timeout or an unknown decision (the outcome must not change on a retry), and the same
// status after any other failure.
func TestRetryStatusAfterEachEnding(t *testing.T) {
	for _, c := range []struct{ final, want model.Status }{
		{model.StatusOK, model.StatusExists},
		{model.StatusSagaTimedOut, model.StatusIDAlreadyFailed},
		{model.StatusSagaDecisionUnknown, model.StatusIDAlreadyFailed},
		{model.StatusExceedsCredits, model.StatusIDAlreadyFailed},
		{model.StatusAccountsLimitReached, model.StatusAccountsLimitReached},
		{model.StatusLedgerMustNotBeZero, model.StatusLedgerMustNotBeZero},
	} {
		if got := RetryStatus(c.final); got != c.want {
			t.Errorf("retry after %s: %s, want %s", c.final, got, c.want)
		}
	}
}

// Step 2's and step 3's ids carry the other shard in bits 80-95 (doc.go, "Ids"), so
// that sagas of different pairs of shards never share an id.
func TestStepIDsNameTheOtherShard(t *testing.T) {
	const shard, sequence = 0x1234, 77
	for name, c := range map[string]struct {
		id   model.Uint128
		kind uint64
	}{
		"credit": {CreditTransferID(shard, sequence), 2},
		"post":   {PostTransferID(shard, sequence), 3},
		"void":   {VoidTransferID(shard, sequence), 4},
	} {
		if got := uint16(c.id.Hi >> 16); got != shard {
			t.Errorf("%s id %s: shard %#x in bits 80-95, want %#x", name, c.id, got, shard)
		}
		if got := c.id.Hi >> 40 & 0xff; got != c.kind {
			t.Errorf("%s id %s: kind %d, want %d", name, c.id, got, c.kind)
		}
		if c.id.Lo != sequence || c.id.Hi>>63 != 1 || c.id.Hi>>48&0xff != 0x73 {
			t.Errorf("%s id %s: not a system id of domain 's' with the sequence low", name, c.id)
		}
	}
	if PostTransferID(1, sequence) == PostTransferID(2, sequence) {
		t.Error("the posts of two credit shards' sagas of one number share an id")
	}
}

// The outbox summary's lowest running saga is the oldest one still running, and Running
// visits exactly the running sagas, in order (what reconciliation resends).
func TestSummaryAndRunningNameTheRunningSagas(t *testing.T) {
	s := newTwoShards(t)
	first := s.start(t, 8001, 1)
	s.start(t, 8002, 2)
	s.start(t, 8003, 3)
	running := func() []uint64 {
		var sequences []uint64
		s.debit.Running(func(c *Credit) { sequences = append(sequences, c.Sequence) })
		return sequences
	}
	if got := s.debit.Summary(); got.Lowest != 1 || got.Next != 4 || got.Running != 3 {
		t.Fatalf("summary with three running: %+v", got)
	}
	s.finish(s.decide(first)...)
	if got := s.debit.Summary(); got.Lowest != 2 || got.Next != 4 || got.Running != 2 {
		t.Fatalf("summary once saga 1 is final: %+v", got)
	}
	if got := running(); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("running once saga 1 is final: %v", got)
	}
}

// startRun applies step 1 to transfers in one call (one run of a request) and returns
// the results and the Credits.
func (s *twoShards) startRun(transfers []model.Transfer, first uint64,
	messages *[]Message) []model.TransferResult {
	credits := make([]uint16, len(transfers))
	cross := make([]bool, len(transfers))
	for i := range transfers {
		credits[i], cross[i] = 1, true
	}
	s.debit.EnsureSettlementsAs(s.debitLedger, stepsClient, &s.debitClock, transfers, cross, credits)
	results := make([]model.TransferResult, len(transfers))
	s.debit.StartRun(s.debitLedger, stepsClient, transfers, credits, first, false, results, messages)
	return results
}

// Several sagas started by one request: each result has its transfer's timestamp, each
// saga is found by its transfer's id (through its step's storage index), and each later
// posts its own step 1.
func TestRunOfSagasFinishesEachOnItsOwnStep(t *testing.T) {
	s := newTwoShards(t)
	s.debitClock += 10
	first := s.debitClock + 1
	var messages []Message
	results := s.startRun([]model.Transfer{s.transfer(8101, 10), s.transfer(8102, 20),
		s.transfer(8103, 30)}, first, &messages)
	s.debitClock += 3
	for i, r := range results {
		if r.Status != model.StatusSagaInFlight || r.Timestamp != first+uint64(i) {
			t.Fatalf("result %d: %s at %d, want saga_in_flight at %d", i, r.Status, r.Timestamp,
				first+uint64(i))
		}
	}
	credits := ofKind(messages, MessageCredit, func(m *Message) Credit { return m.Credit })
	if len(credits) != 3 {
		t.Fatalf("%d Credits", len(credits))
	}
	for id := uint64(8101); id <= 8103; id++ { // Found by its step's index.
		if state := s.lookup(t, id); state.Phase != PhaseRunning {
			t.Fatalf("lookup of %d while running: %+v", id, state)
		}
		if status, _ := s.startStatus(t, s.transfer(id, (id-8100)*10)); status != model.StatusSagaInFlightRetry {
			t.Fatalf("retry of %d: %s", id, status)
		}
	}
	finished := s.finish(s.decide(credits...)...)
	if len(finished) != 3 {
		t.Fatalf("%d sagas finished", len(finished))
	}
	for i, f := range finished {
		if f.Result.Status != model.StatusOK || f.ID != model.U128(8101+uint64(i)) {
			t.Errorf("saga %d: %s %+v", i+1, f.ID, f.Result)
		}
	}
	accounts := s.debitLedger.LookupAccounts([]model.Uint128{s.from}, nil)
	if len(accounts) != 1 || accounts[0].DebitsPosted != model.U128(60) ||
		!accounts[0].DebitsPending.IsZero() {
		t.Fatalf("debit account after three posted sagas: %+v", accounts)
	}
}

// Step 1 of a balancing_debit transfer reserves what the payer has, not the amount
// named; the Credit carries that amount and step 3 posts it.
func TestBalancingDebitReservesWhatThePayerHas(t *testing.T) {
	s := newTwoShards(t)
	transfer := s.transfer(8201, 1000)
	transfer.Flags = model.TransferBalancingDebit
	credit := s.startTransfer(t, transfer)
	if credit.Transfer.Amount != model.U128(100) {
		t.Fatalf("the Credit carries %s, want the payer's 100", credit.Transfer.Amount)
	}
	if f := s.finish(s.decide(credit)...); len(f) != 1 || f[0].Result.Status != model.StatusOK {
		t.Fatalf("step 3: %+v", f)
	}
	accounts := s.debitLedger.LookupAccounts([]model.Uint128{s.from}, nil)
	if len(accounts) != 1 || accounts[0].DebitsPosted != model.U128(100) {
		t.Fatalf("debit account: %+v", accounts)
	}
}

// With the payer's bound (rules version 9), step 1 of a balancing_credit transfer from
// a debit-limited account reserves what the payer has, and its Credit says it is bound.
func TestPayerBoundReservesWhatThePayerHas(t *testing.T) {
	s := newTwoShards(t)
	s.debit.SetPayerBound(true)
	s.credit.SetPayerBound(true)
	transfer := s.transfer(8251, 1000)
	transfer.Flags = model.TransferBalancingCredit
	credit := s.startTransfer(t, transfer)
	if credit.Transfer.Amount != model.U128(100) || !credit.PayerBound {
		t.Fatalf("the Credit carries %s (payer bound %v), want the payer's 100, bound",
			credit.Transfer.Amount, credit.PayerBound)
	}
	if d := s.decide(credit); len(d) != 1 || d[0].Status != model.StatusOK {
		t.Fatalf("step 2: %+v", d)
	}
}

// Steps appended one after another to one messages slice (as a request's output is)
// keep every message: a full slice grows.
func TestSuccessiveStepsAppendToOneMessageSlice(t *testing.T) {
	s := newTwoShards(t)
	var messages []Message
	for i := uint64(0); i < 3; i++ {
		messages = messages[:len(messages):len(messages)] // Full: no room for the next.
		s.debitClock++
		s.startRun([]model.Transfer{s.transfer(8301+i, 1)}, s.debitClock, &messages)
	}
	credits := ofKind(messages, MessageCredit, func(m *Message) Credit { return m.Credit })
	if len(credits) != 3 {
		t.Fatalf("%d Credits kept of 3", len(credits))
	}
	for i, c := range credits {
		if c.Sequence != uint64(i)+1 || c.Transfer.ID != model.U128(8301+uint64(i)) {
			t.Errorf("Credit %d: saga %d of %s", i, c.Sequence, c.Transfer.ID)
		}
	}
}

// A Forget that names this shard as the debit shard (no decision of its own is ever
// kept) changes nothing: the snapshot is the same.
func TestForgetNamingThisShardChangesNothing(t *testing.T) {
	b, _ := snapshotBook()
	before := b.AppendSnapshot(nil)
	b.ApplyForget(&Forget{From: b.Self(), Below: 1000})
	if after := b.AppendSnapshot(nil); !bytes.Equal(before, after) {
		t.Fatal("a Forget from this shard itself changed the book")
	}
}

// Malformed Credits are ignored without a decision: one numbered 0 (sagas are numbered
// from 1), and one saying the payer bound it before the rules that know the bound.
func TestMalformedCreditsAreIgnored(t *testing.T) {
	s := newTwoShards(t)
	credit := s.start(t, 8401, 10)
	for name, change := range map[string]func(c *Credit){
		"sequence 0":  func(c *Credit) { c.Sequence = 0 },
		"payer bound": func(c *Credit) { c.PayerBound = true },
		"to another":  func(c *Credit) { c.To = 0 },
	} {
		c := credit
		change(&c)
		if d := s.decide(c); len(d) != 0 {
			t.Errorf("%s: decided %+v", name, d)
		}
	}
	if s.credit.Decisions() != 0 {
		t.Fatalf("%d decisions kept for malformed Credits", s.credit.Decisions())
	}
}

// nthAccountOn returns the n-th account id (from 0) that the map places on shard.
func (s *twoShards) nthAccountOn(shard uint16, n int) model.Uint128 {
	for id := uint64(1); ; id++ {
		if s.placement.AccountShard(model.U128(id), 1) == shard {
			if n == 0 {
				return model.U128(id)
			}
			n--
		}
	}
}

// Paying into another client's account needs no right over it; clamping a
// balancing_credit transfer to it does (ledger doc, "Ownership"):
// credit_account_not_owned, nothing credited.
func TestBalancingCreditNeedsARightOverThePayee(t *testing.T) {
	s := newTwoShards(t)
	payee := s.nthAccountOn(1, 1)
	var results [1]model.EventResult
	s.creditLedger.CreateAccountsAs(stepsClient+1, next(&s.creditClock), []model.Account{{ID: payee,
		Ledger: 1, Code: 1, Flags: model.AccountDebitsMustNotExceedCredits}}, results[:])
	if results[0].Status != model.StatusOK {
		t.Fatalf("payee account: %s", results[0].Status)
	}
	plain := s.transfer(8501, 10)
	plain.CreditAccountID = payee
	balancing := s.transfer(8502, 10)
	balancing.CreditAccountID, balancing.Flags = payee, model.TransferBalancingCredit
	nowhere := balancing // Balancing into an account that does not exist.
	nowhere.ID, nowhere.CreditAccountID = model.U128(8503), s.nthAccountOn(1, 2)
	for _, c := range []struct {
		transfer model.Transfer
		want     model.Status
	}{{plain, model.StatusOK}, {balancing, model.StatusCreditAccountNotOwned},
		{nowhere, model.StatusCreditAccountNotFound}} {
		status, messages := s.startStatus(t, c.transfer)
		if status != model.StatusSagaInFlight || len(messages) != 1 {
			t.Fatalf("step 1 of %s: %s", c.transfer.ID, status)
		}
		if d := s.decide(messages[0].Credit); len(d) != 1 || d[0].Status != c.want {
			t.Errorf("step 2 of %s: %+v, want %s", c.transfer.ID, d, c.want)
		}
	}
	accounts := s.creditLedger.LookupAccounts([]model.Uint128{payee}, nil)
	if len(accounts) != 1 || accounts[0].CreditsPosted != model.U128(10) {
		t.Fatalf("payee: %+v", accounts)
	}
}

// From rules version 2, a settlement account is created only for a transfer its client
// may debit (EnsureSettlementsAs): another client's transfers cannot fill the accounts
// limit.
func TestSettlementAccountOnlyForAPayerThatMayDebit(t *testing.T) {
	s := newTwoShards(t)
	transfers := []model.Transfer{s.transfer(8601, 1)}
	settlement := SettlementAccountID(0, 1, 1)
	for _, c := range []struct {
		client  uint64
		created bool
	}{{stepsClient + 1, false}, {stepsClient, true}} {
		s.debit.EnsureSettlementsAs(s.debitLedger, c.client, &s.debitClock, transfers,
			[]bool{true}, []uint16{1})
		found := len(s.debitLedger.LookupAccounts([]model.Uint128{settlement}, nil)) == 1
		if found != c.created {
			t.Fatalf("client %d: settlement account created %v, want %v", c.client, found, c.created)
		}
	}
}

// A transfer whose settlement account could not be created (the accounts limit) is
// refused accounts_limit_reached, not as though the sagas were full.
func TestSettlementAccountAtTheAccountsLimit(t *testing.T) {
	s := newTwoShards(t)
	s.debitLedger = ledger.New(ledger.Config{AccountsMax: 1})
	var results [1]model.EventResult
	s.debitLedger.CreateAccountsAs(stepsClient, next(&s.debitClock), []model.Account{{ID: s.from,
		Ledger: 1, Code: 1, Flags: model.AccountDebitsMustNotExceedCredits}}, results[:])
	if results[0].Status != model.StatusOK {
		t.Fatalf("account: %s", results[0].Status)
	}
	s.debitClock++
	got := s.startRun([]model.Transfer{s.transfer(8701, 1)}, s.debitClock, new([]Message))
	if got[0].Status != model.StatusAccountsLimitReached {
		t.Fatalf("step 1 without its settlement account: %s", got[0].Status)
	}
}

// FixRetries answers as retries only the exists_with_different_* results of local
// transfers with a saga's id (the ledger compared them with step 1); any other result
// stands.
func TestFixRetriesCorrectsOnlyExistsWithDifference(t *testing.T) {
	s := newTwoShards(t)
	s.start(t, 8801, 10)
	retry := s.transfer(8801, 10)
	for _, c := range []struct{ ledger, want model.Status }{
		{model.StatusExistsWithDifferentFlags, model.StatusSagaInFlightRetry},
		{model.StatusExistsWithDifferentCreditAccountID, model.StatusSagaInFlightRetry},
		{model.StatusLinkedEventFailed, model.StatusLinkedEventFailed},
		{model.StatusLedgerMustNotBeZero, model.StatusLedgerMustNotBeZero},
		{model.StatusExists, model.StatusExists},
	} {
		results := []model.TransferResult{{EventResult: model.EventResult{Status: c.ledger}}}
		s.debit.FixRetries(s.debitLedger, []model.Transfer{retry}, results)
		if results[0].Status != c.want {
			t.Errorf("ledger's %s: %s, want %s", c.ledger, results[0].Status, c.want)
		}
	}
}

// A forgotten balancing_credit saga's copy is answered from the ledger as credited with
// what step 2 moved, which the payee's balance may have lowered below the reserve.
func TestForgottenBalancingCreditIsAnsweredWithWhatMoved(t *testing.T) {
	s := newTwoShards(t)
	transfer := s.transfer(8901, 10)
	transfer.Flags = model.TransferBalancingCredit
	credit := s.startTransfer(t, transfer)
	first := s.decide(credit)
	if len(first) != 1 || first[0].Status != model.StatusOK || !first[0].Amount.Less(credit.Transfer.Amount) {
		t.Fatalf("step 2 should credit less than the reserved %s: %+v", credit.Transfer.Amount, first)
	}
	s.finish(first...)
	s.credit.ApplyForget(&Forget{From: 0, Below: 2})
	if d := s.decide(credit); len(d) != 1 || d[0].Status != model.StatusOK || d[0].Amount != first[0].Amount {
		t.Fatalf("a forgotten balancing credit's copy: %+v, first answered %+v", d, first[0])
	}
}

// A step 2 bounded by its payer (judged alone, after the steps before it in the batch)
// gets its decision's timestamp, as every other step does.
func TestPayerBoundCreditTimestamps(t *testing.T) {
	s := newTwoShards(t)
	s.debit.SetPayerBound(true)
	s.credit.SetPayerBound(true)
	plain := s.start(t, 9001, 1)
	transfer := s.transfer(9002, 1000)
	transfer.Flags = model.TransferBalancingCredit
	_, messages := s.startStatus(t, transfer)
	if len(messages) != 1 || !messages[0].Credit.PayerBound {
		t.Fatalf("step 1 of the bounded transfer: %+v", messages)
	}
	decisions := s.decide(plain, messages[0].Credit)
	if len(decisions) != 2 || decisions[0].Status != model.StatusOK || decisions[1].Status != model.StatusOK {
		t.Fatalf("step 2: %+v", decisions)
	}
	for i, sequence := range []uint64{1, 2} {
		made := s.creditLedger.LookupTransfers([]model.Uint128{CreditTransferID(0, sequence)}, nil)
		if len(made) != 1 || made[0].Timestamp != decisions[i].Timestamp {
			t.Errorf("step 2 of saga %d: %+v, decision at %d", sequence, made, decisions[i].Timestamp)
		}
	}
}

// issuingPayer creates, as the system, an account without debits_must_not_exceed_credits
// on the debit shard (the n-th there) and ledger: the system may issue money from it, so
// SetPayerBound leaves its transfers at the amount named and SetHeadroomBound bounds them.
func (s *twoShards) issuingPayer(t *testing.T, n int, ledgerNumber uint32) model.Uint128 {
	id := s.nthAccountOn(0, n)
	var results [1]model.EventResult
	s.debitLedger.CreateAccounts(next(&s.debitClock), []model.Account{{ID: id, Ledger: ledgerNumber,
		Code: 1}}, results[:])
	if results[0].Status != model.StatusOK {
		t.Fatalf("payer %s: %s", id, results[0].Status)
	}
	return id
}

// startAsSystem applies step 1 to transfers in one call on behalf of the system (client
// 0), failing unless each starts a saga, and returns their Credits.
func (s *twoShards) startAsSystem(t *testing.T, transfers ...model.Transfer) []Credit {
	credits, cross := make([]uint16, len(transfers)), make([]bool, len(transfers))
	for i := range transfers {
		credits[i], cross[i] = 1, true
	}
	s.debit.EnsureSettlementsAs(s.debitLedger, 0, &s.debitClock, transfers, cross, credits)
	results := make([]model.TransferResult, len(transfers))
	var messages []Message
	s.debitClock++
	s.debit.StartRun(s.debitLedger, 0, transfers, credits, s.debitClock, false, results, &messages)
	s.debitClock += uint64(len(transfers))
	for i := range results {
		if results[i].Status != model.StatusSagaInFlight {
			t.Fatalf("step 1 of %s: %s", transfers[i].ID, results[i].Status)
		}
	}
	return ofKind(messages, MessageCredit, func(m *Message) Credit { return m.Credit })
}

// With the headroom bound (rules version 10), a plain transfer from a payer that may
// issue reserves the amount named, however large, and one with both balancing flags all
// the payer has; two balancing_credit transfers of
// "as much as the payee takes" in one request each reserve half of what is left at their
// turn, so the second leaves the payer room too.
func TestHeadroomBoundOnlyForBalancingCredit(t *testing.T) {
	s := newTwoShards(t)
	s.debit.SetPayerBound(true)
	s.debit.SetHeadroomBound(true)
	plain := s.transfer(9101, 0)
	plain.DebitAccountID, plain.Amount = s.issuingPayer(t, 1, 1), model.Uint128Max
	if c := s.startAsSystem(t, plain); len(c) != 1 || c[0].Transfer.Amount != model.Uint128Max || c[0].PayerBound {
		t.Fatalf("a plain transfer's Credit: %+v", c)
	}
	if a := s.debitLedger.LookupAccounts([]model.Uint128{plain.DebitAccountID}, nil); len(a) != 1 ||
		a[0].DebitsPending != model.Uint128Max {
		t.Fatalf("a plain transfer's payer holds %+v, want all of the amount pending", a)
	}
	// Both balancing flags: balancing_debit's own clamp (all the payer has), no headroom.
	rich := s.issuingPayer(t, 3, 3)
	issuer := s.issuingPayer(t, 4, 3)
	var funded [1]model.TransferResult
	s.debitLedger.CreateTransfers(next(&s.debitClock), []model.Transfer{{ID: model.U128(9104),
		DebitAccountID: issuer, CreditAccountID: rich, Amount: model.Uint128Max, Ledger: 3,
		Code: 1}}, funded[:])
	both := s.transfer(9105, 0)
	both.DebitAccountID, both.Ledger, both.Amount = rich, 3, model.Uint128Max
	both.Flags = model.TransferBalancingDebit | model.TransferBalancingCredit
	if c := s.startAsSystem(t, both); funded[0].Status != model.StatusOK || len(c) != 1 ||
		c[0].Transfer.Amount != model.Uint128Max {
		t.Fatalf("funding %s; both balancing flags' Credit: %+v, want all the payer has", funded[0].Status, c)
	}
	payer := s.issuingPayer(t, 2, 2)
	sweep := func(id uint64) model.Transfer {
		t := s.transfer(id, 0)
		t.DebitAccountID, t.Ledger, t.Amount = payer, 2, model.Uint128Max
		t.Flags = model.TransferBalancingCredit
		return t
	}
	c := s.startAsSystem(t, sweep(9102), sweep(9103))
	half, _ := model.Uint128Max.DivMod64(2)
	quarter, _ := model.Uint128Max.MustSub(half).DivMod64(2)
	if len(c) != 2 || c[0].Transfer.Amount != half || c[1].Transfer.Amount != quarter ||
		!c[0].PayerBound || !c[1].PayerBound {
		t.Fatalf("two sweeps' Credits: %+v, want %s then %s, bound", c, half, quarter)
	}
}

// The payer's bound holds for every client on a debit-limited account, even one that may
// issue money elsewhere (the system): the limit is the account's.
func TestPayerBoundOnALimitedAccountOfTheSystem(t *testing.T) {
	s := newTwoShards(t)
	s.debit.SetPayerBound(true)
	payer := s.nthAccountOn(0, 3)
	var results [1]model.EventResult
	s.debitLedger.CreateAccounts(next(&s.debitClock), []model.Account{{ID: payer, Ledger: 1,
		Code: 1, Flags: model.AccountDebitsMustNotExceedCredits}}, results[:])
	var funded [1]model.TransferResult
	s.debitLedger.CreateTransfers(next(&s.debitClock), []model.Transfer{{ID: model.U128(9201),
		DebitAccountID: model.U128(1 << 40), CreditAccountID: payer, Amount: model.U128(100),
		Ledger: 1, Code: 1}}, funded[:])
	if results[0].Status != model.StatusOK || funded[0].Status != model.StatusOK {
		t.Fatalf("payer: %s, %s", results[0].Status, funded[0].Status)
	}
	transfer := s.transfer(9202, 1000)
	transfer.DebitAccountID, transfer.Flags = payer, model.TransferBalancingCredit
	if c := s.startAsSystem(t, transfer); len(c) != 1 || c[0].Transfer.Amount != model.U128(100) ||
		!c[0].PayerBound {
		t.Fatalf("the Credit: %+v, want the payer's 100, bound", c)
	}
}

// A step 1 the ledger refuses is answered as the client's single-phase transfer would
// be: its pending overflow as the debit account's total overflow (overflows_debits: the
// posted amount alone fits), any other refusal as it is.
func TestRefusedStepOneIsAnsweredAsALocalTransfer(t *testing.T) {
	s := newTwoShards(t)
	payer := s.issuingPayer(t, 1, 1)
	whole := s.transfer(9301, 0)
	whole.DebitAccountID, whole.Amount = payer, model.Uint128Max
	s.startAsSystem(t, whole) // Holds all the payer's debits can take.
	more := s.transfer(9302, 1)
	more.DebitAccountID = payer
	tooMuch := s.transfer(9303, 1000) // The limited payer has 100.
	for _, c := range []struct {
		client   uint64
		transfer model.Transfer
		want     model.Status
	}{{0, more, model.StatusOverflowsDebits}, {stepsClient, tooMuch, model.StatusExceedsCredits}} {
		events := []model.Transfer{c.transfer}
		results := make([]model.TransferResult, 1)
		var messages []Message
		s.debit.EnsureSettlementsAs(s.debitLedger, c.client, &s.debitClock, events, []bool{true},
			[]uint16{1})
		s.debit.StartRun(s.debitLedger, c.client, events, []uint16{1}, next(&s.debitClock), false,
			results, &messages)
		if results[0].Status != c.want || len(messages) != 0 {
			t.Errorf("step 1 of %s: %s (messages %d), want %s", c.transfer.ID, results[0].Status,
				len(messages), c.want)
		}
	}
}

// With the payee's risk judged (rules version 5), step 2 refuses a credit to a blocked
// payee with the rule's code and credits an unblocked one in the same batch.
func TestBlockedPayeeRefusesOnlyItsCredit(t *testing.T) {
	s := newTwoShards(t)
	s.credit.SetPayeeRisk(true)
	blocked := s.nthAccountOn(1, 1)
	var results [1]model.EventResult
	s.creditLedger.CreateAccountsAs(stepsClient, next(&s.creditClock), []model.Account{{ID: blocked,
		Ledger: 1, Code: 1, Flags: model.AccountDebitsMustNotExceedCredits}}, results[:])
	statuses := make([]model.Status, 1)
	s.creditLedger.Risk().Set([]model.RiskRule{{ID: 1, Kind: model.RiskBlocked,
		Scope: model.RiskScopeAccount, Account: blocked}}, next(&s.creditClock), statuses)
	if results[0].Status != model.StatusOK || statuses[0] != model.StatusOK {
		t.Fatalf("blocked payee: %s, rule %s", results[0].Status, statuses[0])
	}
	free := s.start(t, 9401, 10)
	toBlocked := s.transfer(9402, 20)
	toBlocked.CreditAccountID = blocked
	_, messages := s.startStatus(t, toBlocked)
	decisions := s.decide(free, messages[0].Credit)
	if len(decisions) != 2 || decisions[0].Status != model.StatusOK ||
		decisions[1].Status != model.StatusRiskCreditAccountBlocked {
		t.Fatalf("step 2: %+v", decisions)
	}
	accounts := s.creditLedger.LookupAccounts([]model.Uint128{s.to, blocked}, nil)
	if len(accounts) != 2 || accounts[0].CreditsPosted != model.U128(10) || !accounts[1].CreditsPosted.IsZero() {
		t.Fatalf("payees: %+v", accounts)
	}
}

// The payer's bound holds for a client's account without debits_must_not_exceed_credits
// once the client may no longer issue money there (its grant revoked after it created
// the account): step 1 reserves what the account has, not the amount named.
func TestPayerBoundAfterTheRightToIssueIsRevoked(t *testing.T) {
	s := newTwoShards(t)
	s.debit.SetPayerBound(true)
	payer := s.nthAccountOn(0, 1)
	grant := model.Grant{Client: stepsClient, Scopes: model.ScopeTransfer, Ledger: 1, First: payer,
		Last: payer}
	if err := s.debitLedger.SetGrants([]model.Grant{grant}); err != nil {
		t.Fatal(err)
	}
	var results [1]model.EventResult
	s.debitLedger.CreateAccountsAs(stepsClient, next(&s.debitClock), []model.Account{{ID: payer,
		Ledger: 1, Code: 1}}, results[:])
	var funded [1]model.TransferResult
	s.debitLedger.CreateTransfers(next(&s.debitClock), []model.Transfer{{ID: model.U128(9501),
		DebitAccountID: model.U128(1 << 40), CreditAccountID: payer, Amount: model.U128(100),
		Ledger: 1, Code: 1}}, funded[:])
	if results[0].Status != model.StatusOK || funded[0].Status != model.StatusOK {
		t.Fatalf("payer: %s, %s", results[0].Status, funded[0].Status)
	}
	if err := s.debitLedger.SetGrants(nil); err != nil {
		t.Fatal(err)
	}
	transfer := s.transfer(9502, 1000)
	transfer.DebitAccountID, transfer.Flags = payer, model.TransferBalancingCredit
	status, messages := s.startStatus(t, transfer)
	if status != model.StatusSagaInFlight || len(messages) != 1 ||
		messages[0].Credit.Transfer.Amount != model.U128(100) || !messages[0].Credit.PayerBound {
		t.Fatalf("step 1: %s, %+v; want the account's 100, bound", status, messages)
	}
}
