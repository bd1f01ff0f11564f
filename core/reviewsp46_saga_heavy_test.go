package core

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// reviewsp46HeavyPinnedSHA256 is the SHA-256 of reviewsp46HeavyTraffic's output as main
// at 89bb638f produced it (see reviewsp46SagaPinnedSHA256 for what session 46's xshard46
// changed). Its traffic is built for xshard46's edges: requests of 40 cross-shard
// transfers, so that each shard runs over 2,000 sagas and saga_credit batches of dozens
// of Credits add window pages (256 decisions each) while they hold the decisions they
// took; batches that withhold a third of the messages, so that sagas finish
// out of order and the running list keeps finals behind a running front (and is
// compacted); one entry holding a saga_credit, a saga_finish, a create_transfers and a
// saga_forget; copies, aborts, another transfer's decision; every entry's output into an
// Output reused across entries of both kinds (slots reused across kinds), and the
// outbox read after each. At rules version 9 (released: no build may answer otherwise).
const reviewsp46HeavyPinnedSHA256 = "56ed47a4ef3fff4c2c4e9deec346f22cfb70c3e5facca1dbace4d29cd0481e2b"

func TestReviewsp46HeavySagaTrafficPinned(t *testing.T) {
	sum := sha256.New()
	for seed := uint64(1); seed <= 3; seed++ {
		reviewsp46HeavyTraffic(t, seed, sum)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != reviewsp46HeavyPinnedSHA256 {
		t.Fatalf("heavy saga traffic hash %s, pinned %s: the saga steps' output changed", got,
			reviewsp46HeavyPinnedSHA256)
	}
}

func reviewsp46HeavyTraffic(t *testing.T, seed uint64, w hash.Hash) {
	random := rand.New(rand.NewPCG(seed, 4646))
	p := &pair{t: t, actor: 1}
	for i := range p.shards {
		p.shards[i] = newHarness(t, Config{Shard: ShardConfig{Map: twoShards, Index: uint16(i)}})
		p.shards[i].upgradeRules(rulesVersionPayerBound)
	}
	flags := map[uint64]uint16{}
	for k := uint64(1); k <= 6; k++ {
		flags[k], flags[100+k] = 0, 0
	}
	flags[7], flags[107] = model.AccountDebitsMustNotExceedCredits, model.AccountDebitsMustNotExceedCredits
	p.accounts(flags)
	var outputs [2]Output // Reused, entry after entry, as a shard runtime does.
	apply := func(shard int, requests ...Request) *Output {
		h := p.shards[shard]
		var body []byte
		for i := range requests {
			body = AppendRequest(body, &requests[i])
		}
		h.timestamp += 1_000_000
		entry := Entry{FirstOp: h.op + 1, Timestamp: h.timestamp, Body: body}
		out := &outputs[shard]
		out.Reset()
		if err := h.machine.Apply(&entry, out); err != nil {
			t.Fatalf("apply: %v", err)
		}
		h.op += uint64(len(requests))
		h.entries = append(h.entries, entry)
		fmt.Fprintf(w, "entry %d %d\n", seed, shard)
		traceOutput(w, out)
		reviewsp46Outbox(h.machine, w)
		return out
	}
	var pool []saga.Message
	nextID := uint64(10_000)
	transfers := func(shard int) Request {
		events := make([]model.Transfer, 40)
		for i := range events {
			debit := uint64(shard)*100 + 1 + random.Uint64N(7)
			credit := uint64(1-shard)*100 + 1 + random.Uint64N(7)
			if random.IntN(10) == 0 {
				credit = uint64(shard)*100 + 1 + random.Uint64N(7) // Local.
			}
			nextID++
			id := nextID
			if random.IntN(15) == 0 {
				id -= 1 + random.Uint64N(min(nextID-10_000, 200)) // A retry or a clash.
			}
			events[i] = model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
				CreditAccountID: model.U128(credit), Amount: model.U128(1 + random.Uint64N(9)),
				Ledger: 1, Code: 1}
			if random.IntN(12) == 0 {
				events[i].Flags = model.TransferBalancingDebit
			}
		}
		p.number++
		return Request{Client: 1, Session: 1, Number: p.number,
			Operation: model.OperationCreateTransfers, Flags: RequestFlagReplyBalances,
			Body: transfersBody(events...)}
	}
	var record [model.SagaCreditSize]byte
	for step := 0; step < 260; step++ {
		shard := random.IntN(2)
		var requests []Request
		if random.IntN(3) != 0 {
			var credits, decisions []byte
			var kept []saga.Message
			for _, m := range pool {
				if m.To != uint16(shard) || random.IntN(3) == 0 {
					kept = append(kept, m)
					continue
				}
				if random.IntN(12) == 0 {
					kept = append(kept, m) // Delivered again later.
				}
				switch m.Kind {
				case saga.MessageCredit:
					c := m.Credit
					c.Abort = random.IntN(25) == 0
					c.Encode(record[:])
					credits = append(credits, record[:model.SagaCreditSize]...)
				case saga.MessageDecision:
					d := m.Decision
					if random.IntN(30) == 0 {
						d.Transfer.Lo++ // Another transfer's.
					}
					d.Encode(record[:model.SagaDecisionSize])
					decisions = append(decisions, record[:model.SagaDecisionSize]...)
				}
			}
			pool = kept
			if len(credits) > 0 {
				requests = append(requests, Request{Operation: model.OperationSagaCredit, Body: credits})
			}
			if len(decisions) > 0 {
				requests = append(requests, Request{Operation: model.OperationSagaFinish, Body: decisions})
			}
		}
		if len(requests) == 0 || random.IntN(3) == 0 {
			requests = append(requests, transfers(shard))
		}
		if random.IntN(20) == 0 {
			var forget [model.SagaForgetSize]byte
			lowest := p.shards[1-shard].machine.sagas.Summary().Lowest
			f := saga.Forget{From: uint16(1 - shard), Below: 1 + random.Uint64N(lowest)}
			f.Encode(forget[:])
			requests = append(requests, Request{Operation: model.OperationSagaForget, Body: forget[:]})
		}
		out := apply(shard, requests...)
		for _, m := range out.Messages {
			if m.Kind != saga.MessageFinished {
				pool = append(pool, m)
			}
		}
	}
	for i, h := range p.shards {
		replay := New(Config{Shard: ShardConfig{Map: twoShards, Index: uint16(i)}})
		out := &Output{}
		for j := range h.entries {
			out.Reset()
			if err := replay.Apply(&h.entries[j], out); err != nil {
				t.Fatalf("replay: %v", err)
			}
		}
		s := h.machine.sagas.Summary()
		fmt.Fprintf(w, "digest %d %x %x %+v %d\n", i, replay.Digest(), h.machine.Digest(), s,
			h.machine.sagas.Decisions())
		t.Logf("seed %d shard %d: %+v decisions %d", seed, i, s, h.machine.sagas.Decisions())
	}
}
