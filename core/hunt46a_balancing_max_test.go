package core

import (
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// Hunt 46a: a balancing_credit transfer names the most it may move and moves what the
// credit account can take (PROTOCOL.md section 12's precedence: "balancing flags clamp
// the amount here", before the overflow checks), so naming 2^128-1 means "as much as the
// payee takes". Across shards the debit shard cannot know the payee's balance: step 1
// reserved the amount named (all of it when the payer may issue money, which the payer
// bound of rules version 9 leaves alone), and the ledger judged that reserve's overflows
// on the payer's debits and the settlement account's credits. So the transfer was refused
// overflows_debits_posted once the payer had any debit posted, or overflows_credits_posted
// once the pair of shards had carried any amount, where one shard moves what the payee
// takes. Rules version 10 (rulesVersionHeadroomBound) reserves at most half of what both
// can still take, as the payer's bound.

// hunt46aSingle is a machine of one shard with a pair's accounts and grants: the
// reference, what a node of one shard answers.
type hunt46aSingle struct {
	t      *testing.T
	h      *harness
	number uint64
}

func newHunt46aSingle(t *testing.T, p *pair, version uint32, flags map[uint64]uint16,
	ids ...uint64) *hunt46aSingle {
	s := &hunt46aSingle{t: t, h: newHarness(t, Config{}), number: 1000}
	s.h.upgradeRules(version)
	s.h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil, p.grants)})
	for _, id := range ids {
		body := make([]byte, model.AccountSize)
		account := model.Account{ID: model.U128(id), Ledger: 1, Code: 1, Flags: flags[id]}
		account.Encode(body)
		s.number++
		out := s.h.apply(Request{Client: 1, Session: 1, Number: s.number,
			Operation: model.OperationCreateAccounts, Body: body})
		if status := eventStatuses(t, out.Body(&out.Replies[0]))[0]; status != model.StatusOK {
			t.Fatalf("account %d on one shard: %s", id, status)
		}
	}
	return s
}

func (s *hunt46aSingle) transfer(transfer model.Transfer) model.TransferResult {
	s.t.Helper()
	s.number++
	out := s.h.apply(Request{Client: 1, Session: 1, Number: s.number,
		Operation: model.OperationCreateTransfers, Flags: RequestFlagReplyBalances,
		Body: transfersBody(transfer)})
	var result model.TransferResult
	result.DecodeWithBalances(out.Body(&out.Replies[0]))
	return result
}

// hunt46aSweep runs setup then a balancing_credit transfer of amount from payer to
// account 100 on a pair at version and on one shard, and returns both final results and
// what 100 was credited on the pair.
func hunt46aSweep(t *testing.T, version uint32, setup []model.Transfer, payer uint64,
	amount model.Uint128) (cross, single model.TransferResult, credited model.Uint128) {
	t.Helper()
	p := pairAt(t, version)
	flags := map[uint64]uint16{1: 0, 2: 0, 3: 0, 100: 0, 101: 0}
	p.accounts(flags)
	one := newHunt46aSingle(t, p, version, flags, 1, 2, 3, 100, 101)
	for _, transfer := range setup {
		if got, _ := p.crossFinal(transfer); got.Status != model.StatusOK {
			t.Fatalf("setup %s on the pair: %s", transfer.ID, got.Status)
		}
		if got := one.transfer(transfer); got.Status != model.StatusOK {
			t.Fatalf("setup %s on one shard: %s", transfer.ID, got.Status)
		}
	}
	sweep := simpleTransfer(9, payer, 100, 0)
	sweep.Amount, sweep.Flags = amount, model.TransferBalancingCredit
	single = one.transfer(sweep)
	cross, _ = p.crossFinal(sweep)
	credited = p.account(100).CreditsPosted
	if net, pending := p.settlementNet(); net != 0 || pending != 0 {
		t.Fatalf("settlement 0→1 nets %d, %d pending", net, pending)
	}
	return cross, single, credited
}

// From rules version 10 a cross-shard balancing_credit transfer naming 2^128-1 moves what
// the payee takes, as on one shard, whether the payer has debits posted or the pair of
// shards has carried amounts before; below it, it was refused with an overflow code.
func TestHunt46aBalancingCreditOfTheMostCrossesShardsAsOnOne(t *testing.T) {
	for _, test := range []struct {
		name  string
		setup []model.Transfer // Before the transfer: 100 takes at most its debits.
		payer uint64
		want  model.Uint128 // What the payee takes (100's debits minus credits).
		old   model.Status  // What version 9 answered across shards.
	}{
		{"payer with a debit posted", []model.Transfer{simpleTransfer(1, 1, 2, 10),
			simpleTransfer(2, 100, 101, 50)}, 1, model.U128(50), model.StatusOverflowsDebitsPosted},
		{"pair that carried an amount", []model.Transfer{simpleTransfer(1, 2, 101, 5),
			simpleTransfer(2, 100, 101, 40)}, 3, model.U128(40), model.StatusOverflowsCreditsPosted},
	} {
		t.Run(test.name, func(t *testing.T) {
			cross, single, credited := hunt46aSweep(t, rulesVersionHeadroomBound, test.setup,
				test.payer, model.Uint128Max)
			if single.Status != model.StatusOK || single.CreditAccount.CreditsPosted != test.want {
				t.Fatalf("one shard: %s, payee credits %s (the reference changed)",
					single.Status, single.CreditAccount.CreditsPosted)
			}
			if cross.Status != model.StatusOK || credited != test.want ||
				cross.CreditAccount.CreditsPosted != test.want {
				t.Fatalf("across shards: %s, payee credited %s; one shard moves %s",
					cross.Status, credited, test.want)
			}
			// Logs written before version 10 replay as they were applied.
			cross, _, credited = hunt46aSweep(t, rulesVersionHeadroomBound-1, test.setup,
				test.payer, model.Uint128Max)
			if cross.Status != test.old || !credited.IsZero() {
				t.Fatalf("version %d: %s, payee credited %s; want %s",
					rulesVersionHeadroomBound-1, cross.Status, credited, test.old)
			}
		})
	}
}

// The bound is a bound: when the payee would take more than half of what the payer's
// debits can still take, the transfer is refused (exceeds_credits, the payer's bound; one
// shard answers an overflow code here, the payee taking nearly 2^128) and nothing moves; an amount named within the headroom moves what the
// payee takes, as before.
func TestHunt46aHeadroomBoundRefusesWhatCannotBeReserved(t *testing.T) {
	almost := model.Uint128Max.MustSub(model.U128(5)) // 2^128-6.
	// 100 takes up to 2^128-6 (its debits); payer 1 already debited 10 can take 2^128-11.
	setup := []model.Transfer{simpleTransfer(1, 1, 2, 10), simpleTransfer(2, 100, 101, 0)}
	setup[1].Amount = almost
	cross, single, credited := hunt46aSweep(t, rulesVersionHeadroomBound, setup, 1,
		model.Uint128Max)
	if single.Status == model.StatusOK {
		t.Fatalf("one shard moved %s (the reference changed)", single.CreditAccount.CreditsPosted)
	}
	if cross.Status != model.StatusExceedsCredits || !credited.IsZero() {
		t.Fatalf("across shards: %s, payee credited %s", cross.Status, credited)
	}
	setup[1].Amount = model.U128(50)
	cross, single, credited = hunt46aSweep(t, rulesVersionHeadroomBound, setup, 1,
		model.U128(70))
	if cross.Status != model.StatusOK || single.Status != model.StatusOK ||
		credited != model.U128(50) {
		t.Fatalf("70 named, 50 taken: %s (one shard %s), credited %s", cross.Status,
			single.Status, credited)
	}
}

// A cross-shard transfer that its credit side will refuse holds its reserve on the payer
// until the saga voids it: a later debit of the payer in the same request (or meanwhile)
// is judged on what is left, where on one shard the refused transfer reserves nothing.
// PROTOCOL.md section 18 says so (this pins it).
func TestHunt46aRefusedCrossShardTransferHoldsItsReserveMeanwhile(t *testing.T) {
	p := newPair(t)
	// 1 may pay 30 (its credits), then nothing more: debits_must_not_exceed_credits.
	p.accounts(map[uint64]uint16{1: model.AccountDebitsMustNotExceedCredits, 2: 0, 100: 0})
	if got, _ := p.crossFinal(simpleTransfer(1, 100, 1, 30)); got.Status != model.StatusOK {
		t.Fatalf("funding: %s", got.Status)
	}
	// 199 does not exist: B refuses; 2 on shard 0 would take the same 30 locally.
	out := p.client(0, model.OperationCreateTransfers, 0,
		transfersBody(simpleTransfer(2, 1, 199, 30), simpleTransfer(3, 1, 2, 30)))
	statuses := eventStatuses(t, out.Body(&out.Replies[0]))
	if statuses[0] != model.StatusSagaInFlight || statuses[1] != model.StatusExceedsCredits {
		t.Fatalf("request: %v", statuses)
	}
	finished := p.settle(append([]saga.Message(nil), out.Messages...))
	if final := finished[0].Finished.Result.Status; final != model.StatusCreditAccountNotFound {
		t.Fatalf("cross-shard transfer: %s", final)
	}
	if payer := p.account(1); payer.DebitsPosted != (model.Uint128{}) ||
		payer.DebitsPending != (model.Uint128{}) {
		t.Fatalf("payer after the void: %+v", payer.Balance())
	}
}

// TestRulesVersion10AgreesAwayFromTheHeadroom: rules version 10 changes only cross-shard
// balancing_credit transfers whose amount named would overflow the payer's debits or the
// settlement account's credits; the random batches of rulesVersionsAgree name small
// amounts, and version 10 answers every request and event, and sends every Credit,
// exactly as version 9 does.
func TestRulesVersion10AgreesAwayFromTheHeadroom(t *testing.T) {
	rulesVersionsAgree(t, rulesVersionHeadroomBound-1, rulesVersionHeadroomBound, nil, true)
}

// While a sweep's saga runs, its reserve (from rules version 10, half of what the payer's
// debits can take) holds, and the payer's other debits meanwhile keep the other half: a
// later event of the same request moves as on one shard, and so does a second sweep.
func TestHunt46aSweepReserveLeavesThePayersOtherDebits(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 2: 0, 100: 0, 101: 0, 102: 0})
	for _, setup := range []model.Transfer{simpleTransfer(1, 1, 2, 10),
		simpleTransfer(2, 100, 101, 50), simpleTransfer(3, 102, 101, 7)} {
		if got, _ := p.crossFinal(setup); got.Status != model.StatusOK {
			t.Fatalf("setup %s: %s", setup.ID, got.Status)
		}
	}
	sweep := func(id, payee uint64) model.Transfer {
		transfer := simpleTransfer(id, 1, payee, 0)
		transfer.Amount, transfer.Flags = model.Uint128Max, model.TransferBalancingCredit
		return transfer
	}
	out := p.client(0, model.OperationCreateTransfers, 0,
		transfersBody(sweep(4, 100), simpleTransfer(5, 1, 2, 5), sweep(6, 102)))
	statuses := eventStatuses(t, out.Body(&out.Replies[0]))
	if statuses[0] != model.StatusSagaInFlight || statuses[1] != model.StatusOK ||
		statuses[2] != model.StatusSagaInFlight {
		t.Fatalf("request: %v", statuses)
	}
	for _, finished := range p.settle(append([]saga.Message(nil), out.Messages...)) {
		if final := finished.Finished.Result; final.Status != model.StatusOK {
			t.Fatalf("sweep %s: %s", finished.Finished.ID, final.Status)
		}
	}
	if payer := p.account(1); payer.DebitsPosted != model.U128(10+5+50+7) ||
		!payer.DebitsPending.IsZero() {
		t.Fatalf("payer: %+v", payer.Balance())
	}
}
