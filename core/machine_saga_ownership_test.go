package core

import (
	"testing"

	"sequent/core/model"
)

// ownedPair is a pair whose accounts belong to two clients: 1 and 101 to client 1,
// 2 and 100 to client 2 (1 and 2 on shard 0, 100 and 101 on shard 1).
func ownedPair(t *testing.T) *pair {
	p := newPair(t)
	for _, owner := range []struct {
		client   uint64
		accounts []uint64
	}{{1, []uint64{1, 101}}, {2, []uint64{2, 100}}} {
		p.actor = owner.client
		for _, id := range owner.accounts {
			p.accounts(map[uint64]uint16{id: 0})
		}
	}
	p.actor = 1
	return p
}

// Ownership on cross-shard transfers: the debit shard checks that the client may debit
// the debit account, the credit shard that it may act on the credit account when it
// balances against it, and the final result shows the credit account's balances only to
// a client that may read it (as a local transfer's would).
func TestSagaOwnership(t *testing.T) {
	for _, test := range []struct {
		name              string
		actor             uint64
		transfer          model.Transfer
		first             model.Status // Step 1's result.
		final             model.Status
		creditVisible     bool
		debitAmountPosted uint64
	}{
		{"someone else's debit account", 2, simpleTransfer(7, 1, 100, 30),
			model.StatusDebitAccountNotOwned, model.StatusDebitAccountNotOwned, false, 0},
		{"paying someone else", 1, simpleTransfer(7, 1, 100, 30),
			model.StatusSagaInFlight, model.StatusOK, false, 30},
		{"paying oneself", 1, simpleTransfer(7, 1, 101, 30),
			model.StatusSagaInFlight, model.StatusOK, true, 30},
		{"balancing against someone else's account", 1,
			with(simpleTransfer(7, 1, 100, 30), func(t *model.Transfer) {
				t.Flags = model.TransferBalancingCredit
			}), model.StatusSagaInFlight, model.StatusCreditAccountNotOwned, false, 0},
		{"balancing against one's own account", 1,
			with(simpleTransfer(7, 1, 101, 30), func(t *model.Transfer) {
				t.Flags = model.TransferBalancingCredit
			}), model.StatusSagaInFlight, model.StatusOK, true, 0},
	} {
		t.Run(test.name, func(t *testing.T) {
			p := ownedPair(t)
			p.actor = test.actor
			result, messages := p.transfer(test.transfer)
			if result.Status != test.first {
				t.Fatalf("step 1: %s, want %s", result.Status, test.first)
			}
			if test.first != model.StatusSagaInFlight {
				if len(messages) != 0 {
					t.Fatalf("a refused step 1 sent %+v", messages)
				}
				return
			}
			finished := p.settle(messages)
			final := finished[0].Finished.Result
			if final.Status != test.final {
				t.Fatalf("final %s, want %s", final.Status, test.final)
			}
			if test.final != model.StatusOK {
				if net, pending := p.settlementNet(); net != 0 || pending != 0 {
					t.Fatalf("after a refusal: net %d pending %d", net, pending)
				}
				return
			}
			if final.DebitAccount.DebitsPosted != model.U128(test.debitAmountPosted) {
				t.Fatalf("debit balances %+v", final.DebitAccount)
			}
			account := p.account(test.transfer.CreditAccountID.Lo)
			credit := account.Balance()
			want := credit
			if !test.creditVisible {
				want = model.Balance{}
				if credit == want {
					t.Fatal("the hidden balances are zero: the case proves nothing")
				}
			}
			if final.CreditAccount != want {
				t.Fatalf("credit balances shown %+v, account %+v, want visible %v",
					final.CreditAccount, credit, test.creditVisible)
			}
		})
	}
}

// A client that may not see a cross-shard transfer (it cannot read its debit account)
// learns nothing of it from a retry of its id: exists_with_different_owner, running or
// final, like a local transfer's id.
func TestSagaRetryByAnotherClient(t *testing.T) {
	p := ownedPair(t)
	transfer := simpleTransfer(7, 1, 100, 30)
	_, messages := p.transfer(transfer)
	for _, phase := range []string{"running", "final"} {
		p.actor = 2
		retry := transfer
		retry.DebitAccountID = model.U128(2) // Client 2's own account, same shard.
		for _, attempt := range []model.Transfer{transfer, retry} {
			if result, _ := p.transfer(attempt); result.Status != model.StatusExistsWithDifferentOwner {
				t.Fatalf("%s: client 2's retry (debit %s): %s", phase, attempt.DebitAccountID,
					result.Status)
			}
		}
		p.actor = 1
		if phase == "running" {
			if result, _ := p.transfer(transfer); result.Status != model.StatusSagaInFlightRetry {
				t.Fatalf("the owner's retry while running: %s", result.Status)
			}
			p.settle(messages)
		}
	}
	if result, _ := p.transfer(transfer); result.Status != model.StatusExists {
		t.Fatalf("the owner's retry once final: %s", result.Status)
	}
}
