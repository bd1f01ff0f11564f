package match

import "sequent/core/model"

// Queries are read-only: they change no state and take no timestamp.

// LookupInstruments appends to out the instruments found for ids, in the order of ids;
// missing ids are skipped.
func (e *Engine) LookupInstruments(ids []uint32, out []model.Instrument) []model.Instrument {
	for _, id := range ids {
		if index, found := e.findInstrument(id); found {
			out = append(out, e.instruments[index].record)
		}
	}
	return out
}

// LookupOrders appends to out the open orders of client found for ids, in the order of
// ids. Orders that are not open, or belong to another client, are skipped (an operator
// sees every client's).
func (e *Engine) LookupOrders(client uint64, ids []uint64,
	out []model.OrderState) []model.OrderState {
	operator := e.ledger.IsOperator(client)
	for _, id := range ids {
		if slot, _, found := e.findOrder(id); found && (operator || e.orders[slot].client == client) {
			out = append(out, e.orderState(slot))
		}
	}
	return out
}

// AccountOrders appends to out the open orders of the caller's trading account that
// match the filter, in placement (order id) order, at most filter.Limit. Work is
// proportional to the account's open orders up to the last one returned.
func (e *Engine) AccountOrders(client uint64, f *model.OrderFilter, out []model.OrderState) (
	[]model.OrderState, model.Status) {
	switch {
	case f.Reserved != 0:
		return out, model.StatusReservedField
	case f.Account == 0:
		return out, model.StatusAccountMustNotBeZero
	case f.Limit == 0 || f.Limit > model.EventsPerRequestMax:
		return out, model.StatusInvalidFilterMatch
	}
	instrumentIndex := indexNone
	if f.Instrument != 0 {
		index, found := e.findInstrument(f.Instrument)
		if !found {
			return out, model.StatusInstrumentNotFound
		}
		instrumentIndex = index
	}
	account, _, found := e.findTradingAccount(client, f.Account)
	if !found {
		return out, model.StatusOK
	}
	count := uint32(0)
	for slot := e.accounts[account].head; slot != indexNone && count < f.Limit; {
		o := &e.orders[slot]
		if o.id > f.AfterOrderID && (instrumentIndex == indexNone || o.instrument == instrumentIndex) {
			out = append(out, e.orderState(slot))
			count++
		}
		slot = o.accountNext
	}
	return out, model.StatusOK
}

// Depth appends to out the best filter.Levels levels of the bids (best first), then of
// the asks (best first).
func (e *Engine) Depth(f *model.DepthFilter, out []model.DepthLevel) ([]model.DepthLevel,
	model.Status) {
	switch {
	case f.Reserved != 0:
		return out, model.StatusReservedField
	case f.Levels == 0 || f.Levels > model.DepthLevelsPerSideMax:
		return out, model.StatusInvalidFilterMatch
	}
	index, found := e.findInstrument(f.Instrument)
	if !found {
		return out, model.StatusInstrumentNotFound
	}
	x := &e.instruments[index]
	for _, side := range [2]*bookSide{&x.bids, &x.asks} {
		count := uint32(0)
		for levelIndex := side.best; levelIndex != indexNone && count < f.Levels; count++ {
			l := &e.levels[levelIndex]
			out = append(out, model.DepthLevel{Price: l.price, Quantity: l.quantity,
				OrderCount: l.orderCount, Side: side.side})
			levelIndex = l.worse
		}
	}
	return out, model.StatusOK
}

// orderState returns the open order in slot as queries (and snapshots) show it.
func (e *Engine) orderState(slot uint32) model.OrderState {
	o := &e.orders[slot]
	return model.OrderState{OrderID: o.id, ClientOrderID: o.clientOrderID, Client: o.client,
		Account: o.account, BaseAccountID: o.baseAccountID, QuoteAccountID: o.quoteAccountID,
		Price: o.price, Quantity: o.leaves + o.filled, LeavesQuantity: o.leaves,
		FilledQuantity: o.filled, ReservePrice: o.reservePrice,
		ExpireTimestamp: o.expireTimestamp, Instrument: e.instruments[o.instrument].record.ID,
		Side: o.side, Type: o.orderType, TimeInForce: o.timeInForce, SelfTrade: o.selfTrade,
		Timestamp: o.timestamp}
}

// MarketDataSequence returns the instrument's last market-data sequence number (the one
// get_book stamps on a snapshot) and whether the instrument exists.
func (e *Engine) MarketDataSequence(instrument uint32) (uint64, bool) {
	index, found := e.findInstrument(instrument)
	if !found {
		return 0, false
	}
	return e.instruments[index].marketDataSequence, true
}
