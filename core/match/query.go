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
// match the filter, in placement (order id) order, at most filter.Limit. A page starts
// where the previous one ended: when filter.AfterOrderID is still open in the account's
// list (the last order of the previous page, the usual cursor) it starts right after it,
// so paging through N orders costs O(N) in all, not O(N²). Otherwise (that order was
// filled, canceled or never was the account's) it looks for the first order past the
// cursor from both ends of the list. The pages are those a walk from the list's head
// gives (the list is in id order): only the work differs.
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
	for slot := e.accountOrderAfter(account, f.AfterOrderID); slot != indexNone && count < f.Limit; {
		o := &e.orders[slot]
		if instrumentIndex == indexNone || o.instrument == instrumentIndex {
			out = append(out, e.orderState(slot))
			count++
		}
		slot = o.accountNext
	}
	return out, model.StatusOK
}

// accountOrderAfter returns the first order of trading account index whose id is above
// after, or indexNone. The account's list is in ascending id order (accountLink refuses
// anything else), so when the order with id after is in it, the answer is the next one;
// else the walks from the head (ids above after?) and from the tail (ids at most after?)
// alternate, and the first to cross the boundary finds it: steps at most twice the
// smaller side of the boundary.
func (e *Engine) accountOrderAfter(index uint32, after uint64) uint32 {
	a := &e.accounts[index]
	if after == 0 {
		return a.head
	}
	if slot, _, found := e.findOrder(after); found && e.orders[slot].tradingAccount == index {
		return e.orders[slot].accountNext
	}
	forward, backward := a.head, a.tail
	for forward != indexNone { // Both are indexNone or neither: the list is empty or not.
		if e.orders[forward].id > after {
			return forward // Every order before it was checked to be at most after.
		}
		if e.orders[backward].id <= after {
			return e.orders[backward].accountNext // Every order after it is above after.
		}
		forward, backward = e.orders[forward].accountNext, e.orders[backward].accountPrevious
	}
	return indexNone
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
