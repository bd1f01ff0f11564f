package shardmap

import (
	"encoding/binary"

	"sequent/core/model"
)

// Target is where one event of a request goes.
type Target struct {
	Shard uint16 // The shard that applies or answers the event.
	// Credit is, for create_transfers, the shard of the credit account: the event starts a
	// saga when it differs from Shard. Equal to Shard for every other operation.
	Credit uint16
	Every  bool         // Every shard answers (a lookup whose key does not say where).
	Status model.Status // Not OK: the event cannot be placed; answer it with this status.
}

// Cross reports whether the event is a transfer between two shards.
func (t Target) Cross() bool { return t.Credit != t.Shard }

func at(shard uint16) Target { return Target{Shard: shard, Credit: shard} }

var everyShard = Target{Every: true}

// EventTarget returns where an event of an operation's request goes: the function the
// router uses to split requests, and that clients may use to send each event to its
// shard's node. event holds exactly one event of the operation's event size; operations
// without events (get_shard_map) and unknown ones go to shard 0. The rules are in package
// node's doc.
func (m *Map) EventTarget(operation model.Operation, event []byte) Target {
	if m.Shards == 1 {
		return at(0)
	}
	switch operation {
	case model.OperationCreateAccounts:
		var a model.Account
		a.Decode(event)
		return at(m.AccountShard(a.ID, a.Ledger))
	case model.OperationCreateTransfers:
		var t model.Transfer
		t.Decode(event)
		debit, credit, ok := m.TransferShards(&t)
		if !ok {
			return Target{Status: model.StatusPlacementFieldMissing}
		}
		return Target{Shard: debit, Credit: credit}
	case model.OperationLookupAccounts, model.OperationGetAccountTransfers,
		model.OperationGetAccountBalances:
		// The event starts with the account id (the filter's, for the two queries).
		if id := model.Uint128LE(event); m.PlacesByID() && !model.IsSystemID(id) {
			return at(m.AccountShard(id, 0))
		}
		// Ledger placement: ids alone do not say where. An id of Sequent's own (the
		// reserved range): the map places client ids, not these. A settlement account
		// S(A→B, L) has one id and a copy on each shard of its pair, whichever shard the
		// map would place the id on; asked of every shard, a lookup finds every copy, in
		// shard order, and a query answers from the lowest shard holding one (the credit
		// shard's copy exists only once a credit reached it: core/node
		// TestReviewha46SettlementAccountWithOneCopy). An instrument's escrow accounts
		// live with the instrument, which the id does not say either (core/node
		// TestReviewha46EscrowAccountLookupOnTwoShards). PROTOCOL.md section 18.
		return everyShard
	case model.OperationLookupTransfers, model.OperationGetLedgerTotals:
		return everyShard // Transfer ids say nothing about placement; totals are per shard.
	}
	return m.matchingTarget(operation, event)
}

// matchingTarget places the matching engine's events by instrument.
func (m *Map) matchingTarget(operation model.Operation, event []byte) Target {
	le := binary.LittleEndian
	switch operation {
	case model.OperationCreateInstruments, model.OperationLookupInstruments:
		return at(m.InstrumentShard(le.Uint32(event))) // The id leads both records.
	case model.OperationGetDepth, model.OperationGetBook: // One DepthFilter: the instrument first.
		return at(m.InstrumentShard(le.Uint32(event)))
	case model.OperationPlaceOrders:
		var o model.Order
		o.Decode(event)
		shard := m.InstrumentShard(o.Instrument)
		if m.PlacesByID() && (m.AccountShard(o.BaseAccountID, 0) != shard ||
			m.AccountShard(o.QuoteAccountID, 0) != shard) {
			return Target{Status: model.StatusAccountOnOtherShard}
		}
		return at(shard)
	case model.OperationMassCancel:
		var c model.MassCancel
		c.Decode(event)
		if c.Instrument != 0 {
			return at(m.InstrumentShard(c.Instrument))
		}
	case model.OperationGetAccountOrders:
		var f model.OrderFilter
		f.Decode(event)
		if f.Instrument != 0 {
			return at(m.InstrumentShard(f.Instrument))
		}
	}
	if info, _ := operation.Info(); !info.Matching {
		return at(0)
	}
	// Commands that name only an order: order ids are per shard.
	if shard, ok := m.InstrumentsShard(); ok {
		return at(shard)
	}
	return Target{Status: model.StatusInstrumentShardUnknown}
}
