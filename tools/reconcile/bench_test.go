package reconcile

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
	"sequent/tools/clearing"
)

// BenchmarkReconcile reconciles a clean statement of a fixed number of lines
// (the sub-benchmark's name) against a ledger in memory (MemoryReader: no network, so
// this is the tool's own cost — parsing, sorting both sides, merging), and reports
// lines/s. The end-to-end figure against a real server is TestReconcileLarge in
// tools/e2e (README, Clearing).
func BenchmarkReconcile(b *testing.B) {
	for _, lines := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("lines=%d", lines), func(b *testing.B) {
			l, statement := largeWorld(b, lines)
			ledgers := testLedgers(b)
			b.ResetTimer()
			for range b.N {
				report, err := Run(context.Background(), Options{
					Reader: clearing.MemoryReader{Ledger: l}, Ledgers: ledgers,
					Account: partner, Statement: statement, TempDirectory: b.TempDir(),
					Window: clearing.Window{Until: 1 << 62}})
				if err != nil || !report.OK || report.Summary.Matched != lines {
					b.Fatalf("%v %+v", err, report.Summary)
				}
			}
			b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// largeWorld books lines payments on the partner's account and writes the statement.
func largeWorld(b *testing.B, lines int) (*ledger.Ledger, string) {
	l := ledger.New(ledger.Config{HashSeed: 1, AccountsCapacity: 4,
		TransfersCapacity: uint32(lines + 16)})
	l.CreateAccounts(1, []model.Account{{ID: customer, Ledger: 1, Code: 1},
		{ID: partner, Ledger: 1, Code: 2}}, make([]model.EventResult, 2))
	path := filepath.Join(b.TempDir(), "statement.csv")
	file, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	writer := bufio.NewWriterSize(file, 1<<20)
	writer.WriteString("reference,amount,currency,status\n")
	random := rand.New(rand.NewPCG(1, 1))
	batch := make([]model.Transfer, 0, model.EventsPerRequestMax)
	results := make([]model.TransferResult, model.EventsPerRequestMax)
	timestamp := uint64(1_000_000)
	for i := range lines {
		amount := 1 + random.Uint64N(10_000_000)
		reference := 1_000_000_000 + uint64(i)*7919%10_000_000_007
		batch = append(batch, model.Transfer{ID: model.U128(uint64(10 + i)),
			DebitAccountID: customer, CreditAccountID: partner, Amount: model.U128(amount),
			UserData128: model.U128(reference), Ledger: 1, Code: 1})
		fmt.Fprintf(writer, "%d,%d.%02d,USD,settled\n", reference, amount/100, amount%100)
		if len(batch) == cap(batch) || i == lines-1 {
			l.CreateTransfers(timestamp, batch, results[:len(batch)])
			timestamp += uint64(len(batch))
			batch = batch[:0]
		}
	}
	writer.Flush()
	file.Close()
	return l, path
}
