package ledger

import (
	"testing"

	"sequent/core/model"
)

// TestPlainTransferAccountIDsValidated: createTransfer's plain test leaves the account
// ids' checks (neither zero, the two different) to singleOrPendingTransfer, which runs
// the static validation only when an account is not found or both are the same account.
// A transfer plain in every other field, with a zero or repeated account id, must still
// get the validation's code (which comes before the accounts' existence), whether the
// repeated account exists or not, single-phase or pending, alone, in a short batch and
// inside a pipelined one.
func TestPlainTransferAccountIDsValidated(t *testing.T) {
	cases := []struct {
		name          string
		debit, credit uint64
		flags         uint16
		want          model.Status
	}{
		{"debit zero", 0, 2, 0, model.StatusDebitAccountIDMustNotBeZero},
		{"debit zero, credit missing", 0, 99, 0, model.StatusDebitAccountIDMustNotBeZero},
		{"credit zero", 1, 0, 0, model.StatusCreditAccountIDMustNotBeZero},
		{"credit zero, debit missing", 98, 0, 0, model.StatusCreditAccountIDMustNotBeZero},
		{"both zero", 0, 0, 0, model.StatusDebitAccountIDMustNotBeZero},
		{"same existing account", 1, 1, 0, model.StatusAccountsMustBeDifferent},
		{"same existing account, pending", 2, 2, model.TransferPending,
			model.StatusAccountsMustBeDifferent},
		{"same closed account", 6, 6, 0, model.StatusAccountsMustBeDifferent},
		{"same missing account", 99, 99, 0, model.StatusAccountsMustBeDifferent},
		// The accounts' own codes, for contrast: these come from the lookups.
		{"debit missing", 99, 2, 0, model.StatusDebitAccountNotFound},
		{"credit missing", 1, 99, 0, model.StatusCreditAccountNotFound},
		{"different ledger", 1, 5, 0, model.StatusAccountsMustHaveTheSameLedger},
	}
	// The event under test alone (resolveOne), in a short batch (resolveShort) and in the
	// middle of a batch the pipeline runs (several blocks), between valid transfers.
	for _, batch := range []int{1, 3, 3*pipelineBlockEvents + 5} {
		for _, c := range cases {
			f := newFixture(t)
			probe := batch / 2
			events := make([]model.Transfer, batch)
			for i := range events {
				events[i] = transfer(uint64(1000+i), 1, 2, 1)
			}
			events[probe] = with(transfer(500, c.debit, c.credit, 1), func(t *model.Transfer) {
				t.Flags = c.flags
			})
			if !plainIgnoringAccountIDs(&events[probe]) {
				t.Fatalf("%s: the transfer is not plain but for its account ids", c.name)
			}
			results := f.transfers(events...)
			for i, result := range results {
				want := model.StatusOK
				if i == probe {
					want = c.want
				}
				if result.Status != want {
					t.Fatalf("%s, batch of %d, event %d: %s, want %s", c.name, batch, i,
						result.Status, want)
				}
			}
			if status := validateTransfer(&events[probe]); c.want != model.StatusOK &&
				status != model.StatusOK && status != c.want {
				t.Fatalf("%s: validateTransfer says %s, the case %s", c.name, status, c.want)
			}
		}
	}
}
