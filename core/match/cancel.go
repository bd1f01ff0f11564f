package match

import (
	"fmt"
	"slices"

	"sequent/core/model"
)

// endItem is an open order queued to end (cancel or expiry) with the next batch of voids.
type endItem struct {
	slot          uint32
	reason        model.Status
	clientOrderID uint64 // Reported; 0 = the order's own.
}

// endQueue queues an open order to end. The caller flushes before the queue is full.
func (e *Engine) endQueue(slot uint32, reason model.Status, clientOrderID uint64) {
	if len(e.scratch.ending) == cap(e.scratch.ending) {
		panic("match: end queue overflow")
	}
	e.scratch.ending = append(e.scratch.ending, endItem{slot: slot, reason: reason,
		clientOrderID: clientOrderID})
}

// endQueueFlush voids the holds of the queued orders in one ledger batch (every void
// must succeed: a hold of an open order is always active), then reports and closes them
// in queue order and publishes the changed levels.
func (e *Engine) endQueueFlush(clock *uint64, now uint64, sink Sink) {
	items := e.scratch.ending
	if len(items) == 0 {
		return
	}
	switch {
	case e.settlementDisabled:
	case len(items) == 1: // A lone cancel: its release alone, as a chain of it would be.
		e.releaseAlone(clock, items[0].slot)
	default:
		e.scratch.chain.reset()
		for _, item := range items {
			e.chainRelease(item.slot)
		}
		if failed := e.chainSubmit(clock, false); failed >= 0 {
			panic(fmt.Sprintf("match: the ledger refused to void a hold: %s",
				e.scratch.chain.results[failed].Status))
		}
	}
	for _, item := range items {
		o := &e.orders[item.slot]
		o.holdSequence, o.holdAmount = 0, model.Uint128{}
		kind := model.ReportCanceled
		if item.reason == model.StatusExpired {
			kind = model.ReportExpired
		}
		clientOrderID := item.clientOrderID
		if clientOrderID == 0 {
			clientOrderID = o.clientOrderID
		}
		e.report(o, kind, item.reason, clientOrderID, now, sink)
		e.orderClose(item.slot)
	}
	e.scratch.ending = e.scratch.ending[:0]
	e.marketDataFlush(now, sink)
}

// CancelOrders applies a batch of cancels owned by client: each event ends one open order
// of the caller's account, voiding its hold. results gets one result per event.
func (e *Engine) CancelOrders(clock *uint64, client uint64, events []model.OrderCancel,
	results []model.OrderResult, sink Sink) {
	checkBatch(len(events), len(results))
	for i := range events {
		e.commandBegin()
		now := takeTimestamp(clock)
		results[i] = e.cancelOrder(clock, client, &events[i], now, sink)
	}
}

func (e *Engine) cancelOrder(clock *uint64, client uint64, c *model.OrderCancel, now uint64,
	sink Sink) model.OrderResult {
	if status := checkKey(c.ClientOrderID, c.Account); status != model.StatusOK {
		e.reportRejected(client, c.Account, c.ClientOrderID, c.OrderID, 0, status, now, sink)
		return model.OrderResult{OrderID: c.OrderID, Timestamp: now, Status: status}
	}
	digest := cancelDigest(c)
	entry, status := e.lookupKey(client, c.Account, c.ClientOrderID, false)
	if status != model.StatusOK {
		e.reportRejected(client, c.Account, c.ClientOrderID, c.OrderID, 0, status, now, sink)
		return model.OrderResult{OrderID: c.OrderID, Timestamp: now, Status: status}
	}
	if entry != nil {
		return resend(entry, commandCancel, digest)
	}
	slot, found := e.findOwnedOrder(client, c.Account, c.OrderID, c.OriginalClientOrderID)
	if !found && c.OrderID != 0 && e.ledger.IsOperator(client) {
		slot, _, found = e.findOrder(c.OrderID) // An operator cancels any order by its id.
	}
	if !found {
		return e.commandRejected(client, c.Account, c.ClientOrderID, c.OrderID, 0,
			commandCancel, digest, model.StatusOrderNotFound, now, sink)
	}
	orderID := e.orders[slot].id
	e.endQueue(slot, model.StatusCanceledByClient, c.ClientOrderID)
	e.endQueueFlush(clock, now, sink)
	e.rememberCommand(&windowEntry{client: client, account: c.Account,
		clientOrderID: c.ClientOrderID, orderID: orderID, timestamp: now,
		status: model.StatusOK, kind: commandCancel, digest: digest})
	return model.OrderResult{OrderID: orderID, Timestamp: now, Status: model.StatusOK}
}

// findOwnedOrder returns the open order of (client, account) named by its id or, when
// the id is 0, by the client order id of the command that placed or last replaced it (as
// in FIX, a client order id superseded by a replace no longer names the order).
func (e *Engine) findOwnedOrder(client, account, orderID, originalClientOrderID uint64) (
	uint32, bool) {
	byClientOrderID := orderID == 0
	if byClientOrderID {
		entry, found := e.findOutcome(client, account, originalClientOrderID)
		if !found || entry.status != model.StatusOK ||
			(entry.kind != commandPlace && entry.kind != commandReplace) {
			return indexNone, false
		}
		orderID = entry.orderID
	}
	// findOrder's lookup, written here: as a call it cost ~23 instructions per book-only
	// command more (callgrind, session 46).
	_, slot, found := e.orderIndex.find(tagOf(hash64(orderID, e.seed)),
		func(slot uint32) bool { return e.orders[slot].id == orderID })
	if !found {
		return indexNone, false
	}
	o := &e.orders[slot]
	if o.client != client || o.account != account ||
		(byClientOrderID && o.clientOrderID != originalClientOrderID) {
		return indexNone, false
	}
	return slot, true
}

// MassCancel applies a batch of mass cancels owned by client: each event ends every open
// order of the caller's account (optionally of one instrument and one side), in
// placement order.
func (e *Engine) MassCancel(clock *uint64, client uint64, events []model.MassCancel,
	results []model.MassCancelResult, sink Sink) {
	checkBatch(len(events), len(results))
	for i := range events {
		e.commandBegin()
		now := takeTimestamp(clock)
		results[i] = e.massCancel(clock, client, &events[i], now, sink)
	}
}

func (e *Engine) massCancel(clock *uint64, client uint64, m *model.MassCancel, now uint64,
	sink Sink) model.MassCancelResult {
	status := checkKey(m.ClientOrderID, m.Account)
	digest := massCancelDigest(m)
	if status == model.StatusOK {
		entry, keyStatus := e.lookupKey(client, m.Account, m.ClientOrderID, false)
		if keyStatus != model.StatusOK {
			e.reportRejected(client, m.Account, m.ClientOrderID, 0, m.Instrument, keyStatus,
				now, sink)
			return model.MassCancelResult{Timestamp: now, Status: keyStatus}
		}
		if entry != nil {
			result := resend(entry, commandMassCancel, digest)
			return model.MassCancelResult{Timestamp: result.Timestamp, Status: result.Status,
				CanceledCount: uint32(result.OrderID)}
		}
	}
	instrumentIndex := indexNone
	if status == model.StatusOK {
		instrumentIndex, status = e.validateMassCancel(m)
	}
	if status != model.StatusOK {
		e.reportRejected(client, m.Account, m.ClientOrderID, 0, m.Instrument, status, now, sink)
		if m.ClientOrderID != 0 && m.Account != 0 {
			e.rememberCommand(&windowEntry{client: client, account: m.Account,
				clientOrderID: m.ClientOrderID, timestamp: now, status: status,
				kind: commandMassCancel, digest: digest})
		}
		return model.MassCancelResult{Timestamp: now, Status: status}
	}
	count := e.cancelAccount(clock, client, m.Account, instrumentIndex, m.Side,
		model.StatusCanceledMass, m.ClientOrderID, now, sink)
	e.rememberCommand(&windowEntry{client: client, account: m.Account,
		clientOrderID: m.ClientOrderID, orderID: uint64(count), timestamp: now,
		status: model.StatusOK, kind: commandMassCancel, digest: digest})
	return model.MassCancelResult{Timestamp: now, Status: model.StatusOK, CanceledCount: count}
}

// validateMassCancel checks a mass cancel's filter and returns the instrument's index
// (indexNone for every instrument).
func (e *Engine) validateMassCancel(m *model.MassCancel) (uint32, model.Status) {
	switch {
	case m.Reserved != [11]byte{}:
		return indexNone, model.StatusReservedField
	case m.Side != 0 && m.Side != model.SideBuy && m.Side != model.SideSell:
		return indexNone, model.StatusSideInvalid
	case m.Instrument == 0:
		return indexNone, model.StatusOK
	}
	index, found := e.findInstrument(m.Instrument)
	if !found {
		return indexNone, model.StatusInstrumentNotFound
	}
	return index, model.StatusOK
}

// cancelAccount ends the open orders of (client, account) that match the instrument
// (indexNone = any) and side (0 = both), in placement order, in batches of voids, and
// returns how many it ended.
func (e *Engine) cancelAccount(clock *uint64, client, account uint64, instrumentIndex uint32,
	side model.Side, reason model.Status, clientOrderID uint64, now uint64, sink Sink) uint32 {
	index, _, found := e.findTradingAccount(client, account)
	if !found {
		return 0
	}
	count := uint32(0)
	for slot := e.accounts[index].head; slot != indexNone; {
		o := &e.orders[slot]
		next := o.accountNext // Read before the flush below can free the entry.
		if (instrumentIndex == indexNone || o.instrument == instrumentIndex) &&
			(side == 0 || o.side == side) {
			e.endQueue(slot, reason, clientOrderID)
			count++
			if len(e.scratch.ending) == cap(e.scratch.ending) {
				e.endQueueFlush(clock, now, sink)
			}
		}
		slot = next
	}
	e.endQueueFlush(clock, now, sink)
	return count
}

// CancelAllForClient ends every open order of the client (cancel-on-disconnect: the
// server logs an internal request that calls it), account by account in account-number
// order, each in placement order. It takes one timestamp and returns how many orders it
// ended. Cost: a scan of the trading accounts with open orders, plus the cancels.
func (e *Engine) CancelAllForClient(clock *uint64, client uint64, sink Sink) uint32 {
	e.commandBegin()
	now := takeTimestamp(clock)
	accounts := e.scratch.sortAccounts[:0]
	for i := range e.accounts {
		if a := &e.accounts[i]; a.count > 0 && a.client == client {
			accounts = append(accounts, a.account)
		}
	}
	slices.Sort(accounts)
	e.scratch.sortAccounts = accounts
	count := uint32(0)
	for _, account := range accounts {
		count += e.cancelAccount(clock, client, account, indexNone, 0,
			model.StatusCanceledDisconnect, 0, now, sink)
	}
	return count
}
