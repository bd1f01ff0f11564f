package ledger

import (
	"math/big"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// TestLedgerTotalsStatuses covers every result of get_ledger_totals' filter check, in
// precedence order, and that a refused filter returns nothing.
func TestLedgerTotalsStatuses(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name   string
		filter model.LedgerFilter
		want   model.Status
	}{
		{"reserved first", model.LedgerFilter{Limit: 0, Reserved: 1}, model.StatusReservedField},
		{"limit zero", model.LedgerFilter{Limit: 0}, model.StatusInvalidFilter},
		{"limit above max", model.LedgerFilter{Limit: model.EventsPerRequestMax + 1},
			model.StatusInvalidFilter},
		{"max below min", model.LedgerFilter{LedgerMin: 3, LedgerMax: 2, Limit: 1},
			model.StatusInvalidFilter},
		{"ok", model.LedgerFilter{Limit: model.EventsPerRequestMax}, model.StatusOK},
		{"min equals max", model.LedgerFilter{LedgerMin: 2, LedgerMax: 2, Limit: 1},
			model.StatusOK},
	}
	for _, c := range cases {
		found, status := f.ledger.LedgerTotals(&c.filter, nil)
		if status != c.want {
			t.Errorf("%s: %s, want %s", c.name, status, c.want)
		}
		if status != model.StatusOK && len(found) != 0 {
			t.Errorf("%s: %d results with a refusal", c.name, len(found))
		}
	}
}

// TestLedgerTotalsMatchesAccounts applies random transfers (single-phase, pending, posts
// and voids) over accounts in several ledgers, then checks get_ledger_totals against sums
// computed naively from every account in big integers: the account counts, the four sums,
// and balance in every ledger. Pages of random limits must concatenate to the whole.
func TestLedgerTotalsMatchesAccounts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := New(Config{HashSeed: 5})
		timestamp := uint64(1_000 * second)
		// Small ledger numbers and large ones (LedgerTotals keeps them apart).
		numbers := []uint32{1, 2, 255, 256, 70_000, 1<<32 - 1}
		accountCount := rapid.IntRange(2, 30).Draw(t, "accounts")
		accounts := make([]model.Account, accountCount)
		for i := range accounts {
			accounts[i] = model.Account{ID: model.U128(uint64(i + 1)), Code: 1,
				Ledger: rapid.SampledFrom(numbers).Draw(t, "ledger")}
		}
		l.CreateAccounts(timestamp, accounts, make([]model.EventResult, len(accounts)))
		timestamp += uint64(len(accounts))
		var pendings []model.Uint128
		for i := range rapid.IntRange(0, 60).Draw(t, "transfers") {
			debit := accounts[rapid.IntRange(0, accountCount-1).Draw(t, "debit")]
			credit := accounts[rapid.IntRange(0, accountCount-1).Draw(t, "credit")]
			transfer := model.Transfer{ID: model.U128(uint64(1000 + i)), Code: 1,
				DebitAccountID: debit.ID, CreditAccountID: credit.ID, Ledger: debit.Ledger,
				Amount: model.Uint128{Lo: rapid.Uint64().Draw(t, "amount"),
					Hi: rapid.Uint64Range(0, 1<<40).Draw(t, "amount.hi")}}
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 1:
				transfer.Flags = model.TransferPending
				pendings = append(pendings, transfer.ID)
			case 2, 3:
				if len(pendings) > 0 {
					transfer = model.Transfer{ID: transfer.ID, Amount: model.Uint128Max,
						PendingID: pendings[rapid.IntRange(0, len(pendings)-1).Draw(t, "pending")],
						Flags:     model.TransferPostPending}
					if rapid.Bool().Draw(t, "void") {
						transfer.Flags, transfer.Amount = model.TransferVoidPending, model.Uint128{}
					}
				}
			}
			results := make([]model.TransferResult, 1)
			l.CreateTransfers(timestamp, []model.Transfer{transfer}, results)
			timestamp++
		}
		checkTotals(t, l, rapid.IntRange(1, 4).Draw(t, "page"))
	})
}

// checkTotals compares LedgerTotals, read in pages of page ledgers, with naive sums.
func checkTotals(t *rapid.T, l *Ledger, page int) {
	type naive struct {
		count int
		sums  [4]*big.Int
	}
	want := map[uint32]*naive{}
	for account := range l.Accounts() {
		n := want[account.Ledger]
		if n == nil {
			n = &naive{sums: [4]*big.Int{new(big.Int), new(big.Int), new(big.Int), new(big.Int)}}
			want[account.Ledger] = n
		}
		n.count++
		for i, balance := range []model.Uint128{account.DebitsPending, account.DebitsPosted,
			account.CreditsPending, account.CreditsPosted} {
			n.sums[i].Add(n.sums[i], balance.Big())
		}
	}
	var got []model.LedgerTotals
	filter := model.LedgerFilter{Limit: uint32(page)}
	for {
		found, status := l.LedgerTotals(&filter, nil)
		if status != model.StatusOK {
			t.Fatalf("totals: %s", status)
		}
		got = append(got, found...)
		if len(found) < page || found[len(found)-1].Ledger == 1<<32-1 {
			break
		}
		filter.LedgerMin = found[len(found)-1].Ledger + 1
	}
	if len(got) != len(want) {
		t.Fatalf("%d ledgers, want %d", len(got), len(want))
	}
	for i := range got {
		totals := &got[i]
		n := want[totals.Ledger]
		if n == nil || (i > 0 && got[i-1].Ledger >= totals.Ledger) {
			t.Fatalf("unexpected or unordered ledger %d", totals.Ledger)
		}
		sums := [4]model.WideSum{totals.DebitsPending, totals.DebitsPosted,
			totals.CreditsPending, totals.CreditsPosted}
		for j := range sums {
			if sums[j].Big().Cmp(n.sums[j]) != 0 {
				t.Fatalf("ledger %d sum %d: %s, want %s", totals.Ledger, j, sums[j], n.sums[j])
			}
		}
		if int(totals.Accounts) != n.count || !totals.Balanced() {
			t.Fatalf("%s: want %d accounts, balanced", totals, n.count)
		}
	}
}
