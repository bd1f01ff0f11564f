package match

import (
	"fmt"

	"sequent/core/ledger"
	"sequent/core/model"
)

// checkBatch asserts what the caller guarantees about every batch.
func checkBatch(eventCount int, resultCount int) {
	if eventCount > model.EventsPerRequestMax {
		panic(fmt.Sprintf("match: batch of %d events", eventCount))
	}
	if resultCount < eventCount {
		panic("match: results shorter than events")
	}
}

// checkKey checks the idempotency key of an order command.
func checkKey(clientOrderID, account uint64) model.Status {
	switch {
	case clientOrderID == 0:
		return model.StatusClientOrderIDMustNotBeZero
	case account == 0:
		return model.StatusAccountMustNotBeZero
	}
	return model.StatusOK
}

// resend answers a command whose key is in the window with the original outcome, unless
// the key was used by another kind of command, or by a command of this kind with other
// fields (a mistake, not a resend: the command is refused and changes nothing).
func resend(entry *windowEntry, kind commandKind, digest uint64) model.OrderResult {
	switch {
	case entry.kind != kind:
		return model.OrderResult{Timestamp: entry.timestamp,
			Status: model.StatusClientOrderIDReused}
	case entry.digest != digest:
		return model.OrderResult{Timestamp: entry.timestamp,
			Status: model.StatusClientOrderIDExistsWithDifferentFields}
	}
	return model.OrderResult{OrderID: entry.orderID, Timestamp: entry.timestamp,
		Status: entry.status}
}

// commandRejected remembers and reports a refused command with a valid key.
func (e *Engine) commandRejected(client, account, clientOrderID, orderID uint64,
	instrumentID uint32, kind commandKind, digest uint64, status model.Status, now uint64,
	sink Sink) model.OrderResult {
	e.rememberCommand(&windowEntry{client: client, account: account,
		clientOrderID: clientOrderID, orderID: orderID, timestamp: now, status: status,
		kind: kind, digest: digest})
	e.reportRejected(client, account, clientOrderID, orderID, instrumentID, status, now, sink)
	return model.OrderResult{OrderID: orderID, Timestamp: now, Status: status}
}

// PlaceOrders applies a batch of new orders owned by client (the authenticated client
// id). Each event takes one timestamp from clock, then the ledger events it issues take
// theirs. results gets one result per event; execution reports and market data go to
// sink as they happen.
func (e *Engine) PlaceOrders(clock *uint64, client uint64, events []model.Order,
	results []model.OrderResult, sink Sink) {
	checkBatch(len(events), len(results))
	for i := range events {
		e.commandBegin()
		now := takeTimestamp(clock)
		results[i] = e.placeOrder(clock, client, &events[i], now, sink)
	}
}

func (e *Engine) placeOrder(clock *uint64, client uint64, event *model.Order, now uint64,
	sink Sink) model.OrderResult {
	if status := checkKey(event.ClientOrderID, event.Account); status != model.StatusOK {
		e.reportRejected(client, event.Account, event.ClientOrderID, 0, event.Instrument,
			status, now, sink)
		return model.OrderResult{Timestamp: now, Status: status}
	}
	digest := placeDigest(event)
	entry, status := e.lookupKey(client, event.Account, event.ClientOrderID,
		event.Flags&model.OrderFlagClientOrderIDsIncreasing != 0 && !e.orderFlagsRefused)
	if status != model.StatusOK {
		e.reportRejected(client, event.Account, event.ClientOrderID, 0, event.Instrument,
			status, now, sink)
		return model.OrderResult{Timestamp: now, Status: status}
	}
	if entry != nil {
		return resend(entry, commandPlace, digest)
	}
	instrumentIndex, status := e.validateOrder(event, now)
	payingIndex := ledger.IndexUnknown
	if status == model.StatusOK {
		status, payingIndex = e.validateFunding(client, &e.instruments[instrumentIndex], event)
	}
	// A share is at most the table (Config.OrdersPerClientMax): below it, neither bound
	// can be reached, and the steady state pays one comparison.
	if status == model.StatusOK && takerRestsKind(event) &&
		e.openCount >= e.config.OrdersPerClientMax &&
		(e.openCount >= e.config.OrdersMax || e.ordersShareTaken(client)) {
		status = model.StatusOrdersLimitReached
	}
	if status == model.StatusOK && event.TimeInForce == model.PostOnly &&
		e.wouldCross(instrumentIndex, event.Side, event.Price) {
		status = model.StatusPostOnlyWouldCross
	}
	if status != model.StatusOK {
		return e.commandRejected(client, event.Account, event.ClientOrderID, 0,
			event.Instrument, commandPlace, digest, status, now, sink)
	}
	slot := e.orderAllocate()
	e.orderInit(slot, client, event, instrumentIndex, now)
	e.orders[slot].payingIndex = payingIndex
	if status := e.holdCreate(clock, slot); status != model.StatusOK {
		e.orderRelease(slot)
		return e.commandRejected(client, event.Account, event.ClientOrderID, 0,
			event.Instrument, commandPlace, digest, status, now, sink)
	}
	o := &e.orders[slot]
	orderID := o.id
	e.nextOrderID++
	e.rememberCommand(&windowEntry{client: client, account: event.Account,
		clientOrderID: event.ClientOrderID, orderID: orderID, timestamp: now,
		status: model.StatusOK, kind: commandPlace, digest: digest})
	e.report(o, model.ReportAccepted, model.StatusOK, o.clientOrderID, now, sink)
	if o.leaves > 0 && e.restsUncrossed(o) {
		e.orderRest(slot) // What matchTaker would do, without its two calls.
	} else {
		e.matchTaker(clock, slot, now, sink)
	}
	e.marketDataFlush(now, sink)
	return model.OrderResult{OrderID: orderID, Timestamp: now, Status: model.StatusOK}
}

// takerRestsKind reports whether an order of this kind may rest.
func takerRestsKind(event *model.Order) bool {
	return event.Type == model.OrderLimit &&
		(event.TimeInForce == model.GoodTillCancel || event.TimeInForce == model.PostOnly)
}

// wouldCross reports whether an order at price would trade with the opposite side now.
func (e *Engine) wouldCross(instrumentIndex uint32, side model.Side, price uint64) bool {
	x := &e.instruments[instrumentIndex]
	opposite := x.asks.best
	if side == model.SideSell {
		opposite = x.bids.best
	}
	return opposite != indexNone && crosses(side, e.levels[opposite].price, price)
}

// orderInit fills a fresh slot from a validated place event and gives it the next id.

func (e *Engine) orderInit(slot uint32, client uint64, event *model.Order,
	instrumentIndex uint32, now uint64) {
	o := &e.orders[slot]
	o.id = e.nextOrderID // Taken for good (nextOrderID++) only once the hold is placed.
	o.price, o.leaves, o.instrument = event.Price, event.Quantity, instrumentIndex
	o.client, o.account, o.clientOrderID = client, event.Account, event.ClientOrderID
	o.side, o.orderType, o.timeInForce = event.Side, event.Type, event.TimeInForce
	o.selfTrade = event.SelfTrade
	if o.selfTrade == model.SelfTradeDefault {
		o.selfTrade = model.SelfTradeCancelNewest
	}
	o.reservePrice = event.ReservePrice
	if o.side == model.SideBuy && o.orderType == model.OrderLimit && o.reservePrice == 0 {
		o.reservePrice = o.price
	}
	o.expireTimestamp, o.timestamp, o.budget = event.ExpireTimestamp, now, event.Budget
	o.baseAccountID, o.quoteAccountID = event.BaseAccountID, event.QuoteAccountID
}

// validateOrder checks a place event's fields in the documented precedence order and
// returns the instrument's index.
func (e *Engine) validateOrder(o *model.Order, now uint64) (uint32, model.Status) {
	switch {
	case o.Timestamp != 0:
		return indexNone, model.StatusTimestampMustBeZero
	case o.Flags&^model.OrderFlagsKnown != 0, o.Reserved != [15]byte{},
		o.Flags != 0 && e.orderFlagsRefused:
		return indexNone, model.StatusReservedField
	}
	index, found := e.findInstrument(o.Instrument)
	if !found {
		return indexNone, model.StatusInstrumentNotFound
	}
	x := &e.instruments[index].record
	limit := o.Type == model.OrderLimit
	resting := o.TimeInForce == model.GoodTillCancel || o.TimeInForce == model.PostOnly
	marketBuy := o.Type == model.OrderMarket && o.Side == model.SideBuy
	switch {
	case o.Side != model.SideBuy && o.Side != model.SideSell:
		return index, model.StatusSideInvalid
	case !limit && o.Type != model.OrderMarket:
		return index, model.StatusOrderTypeInvalid
	case o.TimeInForce < model.GoodTillCancel || o.TimeInForce > model.PostOnly,
		!limit && resting:
		return index, model.StatusTimeInForceInvalid
	case o.SelfTrade > model.SelfTradeCancelBoth:
		return index, model.StatusSelfTradeModeInvalid
	}
	if status := validatePriceQuantity(x, o.Price, o.Quantity); status != model.StatusOK {
		return index, status
	}
	switch {
	case o.ReservePrice != 0 && (!limit || o.Side != model.SideBuy ||
		o.ReservePrice < o.Price || o.ReservePrice%x.TickSize != 0):
		return index, model.StatusReservePriceInvalid
	case marketBuy == o.Budget.IsZero():
		return index, model.StatusBudgetInvalid
	case o.ExpireTimestamp != 0 && (!resting || o.ExpireTimestamp <= now):
		return index, model.StatusExpireTimestampInvalid
	}
	return index, model.StatusOK
}

// validatePriceQuantity checks a price and a total quantity against the instrument.
func validatePriceQuantity(x *model.Instrument, price, quantity uint64) model.Status {
	switch {
	case price == 0:
		return model.StatusPriceMustNotBeZero
	case price%x.TickSize != 0:
		return model.StatusPriceNotOnTick
	case quantity%x.LotSize != 0:
		return model.StatusQuantityNotOnLot
	case quantity < x.QuantityMin:
		return model.StatusQuantityBelowMinimum
	case quantity > x.QuantityMax:
		return model.StatusQuantityAboveMaximum
	}
	return model.StatusOK
}

// validateFunding checks the order's two ledger accounts: they exist, the client may
// trade from both (it owns them or holds a trade grant: the paying one is held, the
// receiving one is paid into, and an order must not be a way round either rule), they
// are on the instrument's ledgers, are open, and the receiving one accepts credits (no
// credits limit, which a payout could break). Whether the paying one can afford the hold
// is the ledger's answer when the hold is created. It also returns where the ledger
// stores the paying account (order.payingIndex), so that creating the hold needs no other
// lookup of it.
func (e *Engine) validateFunding(client uint64, x *instrument, o *model.Order) (
	model.Status, uint32) {
	if e.settlementDisabled {
		return model.StatusOK, ledger.IndexUnknown
	}
	if model.IsSystemID(o.BaseAccountID) || model.IsSystemID(o.QuoteAccountID) {
		return model.StatusAccountIDReserved, ledger.IndexUnknown
	}
	// Only each account's ledger and flags are read: AccountTermsPlacedAs answers those
	// without copying the account, starting from where the account was last found
	// (chain.traderPlaces), which then keeps where it is.
	basePlace := e.scratch.chain.traderPlace(o.BaseAccountID)
	baseLedger, baseFlags, baseIndex, allowed := e.ledger.AccountTermsPlacedAs(client,
		model.ScopeTrade, o.BaseAccountID, *basePlace)
	*basePlace = baseIndex
	switch {
	case baseIndex == ledger.IndexUnknown:
		return model.StatusBaseAccountNotFound, ledger.IndexUnknown
	case !allowed:
		return model.StatusBaseAccountNotOwned, ledger.IndexUnknown
	case baseLedger != x.record.BaseLedger:
		return model.StatusBaseAccountLedgerInvalid, ledger.IndexUnknown
	}
	quotePlace := e.scratch.chain.traderPlace(o.QuoteAccountID)
	quoteLedger, quoteFlags, quoteIndex, allowed := e.ledger.AccountTermsPlacedAs(client,
		model.ScopeTrade, o.QuoteAccountID, *quotePlace)
	*quotePlace = quoteIndex
	switch {
	case quoteIndex == ledger.IndexUnknown:
		return model.StatusQuoteAccountNotFound, ledger.IndexUnknown
	case !allowed:
		return model.StatusQuoteAccountNotOwned, ledger.IndexUnknown
	case quoteLedger != x.record.QuoteLedger:
		return model.StatusQuoteAccountLedgerInvalid, ledger.IndexUnknown
	case (baseFlags|quoteFlags)&model.AccountClosed != 0:
		return model.StatusAccountClosed, ledger.IndexUnknown
	}
	receivingFlags, payingIndex := baseFlags, quoteIndex
	if o.Side == model.SideSell {
		receivingFlags, payingIndex = quoteFlags, baseIndex
	}
	if receivingFlags&model.AccountCreditsMustNotExceedDebits != 0 {
		return model.StatusAccountFlagsInvalid, ledger.IndexUnknown
	}
	return model.StatusOK, payingIndex
}

// lookupAccount returns a copy of a ledger account (valid until the next lookup).
func (e *Engine) lookupAccount(id model.Uint128) (*model.Account, bool) {
	e.scratch.ids[0] = id
	e.scratch.accounts = e.ledger.LookupAccounts(e.scratch.ids[:1], e.scratch.accounts[:0])
	if len(e.scratch.accounts) == 0 {
		return nil, false
	}
	return &e.scratch.accounts[0], true
}
