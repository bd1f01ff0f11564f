package capture

import (
	"math"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestSubjectPrefixFitsTheControlLine: a subject prefix is refused at start when the
// longest subject built on it would not fit the NATS server's default control line, and
// a capture under the longest prefix accepted publishes the longest subjects (a
// transfer between accounts of 39-digit ids). A longer prefix used to be accepted, and
// the server then closed the connection at the first publish whose line passed its
// bound, again at every retry.
func TestSubjectPrefixFitsTheControlLine(t *testing.T) {
	longest := strings.Repeat("p", subjectPrefixBytesMax)
	if err := ValidateNames(StreamDefault, longest); err != nil {
		t.Fatalf("a prefix of %d bytes: %v", len(longest), err)
	}
	if err := ValidateNames(StreamDefault, longest+"p"); err == nil ||
		!strings.Contains(err.Error(), "subject prefix") {
		t.Fatalf("a prefix of %d bytes: error %v, want it refused", len(longest)+1, err)
	}

	rig := newCaptureRigWithPrefix(t, 1024, longest)
	// The largest ids a client may use (bit 127 is reserved): 39 decimal digits each.
	debit := model.Uint128{Lo: math.MaxUint64, Hi: math.MaxInt64}
	credit := model.Uint128{Lo: math.MaxUint64 - 1, Hi: math.MaxInt64}
	accounts := make([]byte, 2*model.AccountSize)
	(&model.Account{ID: debit, Ledger: math.MaxUint32, Code: 1}).Encode(accounts)
	(&model.Account{ID: credit, Ledger: math.MaxUint32, Code: 1}).Encode(
		accounts[model.AccountSize:])
	rig.submit(model.OperationCreateAccounts, accounts)
	transfer := make([]byte, model.TransferSize)
	(&model.Transfer{ID: model.U128(1), DebitAccountID: debit, CreditAccountID: credit,
		Amount: model.U128(1), Ledger: math.MaxUint32, Code: 1}).Encode(transfer)
	rig.submit(model.OperationCreateTransfers, transfer)
	rig.waitPublished(3)
}
