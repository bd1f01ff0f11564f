package node

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shardmap"
)

// shardReports records the execution reports delivered, with their shard.
type shardReports struct {
	*reportReplies
	shards chan uint16
}

func (r *shardReports) DeliverReports(reports []backend.Report) {
	for _, report := range reports {
		r.shards <- report.Shard
	}
	r.reportReplies.DeliverReports(reports)
}

// Every shard's execution reports reach the clients' replier, each tagged with the
// shard that made it (each shard numbers a client's reports from 1, so the shard is
// what tells the two streams apart), and ReplayShardReports replays one shard's. An
// order on instrument 5 (default instrument shard 0) and one on instrument 6 (listed on
// shard 1) each give an accepted report numbered 1 on its own shard. Before streams per
// shard, shard 1's report was dropped (only the default instrument shard's were
// delivered) and could not be replayed.
func TestReportsOfEveryShardReachTheReplier(t *testing.T) {
	placement := shardmap.ByRange(model.U128(0), model.U128(100))
	placement.Instruments = []shardmap.InstrumentEntry{{Instrument: 6, Shard: 1}}
	parts, _ := freshParts(placement)
	node := buildNode(t, placement, parts, Config{TickInterval: time.Millisecond})
	replies := &shardReports{reportReplies: newReportReplies(), shards: make(chan uint16, 16)}
	tn := &testNode{t: t, node: node, replies: replies.clientReplies}
	node.Start(replies)
	defer node.Close()
	createTwoShardMarket(tn)
	for i, c := range []struct {
		instrument  uint32
		base, quote uint64
	}{{5, 10, 20}, {6, 110, 120}} {
		order := make([]byte, model.OrderSize)
		(&model.Order{ClientOrderID: uint64(1 + i), Account: 1,
			BaseAccountID: model.U128(c.base), QuoteAccountID: model.U128(c.quote), Price: 50,
			Quantity: 10, Instrument: c.instrument, Side: model.SideSell, Type: model.OrderLimit,
			TimeInForce: model.GoodTillCancel}).Encode(order)
		var placed model.OrderResult
		placed.Decode(tn.call(3+uint64(i), 3+uint64(i), model.OperationPlaceOrders, 0, order).Body)
		if placed.Status != model.StatusOK {
			t.Fatalf("order on instrument %d: %s", c.instrument, placed.Status)
		}
	}
	delivered := map[uint16]int{}
	for range 2 {
		select {
		case shard := <-replies.shards:
			delivered[shard]++
		case <-time.After(waitBound):
			t.Fatalf("reports delivered by shard: %v, want one of each shard", delivered)
		}
	}
	if delivered[0] != 1 || delivered[1] != 1 {
		t.Fatalf("reports delivered by shard: %v, want one of each shard", delivered)
	}
	if count, defaultShard := node.ReportShards(); count != 2 || defaultShard != 0 {
		t.Fatalf("ReportShards: %d, %d", count, defaultShard)
	}
	for shard := range uint16(2) {
		var replayed []backend.Report
		oldest, next := node.ReplayShardReports(shard, 1, 1, func(reports []backend.Report) {
			replayed = append(replayed, reports...)
		})
		var decoded model.ExecutionReport
		if len(replayed) == 1 {
			decoded.Decode(replayed[0].Body)
		}
		if oldest != 1 || next != 2 || len(replayed) != 1 ||
			replayed[0].Sequence != 1 || decoded.Instrument != 5+uint32(shard) {
			t.Fatalf("shard %d replay: oldest %d, next %d, reports %+v (instrument %d)", shard,
				oldest, next, replayed, decoded.Instrument)
		}
	}
}

// createTwoShardMarket creates, as client 1 (its requests 1 and 2), accounts 10 and 110
// on ledger 1 and 20 and 120 on ledger 2 (ids below 100 on shard 0, the rest on shard 1
// with shardmap.ByRange at 100), and instruments 5 and 6 trading ledger 1 against 2 (6
// listed on shard 1, 5 on the default instrument shard 0).
func createTwoShardMarket(tn *testNode) {
	tn.t.Helper()
	accounts := make([]byte, 4*model.AccountSize)
	for i, id := range []uint64{10, 20, 110, 120} {
		(&model.Account{ID: model.U128(id), Ledger: uint32(1 + i%2), Code: 1}).Encode(
			accounts[i*model.AccountSize:])
	}
	if got := statuses(tn.call(1, 1, model.OperationCreateAccounts, 0, accounts).Body,
		model.EventResultSize); !equalStatuses(got, []model.Status{model.StatusOK,
		model.StatusOK, model.StatusOK, model.StatusOK}) {
		tn.t.Fatalf("accounts: %v", got)
	}
	instruments := make([]byte, 2*model.InstrumentSize)
	for i, id := range []uint32{5, 6} {
		(&model.Instrument{ID: id, BaseLedger: 1, QuoteLedger: 2, TickSize: 1, LotSize: 1,
			QuantityMin: 1, QuantityMax: 1000}).Encode(instruments[i*model.InstrumentSize:])
	}
	if got := statuses(tn.call(2, 2, model.OperationCreateInstruments, 0, instruments).Body,
		model.EventResultSize); !equalStatuses(got, []model.Status{model.StatusOK, model.StatusOK}) {
		tn.t.Fatalf("instruments: %v", got)
	}
}
