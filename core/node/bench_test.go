package node

import (
	"fmt"
	"sync"
	"testing"

	"sequent/core"
	"sequent/core/ledger"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// Core-only benchmarks of sharding: machines applying entries, no log, no network, no
// router goroutines. They answer: does a second shard double throughput on two cores,
// what does a cross-shard transfer cost against a local one, and do eight shards on two
// cores collapse. Read transfers/s; compare sub-benchmarks of one run (the machine is
// shared and noisy: use ratios of medians over -count runs).

const (
	benchBatch = 1_000 // Transfers per entry.
	// benchAccountsTotal accounts are spread over the shards (hash placement): the same
	// data whatever the shard count, so that the comparison measures the shards, not a
	// working set that grows with them.
	benchAccountsTotal = 20_000
)

// benchShard is one shard's machine and its pre-encoded entries of local transfers.
type benchShard struct {
	machine *core.Machine
	entries [][]byte // Entry bodies, each one create_transfers request.
	op      uint64
	clock   uint64
	number  uint64
	output  core.Output
	encoded []byte // Reused entry buffer (a sequencer reuses its own).
	step2   []byte // Reused bodies of the router's saga requests.
	step3   []byte
}

// newBenchShards builds shards machines of a hashed map, each with its own accounts, and
// pools of entries whose transfers are local to their shard. Each ledger is sized for
// transfersCapacity transfers up front (0: none, so its tables grow as transfers come).
func newBenchShards(tb testing.TB, shards int, transfersCapacity uint32) []*benchShard {
	placement := shardmap.Hashed(shards)
	perShard := benchAccountsTotal / shards
	owned := make([][]model.Uint128, shards)
	for id, full := uint64(1), 0; full < shards; id++ {
		shard := placement.AccountShard(model.U128(id), 0)
		if len(owned[shard]) < perShard {
			owned[shard] = append(owned[shard], model.U128(id))
			if len(owned[shard]) == perShard {
				full++
			}
		}
	}
	var result []*benchShard
	for index := range shards {
		s := &benchShard{machine: core.New(core.Config{
			Ledger: ledger.Config{AccountsCapacity: uint32(perShard),
				TransfersCapacity: transfersCapacity}, Shard: core.ShardConfig{Map: placement, Index: uint16(index)}}),
			clock: 1_000_000_000}
		// Client 1 is the operator: its accounts may go negative (package ledger).
		s.apply(tb, model.OperationSetGrants, 0, model.AppendGrants(nil,
			[]model.Grant{{Client: 1, Scopes: model.ScopeOperator}}))
		s.createAccounts(tb, owned[index])
		s.entries = localEntries(owned[index], uint64(index)<<40)
		result = append(result, s)
	}
	return result
}

// apply applies one entry of one client request.
func (s *benchShard) apply(tb testing.TB, operation model.Operation, client uint64, body []byte) {
	number := uint64(0)
	if client != 0 {
		s.number++
		number = s.number
	}
	s.encoded = core.AppendRequest(s.encoded[:0], &core.Request{Client: client, Session: 1,
		Number: number, Operation: operation, Body: body})
	s.applyEncoded(tb, s.encoded)
}

func (s *benchShard) applyEncoded(tb testing.TB, encoded []byte) {
	s.clock += 1_000
	s.output.Reset()
	entry := core.Entry{FirstOp: s.op + 1, Timestamp: s.clock, Body: encoded}
	if err := s.machine.Apply(&entry, &s.output); err != nil {
		tb.Fatal(err)
	}
	s.op++
}

func (s *benchShard) createAccounts(tb testing.TB, ids []model.Uint128) {
	for start := 0; start < len(ids); start += benchBatch {
		batch := ids[start:min(start+benchBatch, len(ids))]
		body := make([]byte, len(batch)*model.AccountSize)
		for i, id := range batch {
			account := model.Account{ID: id, Ledger: 1, Code: 1}
			account.Encode(body[i*model.AccountSize:])
		}
		s.apply(tb, model.OperationCreateAccounts, 1, body)
		results := s.output.Body(&s.output.Replies[0])
		for offset := 0; offset < len(results); offset += model.EventResultSize {
			var result model.EventResult
			result.Decode(results[offset:])
			if result.Status != model.StatusOK {
				tb.Fatalf("account %d: %s", start+offset/model.EventResultSize, result.Status)
			}
		}
	}
}

// localEntries pre-encodes 16 entries of transfers between a shard's own accounts.
func localEntries(ids []model.Uint128, idBase uint64) [][]byte {
	entries := make([][]byte, 16)
	next := idBase
	for e := range entries {
		body := make([]byte, benchBatch*model.TransferSize)
		for i := range benchBatch {
			next++
			t := model.Transfer{ID: model.U128(next), DebitAccountID: ids[(e*benchBatch+i)%len(ids)],
				CreditAccountID: ids[(e*benchBatch+i*7+1)%len(ids)], Amount: model.U128(1),
				Ledger: 1, Code: 1}
			t.Encode(body[i*model.TransferSize:])
		}
		entries[e] = body
	}
	return entries
}

// nextLocal applies the shard's next local entry with fresh transfer ids.
func (s *benchShard) nextLocal(tb testing.TB, round uint64) {
	body := s.entries[round%uint64(len(s.entries))]
	for i := 0; i < benchBatch; i++ {
		// Fresh ids each round: the low 40 bits count rounds × batch, the high bits keep shards apart.
		id := model.Uint128LE(body[i*model.TransferSize:])
		id.Lo = id.Lo&^(1<<40-1) | (round*benchBatch+uint64(i))&(1<<40-1)
		id.PutLE(body[i*model.TransferSize:])
	}
	s.apply(tb, model.OperationCreateTransfers, 1, body)
}

// BenchmarkShardsLocalTransfers applies entries of shard-local transfers on 1, 2 and 8
// shards, each shard's machine on its own goroutine: total transfers/s (wall time: read
// it on idle cores) and CPU per transfer (which load does not inflate). On two cores the
// goals are shards=2 ≥ 1.8 × shards=1 and shards=8 ≥ 0.9 × shards=2.
func BenchmarkShardsLocalTransfers(b *testing.B) {
	for _, shards := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			machines := newBenchShards(b, shards, 0)
			b.ReportAllocs()
			b.ResetTimer()
			cpuStart, measured := processCPU()
			var group sync.WaitGroup
			for index, s := range machines {
				// Shard index takes entries index, index+shards, ...: b.N entries in all.
				group.Go(func() {
					round := uint64(0)
					for entry := index; entry < b.N; entry += shards {
						s.nextLocal(b, round)
						round++
					}
				})
			}
			group.Wait()
			cpuEnd, _ := processCPU()
			b.ReportMetric(float64(b.N)*benchBatch/b.Elapsed().Seconds(), "transfers/s")
			if measured {
				// Equal CPU per transfer for every shard count means shards share nothing
				// that costs: on idle cores, throughput would then scale with the cores.
				b.ReportMetric(float64(cpuEnd-cpuStart)/float64(b.N*benchBatch), "cpu-ns/transfer")
			}
		})
	}
}

// BenchmarkCrossShardCost compares, on one goroutine, the CPU of a local transfer with
// that of a cross-shard one: step 1 on the debit shard, step 2 on the credit shard, step
// 3 back on the debit shard, with the router's work of encoding the messages into
// requests. Goal: cross ≤ 3 × local per transfer, in cpu-ns/transfer (process CPU time,
// which other load on a shared machine does not inflate as it does wall time). The
// ledgers start without room for transfers: their id tables grow during the run.
func BenchmarkCrossShardCost(b *testing.B) { benchmarkCrossShardCost(b, 0) }

// BenchmarkCrossShardPresized is BenchmarkCrossShardCost with each shard's ledger sized
// as a server sizes it by default (serve --transfers-capacity, 2^21 transfers): up to
// ~1,000 rounds (a cross-shard round stores 2,000 transfers on the debit shard) no id
// table grows, so the comparison leaves out the growth that a server meets only past its
// capacity.
func BenchmarkCrossShardPresized(b *testing.B) {
	benchmarkCrossShardCost(b, benchServerTransfersCapacity)
}

// benchServerTransfersCapacity is serve's default --transfers-capacity (cmd/sequent).
const benchServerTransfersCapacity = 1 << 21

func benchmarkCrossShardCost(b *testing.B, transfersCapacity uint32) {
	for _, kind := range []string{"local", "cross"} {
		b.Run("kind="+kind, func(b *testing.B) {
			shards := newBenchShards(b, 2, transfersCapacity)
			a, other := shards[0], shards[1]
			credits := crossCredits(a, other)
			b.ReportAllocs()
			b.ResetTimer()
			cpuStart, measured := processCPU()
			for round := range uint64(b.N) {
				if kind == "local" {
					a.nextLocal(b, round)
					continue
				}
				a.crossRound(b, other, credits, round)
			}
			cpuEnd, _ := processCPU()
			b.ReportMetric(float64(b.N)*benchBatch/b.Elapsed().Seconds(), "transfers/s")
			if measured {
				// CPU per transfer: the cost to compare, whatever else the machine runs.
				b.ReportMetric(float64(cpuEnd-cpuStart)/float64(b.N*benchBatch), "cpu-ns/transfer")
			}
		})
	}
}

// crossCredits returns credit accounts of the other shard for cross-shard transfers.
func crossCredits(a, other *benchShard) []model.Uint128 {
	var ids []model.Uint128
	for account := range other.machine.Ledger().Accounts() {
		ids = append(ids, account.ID)
	}
	return ids
}

// crossRound runs one entry of cross-shard transfers through all three steps.
func (a *benchShard) crossRound(tb testing.TB, other *benchShard, credits []model.Uint128,
	round uint64) {
	body := a.entries[round%uint64(len(a.entries))]
	for i := 0; i < benchBatch; i++ {
		offset := i * model.TransferSize
		id := model.U128(1<<50 | round*benchBatch + uint64(i))
		id.PutLE(body[offset:])
		credits[(int(round)*benchBatch+i)%len(credits)].PutLE(body[offset+32:]) // Credit account.
	}
	a.apply(tb, model.OperationCreateTransfers, 1, body)
	messages := a.output.Messages
	if len(messages) != benchBatch {
		tb.Fatalf("%d sagas started of %d", len(messages), benchBatch)
	}
	step2 := a.step2[:0]
	for i := range messages {
		step2 = append(step2, make([]byte, model.SagaCreditSize)...)
		messages[i].Credit.Encode(step2[len(step2)-model.SagaCreditSize:])
	}
	a.step2 = step2
	other.apply(tb, model.OperationSagaCredit, 0, step2)
	decisions := other.output.Messages
	step3 := a.step3[:0]
	for i := range decisions {
		if decisions[i].Kind != saga.MessageDecision || decisions[i].Decision.Status != model.StatusOK {
			tb.Fatalf("decision %+v", decisions[i].Decision)
		}
		step3 = append(step3, make([]byte, model.SagaDecisionSize)...)
		decisions[i].Decision.Encode(step3[len(step3)-model.SagaDecisionSize:])
	}
	a.step3 = step3
	a.apply(tb, model.OperationSagaFinish, 0, step3)
	if len(a.output.Messages) != benchBatch {
		tb.Fatalf("%d sagas finished of %d", len(a.output.Messages), benchBatch)
	}
}
