package core

import (
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// pairAt is newPair with both machines at a rules version.
func pairAt(t *testing.T, version uint32) *pair {
	p := &pair{t: t, actor: 1}
	for i := range p.shards {
		p.shards[i] = newHarness(t, Config{Shard: ShardConfig{Map: twoShards, Index: uint16(i)}})
		p.shards[i].upgradeRules(version)
	}
	return p
}

// balancingOutcome is what a transfer did: its status, what the payee was credited and
// what the payer was debited (posted; nothing stays pending either way).
type balancingOutcome struct {
	status        model.Status
	payeeCredited model.Uint128
	payerDebited  model.Uint128
}

// payerBoundCase is one transfer of at most amount, with flags, from a payer holding
// payerCredits into a payee that can take payeeRoom (its debits, no credits yet).
type payerBoundCase struct {
	name         string
	payerLimited bool // debits_must_not_exceed_credits; else the client may not issue there.
	payerCredits uint64
	payeeRoom    uint64
	flags        uint16
	amount       uint64
}

// run makes the case twice on a fresh pair: locally (payer 1 → payee 3, both on shard 0)
// and across shards (payer 4 → payee 102), from identical balances, and returns both.
func (c payerBoundCase) run(t *testing.T, version uint32) (local, cross balancingOutcome) {
	t.Helper()
	p := pairAt(t, version)
	payerFlags := uint16(0)
	if c.payerLimited {
		payerFlags = model.AccountDebitsMustNotExceedCredits
	}
	// 2 and 100 fund the others and take the payees' debits; the payees are issuers.
	p.accounts(map[uint64]uint16{1: payerFlags, 4: payerFlags, 2: 0, 3: 0, 100: 0, 102: 0})
	if !c.payerLimited {
		// Take back the right to issue money from the payers (accounts gave it to create
		// them): a debit beyond their credits is then refused exceeds_credits (version 6).
		kept := p.grants[:0]
		for _, grant := range p.grants {
			if grant.First != model.U128(1) && grant.First != model.U128(4) {
				kept = append(kept, grant)
			}
		}
		p.grants = kept
		for _, h := range p.shards {
			h.apply(Request{Operation: model.OperationSetGrants,
				Body: model.AppendGrants(nil, p.grants)})
		}
	}
	for i, setup := range []model.Transfer{simpleTransfer(1, 2, 1, c.payerCredits),
		simpleTransfer(2, 2, 4, c.payerCredits), simpleTransfer(3, 3, 2, c.payeeRoom),
		simpleTransfer(4, 102, 100, c.payeeRoom)} {
		if setup.Amount.IsZero() {
			continue
		}
		if result, messages := p.transfer(setup); result.Status != model.StatusOK || len(messages) != 0 {
			t.Fatalf("%s: setup transfer %d: %s", c.name, i, result.Status)
		}
	}
	transfer := func(id, payer, payee uint64) model.Transfer {
		return with(simpleTransfer(id, payer, payee, c.amount), func(t *model.Transfer) {
			t.Flags = c.flags
		})
	}
	outcome := func(status model.Status, payer, payee uint64) balancingOutcome {
		if pending := p.account(payer).DebitsPending; !pending.IsZero() {
			t.Fatalf("%s: payer %d keeps %s pending", c.name, payer, pending)
		}
		return balancingOutcome{status, p.account(payee).CreditsPosted,
			p.account(payer).DebitsPosted}
	}
	result, _ := p.transfer(transfer(10, 1, 3))
	local = outcome(result.Status, 1, 3)
	result, messages := p.transfer(transfer(11, 4, 102))
	if result.Status == model.StatusSagaInFlight {
		result = p.settle(messages)[0].Finished.Result
	}
	cross = outcome(result.Status, 4, 102)
	return local, cross
}

var payerBoundCases = []payerBoundCase{
	// hunt45a's case: the payer can pay the 30 the payee takes, not the 1,000 named.
	{"limited payer, payee takes less", true, 100, 30, model.TransferBalancingCredit, 1000},
	{"limited payer, payee takes what it has", true, 100, 100, model.TransferBalancingCredit, 1000},
	{"limited payer, payee takes more", true, 100, 150, model.TransferBalancingCredit, 1000},
	{"limited payer, empty payee", true, 100, 0, model.TransferBalancingCredit, 1000},
	{"limited empty payer, empty payee", true, 0, 0, model.TransferBalancingCredit, 1000},
	{"limited empty payer, payee takes some", true, 0, 5, model.TransferBalancingCredit, 1000},
	{"limited payer, amount within both", true, 100, 150, model.TransferBalancingCredit, 40},
	{"non-issuing payer, payee takes less", false, 100, 30, model.TransferBalancingCredit, 1000},
	{"non-issuing payer, payee takes more", false, 100, 150, model.TransferBalancingCredit, 1000},
	{"both flags, payer short", true, 100, 150,
		model.TransferBalancingCredit | model.TransferBalancingDebit, 1000},
	{"both flags, payee short", true, 100, 30,
		model.TransferBalancingCredit | model.TransferBalancingDebit, 1000},
	{"balancing_debit, payer short", true, 100, 0, model.TransferBalancingDebit, 1000},
	{"balancing_debit, non-issuing payer", false, 100, 0, model.TransferBalancingDebit, 1000},
}

// TestPayerBoundRulesVersion: from rules version 9 a cross-shard balancing transfer
// answers and moves what the same transfer does on one shard, for a payer limited by
// debits_must_not_exceed_credits or by not being allowed to issue money, with
// balancing_credit, balancing_debit or both (package saga, SetPayerBound). At version 8
// a cross-shard balancing_credit is judged on the amount named, as it was applied then:
// hunt45a's case is refused exceeds_credits with nothing moved.
func TestPayerBoundRulesVersion(t *testing.T) {
	for _, c := range payerBoundCases {
		local, cross := c.run(t, rulesVersionPayerBound)
		if local != cross {
			t.Errorf("version 9, %s: local %+v, across shards %+v", c.name, local, cross)
		}
	}
	local, cross := payerBoundCases[0].run(t, rulesVersionPayerBound-1)
	if local.status != model.StatusOK || local.payeeCredited != model.U128(30) ||
		cross.status != model.StatusExceedsCredits || !cross.payeeCredited.IsZero() ||
		!cross.payerDebited.IsZero() {
		t.Errorf("version 8, %s: local %+v, across shards %+v (want ok moving 30, and "+
			"exceeds_credits moving nothing)", payerBoundCases[0].name, local, cross)
	}
}

// TestPayerBoundCreditsInOneBatchAndAfterRestore: step 2 judges each bounded Credit at
// its turn in a saga_credit request, after the credits before it moved the payee's
// balance, and the Credit a restored debit shard sends again (its outbox) still says its
// amount is the payer's bound. Payers 1 (100) and 4 (50), both limited, each pay "at
// most 1,000" into payee 102, which can take 60: on one shard the first moves 60, the
// second 0 (the payee is full), both ok; judged on the balance before the request, the
// second would be refused (60 is more than its 50).
func TestPayerBoundCreditsInOneBatchAndAfterRestore(t *testing.T) {
	p := pairAt(t, rulesVersionPayerBound)
	limited := model.AccountDebitsMustNotExceedCredits
	p.accounts(map[uint64]uint16{1: limited, 4: limited, 2: 0, 100: 0, 102: 0})
	for _, setup := range []model.Transfer{simpleTransfer(1, 2, 1, 100),
		simpleTransfer(2, 2, 4, 50), simpleTransfer(3, 102, 100, 60)} {
		if result, _ := p.transfer(setup); result.Status != model.StatusOK {
			t.Fatalf("setup %s: %s", setup.ID, result.Status)
		}
	}
	atMost := func(id, payer uint64) model.Transfer {
		return with(simpleTransfer(id, payer, 102, 1000), func(t *model.Transfer) {
			t.Flags = model.TransferBalancingCredit
		})
	}
	out := p.client(0, model.OperationCreateTransfers, 0, transfersBody(atMost(10, 1), atMost(11, 4)))
	for i, status := range eventStatuses(t, out.Body(&out.Replies[0])) {
		if status != model.StatusSagaInFlight {
			t.Fatalf("step 1 of transfer %d: %s", i, status)
		}
	}
	sent := append([]saga.Message(nil), out.Messages...)
	p.shards[0].restore(Config{Shard: ShardConfig{Map: twoShards, Index: 0}})
	var resent []saga.Credit
	p.shards[0].machine.sagas.Running(func(c *saga.Credit) { resent = append(resent, *c) })
	if len(resent) != 2 || len(sent) != 2 {
		t.Fatalf("%d credits sent, %d running after the restore", len(sent), len(resent))
	}
	body := make([]byte, 2*model.SagaCreditSize)
	for i, want := range []uint64{100, 50} {
		if resent[i] != sent[i].Credit || !resent[i].PayerBound ||
			resent[i].Transfer.Amount != model.U128(want) {
			t.Fatalf("credit %d after the restore: %+v, sent %+v (want the payer's bound %d)",
				i, resent[i], sent[i].Credit, want)
		}
		resent[i].Encode(body[i*model.SagaCreditSize:])
	}
	decisions := p.shards[1].apply(Request{Operation: model.OperationSagaCredit, Body: body}).Messages
	finished := p.settle(append([]saga.Message(nil), decisions...))
	for i, want := range []uint64{60, 0} {
		result := finished[i].Finished.Result
		if result.Status != model.StatusOK || p.account([]uint64{1, 4}[i]).DebitsPosted != model.U128(want) {
			t.Errorf("transfer %d: %s, payer debited %s, want ok moving %d", i, result.Status,
				p.account([]uint64{1, 4}[i]).DebitsPosted, want)
		}
	}
	if credited := p.account(102).CreditsPosted; credited != model.U128(60) {
		t.Errorf("payee credited %s, want 60", credited)
	}
}

// TestPayerBoundBitBeforeVersion9: before rules version 9 the PayerBound bit of a Credit
// was reserved, and a record with it set was skipped (nothing decided, nothing sent), as
// the builds before it skip it: an old log replays as it was applied.
func TestPayerBoundBitBeforeVersion9(t *testing.T) {
	for _, version := range []uint32{rulesVersionPayerBound - 1, rulesVersionPayerBound} {
		p := pairAt(t, version)
		p.accounts(map[uint64]uint16{1: 0, 102: 0})
		credit := saga.Credit{Transfer: with(simpleTransfer(10, 1, 102, 5), func(t *model.Transfer) {
			t.Flags = model.TransferBalancingCredit
		}), Sequence: 1, From: 0, To: 1, Client: 1, PayerBound: true}
		body := make([]byte, model.SagaCreditSize)
		credit.Encode(body)
		messages := p.shards[1].apply(Request{Operation: model.OperationSagaCredit, Body: body}).Messages
		if decided := len(messages) == 1; decided != (version >= rulesVersionPayerBound) {
			t.Errorf("version %d: %d messages for a Credit with the PayerBound bit", version,
				len(messages))
		}
	}
}
