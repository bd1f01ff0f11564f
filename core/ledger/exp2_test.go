package ledger

import (
	"math/rand/v2"
	"testing"
	"time"

	"sequent/core/model"
)

func BenchmarkExperimentPasses(b *testing.B) {
	l, _ := newBenchLedger(b, benchAccountCount, 1<<24)
	random := rand.New(rand.NewPCG(1, 2))
	events := make([]model.Transfer, model.EventsPerRequestMax)
	nextID := uint64(1)
	var p1, p2, p3 time.Duration
	s := &l.batch
	accountTable, transferTable := &l.accountIndex, &l.transferIndex
	for n := 0; n < b.N; n++ {
		for i := range events {
			debit := random.Uint64N(benchAccountCount) + 1
			credit := debit%benchAccountCount + 1
			events[i] = model.Transfer{ID: model.U128(nextID), DebitAccountID: model.U128(debit),
				CreditAccountID: model.U128(credit), Amount: model.U128(1), Ledger: 1, Code: 1}
			nextID++
		}
		t0 := time.Now()
		sink := uint64(0)
		for i := range events {
			event := &events[i]
			debitHash := hashID(event.DebitAccountID, accountTable.seed)
			creditHash := hashID(event.CreditAccountID, accountTable.seed)
			transferHash := hashID(event.ID, transferTable.seed)
			s.debitHash[i], s.creditHash[i], s.transferHash[i] = debitHash, creditHash, transferHash
			sink += accountTable.slots[debitHash&accountTable.mask] +
				accountTable.slots[creditHash&accountTable.mask]
		}
		t1 := time.Now()
		for i := range events {
			sink += transferTable.slots[s.transferHash[i]&transferTable.mask]
		}
		t2 := time.Now()
		for i := range events {
			event := &events[i]
			debitIndex, _, _ := l.probeAccount(s.debitHash[i], event.DebitAccountID)
			creditIndex, _, _ := l.probeAccount(s.creditHash[i], event.CreditAccountID)
			s.debitIndex[i], s.creditIndex[i] = debitIndex, creditIndex
		}
		t3 := time.Now()
		s.sink = sink
		p1 += t1.Sub(t0)
		p2 += t2.Sub(t1)
		p3 += t3.Sub(t2)
	}
	per := float64(b.N) * model.EventsPerRequestMax
	b.ReportMetric(float64(p1.Nanoseconds())/per, "accountslots-ns")
	b.ReportMetric(float64(p2.Nanoseconds())/per, "transferslot-ns")
	b.ReportMetric(float64(p3.Nanoseconds())/per, "resolve-ns")
}
