package ledger

import (
	"testing"

	"sequent/core/model"
)

// collidingInWord returns two account ids whose account-table tags are equal and that
// differ in one 64-bit word only (hi: the high word, else the low one), the other word
// being fixed: a candidate found by the tag alone is then the wrong account in exactly
// one half of its id, which only a test of that half can see.
func collidingInWord(t *testing.T, table *idTable, hi bool, fixed uint64) (model.Uint128,
	model.Uint128) {
	t.Helper()
	seen := map[uint64]model.Uint128{}
	for n := uint64(1); n < 1<<22; n++ {
		id := model.Uint128{Lo: fixed, Hi: n}
		if !hi {
			id = model.Uint128{Lo: n, Hi: fixed}
		}
		tag := tagOf(table.hash(id))
		if other, found := seen[tag]; found {
			return other, id
		}
		seen[tag] = id
	}
	t.Fatal("no tag collision found")
	return model.Uint128{}, model.Uint128{}
}

// TestBothIDsSeesEveryWord: confirmAccounts takes the pipeline's candidates for both
// accounts when bothIDs says their records carry the event's ids. For each of the four
// words it compares (debit or credit, low or high), an account is created whose id
// shares its tag with a missing id that differs from it in that word only, and
// transfers name the missing id there: they must answer not found, in a batch of two
// (resolveShort's stages) and in a pipelined batch, and book nothing on the account
// whose tag they share. A bothIDs that left out any one word took the candidate.
func TestBothIDsSeesEveryWord(t *testing.T) {
	for _, word := range []struct {
		name      string
		debit, hi bool
	}{{"debit low", true, false}, {"debit high", true, true},
		{"credit low", false, false}, {"credit high", false, true}} {
		t.Run(word.name, func(t *testing.T) {
			l := New(Config{HashSeed: 46})
			present, missing := collidingInWord(t, &l.accountIndex, word.hi, 0x4600)
			other := model.Uint128{Lo: 7, Hi: 1 << 40}
			accountResults := make([]model.EventResult, 2)
			l.CreateAccounts(1, []model.Account{{ID: present, Ledger: 1, Code: 1},
				{ID: other, Ledger: 1, Code: 1}}, accountResults)
			for i, r := range accountResults {
				if r.Status != model.StatusOK {
					t.Fatalf("account %d: %s", i, r.Status)
				}
			}
			want := model.StatusCreditAccountNotFound
			if word.debit {
				want = model.StatusDebitAccountNotFound
			}
			timestamp := uint64(100)
			nextID := uint64(1)
			for _, batch := range []int{2, 3 * pipelineBlockEvents} {
				events := make([]model.Transfer, batch)
				for i := range events {
					events[i] = model.Transfer{ID: model.U128(nextID), DebitAccountID: other,
						CreditAccountID: missing, Amount: model.U128(1), Ledger: 1, Code: 1}
					if word.debit {
						events[i].DebitAccountID, events[i].CreditAccountID = missing, other
					}
					nextID++
				}
				results := make([]model.TransferResult, batch)
				l.CreateTransfers(timestamp, events, results)
				timestamp += uint64(batch)
				for i, r := range results {
					if r.Status != want {
						t.Fatalf("batch of %d, event %d naming %s (tag of %s): %s, want %s",
							batch, i, missing, present, r.Status, want)
					}
				}
			}
			accounts := l.LookupAccounts([]model.Uint128{present}, nil)
			if len(accounts) != 1 || !accounts[0].DebitsPosted.IsZero() ||
				!accounts[0].CreditsPosted.IsZero() || l.TransferCount() != 0 {
				t.Fatalf("account %s: %+v, %d transfers", present, accounts, l.TransferCount())
			}
		})
	}
}
