package clearing

import (
	"context"
	"errors"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// copiesReader answers a lookup of accounts with both copies of a settlement account
// (a node's router asks every shard for an id of the reserved range: PROTOCOL.md §18).
type copiesReader struct{ MemoryReader }

func (copiesReader) LookupAccounts(_ context.Context, ids []model.Uint128) ([]model.Account,
	error) {
	var found []model.Account
	for _, id := range ids {
		if _, _, ledger, ok := saga.SettlementAccount(id); ok {
			found = append(found, model.Account{ID: id, Ledger: ledger},
				model.Account{ID: id, Ledger: ledger})
		}
	}
	return found, nil
}

// TestHunt53aSharedIDsNamesASettlementAccount: `sequent settle --partner` with the id of
// a node's settlement account (cross-shard transfers pass through it) is refused before
// anything is read, by RefuseSharedIDs, which the command runs first. The router finds
// that id's two copies, on one ledger, and the refusal said "account … is on ledgers 1
// and 1 (one id on two shards of a node placing accounts by ledger)": neither true nor
// what Net's own check says of that id. It now says what the id is.
func TestHunt53aSharedIDsNamesASettlementAccount(t *testing.T) {
	settlement := saga.SettlementAccountID(0, 1, 1)
	err := RefuseSharedIDs(context.Background(), copiesReader{}, []model.Uint128{
		model.U128(50), settlement})
	if !errors.Is(err, ErrNettingQuery) || !strings.Contains(err.Error(), "settlement account") ||
		strings.Contains(err.Error(), "ledgers 1 and 1") {
		t.Fatalf("a settlement account as partner: %v", err)
	}
}
