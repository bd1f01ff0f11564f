package match

import (
	"slices"

	"sequent/core/model"
)

// scratch is the state of the command being applied, reused from one command to the next
// (allocated once in New, never grown on the hot path).
type scratch struct {
	chain        chain
	plan         plan
	refused      []uint32 // Makers whose settlement the ledger refused this step (matchTaker).
	feesWaived   bool     // The fee account refused a fee: no fees for this command.
	takerRefused bool     // The ledger refused the taker's own settlement.
	ending       []endItem
	dirty        []dirtyLevel
	trades       []tradePrint
	epoch        uint64 // Command counter, for marking changed levels once.
	accounts     []model.Account
	ids          []model.Uint128
	sortAccounts []uint64 // CancelAllForClient: the client's trading accounts.
	restHint     uint32   // A level near where the next resting order goes, or indexNone.
	report       model.ExecutionReport
	update       model.MarketDataUpdate
	// reservation is the ledger event of a lone reservation change (reserveAlone): only
	// its accounts, ledger, amount, flag and UserData64 (ReserveFor) are ever set, so its
	// id, pending id, timeout and timestamp stay zero, as a chain's new event's are, and
	// so do the code and user data a chain's reservation carries, which the ledger never
	// reads for a reservation (no record, no change event).
	reservation model.Transfer
}

func (s *scratch) init() {
	s.chain.init()
	s.plan.fills = make([]planFill, 0, FillsPerStepMax)
	s.plan.cancels = make([]planCancel, 0, CancelsPerStepMax)
	s.plan.fillsMax = FillsPerStepMax
	s.refused = make([]uint32, 0, FillsPerStepMax+CancelsPerStepMax)
	s.ending = make([]endItem, 0, voidsPerBatchMax)
	s.dirty = make([]dirtyLevel, 0, marketDataDirtyMax+voidsPerBatchMax)
	s.trades = make([]tradePrint, 0, FillsPerStepMax)
	s.accounts = make([]model.Account, 0, 2)
	s.ids = make([]model.Uint128, 1)
	s.restHint = indexNone
	s.epoch = 1 // Never the zero dirtyEpoch of a fresh level.
}

// commandBegin resets the per-command scratch state.
func (e *Engine) commandBegin() {
	s := &e.scratch
	s.epoch++
	s.refused = s.refused[:0]
	s.feesWaived, s.takerRefused = false, false
	s.restHint = indexNone
	if len(s.dirty) != 0 || len(s.trades) != 0 || len(s.ending) != 0 {
		panic("match: outputs of the previous command were not flushed")
	}
}

// report sends an execution report about order o.
func (e *Engine) report(o *order, kind model.ReportKind, status model.Status,
	clientOrderID uint64, now uint64, sink Sink) {
	r := &e.scratch.report
	// Zeroed, then written field by field in place: a composite literal with this many
	// non-constant fields is built in a stack temporary and copied (128 bytes) into the
	// scratch report, ~20 instructions a report more (core/match/README.md, session 43).
	*r = model.ExecutionReport{}
	r.OrderID, r.ClientOrderID, r.Client, r.Account = o.id, clientOrderID, o.client, o.account
	r.Instrument, r.Status, r.Kind = e.instruments[o.instrument].record.ID, status, kind
	r.Side, r.Type, r.Price = o.side, o.orderType, o.price
	r.Quantity, r.LeavesQuantity, r.FilledQuantity = o.leaves+o.filled, o.leaves, o.filled
	r.Timestamp = now
	sink.Report(r)
}

// reportFill sends the report of one side of a fill.
func (e *Engine) reportFill(o *order, contraOrderID uint64, tradeID uint64, f *planFill,
	liquidity model.Liquidity, fee model.Uint128, now uint64, sink Sink) {
	r := &e.scratch.report
	*r = model.ExecutionReport{} // Written in place, as report's.
	r.OrderID, r.ClientOrderID, r.Client, r.Account = o.id, o.clientOrderID, o.client, o.account
	r.Instrument, r.Kind = e.instruments[o.instrument].record.ID, model.ReportFill
	r.Side, r.Liquidity, r.Type = o.side, liquidity, o.orderType
	r.TradeID, r.ContraOrderID, r.Price, r.Quantity = tradeID, contraOrderID, f.price, f.quantity
	r.LeavesQuantity, r.FilledQuantity, r.Fee, r.Timestamp = o.leaves, o.filled, fee, now
	sink.Report(r)
}

// reportRejected reports a refused command to its sender.
func (e *Engine) reportRejected(client, account, clientOrderID, orderID uint64,
	instrumentID uint32, status model.Status, now uint64, sink Sink) {
	r := &e.scratch.report
	*r = model.ExecutionReport{} // Written in place, as report's.
	r.OrderID, r.ClientOrderID, r.Client, r.Account = orderID, clientOrderID, client, account
	r.Instrument, r.Status, r.Kind, r.Timestamp = instrumentID, status, model.ReportRejected, now
	sink.Report(r)
}

// dirtyLevel is a price level changed by the current command, to publish.
type dirtyLevel struct {
	instrument uint32
	side       model.Side
	price      uint64
	level      uint32 // The level, or indexNone once it was removed.
}

// tradePrint is a trade to publish.
type tradePrint struct {
	instrument uint32
	side       model.Side // The taker's.
	price      uint64
	quantity   uint64
	tradeID    uint64
}

// marketDataMark remembers that a level changed (once per command, unless the level is
// removed and created again, which flush coalesces).
func (e *Engine) marketDataMark(instrumentIndex uint32, side model.Side, levelIndex uint32) {
	l := &e.levels[levelIndex]
	if l.dirtyEpoch == e.scratch.epoch {
		return
	}
	l.dirtyEpoch = e.scratch.epoch
	if len(e.scratch.dirty) == cap(e.scratch.dirty) {
		panic("match: more changed levels than one step can make")
	}
	l.dirtyPosition = uint32(len(e.scratch.dirty))
	e.scratch.dirty = append(e.scratch.dirty, dirtyLevel{instrument: instrumentIndex,
		side: side, price: l.price, level: levelIndex})
}

// marketDataGone remembers that the level at price no longer exists.
func (e *Engine) marketDataGone(instrumentIndex uint32, side model.Side, price uint64) {
	if len(e.scratch.dirty) == cap(e.scratch.dirty) {
		panic("match: more changed levels than one step can make")
	}
	e.scratch.dirty = append(e.scratch.dirty, dirtyLevel{instrument: instrumentIndex,
		side: side, price: price, level: indexNone})
}

// tradePrint remembers a trade to publish.
func (e *Engine) tradePrint(t *order, f *planFill, tradeID uint64) {
	e.scratch.trades = append(e.scratch.trades, tradePrint{instrument: t.instrument,
		side: t.side, price: f.price, quantity: f.quantity, tradeID: tradeID})
}

// marketDataFlush publishes the remembered trades (in execution order) and the changed
// levels (by instrument, side and price, each once, with its state now; no tree lookups:
// entries point at their level, or say it is gone), each carrying
// the instrument's top of book now. It starts a new marking epoch.
func (e *Engine) marketDataFlush(now uint64, sink Sink) {
	s := &e.scratch
	for i := range s.trades {
		trade := &s.trades[i]
		u := e.marketDataUpdate(trade.instrument, now)
		u.Kind, u.Side, u.Price, u.Quantity, u.TradeID = model.MarketDataTrade, trade.side,
			trade.price, model.U128(trade.quantity), trade.tradeID
		sink.MarketData(u)
	}
	s.trades = s.trades[:0]
	if len(s.dirty) == 0 {
		return
	}
	dirty := s.dirty
	switch len(dirty) {
	case 1:
	case 2: // Most commands of exchange-core's mix: a replace moves an order between levels.
		if dirtyAfter(&dirty[0], &dirty[1]) {
			dirty[0], dirty[1] = dirty[1], dirty[0]
		}
	default:
		sortDirty(dirty)
	}
	for i := 0; i < len(dirty); {
		// A run of entries of one price: a level removed and created again in the same
		// command has two; publish the one that exists now, if any (the run's last entry
		// that names a level). Each entry is compared with the run's first once, the
		// first with nothing.
		d := &dirty[i]
		levelIndex := d.level
		for i++; i < len(dirty) && sameDirtyPrice(&dirty[i], d); i++ {
			if dirty[i].level != indexNone {
				levelIndex = dirty[i].level
			}
		}
		// marketDataUpdate, written out with its top of book inlined: the call, and the
		// values the loop keeps across it, cost ~15 instructions an update more.
		x := &e.instruments[d.instrument]
		x.marketDataSequence++
		u := &s.update
		*u = model.MarketDataUpdate{}
		u.Sequence, u.Timestamp, u.Instrument = x.marketDataSequence, now, x.record.ID
		u.Kind, u.Side, u.Price = model.MarketDataLevel, d.side, d.price
		e.topOfBook(u, x)
		if levelIndex != indexNone {
			l := &e.levels[levelIndex]
			u.Quantity, u.OrderCount = l.quantity, l.orderCount
		}
		sink.MarketData(u)
	}
	s.dirty = s.dirty[:0]
	s.epoch++
}

// dirtySortInsertionMax is the most changed levels sorted by insertion: a command
// usually changes one to three levels, for which an inline insertion sort costs a few
// comparisons where the generic sort's set-up and indirect calls cost more than the rest
// of the flush.
const dirtySortInsertionMax = 8

// sortDirty sorts changed levels by instrument, side and price. Entries that compare
// equal (a level removed and created again) may end in any order: the flush picks the
// one whose level exists, whatever its place in the run.
func sortDirty(dirty []dirtyLevel) {
	if len(dirty) > dirtySortInsertionMax {
		slices.SortFunc(dirty, compareDirty)
		return
	}
	for i := 1; i < len(dirty); i++ {
		for j := i; j > 0 && dirtyAfter(&dirty[j-1], &dirty[j]); j-- {
			dirty[j-1], dirty[j] = dirty[j], dirty[j-1]
		}
	}
}

// dirtyAfter reports whether a sorts after b (compareDirty(a, b) > 0), reading both
// through pointers where compareDirty takes two 24-byte copies.
func dirtyAfter(a, b *dirtyLevel) bool {
	if a.instrument != b.instrument {
		return a.instrument > b.instrument
	}
	if a.side != b.side {
		return a.side > b.side
	}
	return a.price > b.price
}

// sameDirtyPrice reports whether a and b are of one price (compareDirty(a, b) == 0).
func sameDirtyPrice(a, b *dirtyLevel) bool {
	return a.price == b.price && a.instrument == b.instrument && a.side == b.side
}

func compareDirty(a, b dirtyLevel) int {
	switch {
	case a.instrument != b.instrument:
		return int(a.instrument) - int(b.instrument)
	case a.side != b.side:
		return int(a.side) - int(b.side)
	case a.price < b.price:
		return -1
	case a.price > b.price:
		return 1
	}
	return 0
}

// marketDataUpdate fills the scratch update's common fields: the next sequence number
// of the instrument, the timestamp and the top of book.
func (e *Engine) marketDataUpdate(instrumentIndex uint32, now uint64) *model.MarketDataUpdate {
	x := &e.instruments[instrumentIndex]
	x.marketDataSequence++
	u := &e.scratch.update
	*u = model.MarketDataUpdate{Sequence: x.marketDataSequence, Timestamp: now,
		Instrument: x.record.ID}
	e.topOfBook(u, x)
	return u
}

// topOfBook writes the instrument's best bid and ask into u (left zero for an empty
// side). Small enough to inline, into marketDataUpdate and the flush's level loop.
func (e *Engine) topOfBook(u *model.MarketDataUpdate, x *instrument) {
	if best := x.bids.best; best != indexNone {
		l := &e.levels[best]
		u.BidPrice, u.BidQuantity, u.BidOrderCount = l.price, l.quantity, l.orderCount
	}
	if best := x.asks.best; best != indexNone {
		l := &e.levels[best]
		u.AskPrice, u.AskQuantity, u.AskOrderCount = l.price, l.quantity, l.orderCount
	}
}
