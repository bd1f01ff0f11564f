package ledger

import (
	"testing"

	"sequent/core/model"
)

// BenchmarkLedgerTotalsQueries measures get_ledger_totals over 1,000,000 accounts in 4
// ledgers, and reports queries/s: how many the sequencer can answer a second. as=system
// reads the whole trial balance (the system, an operator); as=owner is a client without
// grants that created 1,000 of the accounts (its own accounts' totals). Only the public
// API, so the same benchmark runs against the code before the running totals.
func BenchmarkLedgerTotalsQueries(b *testing.B) {
	const count, owned, owner = 1_000_000, 1_000, 7
	l := New(Config{HashSeed: 6, AccountsCapacity: count})
	batch := make([]model.Account, model.EventsPerRequestMax)
	results := make([]model.EventResult, model.EventsPerRequestMax)
	for created := 0; created < count; {
		client, size := uint64(0), min(len(batch), count-owned-created)
		if created >= count-owned {
			client, size = owner, count-created
		}
		for i := range size {
			batch[i] = model.Account{ID: model.U128(uint64(1 + created + i)),
				Ledger: uint32(1 + (created+i)%4), Code: 1,
				Flags: model.AccountDebitsMustNotExceedCredits}
		}
		l.CreateAccountsAs(client, uint64(1+created), batch[:size], results[:size])
		for i := range results[:size] {
			if results[i].Status != model.StatusOK {
				b.Fatalf("account %d: %s", created+i, results[i].Status)
			}
		}
		created += size
	}
	filter := model.LedgerFilter{Limit: 10}
	for _, as := range []struct {
		name   string
		client uint64
	}{{"system", 0}, {"owner", owner}} {
		b.Run("as="+as.name, func(b *testing.B) {
			for range b.N {
				if totals, status := l.LedgerTotalsAs(as.client, &filter, nil); status !=
					model.StatusOK || len(totals) != 4 {
					b.Fatalf("%s, %d ledgers", status, len(totals))
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}
