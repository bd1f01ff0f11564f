package main

import (
	"context"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// TestCrossShardSweepOfTheMostOnANode: on `sequent serve --shards 2` (range placement:
// ids below 100 on shard 0), a balancing_credit transfer naming 2^128-1 from a payer
// that has paid before, into an account on the other shard that can take 50, moves 50,
// as on one shard (rules version 10, which the node's primaries move to at start; before,
// overflows_debits_posted), and the node still reconciles, every saga finished.
func TestCrossShardSweepOfTheMostOnANode(t *testing.T) {
	running, _, dev := startDevNode(t, shardmap.Spec{Shards: 2, Placement: "range",
		Ranges: "0,100"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialDev(t, ctx, running.server.Address(), dev)
	var accounts []model.Account
	for _, id := range []uint64{1, 2, 100, 101} {
		accounts = append(accounts, model.Account{ID: model.U128(id), Ledger: 1, Code: 1})
	}
	if results, err := c.CreateAccounts(ctx, accounts); err != nil || len(results) != 4 ||
		results[0].Status|results[1].Status|results[2].Status|results[3].Status != 0 {
		t.Fatalf("accounts: %+v, %v", results, err)
	}
	transfer := func(id, debit, credit uint64, amount model.Uint128, flags uint16) model.TransferResult {
		t.Helper()
		results, err := c.CreateTransfersWithBalances(ctx, []model.Transfer{{ID: model.U128(id),
			DebitAccountID: model.U128(debit), CreditAccountID: model.U128(credit),
			Amount: amount, Ledger: 1, Code: 1, Flags: flags}})
		if err != nil || len(results) != 1 {
			t.Fatalf("transfer %d: %+v, %v", id, results, err)
		}
		return results[0]
	}
	if result := transfer(1, 1, 2, model.U128(10), 0); result.Status != model.StatusOK {
		t.Fatalf("payer's first debit: %s", result.Status)
	}
	if result := transfer(2, 100, 101, model.U128(50), 0); result.Status != model.StatusOK {
		t.Fatalf("payee's debit: %s", result.Status)
	}
	result := transfer(3, 1, 100, model.Uint128Max, model.TransferBalancingCredit)
	if result.Status != model.StatusOK || result.CreditAccount.CreditsPosted != model.U128(50) ||
		result.DebitAccount.DebitsPosted != model.U128(60) {
		t.Fatalf("sweep across shards: %s, payee credits %s, payer debits %s", result.Status,
			result.CreditAccount.CreditsPosted, result.DebitAccount.DebitsPosted)
	}
	reconciliation, err := running.node.Reconcile(time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := reconciliation.Check(true); err != nil {
		t.Fatalf("after the sweep: %v", err)
	}
}
