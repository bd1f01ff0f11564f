package clearing

import (
	"context"
	"errors"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestReview53aRefuseSharedIDsOfAPartnerListedTwice: hunt53a made RefuseSharedIDs say
// what a settlement account is rather than "on ledgers 1 and 1". The same message came by
// another path: a partner listed twice (a Go caller; `sequent settle` checks its flags
// first) is looked up twice, the ledger answers it twice, and RefuseSharedIDs said
// "account 50 is on ledgers 1 and 1 (one id on two shards …)" where Net says it is
// listed twice.
func TestReview53aRefuseSharedIDsOfAPartnerListedTwice(t *testing.T) {
	b := newBook(t, model.Account{ID: model.U128(50), Ledger: 1, Code: 1})
	err := RefuseSharedIDs(context.Background(), MemoryReader{b.ledger},
		[]model.Uint128{model.U128(50), model.U128(50)})
	if !errors.Is(err, ErrNettingQuery) || !strings.Contains(err.Error(), "listed twice") ||
		strings.Contains(err.Error(), "ledgers 1 and 1") {
		t.Fatalf("a partner listed twice: %v", err)
	}
}
