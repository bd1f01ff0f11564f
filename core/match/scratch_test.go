package match

import (
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

func BenchmarkScratchLedger(b *testing.B) {
	l := ledger.New(ledger.Config{AccountsCapacity: 4096, TransfersCapacity: 1 << 24, HashSeed: 1})
	accounts := make([]model.Account, 2001)
	for i := range accounts {
		accounts[i] = model.Account{ID: model.U128(uint64(i + 1)), Ledger: 1, Code: 1}
	}
	res := make([]model.EventResult, len(accounts))
	ts := uint64(1)
	l.CreateAccounts(ts, accounts, res)
	ts += uint64(len(accounts))
	events := make([]model.Transfer, 2)
	results := make([]model.TransferResult, 2)
	id := uint64(1)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		a := uint64(n%2000) + 1
		events[0] = model.Transfer{ID: model.Uint128{Lo: id, Hi: 1 << 63}, DebitAccountID: model.U128(a), CreditAccountID: model.U128(2001), Amount: model.U128(10), Ledger: 1, Code: 1, Flags: model.TransferPending}
		l.CreateSystemTransfers(ts, events[:1], results)
		ts++
		events[0] = model.Transfer{ID: model.Uint128{Lo: id + 1, Hi: 1 << 63}, PendingID: model.Uint128{Lo: id, Hi: 1 << 63}, Amount: model.Uint128Max, Flags: model.TransferPostPending}
		l.CreateSystemTransfers(ts, events[:1], results)
		ts++
		id += 2
		if results[0].Status != 0 {
			b.Fatal(results[0].Status)
		}
	}
	b.ReportMetric(float64(b.N*2)/b.Elapsed().Seconds(), "transfers/s")
}
