package core

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// TestRulesSixSurviveRestore: what rules version 6 decides lives outside the snapshot
// (the ledger's issuing check and the engine's replace check are the owner's flags, set
// by setRules), so a machine restored from a snapshot must put them back from the
// snapshot's rules version: at 6 the restored machine still refuses a debit that issues
// without the right (exceeds_credits) and a former delegate's replace
// (base_account_not_owned); at 5 it still accepts both, as the log was applied. A
// Restore that left the ledger's and the engine's defaults (issuing unchecked, replace
// checked) would fail the issuing leg at 6 and the replace leg at 5.
func TestRulesSixSurviveRestore(t *testing.T) {
	for _, version := range []uint32{rulesVersionIssuingRight - 1, rulesVersionIssuingRight} {
		c := newIssuingCase(t, version)
		c.h.machine, _ = restored(t, Config{}, c.h.machine)
		if got := c.h.machine.RulesVersion(); got != version {
			t.Fatalf("restored at rules version %d, want %d", got, version)
		}
		want := model.StatusExceedsCredits
		if version < rulesVersionIssuingRight {
			want = model.StatusOK
		}
		c.expect(fmt.Sprintf("version %d, restored: a debit that issues", version),
			want)(c.transfers(issuingTransfer(3500, 3000, 3001, 501, 0)))

		h, _ := matrixMachine(t)
		h.upgradeRules(version)
		out := h.apply(Request{Client: matrixTrader, Session: 9, Number: 1,
			Operation: model.OperationPlaceOrders, Body: encodeRecords(model.OrderSize,
				matrixOrder(60))})
		var placed model.OrderResult
		placed.Decode(out.Body(&out.Replies[0]))
		if placed.Status != model.StatusOK {
			t.Fatalf("version %d: the delegate's order: %s", version, placed.Status)
		}
		h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
			[]model.Grant{{Client: matrixOperator, Scopes: model.ScopeOperator}})})
		h.machine, _ = restored(t, Config{}, h.machine)
		out = h.apply(Request{Client: matrixTrader, Session: 9, Number: 2,
			Operation: model.OperationReplaceOrders, Body: encodeRecords(model.OrderReplaceSize,
				&model.OrderReplace{ClientOrderID: 61, Account: 1, OrderID: placed.OrderID,
					Price: 1, Quantity: 10})})
		var replaced model.OrderResult
		replaced.Decode(out.Body(&out.Replies[0]))
		want = model.StatusBaseAccountNotOwned
		if version < rulesVersionReplaceFunding {
			want = model.StatusOK
		}
		if replaced.Status != want {
			t.Errorf("version %d, restored: the former delegate's replace answered %s, want %s",
				version, replaced.Status, want)
		}
	}
}
