package shard

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// shardZero is shard 0 of twoShards as recovery builds it: at rules version 1 before the
// log says otherwise.
var shardZero = core.Config{Shard: core.ShardConfig{Map: twoShards, Index: 0}}

// refusedCrossShard returns a create_transfers body of count cross-shard transfers from a
// missing account (5, shard 0) to account 200 (shard 1), ids from first, each on its own
// ledger from 10: all refused on the debit side.
func refusedCrossShard(first uint64, count int) []byte {
	body := make([]byte, count*model.TransferSize)
	for i := range count {
		t := model.Transfer{ID: model.U128(first + uint64(i)), DebitAccountID: model.U128(5),
			CreditAccountID: model.U128(200), Amount: model.U128(1), Ledger: 10 + uint32(i),
			Code: 1}
		t.Encode(body[i*model.TransferSize:])
	}
	return body
}

// operationsOf lists the operations of every request in a log, in op order.
func operationsOf(t *testing.T, log LogReader) []model.Operation {
	t.Helper()
	var operations []model.Operation
	err := log.Read(0, func(e *wal.Entry) error {
		for body := e.Body; len(body) > 0; {
			length := binary.LittleEndian.Uint32(body[28:])
			operations = append(operations, model.Operation(body[24]))
			body = body[core.RequestHeaderSize+int(length):]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return operations
}

// waitDurable waits until a log has made op durable.
func waitDurable(t *testing.T, log *wal.Log, op uint64) {
	t.Helper()
	waitUntil(t, "the log durable", func() bool { return log.Durable() >= op })
}

// TestRulesUpgradeReachesTheLogOnce starts a primary on a log written before rules
// versions (requests whose refused cross-shard transfers created settlement accounts,
// as version 1 does), with a standby following it from op 1. It holds that the primary's
// first write entry opens with upgrade_rules, after which the same kind of requests
// create nothing; that the standby applies it at the same op and ends in the same state
// (digest); that a restart of the primary writes no second upgrade; and that a primary
// on a fresh log (genesis) writes it as op 1 and is at the current version from then on.
func TestRulesUpgradeReachesTheLogOnce(t *testing.T) {
	primaryLog, standbyLog, shipped := replicatedLogs(t)
	// The old log: what a build without rules versions wrote (no upgrade_rules).
	old := core.AppendRequest(nil, &core.Request{Client: 3, Session: 1, Number: 1,
		Operation: model.OperationCreateTransfers, Body: refusedCrossShard(1000, 50)})
	if err := primaryLog.Append(wal.Entry{Epoch: 1, FirstOp: 1, Count: 1,
		Timestamp: uint64(time.Now().UnixNano()), Body: old}); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, primaryLog, 1)
	machine, _, err := Recover(shardZero, primaryLog, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	accountsOld := machine.Ledger().AccountCount()
	if machine.RulesVersion() != core.RulesVersionFirst || accountsOld != 50 {
		t.Fatalf("the old log recovered at rules version %d with %d accounts, want 1 and 50",
			machine.RulesVersion(), accountsOld)
	}
	primary, primaryReplies := startShardOf(t, Config{Epoch: 1}, machine, primaryLog)
	standby, _ := startShardOf(t, Config{Epoch: 1, Role: RoleStandby}, core.New(shardZero),
		standbyLog)
	go follow(standby, shipped)
	primary.Submit(&backend.Request{Connection: 1, Client: 3, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: refusedCrossShard(2000, 50)})
	replies := primaryReplies.waitFor(t, 1)
	if replies[0].Status != model.StatusOK || replies[0].Op != 3 {
		t.Fatalf("reply %s at op %d, want ok at op 3 (after upgrade_rules at op 2)",
			replies[0].Status, replies[0].Op)
	}
	waitUntil(t, "the standby at op 3", func() bool { return standbyLog.Durable() >= 3 })
	primary.Close()
	primaryLog.SetObserver(nil) // The restart below writes with no standby.
	close(shipped)
	standby.Close()
	if primary.machine.RulesVersion() != core.RulesVersionCurrent ||
		primary.machine.Ledger().AccountCount() != accountsOld {
		t.Fatalf("after the upgrade: rules version %d, %d accounts (want %d and %d)",
			primary.machine.RulesVersion(), primary.machine.Ledger().AccountCount(),
			core.RulesVersionCurrent, accountsOld)
	}
	if standby.machine.OpLast() != 3 || standby.machine.Digest() != primary.machine.Digest() {
		t.Fatalf("the standby at op %d differs from the primary", standby.machine.OpLast())
	}
	// A restart finds the version in the replayed state and writes no second upgrade.
	restarted, _, err := Recover(shardZero, primaryLog, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if restarted.RulesVersion() != core.RulesVersionCurrent ||
		restarted.Digest() != primary.machine.Digest() {
		t.Fatal("the restarted primary did not replay to the same state")
	}
	again, againReplies := startShardOf(t, Config{Epoch: 2}, restarted, primaryLog)
	again.Submit(&backend.Request{Connection: 1, Client: 3, Session: 1, Number: 3,
		Operation: model.OperationCreateTransfers, Body: refusedCrossShard(3000, 1)})
	againReplies.waitFor(t, 1)
	again.Close()
	operations := operationsOf(t, primaryLog)
	want := []model.Operation{model.OperationCreateTransfers, model.OperationUpgradeRules,
		model.OperationCreateTransfers, model.OperationCreateTransfers}
	if len(operations) != len(want) {
		t.Fatalf("log holds %v, want %v", operations, want)
	}
	for i := range want {
		if operations[i] != want[i] {
			t.Fatalf("log holds %v, want %v", operations, want)
		}
	}
	// Genesis: a fresh log's first entry opens with the upgrade.
	fresh := wal.NewMemoryLog()
	genesis, genesisReplies := startShardOf(t, Config{}, core.New(shardZero), fresh)
	genesis.Submit(&backend.Request{Connection: 1, Client: 3, Session: 1, Number: 1,
		Operation: model.OperationCreateTransfers, Body: refusedCrossShard(1000, 50)})
	if reply := genesisReplies.waitFor(t, 1)[0]; reply.Op != 2 {
		t.Fatalf("the first write of a fresh log at op %d, want 2", reply.Op)
	}
	genesis.Close()
	if genesis.machine.RulesVersion() != core.RulesVersionCurrent ||
		genesis.machine.Ledger().AccountCount() != 0 {
		t.Fatalf("a fresh primary at rules version %d with %d accounts",
			genesis.machine.RulesVersion(), genesis.machine.Ledger().AccountCount())
	}
}

// sizeCheckedLog is a memory log that refuses, and counts, an entry whose body is above
// the log's bound, instead of panicking as wal's logs do (their Append takes it for a
// sequencer bug).
type sizeCheckedLog struct {
	*wal.MemoryLog
	oversized atomic.Int64 // Body bytes of the last entry above wal.EntryBodyBytesMax.
}

func (l *sizeCheckedLog) Append(e wal.Entry) error {
	if len(e.Body) > wal.EntryBodyBytesMax {
		l.oversized.Store(int64(len(e.Body)))
		return errors.New("entry above wal.EntryBodyBytesMax")
	}
	return l.MemoryLog.Append(e)
}

// TestRulesUpgradeKeepsTheEntryWithinTheLogBound holds that the upgrade_rules request a
// primary opens its first write entry with does not push that entry past what the log
// takes: with EntryBytesMax at the log's bound (a valid configuration) and a first turn
// of writes that fills it exactly (four create_transfers requests of 8189, 8189, 4 and 1
// transfers: 2 MiB), every entry stays within wal.EntryBodyBytesMax and every request is
// answered ok.
func TestRulesUpgradeKeepsTheEntryWithinTheLogBound(t *testing.T) {
	log := &sizeCheckedLog{MemoryLog: wal.NewMemoryLog()}
	s, err := New(Config{EntryBytesMax: wal.EntryBodyBytesMax,
		RingBytes: 2 * wal.EntryBodyBytesMax}, core.New(shardZero), log)
	if err != nil {
		t.Fatal(err)
	}
	counts := []int{model.EventsPerRequestMax, model.EventsPerRequestMax, 4, 1}
	total := 0
	for i, count := range counts {
		body := make([]byte, count*model.TransferSize)
		for j := range count {
			transfer := model.Transfer{ID: model.U128(uint64(i)<<32 | uint64(j+1)),
				DebitAccountID: model.U128(1), CreditAccountID: model.U128(2),
				Amount: model.U128(1), Ledger: 1, Code: 1}
			transfer.Encode(body[j*model.TransferSize:])
		}
		total += core.EncodedRequestSize(len(body))
		// Queued before Start, so that the first turn takes them together.
		if status := s.Submit(&backend.Request{Connection: 1, Client: 3, Session: 1,
			Number: uint64(i + 1), Operation: model.OperationCreateTransfers,
			Body: body}); status != model.StatusOK {
			t.Fatalf("submit %d: %s", i, status)
		}
	}
	if total != wal.EntryBodyBytesMax {
		t.Fatalf("the requests take %d bytes, want %d", total, wal.EntryBodyBytesMax)
	}
	replier := newRecordingReplier()
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	replies := replier.waitFor(t, len(counts))
	if bytes := log.oversized.Load(); bytes != 0 {
		t.Fatalf("the primary wrote an entry of %d bytes, above the log's %d", bytes,
			wal.EntryBodyBytesMax)
	}
	for i, reply := range replies {
		if reply.Status != model.StatusOK {
			t.Fatalf("request %d: %s", i, reply.Status)
		}
	}
	if s.machine.RulesVersion() != core.RulesVersionCurrent {
		t.Fatalf("rules version %d after the first writes", s.machine.RulesVersion())
	}
}
