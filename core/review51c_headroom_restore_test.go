package core

import (
	"testing"

	"sequent/core/model"
)

// Review 51c: the rules version's derived switches must survive a restore. Breaking
// Restore so that it leaves SetHeadroomBound (rules version 10) off, one switch at a
// time, went unseen by every test of go test ./core, the hunt51c restore property
// included (its cross-shard balancing_credit transfers naming 2^128-1 after a payer's
// debit are too rare); every other switch of setRules failed some test. This test runs
// hunt46a's first case on a pair restored from snapshots taken after the setup: the
// sweep must move what the payee takes, as on the pair that never restarted.
func TestReview51cHeadroomBoundSurvivesRestore(t *testing.T) {
	p := pairAt(t, rulesVersionHeadroomBound)
	flags := map[uint64]uint16{1: 0, 2: 0, 3: 0, 100: 0, 101: 0}
	p.accounts(flags)
	for _, transfer := range []model.Transfer{simpleTransfer(1, 1, 2, 10),
		simpleTransfer(2, 100, 101, 50)} {
		if got, _ := p.crossFinal(transfer); got.Status != model.StatusOK {
			t.Fatalf("setup %s on the pair: %s", transfer.ID, got.Status)
		}
	}
	for _, h := range p.shards {
		h.restore(h.machine.config)
	}
	sweep := simpleTransfer(9, 1, 100, 0)
	sweep.Amount, sweep.Flags = model.Uint128Max, model.TransferBalancingCredit
	cross, _ := p.crossFinal(sweep)
	if credited := p.account(100).CreditsPosted; cross.Status != model.StatusOK ||
		credited != model.U128(50) {
		t.Fatalf("restored pair at rules version %d: %s, payee credited %s; want ok, 50",
			rulesVersionHeadroomBound, cross.Status, credited)
	}
}
