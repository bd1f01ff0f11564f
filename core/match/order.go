package match

import (
	"math/bits"

	"sequent/core/model"
)

// order is one order: the incoming order while a command matches it, then, if it rests,
// an open order in its level's queue, in its trading account's list and, with a deadline,
// in the expiry heap. Orders live in Engine.orders and are recycled through a free list.
// Hot fields (matching) come first.
//
// payingIndex is where the ledger stores the paying account (quote for a buy, base for a
// sell) as last found: placeOrder takes it from validateFunding's lookup and
// ledger.ChangeSystemReservationAt updates it, so that reserving and releasing the
// order's funds need no lookup of the account. The ledger checks it before trusting it,
// so it is never in a snapshot: a restored or recycled order starts from whatever the
// field holds (0), a guess like any other. It sits in what was padding (192 bytes).
type order struct {
	id            uint64 // Engine-assigned, increasing with placement.
	price         uint64 // Limit price (worst price of a market order), quote units/lot.
	leaves        uint64 // Open quantity, base units.
	filled        uint64 // Filled quantity, base units.
	level         uint32 // Level while resting, else indexNone.
	levelPrevious uint32 // Older order of the level (toward the head), or indexNone.
	levelNext     uint32 // Newer order of the level, or indexNone.
	instrument    uint32 // Instrument index.
	client        uint64 // Owner (authenticated client id).
	account       uint64 // Trading account of the owner.
	side          model.Side
	orderType     model.OrderType
	timeInForce   model.TimeInForce
	selfTrade     model.SelfTradeMode
	heapIndex     uint32 // Position in the expiry heap, or indexNone.

	tradingAccount  uint32        // Entry in Engine.accounts while resting, else indexNone.
	accountPrevious uint32        // Older order of the trading account, or indexNone.
	accountNext     uint32        // Newer order of the trading account, or indexNone.
	payingIndex     uint32        // The paying account's ledger index as last found (a guess).
	clientOrderID   uint64        // Of the command that placed or last replaced the order.
	reservePrice    uint64        // Limit buys: the price the hold is computed at (≥ price).
	expireTimestamp uint64        // Deadline of a good-till-time order, or 0.
	timestamp       uint64        // When it took its place in the queue (time priority).
	budget          model.Uint128 // Market buys: quote still allowed to spend.
	holdSequence    uint64        // System transfer sequence of its current hold; 0 = none.
	holdAmount      model.Uint128 // Amount of its current hold.
	baseAccountID   model.Uint128 // Trader's base-ledger account.
	quoteAccountID  model.Uint128 // Trader's quote-ledger account.
}

// orderAllocate takes a free slot (or grows the pool). The pool holds OrdersMax open
// orders plus the one incoming order, so allocation never fails: the open-order limit is
// checked before an order may rest.
func (e *Engine) orderAllocate() uint32 {
	var slot uint32
	if count := len(e.orderFree); count > 0 {
		slot = e.orderFree[count-1]
		e.orderFree = e.orderFree[:count-1]
	} else {
		if uint32(len(e.orders)) > e.config.OrdersMax {
			panic("match: order pool exhausted")
		}
		slot = uint32(len(e.orders))
		e.orders = append(e.orders, order{})
	}
	e.orders[slot] = order{level: indexNone, levelPrevious: indexNone, levelNext: indexNone,
		heapIndex: indexNone, tradingAccount: indexNone, accountPrevious: indexNone,
		accountNext: indexNone}
	return slot
}

// orderRelease returns a slot to the pool.
func (e *Engine) orderRelease(slot uint32) {
	o := &e.orders[slot]
	if o.level != indexNone || o.tradingAccount != indexNone || o.heapIndex != indexNone {
		panic("match: releasing an order that is still linked")
	}
	*o = order{}
	e.orderFree = append(e.orderFree, slot)
}

// findOrder returns the slot of the open order with the id.
func (e *Engine) findOrder(id uint64) (uint32, uint64, bool) {
	position, slot, found := e.orderIndex.find(tagOf(hash64(id, e.seed)),
		func(slot uint32) bool { return e.orders[slot].id == id })
	return slot, position, found
}

// holdRequired returns what an order's hold must be for its open quantity: a sell holds
// its leaves (base); a limit buy holds its reserve price times its leaves in lots
// (quote); a market buy holds what is left of its budget. A 64-bit price times a 64-bit
// lot count cannot overflow 128 bits.
func holdRequired(o *order, lotSize uint64) model.Uint128 {
	return holdRequiredWith(o, o.leaves, o.reservePrice, o.budget, lotSize)
}

// holdRequiredWith is holdRequired of order o as it would be with leaves, reservePrice
// and budget in place of its own: what a replace or a fill would leave it needing,
// computed without copying the 192-byte order to change three fields of the copy.
func holdRequiredWith(o *order, leaves uint64, reservePrice uint64, budget model.Uint128,
	lotSize uint64) model.Uint128 {
	if o.side == model.SideSell {
		return model.U128(leaves)
	}
	if o.orderType == model.OrderMarket {
		return budget
	}
	// A 64-bit price times a 64-bit lot count fits in 128 bits: bits.Mul64 is
	// model.Uint128.Mul64 of a price with no high word, whose overflow cannot happen, and
	// keeps holdRequiredWith within the inlining budget (it runs on every replace and fill).
	hi, lo := bits.Mul64(reservePrice, leaves/lotSize)
	return model.Uint128{Hi: hi, Lo: lo}
}

// tradingAccount is a (client, account) pair with open orders: the list of its open
// orders in placement order (for queries and mass cancel). It exists while the list is
// not empty, so the table's contents derive from the open orders alone.
type tradingAccount struct {
	client  uint64
	account uint64
	head    uint32 // Oldest open order, or indexNone.
	tail    uint32 // Newest open order.
	count   uint32 // Open orders.
	// clientEntry is the entry counting the client's open orders (share.go), taken with
	// the account's first open order while they are counted (else indexNone).
	clientEntry uint32
}

func (e *Engine) accountTag(client, account uint64) uint32 {
	return tagOf(hash128(client, account, e.seed))
}

// findTradingAccount returns the entry of (client, account), if it has open orders.
func (e *Engine) findTradingAccount(client, account uint64) (uint32, uint64, bool) {
	position, index, found := e.accountIdx.find(e.accountTag(client, account),
		func(index uint32) bool {
			a := &e.accounts[index]
			return a.client == client && a.account == account
		})
	return index, position, found
}

// accountLink appends a resting order to its trading account's list. Orders rest in the
// order they were placed (a replace keeps its place), so the list is in order-id order.
func (e *Engine) accountLink(slot uint32) {
	o := &e.orders[slot]
	if !e.clientsCounted && e.openCount+1 >= e.config.OrdersPerClientMax {
		e.clientsCountStart() // Within one order of a share: counts are needed now.
	}
	index, _, found := e.findTradingAccount(o.client, o.account)
	if !found {
		clientEntry := indexNone
		if e.clientsCounted {
			clientEntry = e.clientEntryTake(o.client)
		}
		if count := len(e.accountFree); count > 0 {
			index = e.accountFree[count-1]
			e.accountFree = e.accountFree[:count-1]
		} else {
			index = uint32(len(e.accounts))
			e.accounts = append(e.accounts, tradingAccount{})
		}
		e.accounts[index] = tradingAccount{client: o.client, account: o.account,
			head: indexNone, tail: indexNone, clientEntry: clientEntry}
		e.accountIdx.insert(e.accountTag(o.client, o.account), index)
	}
	a := &e.accounts[index]
	if a.tail != indexNone && e.orders[a.tail].id >= o.id {
		panic("match: trading account list out of order")
	}
	o.tradingAccount, o.accountPrevious, o.accountNext = index, a.tail, indexNone
	if a.tail == indexNone {
		a.head = slot
	} else {
		e.orders[a.tail].accountNext = slot
	}
	a.tail = slot
	a.count++
	if e.clientsCounted {
		e.clientEntries[a.clientEntry].count++
	}
}

// accountUnlink removes an order from its trading account's list, and the account entry
// when it was its last order.
func (e *Engine) accountUnlink(slot uint32) {
	o := &e.orders[slot]
	index := o.tradingAccount
	a := &e.accounts[index]
	if o.accountPrevious == indexNone {
		a.head = o.accountNext
	} else {
		e.orders[o.accountPrevious].accountNext = o.accountNext
	}
	if o.accountNext == indexNone {
		a.tail = o.accountPrevious
	} else {
		e.orders[o.accountNext].accountPrevious = o.accountPrevious
	}
	a.count--
	if e.clientsCounted {
		if e.clientEntries[a.clientEntry].count--; e.clientEntries[a.clientEntry].count == 0 {
			e.clientEntryRemove(a.clientEntry) // The client's last open order.
		}
	}
	o.tradingAccount, o.accountPrevious, o.accountNext = indexNone, indexNone, indexNone
	if a.count != 0 {
		return
	}
	_, position, found := e.findTradingAccount(a.client, a.account)
	if !found {
		panic("match: trading account missing from its index")
	}
	e.accountIdx.remove(position)
	e.accountFree = append(e.accountFree, index)
}

// orderRest makes the incoming order in slot an open order: it joins the back of its
// level (created if needed), its trading account's list, the order index and, with a
// deadline, the expiry heap.
func (e *Engine) orderRest(slot uint32) {
	o := &e.orders[slot]
	x := &e.instruments[o.instrument]
	levelIndex := e.levelForPrice(x.side(o.side), o.price, e.scratch.restHint)
	e.scratch.restHint = indexNone
	// levelAppend, written out: as a call (over the inlining budget, its MustAdd) it cost
	// ~22 instructions per book-only command more. Restore still calls levelAppend; the
	// two must stay alike (checkLevel walks every queue against its level's links and totals).
	l := &e.levels[levelIndex]
	o.level, o.levelPrevious, o.levelNext = levelIndex, l.tail, indexNone
	if l.tail == indexNone {
		l.head = slot
	} else {
		e.orders[l.tail].levelNext = slot
	}
	l.tail = slot
	l.orderCount++
	l.quantity = l.quantity.MustAdd(model.U128(o.leaves))
	e.marketDataMark(o.instrument, o.side, levelIndex)
	if o.tradingAccount == indexNone {
		e.accountLink(slot)
		e.orderIndex.insert(tagOf(hash64(o.id, e.seed)), slot)
		e.openCount++
		if o.expireTimestamp != 0 {
			e.expiry.push(e, slot)
		}
	}
}

// orderUnrest takes an open order out of its level's queue (O(1); removing the level when
// empty), leaving it open otherwise (replace uses it before re-resting the order). It
// returns a level of the same side near where the order was (or indexNone), as a hint
// for resting the order again. The queue's unlinking is written here, its only use (as
// a call of its own it cost ~26 instructions per book-only command more, callgrind).
func (e *Engine) orderUnrest(slot uint32) uint32 {
	o := &e.orders[slot]
	levelIndex := o.level
	x := &e.instruments[o.instrument]
	e.marketDataMark(o.instrument, o.side, levelIndex)
	l := &e.levels[levelIndex]
	if o.levelPrevious == indexNone {
		l.head = o.levelNext
	} else {
		e.orders[o.levelPrevious].levelNext = o.levelNext
	}
	if o.levelNext == indexNone {
		l.tail = o.levelPrevious
	} else {
		e.orders[o.levelNext].levelPrevious = o.levelPrevious
	}
	l.orderCount--
	l.quantity = l.quantity.MustSub(model.U128(o.leaves))
	o.level, o.levelPrevious, o.levelNext = indexNone, indexNone, indexNone
	hint := levelIndex
	if l.orderCount == 0 {
		hint = l.better
		if hint == indexNone {
			hint = l.worse
		}
		e.levelRemove(x.side(o.side), levelIndex)
	}
	return hint
}

// orderClose removes an open order from every structure and frees its slot. Its hold
// must have been resolved (posted or voided) by the caller.
func (e *Engine) orderClose(slot uint32) {
	o := &e.orders[slot]
	if o.level != indexNone {
		e.orderUnrest(slot)
	}
	if o.tradingAccount != indexNone {
		e.accountUnlink(slot)
		_, position, found := e.findOrder(o.id)
		if !found {
			panic("match: open order missing from its index")
		}
		e.orderIndex.remove(position)
		e.openCount--
	}
	if o.heapIndex != indexNone {
		e.expiry.remove(e, o.heapIndex)
	}
	e.orderRelease(slot)
}
