package ledger

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// TestNewestFirstPaging pages each account's transfers newest first, the next page bounded
// by the timestamp of the last transfer seen minus one (the pattern transferWalkStart makes
// cheap), and also asks random bounds, comparing every answer with a naive filter over
// all stored transfers. Accounts differ in how densely they appear, so both the fast start
// and the fallback walk are taken.
func TestNewestFirstPaging(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := New(Config{HashSeed: 4})
		accounts := make([]model.Account, 5)
		for i := range accounts {
			accounts[i] = model.Account{ID: model.U128(uint64(i + 1)), Ledger: 1, Code: 1}
		}
		l.CreateAccounts(1, accounts, make([]model.EventResult, len(accounts)))
		timestamp := uint64(100)
		for i := range rapid.IntRange(0, 300).Draw(t, "transfers") {
			// Account 1 is in most transfers, account 5 in few.
			debit := rapid.SampledFrom([]uint64{1, 1, 1, 2, 3, 4, 5}).Draw(t, "debit")
			credit := rapid.SampledFrom([]uint64{1, 2, 2, 3, 4}).Draw(t, "credit")
			if debit == credit {
				continue
			}
			transfer := model.Transfer{ID: model.U128(uint64(1000 + i)),
				DebitAccountID: model.U128(debit), CreditAccountID: model.U128(credit),
				Amount: model.U128(1), Ledger: 1, Code: 1}
			l.CreateTransfers(timestamp, []model.Transfer{transfer}, make([]model.TransferResult, 1))
			timestamp += rapid.Uint64Range(1, 3).Draw(t, "gap")
		}
		for account := uint64(1); account <= 5; account++ {
			limit := uint32(rapid.IntRange(1, 7).Draw(t, "limit"))
			want := naiveNewestFirst(l, model.U128(account), 0, 0)
			if got := pageNewestFirst(t, l, model.U128(account), limit); !slices.Equal(got, want) {
				t.Fatalf("account %d pages of %d: %v, want %v", account, limit, got, want)
			}
			bound := rapid.Uint64Range(99, timestamp+1).Draw(t, "bound")
			filter := model.AccountFilter{AccountID: model.U128(account), TimestampMax: bound,
				Limit: limit, Flags: model.FilterDebits | model.FilterCredits | model.FilterReversed}
			found, _ := l.GetAccountTransfers(&filter, nil)
			want = naiveNewestFirst(l, model.U128(account), bound, int(limit))
			if got := timestampsOf(found); !slices.Equal(got, want) {
				t.Fatalf("account %d below %d: %v, want %v", account, bound, got, want)
			}
		}
	})
}

func pageNewestFirst(t *rapid.T, l *Ledger, account model.Uint128, limit uint32) []uint64 {
	var all []uint64
	filter := model.AccountFilter{AccountID: account, Limit: limit,
		Flags: model.FilterDebits | model.FilterCredits | model.FilterReversed}
	for {
		page, status := l.GetAccountTransfers(&filter, nil)
		if status != model.StatusOK {
			t.Fatalf("page: %s", status)
		}
		all = append(all, timestampsOf(page)...)
		if len(page) < int(limit) {
			return all
		}
		filter.TimestampMax = page[len(page)-1].Timestamp - 1
	}
}

// naiveNewestFirst lists the account's transfers at or below bound (0: all), newest
// first, at most limit (0: all), by scanning every stored transfer.
func naiveNewestFirst(l *Ledger, account model.Uint128, bound uint64, limit int) []uint64 {
	var all []uint64
	for index := int(l.transfers.count) - 1; index >= 0; index-- {
		t := l.transfers.at(uint32(index))
		if (t.DebitAccountID == account || t.CreditAccountID == account) &&
			(bound == 0 || t.Timestamp <= bound) && (limit == 0 || len(all) < limit) {
			all = append(all, t.Timestamp)
		}
	}
	return all
}

func timestampsOf(transfers []model.Transfer) []uint64 {
	stamps := make([]uint64, len(transfers))
	for i := range transfers {
		stamps[i] = transfers[i].Timestamp
	}
	return stamps
}

// BenchmarkPageAccountTransfers reads all the transfers of one account that is in every
// transfer, a page of 8189 at a time: oldest first (each page bounded below, which walks
// from the newest transfer down every time: quadratic) against newest first (each page
// bounded above by the last one seen: transferWalkStart starts at the bound). Reports
// transfers read per second.
func BenchmarkPageAccountTransfers(b *testing.B) {
	const count = 1_000_000
	l := New(Config{HashSeed: 4, AccountsCapacity: 4, TransfersCapacity: count + 16})
	l.CreateAccounts(1, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1}}, make([]model.EventResult, 2))
	batch := make([]model.Transfer, model.EventsPerRequestMax)
	results := make([]model.TransferResult, model.EventsPerRequestMax)
	for created := 0; created < count; {
		size := min(len(batch), count-created)
		for i := range size {
			batch[i] = model.Transfer{ID: model.U128(uint64(10 + created + i)),
				DebitAccountID: model.U128(2), CreditAccountID: model.U128(1),
				Amount: model.U128(1), Ledger: 1, Code: 1}
		}
		l.CreateTransfers(uint64(100+created), batch[:size], results[:size])
		created += size
	}
	for _, newestFirst := range []bool{false, true} {
		b.Run(fmt.Sprintf("newest_first=%v", newestFirst), func(b *testing.B) {
			var out []model.Transfer
			for range b.N {
				filter := model.AccountFilter{AccountID: model.U128(1),
					Limit: model.EventsPerRequestMax, Flags: model.FilterDebits | model.FilterCredits}
				if newestFirst {
					filter.Flags |= model.FilterReversed
				}
				read := 0
				for {
					var status model.Status
					out, status = l.GetAccountTransfers(&filter, out[:0])
					if status != model.StatusOK {
						b.Fatal(status)
					}
					read += len(out)
					if len(out) < model.EventsPerRequestMax {
						break
					}
					if newestFirst {
						filter.TimestampMax = out[len(out)-1].Timestamp - 1
					} else {
						filter.TimestampMin = out[len(out)-1].Timestamp + 1
					}
				}
				if read != count {
					b.Fatalf("read %d of %d", read, count)
				}
			}
			b.ReportMetric(float64(count*b.N)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}
