package core

import (
	"testing"

	"sequent/core/model"
)

// benchShard applies entries to one shard's machine, as the sequencer does.
type benchShard struct {
	machine   *Machine
	op        uint64
	timestamp uint64
	out       Output
}

func (s *benchShard) apply(b *testing.B, request Request) *Output {
	s.timestamp += 1_000_000
	entry := Entry{FirstOp: s.op + 1, Timestamp: s.timestamp, Body: AppendRequest(nil, &request)}
	s.out.Reset()
	if err := s.machine.Apply(&entry, &s.out); err != nil {
		b.Fatal(err)
	}
	s.op++
	return &s.out
}

// BenchmarkCrossShardTransfer runs one cross-shard transfer's three steps per
// iteration (shard 0: step 1, shard 1: step 2, shard 0: step 3), client 1 paying from
// account 1 (shard 0) into 101 (shard 1). plain: a plain transfer; bound: balancing_credit
// from a debit-limited payer (rules version 9 reserves what it may pay).
func BenchmarkCrossShardTransfer(b *testing.B) {
	for _, kind := range []string{"plain", "bound"} {
		b.Run(kind, func(b *testing.B) {
			var shards [2]*benchShard
			for i := range shards {
				shards[i] = &benchShard{machine: New(Config{Shard: ShardConfig{Map: twoShards,
					Index: uint16(i)}}), timestamp: 1_000_000_000_000}
				shards[i].apply(b, Request{Operation: model.OperationUpgradeRules,
					Body: AppendUpgradeRules(nil, RulesVersionCurrent)})
				shards[i].apply(b, Request{Operation: model.OperationSetGrants,
					Body: model.AppendGrants(nil, []model.Grant{{Client: 1,
						Scopes: model.ScopeOperator}})})
			}
			number := uint64(0)
			client := func(operation model.Operation, body []byte) Request {
				number++
				return Request{Client: 1, Session: 1, Number: number, Operation: operation,
					Body: body}
			}
			payer := model.Account{ID: model.U128(1), Ledger: 1, Code: 1,
				Flags: model.AccountDebitsMustNotExceedCredits}
			body := append(accountsBody(2), make([]byte, model.AccountSize)...)
			payer.Encode(body[model.AccountSize:])
			shards[0].apply(b, client(model.OperationCreateAccounts, body))
			shards[1].apply(b, client(model.OperationCreateAccounts, accountsBody(100, 101)))
			shards[0].apply(b, client(model.OperationCreateTransfers,
				transfersBody(simpleTransfer(1, 2, 1, 1<<40))))
			shards[1].apply(b, client(model.OperationCreateTransfers,
				transfersBody(simpleTransfer(2, 101, 100, 1<<40))))
			credit := make([]byte, model.SagaCreditSize)
			decision := make([]byte, model.SagaDecisionSize)
			id := uint64(1000)
			for b.Loop() {
				id++
				t := simpleTransfer(id, 1, 101, 10)
				if kind == "bound" {
					t.Flags, t.Amount = model.TransferBalancingCredit, model.U128(1<<50)
				}
				out := shards[0].apply(b, client(model.OperationCreateTransfers, transfersBody(t)))
				if len(out.Messages) != 1 {
					b.Fatal(out.Replies[0].Status, out.Body(&out.Replies[0]))
				}
				out.Messages[0].Credit.Encode(credit)
				out = shards[1].apply(b, Request{Operation: model.OperationSagaCredit, Body: credit})
				out.Messages[0].Decision.Encode(decision)
				out = shards[0].apply(b, Request{Operation: model.OperationSagaFinish, Body: decision})
				if out.Messages[0].Finished.Result.Status != model.StatusOK {
					b.Fatal(out.Messages[0].Finished.Result.Status)
				}
			}
		})
	}
}
