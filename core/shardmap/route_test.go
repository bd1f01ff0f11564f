package shardmap

import (
	"encoding/binary"
	"testing"

	"sequent/core/model"
)

func encodeTransfer(t model.Transfer) []byte {
	b := make([]byte, model.TransferSize)
	t.Encode(b)
	return b
}

func encodeOrder(o model.Order) []byte {
	b := make([]byte, model.OrderSize)
	o.Encode(b)
	return b
}

func u32Event(size int, value uint32) []byte {
	b := make([]byte, size)
	binary.LittleEndian.PutUint32(b, value)
	return b
}

func idEvent(id uint64) []byte {
	b := make([]byte, model.IDSize)
	model.U128(id).PutLE(b)
	return b
}

// TestEventTarget covers every routing rule and every status EventTarget answers.
func TestEventTarget(t *testing.T) {
	// Ids 0..99 on shard 0, 100.. on shard 1; instrument 7 on shard 1, others on 0.
	ranges := &Map{Shards: 2, Placement: PlacementRange, Ranges: []RangeEntry{
		{model.U128(0), 0}, {model.U128(100), 1}}, Instruments: []InstrumentEntry{{7, 1}}}
	oneBook := &Map{Shards: 2, Placement: PlacementRange, Ranges: ranges.Ranges,
		InstrumentDefault: 1}
	byLedger := &Map{Shards: 2, Placement: PlacementLedger,
		Ledgers: []LedgerEntry{{Ledger: 2, Shard: 1}}}
	account := func(id uint64, ledger uint32) []byte {
		b := make([]byte, model.AccountSize)
		a := model.Account{ID: model.U128(id), Ledger: ledger, Code: 1}
		a.Encode(b)
		return b
	}
	transfer := func(debit, credit uint64, flags uint16, ledger uint32) []byte {
		return encodeTransfer(model.Transfer{ID: model.U128(1), DebitAccountID: model.U128(debit),
			CreditAccountID: model.U128(credit), Ledger: ledger, Code: 1, Flags: flags,
			PendingID: model.U128(9)})
	}
	post := model.TransferPostPending
	void := model.TransferVoidPending
	order := func(instrument uint32, base, quote uint64) []byte {
		return encodeOrder(model.Order{Instrument: instrument, BaseAccountID: model.U128(base),
			QuoteAccountID: model.U128(quote)})
	}
	local := func(shard uint16) Target { return Target{Shard: shard, Credit: shard} }
	hashed := &Map{Shards: 2, Placement: PlacementHash}
	systemEvent := func(size int) []byte { // A settlement account's id (bit 127 set).
		b := make([]byte, size)
		model.Uint128{Hi: 1 << 63, Lo: 0x0001_0000_0001}.PutLE(b)
		return b
	}
	maxIDEvent := make([]byte, model.IDSize)
	model.Uint128Max.PutLE(maxIDEvent)
	tests := []struct {
		name      string
		m         *Map
		operation model.Operation
		event     []byte
		want      Target
	}{
		{"single shard", Single(), model.OperationCreateTransfers, transfer(1, 200, 0, 1), local(0)},
		{"account low", ranges, model.OperationCreateAccounts, account(5, 1), local(0)},
		{"account high", ranges, model.OperationCreateAccounts, account(150, 1), local(1)},
		{"account by ledger", byLedger, model.OperationCreateAccounts, account(5, 2), local(1)},
		{"account by default ledger", byLedger, model.OperationCreateAccounts, account(500, 3), local(0)},
		{"local transfer", ranges, model.OperationCreateTransfers, transfer(150, 120, 0, 1), local(1)},
		{"cross transfer", ranges, model.OperationCreateTransfers, transfer(5, 150, 0, 1),
			Target{Shard: 0, Credit: 1}},
		{"cross transfer reverse", ranges, model.OperationCreateTransfers, transfer(150, 5, 0, 1),
			Target{Shard: 1, Credit: 0}},
		{"ledger placement: every transfer local", byLedger, model.OperationCreateTransfers,
			transfer(5, 150, 0, 2), local(1)},
		{"post by debit account", ranges, model.OperationCreateTransfers, transfer(150, 0, post, 0), local(1)},
		{"void by debit account", ranges, model.OperationCreateTransfers, transfer(5, 0, void, 0), local(0)},
		{"post without debit account", ranges, model.OperationCreateTransfers, transfer(0, 150, post, 1),
			Target{Status: model.StatusPlacementFieldMissing}},
		{"post by ledger", byLedger, model.OperationCreateTransfers, transfer(0, 0, post, 2), local(1)},
		{"post without ledger", byLedger, model.OperationCreateTransfers, transfer(5, 5, void, 0),
			Target{Status: model.StatusPlacementFieldMissing}},
		{"lookup account", ranges, model.OperationLookupAccounts, idEvent(150), local(1)},
		{"lookup account by ledger: every shard", byLedger, model.OperationLookupAccounts,
			idEvent(150), Target{Every: true}},
		{"lookup transfer: every shard", ranges, model.OperationLookupTransfers, idEvent(5),
			Target{Every: true}},
		{"account transfers", ranges, model.OperationGetAccountTransfers,
			append(idEvent(150), make([]byte, model.AccountFilterSize-model.IDSize)...), local(1)},
		{"account balances by ledger", byLedger, model.OperationGetAccountBalances,
			make([]byte, model.AccountFilterSize), Target{Every: true}},
		// Sequent's own ids (escrows, settlement accounts) are not placed by the map.
		{"lookup system account: every shard", ranges, model.OperationLookupAccounts,
			systemEvent(model.IDSize), Target{Every: true}},
		{"system account transfers: every shard", ranges, model.OperationGetAccountTransfers,
			systemEvent(model.AccountFilterSize), Target{Every: true}},
		{"system account balances: every shard", hashed, model.OperationGetAccountBalances,
			systemEvent(model.AccountFilterSize), Target{Every: true}},
		{"lookup account 2^128-1: not a system id", ranges, model.OperationLookupAccounts,
			maxIDEvent, local(1)},
		{"instrument", ranges, model.OperationCreateInstruments, u32Event(model.InstrumentSize, 7), local(1)},
		{"instrument default", ranges, model.OperationLookupInstruments,
			u32Event(model.InstrumentIDSize, 8), local(0)},
		{"depth", ranges, model.OperationGetDepth, u32Event(model.DepthFilterSize, 7), local(1)},
		{"book", ranges, model.OperationGetBook, u32Event(model.DepthFilterSize, 7), local(1)},
		{"order", ranges, model.OperationPlaceOrders, order(7, 150, 151), local(1)},
		{"order with an account elsewhere", ranges, model.OperationPlaceOrders, order(7, 150, 5),
			Target{Status: model.StatusAccountOnOtherShard}},
		{"order by ledger: accounts unchecked", byLedger, model.OperationPlaceOrders,
			order(7, 1, 2), local(0)},
		{"mass cancel of one instrument", ranges, model.OperationMassCancel,
			massCancel(7), local(1)},
		{"mass cancel of all, books on two shards", ranges, model.OperationMassCancel,
			massCancel(0), Target{Status: model.StatusInstrumentShardUnknown}},
		{"mass cancel of all, books on one shard", oneBook, model.OperationMassCancel,
			massCancel(0), local(1)},
		{"cancel, books on two shards", ranges, model.OperationCancelOrders,
			make([]byte, model.OrderCancelSize), Target{Status: model.StatusInstrumentShardUnknown}},
		{"replace, books on one shard", oneBook, model.OperationReplaceOrders,
			make([]byte, model.OrderReplaceSize), local(1)},
		{"account orders of one instrument", ranges, model.OperationGetAccountOrders,
			orderFilter(7), local(1)},
		{"lookup orders, books on two shards", ranges, model.OperationLookupOrders,
			make([]byte, model.OrderIDSize), Target{Status: model.StatusInstrumentShardUnknown}},
		{"shard map", ranges, model.OperationGetShardMap, nil, local(0)},
		{"ledger totals: every shard", ranges, model.OperationGetLedgerTotals,
			make([]byte, model.LedgerFilterSize), Target{Every: true}},
	}
	for _, test := range tests {
		if err := test.m.Validate(); err != nil {
			t.Fatalf("%s: %v", test.name, err)
		}
		if got := test.m.EventTarget(test.operation, test.event); got != test.want {
			t.Errorf("%s: %+v, want %+v", test.name, got, test.want)
		}
	}
}

func massCancel(instrument uint32) []byte {
	b := make([]byte, model.MassCancelSize)
	c := model.MassCancel{Instrument: instrument}
	c.Encode(b)
	return b
}

func orderFilter(instrument uint32) []byte {
	b := make([]byte, model.OrderFilterSize)
	f := model.OrderFilter{Instrument: instrument}
	f.Encode(b)
	return b
}
