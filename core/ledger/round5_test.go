package ledger

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"sequent/core/model"
)

// Tests for the gaps the fifth mutation round found (tools/mutation/RESULTS.md, "Fifth
// round"): each fails on the mutant named in its comment.

// TestLedgerTotalsKeepsTheLedgerRange: get_ledger_totals lists exactly the ledgers within
// [LedgerMin, LedgerMax] (LedgerMax 0: no upper bound). Mutant: the upper bound negated
// (totals.go, "account.Ledger > filter.LedgerMax"→"<="), which lists the ledgers above
// the range instead.
func TestLedgerTotalsKeepsTheLedgerRange(t *testing.T) {
	l := New(Config{HashSeed: 11})
	accounts := make([]model.Account, 0, 4)
	for _, ledger := range []uint32{1, 2, 3, 300} {
		accounts = append(accounts, model.Account{ID: model.U128(uint64(ledger)), Ledger: ledger,
			Code: 1})
	}
	results := make([]model.EventResult, len(accounts))
	l.CreateAccounts(1_000, accounts, results)
	for i, r := range results {
		if r.Status != model.StatusOK {
			t.Fatalf("account %d: %s", i, r.Status)
		}
	}
	for _, c := range []struct {
		min, max uint32
		want     []uint32
	}{
		{0, 0, []uint32{1, 2, 3, 300}},
		{1, 2, []uint32{1, 2}},
		{2, 2, []uint32{2}},
		{2, 299, []uint32{2, 3}},
		{3, 0, []uint32{3, 300}},
		{4, 299, nil},
	} {
		filter := model.LedgerFilter{LedgerMin: c.min, LedgerMax: c.max, Limit: 10}
		totals, status := l.LedgerTotals(&filter, nil)
		var got []uint32
		for _, total := range totals {
			got = append(got, total.Ledger)
		}
		if status != model.StatusOK || !slices.Equal(got, c.want) {
			t.Errorf("ledgers %d..%d: %s %v, want ok %v", c.min, c.max, status, got, c.want)
		}
	}
}

// TestRestoreRefusesAnAccountWithReservedBytes: an account record whose reserved field is
// not zero makes the snapshot invalid, alone (known flags, a ledger). Mutant: restore.go's
// "a.Reserved != 0 ||"→"&&", which refuses it only together with unknown flags.
func TestRestoreRefusesAnAccountWithReservedBytes(t *testing.T) {
	f := newFixture(t)
	var encoded bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(Config{}, bytes.NewReader(encoded.Bytes())); err != nil {
		t.Fatalf("undamaged: %v", err)
	}
	damaged := append([]byte(nil), encoded.Bytes()...)
	editAccount(1, func(a *model.Account) { a.Reserved = 1 })(damaged)
	if _, err := Restore(Config{}, bytes.NewReader(damaged)); !errors.Is(err, ErrSnapshotInvalid) {
		t.Fatalf("account with a reserved field: %v, want ErrSnapshotInvalid", err)
	}
}

// TestAccountsAreFoundWhileTheIndexMigrates: right after the account index grows, every
// account still sits in the old table (migration moves a few slots per insert), and each
// must be found there. Mutant: probeAccount's old-table match negated (ledger.go,
// "l.accounts.at(index).ID == id"→"!="): the accounts not yet migrated are not found.
func TestAccountsAreFoundWhileTheIndexMigrates(t *testing.T) {
	l := New(Config{HashSeed: 12})
	var ids []model.Uint128
	results := make([]model.EventResult, 1)
	for l.accountIndex.old == nil {
		if len(ids) == 1<<16 {
			t.Fatalf("the account index did not grow after %d accounts", len(ids))
		}
		id := model.U128(uint64(len(ids) + 1))
		l.CreateAccounts(uint64(1_000+len(ids)), []model.Account{{ID: id, Ledger: 1, Code: 1}},
			results)
		if results[0].Status != model.StatusOK {
			t.Fatalf("account %s: %s", id, results[0].Status)
		}
		ids = append(ids, id)
	}
	found := l.LookupAccounts(ids, nil)
	if len(found) != len(ids) {
		t.Fatalf("%d of %d accounts found during migration", len(found), len(ids))
	}
	for i, a := range found {
		if a.ID != ids[i] {
			t.Fatalf("lookup %d found account %s, want %s", i, a.ID, ids[i])
		}
	}
}

// TestWideSumsPrintTheirValue: the 256-bit sums quoted in Restore's refusals of an
// unbalanced snapshot ("debits posted X != credits posted Y") print the value, plainly
// below 2^128. Mutant: wide.String's test negated (invariants.go), which prints
// "0*2^128+X" below 2^128 and drops the high half above.
func TestWideSumsPrintTheirValue(t *testing.T) {
	for _, c := range []struct {
		sum  wide
		want string
	}{
		{wide{}, "0"},
		{wide{low: model.U128(42)}, "42"},
		{wide{low: model.U128(7), high: model.U128(3)}, "3*2^128+7"},
	} {
		if got := c.sum.String(); got != c.want {
			t.Errorf("%+v prints %q, want %q", c.sum, got, c.want)
		}
	}
}
