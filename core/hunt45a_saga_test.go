package core

import (
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// Hunt 45a: cross-shard transfers held to PROTOCOL.md section 18's promise that "the
// result codes are a local transfer's" (the listed exceptions aside: both sides refusing,
// a debit account on another ledger, a refused credit side's id staying taken).

// TestHunt45aCrossShardTransferSeenByItsPayerOnly pins what a cross-shard transfer shows
// its payee (PROTOCOL.md sections 5 and 18 said otherwise before this branch): a local
// transfer is found by lookup_transfers, and its id compared on a retry, for a client
// that may read its debit **or** its credit account; a cross-shard transfer only for one
// that may read its debit account. Its debit shard stores it, as a pending transfer into
// a settlement account, and the payee's ownership of the credit account is known on the
// other shard alone; the payee reads the credit in get_account_transfers instead.
func TestHunt45aCrossShardTransferSeenByItsPayerOnly(t *testing.T) {
	p := ownedPair(t) // Client 1: 1 (shard 0), 101 (shard 1); client 2: 2 (shard 0), 100.
	local, cross := simpleTransfer(7, 1, 2, 30), simpleTransfer(8, 1, 100, 30)
	if result, _ := p.transfer(local); result.Status != model.StatusOK {
		t.Fatalf("local transfer: %s", result.Status)
	}
	_, messages := p.transfer(cross)
	if final := p.settle(messages)[0].Finished.Result; final.Status != model.StatusOK {
		t.Fatalf("cross-shard transfer: %s", final.Status)
	}
	// found counts what lookup_transfers of id gives the actor over both shards (the
	// node asks every shard for a transfer id).
	found := func(id uint64) int {
		count := 0
		for shard := range p.shards {
			out := p.client(shard, model.OperationLookupTransfers, 0, idBody(id))
			count += len(out.Body(&out.Replies[0])) / model.TransferSize
		}
		return count
	}
	p.actor = 1
	if found(7) != 1 || found(8) != 1 {
		t.Fatalf("the payer finds the local transfer %d times, the cross-shard one %d times",
			found(7), found(8))
	}
	p.actor = 2 // The payee: it may read accounts 2 and 100, not 1.
	if found(7) != 1 {
		t.Fatalf("the payee finds its local transfer %d times", found(7))
	}
	if found(8) != 0 {
		t.Fatalf("the payee finds its cross-shard transfer %d times", found(8))
	}
	for _, retry := range []struct {
		transfer model.Transfer
		want     model.Status
	}{{local, model.StatusExists}, {cross, model.StatusExistsWithDifferentOwner}} {
		if result, _ := p.transfer(retry.transfer); result.Status != retry.want {
			t.Fatalf("the payee retries transfer %s: %s, want %s", retry.transfer.ID,
				result.Status, retry.want)
		}
	}
}

// TestHunt45aCreditShardAtItsAccountsLimit pins PROTOCOL.md section 18's sentence on
// accounts_limit_reached for a cross-shard transfer refused on its credit shard: that
// shard cannot create the pair's settlement account, the debit is voided (nothing moves)
// and the id stays taken: a retry answers the same code.
func TestHunt45aCreditShardAtItsAccountsLimit(t *testing.T) {
	p := &pair{t: t, actor: 1}
	for i := range p.shards {
		config := Config{Shard: ShardConfig{Map: twoShards, Index: uint16(i)}}
		if i == 1 {
			config.Ledger = ledger.Config{AccountsMax: 1} // Account 100 fills it.
		}
		p.shards[i] = newHarness(t, config)
		p.shards[i].upgradeRules(RulesVersionCurrent)
	}
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	first, messages := p.transfer(simpleTransfer(7, 1, 100, 30))
	if first.Status != model.StatusSagaInFlight {
		t.Fatalf("step 1: %s", first.Status)
	}
	if final := p.settle(messages)[0].Finished.Result; final.Status != model.StatusAccountsLimitReached {
		t.Fatalf("a credit shard that cannot create the settlement account: %s", final.Status)
	}
	if payer, payee := p.account(1), p.account(100); payer.Balance() != (model.Balance{}) ||
		payee.Balance() != (model.Balance{}) {
		t.Fatalf("something moved: payer %+v, payee %+v", payer.Balance(), payee.Balance())
	}
	if retry, _ := p.transfer(simpleTransfer(7, 1, 100, 30)); retry.Status != model.StatusAccountsLimitReached {
		t.Fatalf("a retry: %s", retry.Status)
	}
}

// TestHunt45aRefusedCrossShardTransferShowsItsSteps pins PROTOCOL.md section 18 on a
// cross-shard transfer that its credit side refused: the payer's get_account_transfers
// shows step 1 under the client's id and its void, while lookup_transfers finds no
// transfer with that id (a refused transfer is not stored).
func TestHunt45aRefusedCrossShardTransferShowsItsSteps(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0})
	_, messages := p.transfer(simpleTransfer(7, 1, 100, 30)) // Account 100 does not exist.
	if final := p.settle(messages)[0].Finished.Result; final.Status != model.StatusCreditAccountNotFound {
		t.Fatalf("final %s", final.Status)
	}
	body := make([]byte, model.AccountFilterSize)
	filter := model.AccountFilter{AccountID: model.U128(1), Limit: 10,
		Flags: model.FilterDebits | model.FilterCredits}
	filter.Encode(body)
	out := p.client(0, model.OperationGetAccountTransfers, 0, body)
	reply := out.Body(&out.Replies[0])
	if out.Replies[0].Status != model.StatusOK || len(reply) != 2*model.TransferSize {
		t.Fatalf("get_account_transfers: %s, %d bytes", out.Replies[0].Status, len(reply))
	}
	var step, void model.Transfer
	step.Decode(reply)
	void.Decode(reply[model.TransferSize:])
	if step.ID != model.U128(7) || step.Flags&model.TransferPending == 0 ||
		void.PendingID != model.U128(7) || void.Flags&model.TransferVoidPending == 0 {
		t.Fatalf("steps shown: %+v, %+v", step, void)
	}
	for shard := range p.shards {
		out := p.client(shard, model.OperationLookupTransfers, 0, idBody(7))
		if found := out.Body(&out.Replies[0]); len(found) != 0 {
			t.Fatalf("shard %d's lookup_transfers finds the refused transfer", shard)
		}
	}
}

// TestHunt45aCrossShardBalancingCreditJudgesTheClampedAmount: a balancing_credit transfer
// lowers its amount to what the credit account can take, and the payer's
// debits_must_not_exceed_credits limit is judged on that lowered amount (ledger doc,
// precedence: "balancing flags clamp the amount here", before exceeds_credits). A payer
// with 100 paying "at most 1,000" into an account that can take 30 moves 30, locally.
// Across shards the same transfer must answer the same. Before rules version 9 step 1
// reserved the unclamped 1,000 on the payer (the credit account's balances are on the
// other shard) and so refused it with exceeds_credits; from version 9 step 1 reserves
// what the payer may pay and step 2 credits the clamp within it (package saga,
// SetPayerBound; both versions: TestPayerBoundRulesVersion).
func TestHunt45aCrossShardBalancingCreditJudgesTheClampedAmount(t *testing.T) {
	p := newPair(t)
	// 1: the payer, debit-limited, on shard 0. 2 funds it. 3 (shard 0) and 102 (shard 1)
	// are payees that owe 30 each (debits 30, no credits): a balancing_credit into either
	// moves at most 30. 100 is 102's counterpart on shard 1.
	p.accounts(map[uint64]uint16{1: model.AccountDebitsMustNotExceedCredits, 2: 0, 3: 0,
		100: 0, 102: 0})
	for _, funding := range []model.Transfer{simpleTransfer(1, 2, 1, 100),
		simpleTransfer(2, 3, 2, 30)} {
		if result, _ := p.transfer(funding); result.Status != model.StatusOK {
			t.Fatalf("funding %s: %s", funding.ID, result.Status)
		}
	}
	if result, messages := p.transfer(simpleTransfer(3, 102, 100, 30)); result.Status != model.StatusOK ||
		len(messages) != 0 {
		t.Fatalf("funding on shard 1: %s", result.Status)
	}
	atMost := func(id, credit uint64) model.Transfer {
		return with(simpleTransfer(id, 1, credit, 1000), func(t *model.Transfer) {
			t.Flags = model.TransferBalancingCredit
		})
	}

	// The local transfer: clamped to 30, within the payer's 100.
	local, _ := p.transfer(atMost(10, 3))
	if payee := p.account(3); local.Status != model.StatusOK || payee.CreditsPosted != model.U128(30) {
		t.Fatalf("local balancing_credit: %s, payee %+v", local.Status, payee.Balance())
	}
	// The payer has 70 left: the same transfer across shards moves 30 as well.
	first, messages := p.transfer(atMost(11, 102))
	if first.Status != model.StatusSagaInFlight {
		t.Fatalf("cross-shard balancing_credit, step 1: %s (the local transfer was %s; "+
			"the payer can pay the 30 it moves, not the 1000 it names)", first.Status, local.Status)
	}
	final := p.settle(messages)[0].Finished.Result
	payee, payer := p.account(102), p.account(1)
	if final.Status != model.StatusOK || payee.CreditsPosted != model.U128(30) ||
		payer.DebitsPosted != model.U128(60) || !payer.DebitsPending.IsZero() {
		t.Fatalf("cross-shard balancing_credit: %s, payee %+v, payer %+v", final.Status,
			payee.Balance(), payer.Balance())
	}
}

// TestSettlementVolumeRefusesLaterCrossShardTransfers pins PROTOCOL.md section 18's
// limit (hunt45a; the fix is not built): every transfer from shard 0 to shard 1 on a
// ledger passes through one settlement account per shard, whose posted totals only grow,
// so once one client has moved 2^128 - 2 across (legal: amounts are u128), another
// client's transfer of 5 between two empty accounts on that pair and ledger is refused
// overflows_credits_posted at step 1, while a local transfer between empty accounts is
// not affected.
func TestSettlementVolumeRefusesLaterCrossShardTransfers(t *testing.T) {
	p := ownedPair(t) // Client 1: 1 (shard 0), 101 (shard 1); client 2: 2 and 100.
	huge := simpleTransfer(7, 1, 101, 0)
	huge.Amount = model.Uint128Max.SaturatingSub(model.U128(1))
	first, messages := p.transfer(huge)
	if first.Status != model.StatusSagaInFlight {
		t.Fatalf("client 1's transfer, step 1: %s", first.Status)
	}
	if final := p.settle(messages)[0].Finished.Result; final.Status != model.StatusOK {
		t.Fatalf("client 1's transfer: %s", final.Status)
	}
	p.actor = 2
	if result, _ := p.transfer(simpleTransfer(8, 2, 100, 5)); result.Status != model.StatusOverflowsCreditsPosted {
		t.Fatalf("client 2's cross-shard transfer between two empty accounts: %s, want %s "+
			"(PROTOCOL.md section 18: the settlement account's totals)", result.Status,
			model.StatusOverflowsCreditsPosted)
	}
	if result, _ := p.transfer(simpleTransfer(9, 2, 1, 5)); result.Status != model.StatusOK {
		t.Fatalf("client 2's local transfer of 5 into account 1: %s", result.Status)
	}
}
