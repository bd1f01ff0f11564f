package core

import (
	"testing"

	"sequent/core/model"
)

// issuingCase is the state the issuing-right tests start from: a matrix machine at a
// rules version, where the payer created an account 3000 that may go negative (under a
// transfer grant over ids 3000-3999 of ledger 2, withdrawn since) and a limited 3001, and
// the operator paid 500 into 3000 from its bank (101, ledger 2).
type issuingCase struct {
	h      *harness
	number uint64 // The payer's last request number (session 11).
}

var (
	issuingOperator = model.Grant{Client: matrixOperator, Scopes: model.ScopeOperator}
	issuingGrant    = model.Grant{Client: matrixPayer, Scopes: model.ScopeTransfer, Ledger: 2,
		First: model.U128(3000), Last: model.U128(3999)}
)

func newIssuingCase(t *testing.T, version uint32) *issuingCase {
	h, _ := matrixMachine(t)
	h.upgradeRules(version)
	c := &issuingCase{h: h}
	c.grants(issuingOperator, issuingGrant)
	c.expect("accounts", model.StatusOK, model.StatusOK)(c.apply(
		model.OperationCreateAccounts, encodeRecords(model.AccountSize,
			&model.Account{ID: model.U128(3000), Ledger: 2, Code: 1},
			&model.Account{ID: model.U128(3001), Ledger: 2, Code: 1, Flags: matrixLimited})))
	c.grants(issuingOperator) // Withdrawn.
	h.expectEvents(Request{Client: matrixOperator, Session: 12, Number: 1,
		Operation: model.OperationCreateTransfers, Body: encodeRecords(model.TransferSize,
			&model.Transfer{ID: model.U128(3200), DebitAccountID: model.U128(101),
				CreditAccountID: model.U128(3000), Amount: model.U128(500), Ledger: 2, Code: 1})})
	return c
}

// grants puts a grant table in force through a logged set_grants request.
func (c *issuingCase) grants(grants ...model.Grant) {
	c.h.t.Helper()
	out := c.h.apply(Request{Operation: model.OperationSetGrants,
		Body: model.AppendGrants(nil, grants)})
	if out.Replies[0].Status != model.StatusOK {
		c.h.t.Fatalf("set_grants: %s", out.Replies[0].Status)
	}
}

// apply sends a request of the payer's and returns its event statuses.
func (c *issuingCase) apply(operation model.Operation, body []byte) []model.Status {
	c.h.t.Helper()
	c.number++
	out := c.h.apply(Request{Client: matrixPayer, Session: 11, Number: c.number,
		Operation: operation, Body: body})
	return eventStatuses(c.h.t, out.Body(&out.Replies[0]))
}

// transfers sends transfers of the payer's and returns their statuses.
func (c *issuingCase) transfers(transfers ...*model.Transfer) []model.Status {
	c.h.t.Helper()
	return c.apply(model.OperationCreateTransfers, encodeRecords(model.TransferSize,
		transfers...))
}

// expect returns a check of statuses against want.
func (c *issuingCase) expect(what string, want ...model.Status) func([]model.Status) {
	return func(got []model.Status) {
		c.h.t.Helper()
		if len(got) != len(want) {
			c.h.t.Fatalf("%s: %v, want %v", what, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				c.h.t.Errorf("%s: %v, want %v", what, got, want)
				return
			}
		}
	}
}

// issuingTransfer is a transfer of ledger 2 between the payer's accounts.
func issuingTransfer(id, debit, credit, amount uint64, flags uint16) *model.Transfer {
	return &model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount), Ledger: 2, Code: 1,
		Flags: flags}
}

// balance returns an account's balances.
func (c *issuingCase) balance(id uint64) model.Account {
	return c.h.machine.Ledger().LookupAccounts([]model.Uint128{model.U128(id)}, nil)[0]
}

// TestIssuingRightRulesVersion: from rules version 6, a client's debit that would take
// an account without debits_must_not_exceed_credits above its credits posted (debits
// pending and posted and the amount together) needs the right to issue money there at
// the time of the debit, and without it is refused exceeds_credits, as the account
// would be with the flag; a debit within its credits is not. Walked through each kind
// of debit, on account 3000 (credits 500) after the payer's grant was withdrawn:
//
//   - a pending transfer of 300 (within): accepted, and it counts from then on;
//   - a transfer of 201, then a pending one of 201, which would take debits to 501:
//     refused; one of 200, exactly to the credits: accepted;
//   - the post of the 300 pending (a post never adds debits: the pending's were counted
//     when it was created): accepted;
//   - a linked chain that pays 100 into 3000 then debits 150 from it: the debit would
//     issue 50, so the chain fails whole (nothing of it stays); the same chain debiting
//     100: accepted, the chain's own credit counting;
//   - a balancing debit of 1,000 (clamped to what the credits leave, 0): accepted;
//   - with the grant again, a debit of 1,000 that issues: accepted.
//
// Below version 6 (a log written before the check) every one of them is accepted as it
// was, so that such a log replays bit for bit.
func TestIssuingRightRulesVersion(t *testing.T) {
	const ok, refused, failed = model.StatusOK, model.StatusExceedsCredits,
		model.StatusLinkedEventFailed
	for _, version := range []uint32{rulesVersionIssuingRight - 1, rulesVersionIssuingRight} {
		c := newIssuingCase(t, version)
		// want is what version 6 answers; below it, every event is accepted.
		want := func(statuses ...model.Status) []model.Status {
			if version < rulesVersionIssuingRight {
				for i := range statuses {
					statuses[i] = ok
				}
			}
			return statuses
		}
		check := func(what string, got []model.Status, statuses ...model.Status) {
			t.Helper()
			c.expect(what, want(statuses...)...)(got)
		}
		check("pending within the credits", c.transfers(
			issuingTransfer(3300, 3000, 3001, 300, model.TransferPending)), ok)
		check("one above, counting the pending", c.transfers(
			issuingTransfer(3301, 3000, 3001, 201, 0)), refused)
		check("pending one above", c.transfers(
			issuingTransfer(3302, 3000, 3001, 201, model.TransferPending)), refused)
		if version >= rulesVersionIssuingRight {
			after := c.balance(3000)
			if !after.DebitsPosted.IsZero() || after.DebitsPending != model.U128(300) {
				t.Fatalf("the refused debits moved account 3000: %+v", after)
			}
		}
		check("exactly to the credits", c.transfers(
			issuingTransfer(3303, 3000, 3001, 200, 0)), ok)
		post := issuingTransfer(3304, 0, 0, 300, model.TransferPostPending)
		post.PendingID, post.Ledger, post.Code = model.U128(3300), 0, 0
		check("the pending's post", c.transfers(post), ok)
		check("a chain that would issue 50", c.transfers(
			issuingTransfer(3305, 3001, 3000, 100, model.TransferLinked),
			issuingTransfer(3306, 3000, 3001, 150, 0)), failed, refused)
		check("a chain within its own credit", c.transfers(
			issuingTransfer(3307, 3001, 3000, 100, model.TransferLinked),
			issuingTransfer(3308, 3000, 3001, 100, 0)), ok, ok)
		check("a balancing debit", c.transfers(
			issuingTransfer(3309, 3000, 3001, 1_000, model.TransferBalancingDebit)), ok)
		if version >= rulesVersionIssuingRight {
			account := c.balance(3000)
			if account.CreditsPosted != model.U128(600) || account.DebitsPosted !=
				model.U128(600) || !account.DebitsPending.IsZero() {
				t.Fatalf("account 3000 after the walk: %+v", account)
			}
		}
		c.grants(issuingOperator, issuingGrant)
		check("with the grant again", c.transfers(
			issuingTransfer(3310, 3000, 3001, 1_000, 0)), ok)
	}
}

// TestIssuingRightWhoMay: from rules version 6, who may issue from account 3000 (an
// account without the flag, at its credits) once the payer's grant over it is withdrawn:
// not the payer, its owner, even on a pending transfer; the operator, and a client with a
// transfer grant covering it (its own grant, another range of which does not count).
func TestIssuingRightWhoMay(t *testing.T) {
	c := newIssuingCase(t, rulesVersionIssuingRight)
	c.expect("to the credits", model.StatusOK)(c.transfers(
		issuingTransfer(3400, 3000, 3001, 500, 0)))
	c.expect("the owner, pending", model.StatusExceedsCredits)(c.transfers(
		issuingTransfer(3401, 3000, 3001, 1, model.TransferPending)))
	elsewhere := issuingGrant
	elsewhere.First, elsewhere.Last = model.U128(3001), model.U128(3999)
	c.grants(issuingOperator, elsewhere)
	c.expect("a grant over other ids", model.StatusExceedsCredits)(c.transfers(
		issuingTransfer(3402, 3000, 3001, 1, 0)))
	otherLedger := issuingGrant
	otherLedger.Ledger = 1
	c.grants(issuingOperator, otherLedger)
	c.expect("a grant over another ledger", model.StatusExceedsCredits)(c.transfers(
		issuingTransfer(3403, 3000, 3001, 1, 0)))
	c.h.expectEvents(Request{Client: matrixOperator, Session: 12, Number: 2,
		Operation: model.OperationCreateTransfers, Body: encodeRecords(model.TransferSize,
			issuingTransfer(3404, 3000, 3001, 7, 0))})
	c.grants(issuingOperator, issuingGrant)
	c.expect("the grant", model.StatusOK)(c.transfers(issuingTransfer(3405, 3000, 3001, 1, 0)))
	if account := c.balance(3000); account.DebitsPosted != model.U128(508) {
		t.Fatalf("account 3000: %+v", account)
	}
}

// TestIssuingRightCrossShard: step 1 of a cross-shard transfer is the client's own debit
// (a pending transfer into the settlement account), judged like a local one: from rules
// version 6, once the client's grant over its account 5 (no flag, credits 100) is
// withdrawn, a cross-shard transfer within the credits starts its saga, and one that
// would issue is refused exceeds_credits on the debit shard, starting none. Below
// version 6 it starts as before.
func TestIssuingRightCrossShard(t *testing.T) {
	for _, version := range []uint32{rulesVersionIssuingRight - 1, rulesVersionIssuingRight} {
		p := &pair{t: t, actor: 1}
		for i := range p.shards {
			p.shards[i] = newHarness(t, Config{Shard: ShardConfig{Map: twoShards,
				Index: uint16(i)}})
			p.shards[i].upgradeRules(version)
		}
		p.accounts(map[uint64]uint16{5: 0, 6: 0, 150: model.AccountDebitsMustNotExceedCredits})
		if result, _ := p.transfer(simpleTransfer(20, 6, 5, 100)); result.Status !=
			model.StatusOK {
			t.Fatalf("version %d: funding: %s", version, result.Status)
		}
		p.grants = nil
		for _, h := range p.shards {
			h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil, nil)})
		}
		within, messages := p.transfer(simpleTransfer(21, 5, 150, 100))
		if within.Status != model.StatusSagaInFlight {
			t.Fatalf("version %d: within the credits: %s", version, within.Status)
		}
		p.settle(messages)
		want := model.StatusExceedsCredits
		if version < rulesVersionIssuingRight {
			want = model.StatusSagaInFlight
		}
		issuing, messages := p.transfer(simpleTransfer(22, 5, 150, 1))
		if issuing.Status != want || (want != model.StatusSagaInFlight && len(messages) != 0) {
			t.Errorf("version %d: a cross-shard debit that issues: %s (messages %d), want %s",
				version, issuing.Status, len(messages), want)
		}
	}
}
