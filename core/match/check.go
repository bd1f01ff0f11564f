package match

import (
	"fmt"

	"sequent/core/model"
)

// CheckInvariants verifies the engine's invariants against itself and against the
// ledger, and returns the first violation. It costs O(state) and allocates: it is for
// tests, Restore and a verifying replica, never for the hot path. It checks:
//
//   - every book: levels strictly ordered from best to worst, the ladder holding exactly
//     those in its span and the AVL tree the others, balanced; each level's queue
//     consistent (links, count, total quantity, prices, time priority); the book not
//     crossed;
//   - every open order: in the order index, in its trading account's list (in order-id
//     order), in the expiry heap exactly when it has a deadline, and holding exactly
//     holdRequired;
//   - funds: each order's hold is a reservation (holdReserved) or, for a legacy order, a
//     pending system transfer of that amount from the order's paying account to its
//     instrument's escrow; each paying account's reserved total in the ledger is the sum
//     of its open orders' reservations (and no other account reserves anything); each
//     escrow's pending credits equal the sum of its open holds (reservations and legacy
//     holds), with nothing pending on its debit side and posted debits equal to posted
//     credits (every amount paid in was paid out in the same chain).
func (e *Engine) CheckInvariants() error {
	open := uint32(0)
	for index := range e.instruments {
		x := &e.instruments[index]
		var holds [2]model.Uint128 // Bids (quote), asks (base).
		for sideIndex, side := range [2]*bookSide{&x.bids, &x.asks} {
			count, total, err := e.checkSide(uint32(index), side)
			if err != nil {
				return fmt.Errorf("instrument %d %s: %w", x.record.ID, sideName(side.side), err)
			}
			open += count
			holds[sideIndex] = total
		}
		if x.bids.best != indexNone && x.asks.best != indexNone &&
			e.levels[x.bids.best].price >= e.levels[x.asks.best].price {
			return fmt.Errorf("instrument %d: book crossed", x.record.ID)
		}
		if err := e.checkEscrow(x.escrowQuote, holds[0]); err != nil {
			return fmt.Errorf("instrument %d quote escrow: %w", x.record.ID, err)
		}
		if err := e.checkEscrow(x.escrowBase, holds[1]); err != nil {
			return fmt.Errorf("instrument %d base escrow: %w", x.record.ID, err)
		}
	}
	if open != e.openCount || open != e.orderIndex.count {
		return fmt.Errorf("open orders: %d in books, count %d, index %d", open, e.openCount,
			e.orderIndex.count)
	}
	if err := e.checkAccounts(); err != nil {
		return err
	}
	if err := e.checkClientEntries(); err != nil {
		return err
	}
	if err := e.checkReservations(); err != nil {
		return err
	}
	if err := e.checkIncreasing(); err != nil {
		return err
	}
	return e.checkExpiry()
}

// checkIncreasing checks the trading accounts with increasing client order ids: each is
// indexed once, holds 1 to ClientOrderIDsPerAccount entries with strictly increasing
// keys, and its mark is its newest key; each client's count (increasingByClient) is how
// many of them are its.
func (e *Engine) checkIncreasing() error {
	if e.increasingIndex.count != uint32(len(e.increasing)) ||
		len(e.increasing) > IncreasingAccountsMax {
		return fmt.Errorf("increasing accounts: %d, index %d", len(e.increasing),
			e.increasingIndex.count)
	}
	for index := range e.increasing {
		a := &e.increasing[index]
		if found, ok := e.findIncreasing(a.client, a.account); !ok || found != uint32(index) {
			return fmt.Errorf("increasing account %d/%d missing from its index", a.client,
				a.account)
		}
		if a.count == 0 || a.count > e.config.ClientOrderIDsPerAccount ||
			a.newest >= e.config.ClientOrderIDsPerAccount {
			return fmt.Errorf("increasing account %d/%d: %d entries, newest at %d", a.client,
				a.account, a.count, a.newest)
		}
		previous := uint64(0)
		for i := range a.count {
			key := e.increasingAt(a, i).clientOrderID
			if key <= previous {
				return fmt.Errorf("increasing account %d/%d: key %d after %d", a.client,
					a.account, key, previous)
			}
			previous = key
		}
		if previous != a.mark {
			return fmt.Errorf("increasing account %d/%d: mark %d, newest key %d", a.client,
				a.account, a.mark, previous)
		}
	}
	counted := map[uint64]uint32{}
	for index := range e.increasing {
		counted[e.increasing[index].client]++
	}
	if len(counted) != len(e.increasingByClient) {
		return fmt.Errorf("increasing accounts of %d clients, counted for %d", len(counted),
			len(e.increasingByClient))
	}
	for client, count := range counted { // Any order: every entry is compared.
		if e.increasingByClient[client] != count {
			return fmt.Errorf("increasing accounts of client %d: %d, counted %d", client,
				count, e.increasingByClient[client])
		}
	}
	return nil
}

// checkReservations compares, per paying account, the sum of its open orders'
// reservations with the ledger's reserved total: the engine is the only one that
// reserves, so they must agree exactly, and no other account may reserve anything.
func (e *Engine) checkReservations() error {
	if e.settlementDisabled {
		return nil
	}
	want := map[model.Uint128]model.Uint128{}
	var err error
	e.eachReservation(func(account model.Uint128, o *order) {
		sum, overflow := want[account].Add(o.holdAmount)
		if overflow && err == nil {
			err = fmt.Errorf("account %s: reservations overflow", account)
		}
		want[account] = sum
	})
	if err != nil {
		return err
	}
	for id, reserved := range e.ledger.Reservations() { // Accounts in creation order.
		if want[id] != reserved {
			return fmt.Errorf("account %s: ledger reserves %s, its open orders %s", id,
				reserved, want[id])
		}
	}
	e.eachReservation(func(account model.Uint128, o *order) {
		if reserved := e.ledger.Reserved(account); reserved != want[account] && err == nil {
			err = fmt.Errorf("account %s: ledger reserves %s, its open orders %s", account,
				reserved, want[account])
		}
	})
	return err
}

// eachReservation calls visit for every open order held by a reservation, in book
// order, with its paying account.
func (e *Engine) eachReservation(visit func(account model.Uint128, o *order)) {
	for index := range e.instruments {
		x := &e.instruments[index]
		for _, side := range [2]*bookSide{&x.bids, &x.asks} {
			for l := side.best; l != indexNone; l = e.levels[l].worse {
				for slot := e.levels[l].head; slot != indexNone; slot = e.orders[slot].levelNext {
					o := &e.orders[slot]
					if o.holdSequence != holdReserved {
						continue
					}
					if o.side == model.SideBuy {
						visit(o.quoteAccountID, o)
					} else {
						visit(o.baseAccountID, o)
					}
				}
			}
		}
	}
}

func sideName(side model.Side) string {
	if side == model.SideBuy {
		return "bids"
	}
	return "asks"
}

// checkSide checks one side of a book and returns its order count and sum of holds.
func (e *Engine) checkSide(instrumentIndex uint32, side *bookSide) (uint32, model.Uint128, error) {
	var total model.Uint128
	orders, levels := uint32(0), uint32(0)
	previous := indexNone
	for levelIndex := side.best; levelIndex != indexNone; levelIndex = e.levels[levelIndex].worse {
		l := &e.levels[levelIndex]
		if l.better != previous {
			return 0, total, fmt.Errorf("level %d: broken list", l.price)
		}
		if previous != indexNone && (e.levels[previous].price == l.price ||
			(e.levels[previous].price < l.price) != (side.side == model.SideSell)) {
			return 0, total, fmt.Errorf("level %d: out of order", l.price)
		}
		if e.levelFind(side, l.price) != levelIndex {
			return 0, total, fmt.Errorf("level %d: not in the ladder or the tree", l.price)
		}
		count, sum, err := e.checkLevel(instrumentIndex, side, levelIndex)
		if err != nil {
			return 0, total, fmt.Errorf("level %d: %w", l.price, err)
		}
		orders += count
		var overflow bool
		if total, overflow = total.Add(sum); overflow {
			return 0, total, fmt.Errorf("level %d: holds overflow", l.price)
		}
		levels++
		previous = levelIndex
	}
	treeCount, _, err := e.checkTree(side.root)
	if err != nil {
		return 0, total, err
	}
	ladderCount, err := e.checkLadder(side)
	if err != nil {
		return 0, total, err
	}
	// Every listed level was found where its price says it is (ladder or tree), so equal
	// counts leave no room for a level indexed twice or not listed.
	if levels != side.count || treeCount+ladderCount != levels {
		return 0, total, fmt.Errorf("%d levels listed, %d counted, %d in the ladder and %d "+
			"in the tree", levels, side.count, ladderCount, treeCount)
	}
	return orders, total, nil
}

// checkTree checks the AVL tree's order and balance and returns its node count and height.
func (e *Engine) checkTree(node uint32) (uint32, int32, error) {
	if node == indexNone {
		return 0, 0, nil
	}
	n := &e.levels[node]
	leftCount, leftHeight, err := e.checkTree(n.left)
	if err != nil {
		return 0, 0, err
	}
	rightCount, rightHeight, err := e.checkTree(n.right)
	if err != nil {
		return 0, 0, err
	}
	switch {
	case n.left != indexNone && e.levels[n.left].price >= n.price,
		n.right != indexNone && e.levels[n.right].price <= n.price:
		return 0, 0, fmt.Errorf("tree out of order at %d", n.price)
	case n.height != 1+max(leftHeight, rightHeight) || leftHeight-rightHeight > 1 ||
		rightHeight-leftHeight > 1:
		return 0, 0, fmt.Errorf("tree unbalanced at %d", n.price)
	}
	return leftCount + rightCount + 1, n.height, nil
}

// checkLevel checks one level's queue and its orders, and returns their count and the sum
// of their holds.
func (e *Engine) checkLevel(instrumentIndex uint32, side *bookSide, levelIndex uint32) (
	uint32, model.Uint128, error) {
	l := &e.levels[levelIndex]
	var total model.Uint128
	count, quantity := uint32(0), model.Uint128{}
	previous, timestamp := indexNone, uint64(0)
	for slot := l.head; slot != indexNone; slot = e.orders[slot].levelNext {
		o := &e.orders[slot]
		if err := e.checkOrder(instrumentIndex, side, levelIndex, slot); err != nil {
			return 0, total, fmt.Errorf("order %d: %w", o.id, err)
		}
		if o.levelPrevious != previous || o.timestamp <= timestamp {
			return 0, total, fmt.Errorf("order %d: queue out of order", o.id)
		}
		count++
		quantity = quantity.MustAdd(model.U128(o.leaves)) // < 2^31 orders of < 2^64.
		var overflow bool
		if total, overflow = total.Add(o.holdAmount); overflow {
			return 0, total, fmt.Errorf("order %d: holds overflow", o.id)
		}
		previous, timestamp = slot, o.timestamp
	}
	if previous != l.tail || count != l.orderCount || quantity != l.quantity || count == 0 {
		return 0, total, fmt.Errorf("queue of %d orders, %d units; level says %d, %d", count,
			quantity, l.orderCount, l.quantity)
	}
	return count, total, nil
}

// checkOrder checks one resting order's fields, indexes and hold.
func (e *Engine) checkOrder(instrumentIndex uint32, side *bookSide, levelIndex uint32,
	slot uint32) error {
	o := &e.orders[slot]
	x := &e.instruments[instrumentIndex]
	switch {
	case o.level != levelIndex || o.instrument != instrumentIndex || o.side != side.side:
		return fmt.Errorf("wrong level, instrument or side")
	case o.price != e.levels[levelIndex].price || o.leaves == 0 ||
		o.leaves%x.record.LotSize != 0 || o.filled%x.record.LotSize != 0:
		return fmt.Errorf("price %d or quantity %d/%d invalid", o.price, o.leaves, o.filled)
	case !takerRests(o):
		return fmt.Errorf("a %d/%d order rests", o.orderType, o.timeInForce)
	case o.tradingAccount == indexNone:
		return fmt.Errorf("not in a trading account")
	case (o.heapIndex != indexNone) != (o.expireTimestamp != 0):
		return fmt.Errorf("expiry heap membership wrong")
	}
	if found, _, ok := e.findOrder(o.id); !ok || found != slot {
		return fmt.Errorf("missing from the order index")
	}
	if e.settlementDisabled {
		return nil // Nothing is held (benchmarks of the book alone).
	}
	if o.holdAmount != holdRequired(o, x.record.LotSize) {
		return fmt.Errorf("hold %s, needs %s", o.holdAmount, holdRequired(o, x.record.LotSize))
	}
	return e.checkHold(o)
}

// checkHold checks that a legacy order's hold is the pending transfer it should be (a
// reservation is checked per account: checkReservations).
func (e *Engine) checkHold(o *order) error {
	if o.holdSequence == holdReserved {
		return nil
	}
	if o.holdSequence == 0 || o.holdSequence >= e.nextTransferSequence {
		return fmt.Errorf("hold sequence %d invalid", o.holdSequence)
	}
	found := e.ledger.LookupTransfers([]model.Uint128{transferID(o.holdSequence)}, nil)
	if len(found) != 1 {
		return fmt.Errorf("hold %d missing from the ledger", o.holdSequence)
	}
	want := e.holdTransfer(o, o.holdAmount)
	t := &found[0]
	if t.Flags&model.TransferPending == 0 || t.Amount != want.Amount ||
		t.DebitAccountID != want.DebitAccountID || t.CreditAccountID != want.CreditAccountID {
		return fmt.Errorf("hold %d is not the order's hold", o.holdSequence)
	}
	return nil
}

// checkEscrow checks an escrow account against the sum of the holds it should carry.
func (e *Engine) checkEscrow(id model.Uint128, holds model.Uint128) error {
	if e.settlementDisabled {
		return nil
	}
	found := e.ledger.LookupAccounts([]model.Uint128{id}, nil)
	if len(found) != 1 {
		return fmt.Errorf("escrow account %s missing", id)
	}
	a := &found[0]
	switch {
	case a.CreditsPending != holds:
		return fmt.Errorf("pending credits %s, open holds %s", a.CreditsPending, holds)
	case !a.DebitsPending.IsZero():
		return fmt.Errorf("pending debits %s", a.DebitsPending)
	case a.DebitsPosted != a.CreditsPosted:
		return fmt.Errorf("posted debits %s, posted credits %s", a.DebitsPosted, a.CreditsPosted)
	}
	return nil
}

// checkAccounts checks the trading accounts' lists against the open orders.
func (e *Engine) checkAccounts() error {
	listed := uint32(0)
	for index := range e.accounts {
		a := &e.accounts[index]
		if a.count == 0 {
			continue
		}
		if found, _, ok := e.findTradingAccount(a.client, a.account); !ok ||
			found != uint32(index) {
			return fmt.Errorf("trading account %d/%d missing from its index", a.client, a.account)
		}
		count, previous, lastID := uint32(0), indexNone, uint64(0)
		for slot := a.head; slot != indexNone; slot = e.orders[slot].accountNext {
			o := &e.orders[slot]
			if o.tradingAccount != uint32(index) || o.accountPrevious != previous ||
				o.id <= lastID || o.client != a.client || o.account != a.account {
				return fmt.Errorf("trading account %d/%d: list broken at order %d",
					a.client, a.account, o.id)
			}
			count, previous, lastID = count+1, slot, o.id
		}
		if count != a.count || previous != a.tail {
			return fmt.Errorf("trading account %d/%d: %d orders listed, %d counted",
				a.client, a.account, count, a.count)
		}
		listed += count
	}
	if listed != e.openCount || e.accountIdx.count > e.openCount {
		return fmt.Errorf("%d orders in trading accounts, %d open", listed, e.openCount)
	}
	return nil
}

// checkExpiry checks the expiry heap's order and back-links.
func (e *Engine) checkExpiry() error {
	h := &e.expiry
	for i := range h.items {
		item := &h.items[i]
		o := &e.orders[item.slot]
		if o.heapIndex != uint32(i) || o.id != item.orderID || o.expireTimestamp != item.deadline {
			return fmt.Errorf("expiry heap item %d does not match its order", i)
		}
		if i > 0 && h.less(i, (i-1)/2) {
			return fmt.Errorf("expiry heap out of order at %d", i)
		}
	}
	return nil
}

// checkClientEntries compares each client's count of open orders (share.go) with a count
// made afresh over the open orders, and checks that every trading account with open
// orders points to its client's entry and that every entry is indexed once; before the
// entries are kept, that there is none and that the open orders are short of a share.
func (e *Engine) checkClientEntries() error {
	if !e.clientsCounted {
		return e.checkClientsUncounted()
	}
	counted := map[uint64]uint32{}
	for slot := range e.orders {
		// A free slot is zeroed (id 0); the incoming order is not linked yet.
		if o := &e.orders[slot]; o.id != 0 && o.tradingAccount != indexNone {
			counted[o.client]++
		}
	}
	if e.clientEntryIndex.count != uint32(len(counted)) ||
		len(e.clientEntries)-len(e.clientEntryFree) != len(counted) {
		return fmt.Errorf("open orders of %d clients, %d client entries (%d indexed)",
			len(counted), len(e.clientEntries)-len(e.clientEntryFree),
			e.clientEntryIndex.count)
	}
	for client, count := range counted { // Any order: every client is compared.
		index, _, found := e.findClientEntry(client)
		if !found || e.clientEntries[index].count != count {
			return fmt.Errorf("client %d: %d open orders, its entry counts %d", client, count,
				e.OpenOrderCountOf(client))
		}
	}
	for index := range e.accounts {
		a := &e.accounts[index]
		if a.count == 0 {
			continue
		}
		if entry, _, _ := e.findClientEntry(a.client); entry != a.clientEntry {
			return fmt.Errorf("trading account %d/%d: client entry %d, the client's is %d",
				a.client, a.account, a.clientEntry, entry)
		}
	}
	return nil
}

// checkClientsUncounted checks an engine that keeps no client entries yet.
func (e *Engine) checkClientsUncounted() error {
	if e.openCount >= e.config.OrdersPerClientMax || len(e.clientEntries) != 0 ||
		e.clientEntryIndex.count != 0 {
		return fmt.Errorf("%d open orders (share %d), %d client entries, yet not counted",
			e.openCount, e.config.OrdersPerClientMax, len(e.clientEntries))
	}
	for index := range e.accounts {
		if a := &e.accounts[index]; a.count != 0 && a.clientEntry != indexNone {
			return fmt.Errorf("trading account %d/%d: client entry %d, yet not counted",
				a.client, a.account, a.clientEntry)
		}
	}
	return nil
}
