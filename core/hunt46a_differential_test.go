package core

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// TestHunt46aCrossShardTransfersMoveAsOnOneShard sends seeded random transfers one at a
// time to a pair of shards and to a machine of one shard holding the same accounts (some
// debit- or credit-limited), with balancing flags, amounts up to 2^128-1, missing
// accounts, another ledger, code 0 and retries of earlier ids, and requires the same
// money to move: every transfer one shard creates is created across shards and the other
// way round (codes of refusals may differ as PROTOCOL.md section 18 lists), and after
// each transfer every account holds the same balances on both. It found the overflow of
// a balancing_credit transfer naming 2^128-1 (rules version 10).
func TestHunt46aCrossShardTransfersMoveAsOnOneShard(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		hunt46aDifferential(t, seed)
	}
}

func hunt46aDifferential(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 46))
	p := newPair(t)
	ids := []uint64{1, 2, 3, 100, 101, 102}
	flags := map[uint64]uint16{}
	for _, id := range ids {
		flags[id] = []uint16{0, 0, model.AccountDebitsMustNotExceedCredits,
			model.AccountCreditsMustNotExceedDebits}[rng.IntN(4)]
	}
	p.accounts(flags)
	single := newHunt46aSingle(t, p, RulesVersionCurrent, flags, ids...)
	taken := map[model.Uint128]bool{} // Refused across shards by the credit side: kept.
	var sent []model.Transfer
	for step := range 40 {
		transfer := hunt46aDraw(rng, step, sent)
		sent = append(sent, transfer)
		want := single.transfer(transfer)
		got, _ := p.crossFinal(transfer)
		if got.Status == model.StatusSagaInFlightRetry {
			t.Fatalf("seed %d step %d: provisional %s", seed, step, got.Status)
		}
		describe := func() string {
			return fmt.Sprintf("seed %d step %d: transfer %s %d→%d amount %s flags %d: "+
				"across shards %s, one shard %s", seed, step, transfer.ID,
				transfer.DebitAccountID.Lo, transfer.CreditAccountID.Lo, transfer.Amount,
				transfer.Flags, got.Status, want.Status)
		}
		if !taken[transfer.ID] && (got.Status == model.StatusOK) != (want.Status == model.StatusOK) {
			t.Fatal(describe())
		}
		cross := (transfer.DebitAccountID.Lo < 100) != (transfer.CreditAccountID.Lo < 100)
		if cross && got.Status != model.StatusOK {
			taken[transfer.ID] = true
		}
		for _, id := range ids {
			found := single.h.machine.Ledger().LookupAccounts([]model.Uint128{model.U128(id)}, nil)
			if account := p.account(id); account.Balance() != found[0].Balance() {
				t.Fatalf("%s; account %d holds %+v across shards, %+v on one", describe(), id,
					account.Balance(), found[0].Balance())
			}
		}
	}
	if net, pending := p.settlementNet(); pending != 0 || net != 0 {
		t.Fatalf("seed %d: settlement 0→1 nets %d, %d pending", seed, net, pending)
	}
}

// hunt46aDraw draws a new transfer, or a retry (sometimes for one less) of an earlier one.
func hunt46aDraw(rng *rand.Rand, step int, sent []model.Transfer) model.Transfer {
	if len(sent) > 0 && rng.IntN(5) == 0 {
		transfer := sent[rng.IntN(len(sent))]
		if rng.IntN(2) == 0 {
			transfer.Amount = transfer.Amount.SaturatingSub(model.U128(1))
		}
		return transfer
	}
	accounts := []uint64{1, 2, 3, 5, 100, 101, 102, 150} // 5 and 150 do not exist.
	transfer := model.Transfer{ID: model.U128(uint64(step + 1)),
		DebitAccountID:  model.U128(accounts[rng.IntN(len(accounts))]),
		CreditAccountID: model.U128(accounts[rng.IntN(len(accounts))]),
		Ledger:          1, Code: 1, UserData64: uint64(rng.IntN(3))}
	if rng.IntN(8) == 0 {
		transfer.Ledger = 2
	}
	if rng.IntN(12) == 0 {
		transfer.Code = 0
	}
	transfer.Flags = []uint16{0, 0, model.TransferBalancingDebit, model.TransferBalancingCredit,
		model.TransferBalancingDebit | model.TransferBalancingCredit}[rng.IntN(5)]
	switch rng.IntN(6) {
	case 0:
		// The most: only for a balancing transfer (a plain one would overflow the pair's
		// settlement accounts, which PROTOCOL.md section 18 says).
		if transfer.Flags != 0 {
			transfer.Amount = model.Uint128Max
		}
	case 1:
		transfer.Amount = model.Uint128{Hi: 1 << 56}
	case 2:
		transfer.Amount = model.Uint128{Hi: uint64(rng.IntN(1 << 20))}
	default:
		transfer.Amount = model.U128(uint64(rng.IntN(100)))
	}
	return transfer
}
