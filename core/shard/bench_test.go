package shard

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/ledger"
	"sequent/core/model"
	"sequent/wal"
)

// logBuilder writes entries to a log and applies them to a machine, as the sequencer
// does, to prepare recovery benchmarks.
type logBuilder struct {
	tb        testing.TB
	log       *wal.Log
	machine   *core.Machine
	op        uint64
	timestamp uint64
	body      []byte
	number    uint64
	output    core.Output
}

func newLogBuilder(tb testing.TB, dir string) *logBuilder {
	log, err := wal.Open(wal.Options{Dir: dir, Sync: wal.SyncNone})
	if err != nil {
		tb.Fatal(err)
	}
	return &logBuilder{tb: tb, log: log, machine: core.New(testMachineConfig),
		timestamp: 1_700_000_000_000_000_000}
}

// entry writes one entry holding one request per body.
func (b *logBuilder) entry(operation model.Operation, bodies ...[]byte) {
	b.body = b.body[:0]
	for _, body := range bodies {
		b.number++
		b.body = core.AppendRequest(b.body, &core.Request{Client: 1, Session: 1, Number: b.number,
			Operation: operation, Body: body})
	}
	b.apply(len(bodies))
}

// apply logs and applies b.body, which holds count requests.
func (b *logBuilder) apply(count int) {
	b.timestamp += 1_000_000
	entry := core.Entry{FirstOp: b.op + 1, Timestamp: b.timestamp, Body: b.body}
	if err := b.log.Append(wal.Entry{Epoch: 1, FirstOp: entry.FirstOp, Count: uint32(count),
		Timestamp: entry.Timestamp, Body: entry.Body}); err != nil {
		b.tb.Fatal(err)
	}
	b.output.Reset()
	if err := b.machine.Apply(&entry, &b.output); err != nil {
		b.tb.Fatal(err)
	}
	b.op += uint64(count)
}

// accounts creates accountCount accounts with ids 1..accountCount. They have no balance
// limit (random transfers all succeed), which takes a transfer grant over them: the first
// entry logs one for client 1, as a keys file would.
func (b *logBuilder) accounts(accountCount int) {
	b.body = core.AppendRequest(b.body[:0], &core.Request{Operation: model.OperationSetGrants,
		Body: model.AppendGrants(nil, []model.Grant{{Client: 1, Scopes: model.ScopeTransfer,
			Ledger: 1}})})
	b.apply(1)
	for next := 0; next < accountCount; next += model.EventsPerRequestMax {
		count := min(model.EventsPerRequestMax, accountCount-next)
		body := make([]byte, count*model.AccountSize)
		for i := 0; i < count; i++ {
			account := model.Account{ID: model.U128(uint64(next + i + 1)), Ledger: 1, Code: 1}
			account.Encode(body[i*model.AccountSize:])
		}
		b.entry(model.OperationCreateAccounts, body)
	}
}

// transfers writes transferCount transfers between random accounts, two full requests
// per entry, with ids following nextID.
func (b *logBuilder) transfers(transferCount int, accountCount int, nextID *uint64,
	random *rand.Rand) {
	for written := 0; written < transferCount; {
		var bodies [][]byte
		for len(bodies) < 2 && written < transferCount {
			count := min(model.EventsPerRequestMax, transferCount-written)
			body := make([]byte, count*model.TransferSize)
			for i := 0; i < count; i++ {
				debit := random.Uint64N(uint64(accountCount)) + 1
				credit := debit%uint64(accountCount) + 1
				*nextID++
				t := model.Transfer{ID: model.U128(*nextID), DebitAccountID: model.U128(debit),
					CreditAccountID: model.U128(credit), Amount: model.U128(1 + random.Uint64N(100)),
					Ledger: 1, Code: 1}
				t.Encode(body[i*model.TransferSize:])
			}
			bodies = append(bodies, body)
			written += count
		}
		b.entry(model.OperationCreateTransfers, bodies...)
	}
}

// BenchmarkReplay measures recovery by log replay alone (read, checksum, decompress,
// apply): 100,000 accounts, then 2,000,000 transfers in entries of 16,378. One op is one
// full replay; transfers/s is the figure to read.
func BenchmarkReplay(b *testing.B) {
	const accountCount, transferCount = 100_000, 2_000_000
	dir := b.TempDir()
	builder := newLogBuilder(b, filepath.Join(dir, "log"))
	builder.accounts(accountCount)
	nextID := uint64(0)
	builder.transfers(transferCount, accountCount, &nextID, rand.New(rand.NewPCG(1, 2)))
	if err := builder.log.Close(); err != nil {
		b.Fatal(err)
	}
	log, err := wal.Open(wal.Options{Dir: filepath.Join(dir, "log")})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	want := builder.machine.Digest()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		machine, _, err := Recover(core.Config{Ledger: ledger.Config{AccountsCapacity: accountCount,
			TransfersCapacity: transferCount}}, log, "", nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.StopTimer()
			if machine.Digest() != want {
				b.Fatal("replayed state differs")
			}
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N)*transferCount/b.Elapsed().Seconds(), "transfers/s")
}

// BenchmarkRestart measures a restart at the scale: 1,000,000 accounts and
// 10,000,000 transfers, with a snapshot taken after 9,000,000 transfers, so a restart is
// a snapshot load plus the replay of the last 1,000,000. Run with -benchtime 1x; setup
// takes a minute and ~6 GiB of memory.
func BenchmarkRestart(b *testing.B) {
	const accountCount, transferCount, snapshotAfter = 1_000_000, 10_000_000, 9_000_000
	dir := b.TempDir()
	builder := newLogBuilder(b, filepath.Join(dir, "log"))
	builder.accounts(accountCount)
	random, nextID := rand.New(rand.NewPCG(3, 4)), uint64(0)
	builder.transfers(snapshotAfter, accountCount, &nextID, random)
	snapshot := builder.machine.Snapshot()
	snapshotDir := filepath.Join(dir, "snapshots")
	meta := wal.SnapshotMeta{Op: snapshot.Op, Epoch: 1, Timestamp: builder.timestamp,
		Digest: snapshot.Digest()}
	if _, err := wal.WriteSnapshot(snapshotDir, meta, snapshot); err != nil {
		b.Fatal(err)
	}
	builder.transfers(transferCount-snapshotAfter, accountCount, &nextID, random)
	want := builder.machine.Digest()
	if err := builder.log.Close(); err != nil {
		b.Fatal(err)
	}
	builder.machine = nil
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		start := time.Now()
		log, err := wal.Open(wal.Options{Dir: filepath.Join(dir, "log")})
		if err != nil {
			b.Fatal(err)
		}
		openLog := time.Since(start)
		machine, report, err := Recover(core.Config{Ledger: ledger.Config{AccountsCapacity: accountCount,
			TransfersCapacity: transferCount}}, log, snapshotDir, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		total := time.Since(start)
		b.StopTimer()
		if report.SnapshotOp != meta.Op || machine.Digest() != want {
			b.Fatalf("restart did not reach the expected state: %+v", report)
		}
		log.Close()
		b.StartTimer()
		b.ReportMetric(openLog.Seconds(), "log-open-s")
		b.ReportMetric((total - openLog - report.Replay).Seconds(), "snapshot-load-s")
		b.ReportMetric(report.Replay.Seconds(), "replay-s")
		b.ReportMetric(float64(report.ReplayedOps), "replayed-requests")
		b.ReportMetric(total.Seconds(), "restart-s")
	}
}
