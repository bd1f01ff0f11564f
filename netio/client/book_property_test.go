package client_test

import (
	"slices"
	"testing"

	"pgregory.net/rapid"

	"sequent/core"
	"sequent/core/model"
	"sequent/netio/client"
)

// bookMachine is a state machine with one instrument (id 5) and two funded traders, to
// produce a real market-data stream.
type bookMachine struct {
	t       *rapid.T
	machine *core.Machine
	op      uint64
	clock   uint64
	numbers map[uint64]uint64 // Client → next request number.
}

func newBookMachine(t *rapid.T) *bookMachine {
	m := &bookMachine{t: t, machine: core.New(core.Config{}), clock: 1_000_000_000,
		numbers: map[uint64]uint64{}}
	limit := model.AccountDebitsMustNotExceedCredits
	var accounts []byte
	for _, a := range []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 2, Code: 1},
		{ID: model.U128(11), Ledger: 1, Code: 2, Flags: limit},
		{ID: model.U128(12), Ledger: 2, Code: 2, Flags: limit},
		{ID: model.U128(21), Ledger: 1, Code: 2, Flags: limit},
		{ID: model.U128(22), Ledger: 2, Code: 2, Flags: limit}} {
		accounts = append(accounts, make([]byte, model.AccountSize)...)
		a.Encode(accounts[len(accounts)-model.AccountSize:])
	}
	m.apply(9, model.OperationCreateAccounts, accounts)
	var funds []byte
	for _, f := range []model.Transfer{
		{ID: model.U128(100), DebitAccountID: model.U128(1), CreditAccountID: model.U128(11),
			Amount: model.U128(1 << 40), Ledger: 1, Code: 1},
		{ID: model.U128(101), DebitAccountID: model.U128(1), CreditAccountID: model.U128(21),
			Amount: model.U128(1 << 40), Ledger: 1, Code: 1},
		{ID: model.U128(102), DebitAccountID: model.U128(2), CreditAccountID: model.U128(12),
			Amount: model.U128(1 << 40), Ledger: 2, Code: 1},
		{ID: model.U128(103), DebitAccountID: model.U128(2), CreditAccountID: model.U128(22),
			Amount: model.U128(1 << 40), Ledger: 2, Code: 1}} {
		funds = append(funds, make([]byte, model.TransferSize)...)
		f.Encode(funds[len(funds)-model.TransferSize:])
	}
	m.apply(9, model.OperationCreateTransfers, funds)
	instrument := make([]byte, model.InstrumentSize)
	(&model.Instrument{ID: 5, BaseLedger: 1, QuoteLedger: 2, TickSize: 1, LotSize: 1,
		QuantityMin: 1, QuantityMax: 1000}).Encode(instrument)
	m.apply(9, model.OperationCreateInstruments, instrument)
	return m
}

// apply applies one request as one entry and returns its market-data updates.
func (m *bookMachine) apply(clientID uint64, operation model.Operation, body []byte) []model.MarketDataUpdate {
	m.numbers[clientID]++
	m.clock += 1000
	entry := core.Entry{FirstOp: m.op + 1, Timestamp: m.clock, Body: core.AppendRequest(nil,
		&core.Request{Client: clientID, Session: 1, Number: m.numbers[clientID],
			Operation: operation, Body: body})}
	var out core.Output
	if err := m.machine.Apply(&entry, &out); err != nil {
		m.t.Fatalf("apply: %v", err)
	}
	m.op++
	return slices.Clone(out.Events.MarketData)
}

// book returns the engine's book now, through get_book (the snapshot operation).
func (m *bookMachine) book() (model.BookHeader, []model.DepthLevel) {
	body := make([]byte, model.DepthFilterSize)
	(&model.DepthFilter{Instrument: 5, Levels: model.DepthLevelsPerSideMax}).Encode(body)
	var out core.Output
	m.machine.Query(&core.Request{Client: 9, Operation: model.OperationGetBook, Body: body}, &out)
	reply := out.Body(&out.Replies[0])
	var header model.BookHeader
	header.Decode(reply)
	levels := make([]model.DepthLevel, len(reply)/model.DepthLevelSize-1)
	for i := range levels {
		levels[i].Decode(reply[(i+1)*model.DepthLevelSize:])
	}
	if int(header.BidCount+header.AskCount) != len(levels) || header.Op != m.op {
		m.t.Fatalf("get_book header %+v for %d levels at op %d", header, len(levels), m.op)
	}
	return header, levels
}

// randomCommand applies a random order command and returns its updates.
func (m *bookMachine) randomCommand(t *rapid.T) []model.MarketDataUpdate {
	side := model.Side(rapid.IntRange(1, 2).Draw(t, "side"))
	trader, base, quote := uint64(7), model.U128(11), model.U128(12)
	if side == model.SideBuy {
		trader, base, quote = 8, model.U128(21), model.U128(22)
	}
	if rapid.IntRange(0, 9).Draw(t, "kind") == 0 {
		body := make([]byte, model.MassCancelSize)
		(&model.MassCancel{ClientOrderID: m.numbers[trader] + 1_000_000, Account: 1,
			Instrument: 5}).Encode(body)
		return m.apply(trader, model.OperationMassCancel, body)
	}
	order := model.Order{ClientOrderID: m.numbers[trader] + 1, Account: 1, BaseAccountID: base,
		QuoteAccountID: quote, Price: uint64(rapid.IntRange(95, 105).Draw(t, "price")),
		Quantity: uint64(rapid.IntRange(1, 20).Draw(t, "quantity")), Instrument: 5, Side: side,
		Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}
	body := make([]byte, model.OrderSize)
	order.Encode(body)
	return m.apply(trader, model.OperationPlaceOrders, body)
}

func sameBook(b *client.Book, levels []model.DepthLevel) bool {
	got := append(b.Levels(model.SideBuy, 0), b.Levels(model.SideSell, 0)...)
	return slices.Equal(got, levels)
}

// TestBookBuilderProperty drives BookBuilder (the book-building procedure of
// PROTOCOL.md 8a) with a real engine's market data, losing updates at random, sending
// stale notices, and answering each snapshot request with the engine's get_book taken
// then but delivered only after later updates (which the builder must buffer and apply
// after dropping the older ones). Whenever the builder says its book is exact at the
// engine's current sequence, it must equal the engine's depth; and once updates stop
// being lost, it must catch up and stay exact.
func TestBookBuilderProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newBookMachine(t)
		builder := &client.BookBuilder{}
		type pending struct {
			header model.BookHeader
			levels []model.DepthLevel
			lag    int
		}
		var snapshot *pending
		requestSnapshot := func() {
			header, levels := m.book()
			snapshot = &pending{header, levels, rapid.IntRange(0, 3).Draw(t, "lag")}
		}
		requestSnapshot() // Subscribe first, then ask for the snapshot.
		commands := rapid.IntRange(1, 120).Draw(t, "commands")
		lossy := rapid.IntRange(0, commands).Draw(t, "lossy")
		owed := false // Updates were dropped: the server owes an md_stale notice.
		for i := 0; i < commands+4; i++ {
			if i < commands {
				for _, u := range m.randomCommand(t) {
					if i < lossy && rapid.IntRange(0, 19).Draw(t, "drop") == 0 {
						owed = true
						continue
					}
					if builder.Update(&u) && snapshot == nil {
						requestSnapshot()
					}
				}
			}
			// The server sends the notice once the subscriber has drained: some commands
			// later, and at the latest when losses stop.
			if owed && (i >= lossy || rapid.IntRange(0, 3).Draw(t, "notice") == 0) {
				owed = false
				if builder.Lost() {
					requestSnapshot() // One requested before the notice may predate the loss.
				}
			}
			if snapshot != nil && snapshot.lag == 0 {
				s := snapshot
				snapshot = nil
				if builder.Snapshot(s.header, s.levels) {
					requestSnapshot()
				}
			} else if snapshot != nil {
				snapshot.lag--
			}
			header, levels := m.book()
			if builder.Synced && builder.Book.Sequence == header.Sequence && !sameBook(&builder.Book, levels) {
				t.Fatalf("after command %d the book at sequence %d differs from the engine's:\n got bids %v asks %v\n want %v",
					i, header.Sequence, builder.Book.Levels(model.SideBuy, 0),
					builder.Book.Levels(model.SideSell, 0), levels)
			}
		}
		header, levels := m.book()
		if !builder.Synced || builder.Book.Sequence != header.Sequence || !sameBook(&builder.Book, levels) {
			t.Fatalf("after the lossless tail the book is not exact: synced %v at %d, engine at %d",
				builder.Synced, builder.Book.Sequence, header.Sequence)
		}
	})
}
