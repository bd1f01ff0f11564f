package ledger

import (
	"testing"

	"sequent/core/model"
)

// TestAccountTermsAtAsMatchesAccountAtAs: AccountTermsAtAs must answer what AccountAtAs
// answers of an account (its ledger, its flags, where it is, whether the client may use
// it with the scope), for every account of newPipelineDiff's ledger (owned by a client,
// by the system, escrows; some debit- or credit-limited, some with balance history),
// unknown ids (some behind a matching tag), as the system, the accounts' owner, a
// grantee (transfer scope on ledger 1, read scope on ledger 2) and a client with no
// right, for three scopes, after client and engine batches that leave some accounts with
// pending balances and others without (the in-memory accountPendingZero bit must not
// show) and some closed.
func TestAccountTermsAtAsMatchesAccountAtAs(t *testing.T) {
	d := newPipelineDiff(t, 77, 60, false, false)
	checked, allowedSeen, refusedSeen := 0, 0, 0
	for round := range 4 {
		ids := append(append(append([]model.Uint128(nil), d.accounts...), d.escrow[:]...),
			d.absent...)
		ids = append(ids, model.Uint128{Hi: 5, Lo: 5})
		for _, id := range ids {
			for _, client := range []uint64{0, pipelineDiffOwner, pipelineDiffGrantee, 99} {
				for _, scope := range []model.Scope{model.ScopeTrade, model.ScopeRead,
					model.ScopeTransfer} {
					account, wantIndex, wantAllowed := d.pipe.AccountAtAs(client, scope, id)
					ledger, flags, index, allowed := d.pipe.AccountTermsAtAs(client, scope, id)
					if index != wantIndex || allowed != wantAllowed ||
						ledger != account.Ledger || flags != account.Flags {
						t.Fatalf("round %d, account %s, client %d, scope %d: ledger %d, flags "+
							"%#x, at %d, allowed %t; AccountAtAs: ledger %d, flags %#x, at %d, "+
							"allowed %t", round, id, client, scope, ledger, flags, index,
							allowed, account.Ledger, account.Flags, wantIndex, wantAllowed)
					}
					// Told any place (right, unknown, another account's, past the end,
					// arbitrary), AccountTermsPlacedAs answers the same.
					for _, place := range []uint32{index, IndexUnknown, d.random.Uint32N(
						d.pipe.AccountCount()), d.pipe.AccountCount(), d.random.Uint32()} {
						placedLedger, placedFlags, placedIndex, placedAllowed :=
							d.pipe.AccountTermsPlacedAs(client, scope, id, place)
						if placedLedger != ledger || placedFlags != flags ||
							placedIndex != index || placedAllowed != allowed {
							t.Fatalf("round %d, account %s, client %d, scope %d, told %d: "+
								"ledger %d, flags %#x, at %d, allowed %t; AccountTermsAtAs: "+
								"ledger %d, flags %#x, at %d, allowed %t", round, id, client,
								scope, place, placedLedger, placedFlags, placedIndex,
								placedAllowed, ledger, flags, index, allowed)
						}
					}
					checked++
					if index != IndexUnknown && allowed {
						allowedSeen++
					} else if index != IndexUnknown {
						refusedSeen++
					}
				}
			}
		}
		for step := range 40 { // Move balances: pending transfers, reservations, closings.
			if step%2 == 0 {
				d.step("move", 1+d.random.IntN(20))
			} else {
				d.apply("chain", 1, d.engineChain(1+d.random.IntN(4)), 0, true)
			}
		}
	}
	if allowedSeen == 0 || refusedSeen == 0 {
		t.Fatalf("%d answers: %d allowed, %d refused: the cases miss one", checked,
			allowedSeen, refusedSeen)
	}
}
