package risk_test

import (
	"bytes"
	"testing"

	"sequent/core/model"
)

// TestChainRollbackAcrossAWindowMove: a chain whose second transfer moves the account's
// window on to the next bucket (rewriting the older buckets' amounts, kept apart from
// the account cell) and then fails leaves the window as before the chain, older amounts
// included; and the client's window, moved the same way, too. Restoring the cell alone
// would leave the moved older amounts under the earlier bucket: the snapshot differs
// and the window refuses a payment it has room for.
func TestChainRollbackAcrossAWindowMove(t *testing.T) {
	const bucketNs = second
	r := newRig(t, 10)
	r.set(model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
		Account: u(1), WindowNs: 4 * bucketNs, Amount: u(100)},
		model.RiskRule{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeClient, Client: 7,
			Ledger: 1, WindowNs: 4 * bucketNs, Amount: u(200)})
	p := payment{client: 7, debit: 1, credit: 2, amount: u(10), at: 10 * bucketNs}
	r.expect(p, model.StatusOK, 0)
	p.amount, p.at = u(20), 11*bucketNs // Bucket 10's 10 is now an older amount.
	r.expect(p, model.StatusOK, 0)
	before := r.snapshot()
	r.e.BeginChain()
	p.amount, p.at = u(30), 11*bucketNs+1
	r.expect(p, model.StatusOK, 0)
	p.amount, p.at = u(5), 12*bucketNs // Moves both windows: 10 and 50 become older.
	r.expect(p, model.StatusOK, 0)
	r.e.RollbackChain()
	if !bytes.Equal(r.snapshot(), before) {
		t.Fatal("a rolled-back chain that moved the windows changed the counters")
	}
	// Bucket 10's 10 and bucket 11's 20 are in the window until bucket 14: 70 more fits,
	// 71 does not.
	p.at = 13 * bucketNs
	p.amount = u(71)
	r.expect(p, model.StatusRiskAccountVelocityAmount, 1)
	p.amount = u(70)
	r.expect(p, model.StatusOK, 0)
}
