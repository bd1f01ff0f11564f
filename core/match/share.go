package match

// Each client's share of the open orders (rules version 7; limits.go,
// OrdersPerClientDivisor). A client with open orders has an entry counting them; each of
// its trading accounts with open orders points to it, so that resting and closing an
// order of an account that keeps others costs an increment or a decrement, and only an
// account's first order and its last close look the client up. Entries derive from the
// open orders alone (as trading accounts do): a restore rebuilds them, the snapshot does
// not carry them.
//
// No client can keep its share while the open orders over every client are fewer, so the
// entries are kept only from the first time the open orders come within one order of a
// share (clientsCountStart, in accountLink: one walk over the trading accounts, at most a
// share of them), and from then on for the engine's life. Until then resting and closing
// orders pay a test of clientsCounted (a trading account's first order and last close no
// client look-up), which is where a shard spends its life unless clients approach their
// shares. Whether they are kept is never observable: the counts are exact whenever a
// place may ask them.

// clientEntry counts the open orders of one client.
type clientEntry struct {
	client uint64
	count  uint32 // Open orders, 1 or more while the entry exists.
}

// SetOrdersShareChecked says whether a client may keep at most Config.OrdersPerClientMax
// open orders (true, the default of New and Restore: beyond, its place of an order that
// could rest is refused with orders_limit_reached, as with the table full; the system
// and operators are not bound) or up to the table's bound, as before the share (false:
// the owner applies a log written then, which must replay as it was applied). It is the
// owner's state, not the engine's.
func (e *Engine) SetOrdersShareChecked(checked bool) { e.ordersShareUnchecked = !checked }

// OpenOrderCountOf returns how many open orders client keeps, for tests and tools (before
// the entries are kept, by a walk over the trading accounts).
func (e *Engine) OpenOrderCountOf(client uint64) uint32 {
	if !e.clientsCounted {
		count := uint32(0)
		for index := range e.accounts {
			if a := &e.accounts[index]; a.client == client {
				count += a.count // 0 for a free entry.
			}
		}
		return count
	}
	index, _, found := e.findClientEntry(client)
	if !found {
		return 0
	}
	return e.clientEntries[index].count
}

// ordersShareTaken reports whether client may rest no more orders because it keeps its
// share of the table (SetOrdersShareChecked). Asked only with a share's worth of open
// orders over every client (below, none can have it: placeOrder compares first): the
// client's look-up, then the grants' only for a client at its share.
func (e *Engine) ordersShareTaken(client uint64) bool {
	if !e.clientsCounted {
		panic("match: a share asked before the clients' open orders are counted")
	}
	return !e.ordersShareUnchecked &&
		e.OpenOrderCountOf(client) >= e.config.OrdersPerClientMax &&
		!e.ledger.IsOperator(client)
}

// clientsCountStart starts keeping the clients' entries: each trading account with open
// orders takes its client's entry and adds its count to it.
func (e *Engine) clientsCountStart() {
	e.clientsCounted = true
	// A client with open orders has a trading account with open orders: the pools and
	// the index start at the trading accounts' high-water mark (allocated once, here,
	// rather than in New for a shard that may never come near a share), and grow as
	// trading accounts do.
	capacity := uint32(cap(e.accounts))
	e.clientEntries = make([]clientEntry, 0, capacity)
	e.clientEntryFree = make([]uint32, 0, capacity)
	e.clientEntryIndex = newIndexTable(capacity)
	for index := range e.accounts {
		a := &e.accounts[index]
		if a.count == 0 {
			continue // A free entry.
		}
		a.clientEntry = e.clientEntryTake(a.client)
		e.clientEntries[a.clientEntry].count += a.count
	}
}

func (e *Engine) clientTag(client uint64) uint32 {
	return tagOf(hash64(client, e.seed^0x5851f42d4c957f2d))
}

// findClientEntry returns the entry of client, if it has open orders.
func (e *Engine) findClientEntry(client uint64) (uint32, uint64, bool) {
	position, index, found := e.clientEntryIndex.find(e.clientTag(client),
		func(index uint32) bool { return e.clientEntries[index].client == client })
	return index, position, found
}

// clientEntryTake returns the entry of client for a trading account that gains its
// first open order, creating it (with no order counted yet) when the client had none.
func (e *Engine) clientEntryTake(client uint64) uint32 {
	index, _, found := e.findClientEntry(client)
	if found {
		return index
	}
	if count := len(e.clientEntryFree); count > 0 {
		index = e.clientEntryFree[count-1]
		e.clientEntryFree = e.clientEntryFree[:count-1]
	} else {
		index = uint32(len(e.clientEntries))
		e.clientEntries = append(e.clientEntries, clientEntry{})
	}
	e.clientEntries[index] = clientEntry{client: client}
	e.clientEntryIndex.insert(e.clientTag(client), index)
	return index
}

// clientEntryRemove removes the entry at index, whose client closed its last open order
// (accountUnlink counts them).
func (e *Engine) clientEntryRemove(index uint32) {
	c := &e.clientEntries[index]
	if c.count != 0 {
		panic("match: removing the entry of a client with open orders")
	}
	_, position, found := e.findClientEntry(c.client)
	if !found {
		panic("match: client entry missing from its index")
	}
	e.clientEntryIndex.remove(position)
	e.clientEntryFree = append(e.clientEntryFree, index)
}
