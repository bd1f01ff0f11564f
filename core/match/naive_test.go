package match

import (
	"slices"
	"sort"

	"sequent/core/model"
)

// naive is a deliberately simple reference matcher for the property test: the resting
// orders are one slice, sorted into price-time priority whenever it is read; balances are
// a map; holds are recomputed from the open orders. It implements the documented rules
// directly, with none of the engine's structures (no plans, no chains, no pools).
type naive struct {
	instrument  model.Instrument
	open        []*naiveOrder
	nextOrderID uint64
	nextTradeID uint64
	priority    uint64
	posted      map[[2]uint64]uint64 // (trader, ledger) → posted balance.
	fees        [3]uint64            // By ledger.
	window      map[[3]uint64]naiveEntry
	// sequence counts the commands remembered (window or ring); a window key is
	// forgotten once windowMax commands of anyone were remembered after it (the window
	// ages by every remembered command).
	sequence  uint64
	windowMax uint64
	// increasing holds, per opted-in (client, account), every key remembered since it
	// opted in, in order; the last perAccount of them are its ring.
	increasing map[[2]uint64][]uint64
	perAccount int
	// perClientMax is each client's share of the open orders: a place that could rest
	// beyond it is refused orders_limit_reached.
	perClientMax int
	trades       []trade     // Of the current command.
	canceled     [][2]uint64 // Of the current command: (order id, reason).
	// closed holds the traders that closed a ledger account: the ledger refuses every
	// settlement of their resting orders, which are canceled canceled_account where an
	// incoming order would trade with them (they send no command that needs a hold).
	closed map[uint64]bool
}

type naiveOrder struct {
	id, client, account, clientOrderID, trader uint64
	side                                       model.Side
	orderType                                  model.OrderType
	timeInForce                                model.TimeInForce
	selfTrade                                  model.SelfTradeMode
	price, reserve, leaves, filled, budget     uint64
	expire, priority                           uint64
}

type naiveEntry struct {
	kind   commandKind
	result model.OrderResult
	order  *model.Order // A place's event, to tell a resend from other fields.
	at     uint64       // naive.sequence when it was remembered.
}

// live reports whether the window still remembers entry.
func (n *naive) live(entry naiveEntry) bool { return n.sequence-entry.at < n.windowMax }

func newNaive(x model.Instrument) *naive {
	return &naive{instrument: x, nextOrderID: 1, nextTradeID: 1,
		posted: map[[2]uint64]uint64{}, window: map[[3]uint64]naiveEntry{}, closed: map[uint64]bool{},
		increasing: map[[2]uint64][]uint64{}, perAccount: ClientOrderIDsPerAccountMax,
		windowMax: ClientOrderIDsMaxDefault, perClientMax: OrdersMaxDefault / OrdersPerClientDivisor}
}

// openOf counts the open orders of client.
func (n *naive) openOf(client uint64) int {
	count := 0
	for _, o := range n.open {
		if o.client == client {
			count++
		}
	}
	return count
}

func (n *naive) begin() {
	n.trades, n.canceled = nil, nil
}

// sorted returns the side's resting orders in priority order.
func (n *naive) sorted(side model.Side) []*naiveOrder {
	var result []*naiveOrder
	for _, o := range n.open {
		if o.side == side {
			result = append(result, o)
		}
	}
	sort.Slice(result, func(i, j int) bool {
		a, b := result[i], result[j]
		if a.price != b.price {
			return (a.price > b.price) == (side == model.SideBuy)
		}
		return a.priority < b.priority
	})
	return result
}

func (n *naive) hold(o *naiveOrder) uint64 {
	switch {
	case o.side == model.SideSell:
		return o.leaves
	case o.orderType == model.OrderMarket:
		return o.budget
	}
	return o.reserve * (o.leaves / n.instrument.LotSize)
}

// available returns what a trader may still hold on a ledger.
func (n *naive) available(trader uint64, ledger uint64) uint64 {
	held := uint64(0)
	for _, o := range n.open {
		if o.trader == trader && paysLedger(o.side) == ledger {
			held += n.hold(o)
		}
	}
	return n.posted[[2]uint64{trader, ledger}] - held
}

func paysLedger(side model.Side) uint64 {
	if side == model.SideBuy {
		return testQuoteLedger
	}
	return testBaseLedger
}

func (n *naive) remove(o *naiveOrder) {
	for i, candidate := range n.open {
		if candidate == o {
			n.open = append(n.open[:i], n.open[i+1:]...)
			return
		}
	}
	panic("naive: removing an order that is not open")
}

func (n *naive) cancel(o *naiveOrder, reason model.Status) {
	n.remove(o)
	n.canceled = append(n.canceled, [2]uint64{o.id, uint64(reason)})
}

func (n *naive) rest(o *naiveOrder) {
	n.priority++
	o.priority = n.priority
	n.open = append(n.open, o)
}

func crossesNaive(taker *naiveOrder, price uint64) bool {
	if taker.side == model.SideBuy {
		return price <= taker.price
	}
	return price >= taker.price
}

func opposite(side model.Side) model.Side {
	if side == model.SideBuy {
		return model.SideSell
	}
	return model.SideBuy
}

// quantityAgainst returns what the taker can take from a maker at price, and whether a
// market buy's budget limited it.
func (n *naive) quantityAgainst(t *naiveOrder, leaves, makerLeaves, budget, price uint64) (
	uint64, bool) {
	quantity := min(leaves, makerLeaves)
	if t.orderType == model.OrderMarket && t.side == model.SideBuy {
		lots := budget / price
		if lots < quantity/n.instrument.LotSize {
			return lots * n.instrument.LotSize, true
		}
	}
	return quantity, false
}

// feasible reports whether a fill-or-kill would fill completely.
func (n *naive) feasible(t *naiveOrder, now uint64) bool {
	leaves, budget := t.leaves, t.budget
	for _, m := range n.sorted(opposite(t.side)) {
		if !crossesNaive(t, m.price) {
			break
		}
		if m.expire != 0 && m.expire <= now {
			continue
		}
		if m.client == t.client && m.account == t.account {
			if t.selfTrade == model.SelfTradeCancelOldest {
				continue
			}
			return false
		}
		quantity, spent := n.quantityAgainst(t, leaves, m.leaves, budget, m.price)
		if n.closed[m.trader] && quantity > 0 {
			continue // Refused, then canceled if the order fills.
		}
		leaves -= quantity
		budget -= m.price * (quantity / n.instrument.LotSize)
		if leaves == 0 || spent {
			break
		}
	}
	return leaves == 0
}

// match runs a taker against the book and rests or ends it.
func (n *naive) match(t *naiveOrder, now uint64) {
	if t.timeInForce == model.FillOrKill && !n.feasible(t, now) {
		n.canceled = append(n.canceled, [2]uint64{t.id, uint64(model.StatusCanceledFillOrKill)})
		return
	}
	for t.leaves > 0 {
		book := n.sorted(opposite(t.side))
		if len(book) == 0 || !crossesNaive(t, book[0].price) {
			break
		}
		m := book[0]
		if m.expire != 0 && m.expire <= now {
			n.cancel(m, model.StatusExpired)
			continue
		}
		if m.client == t.client && m.account == t.account {
			if t.selfTrade != model.SelfTradeCancelNewest {
				n.cancel(m, model.StatusCanceledSelfTrade)
			}
			if t.selfTrade == model.SelfTradeCancelOldest {
				continue
			}
			n.canceled = append(n.canceled, [2]uint64{t.id, uint64(model.StatusCanceledSelfTrade)})
			return
		}
		quantity, spent := n.quantityAgainst(t, t.leaves, m.leaves, t.budget, m.price)
		if n.closed[m.trader] && quantity > 0 {
			n.cancel(m, model.StatusCanceledAccount) // The ledger refused its settlement.
			continue
		}
		if quantity > 0 {
			n.fill(m, t, quantity)
		}
		if spent {
			break
		}
	}
	n.finish(t)
}

func (n *naive) finish(t *naiveOrder) {
	switch {
	case t.leaves == 0:
	case t.orderType == model.OrderLimit && (t.timeInForce == model.GoodTillCancel ||
		t.timeInForce == model.PostOnly):
		n.rest(t)
	case t.orderType == model.OrderMarket && t.side == model.SideBuy && t.budget/t.price == 0:
		n.canceled = append(n.canceled, [2]uint64{t.id, uint64(model.StatusCanceledBudget)})
	default:
		n.canceled = append(n.canceled, [2]uint64{t.id, uint64(model.StatusCanceledUnfilled)})
	}
}

// fill moves the money of one fill at the maker's price.
func (n *naive) fill(m, t *naiveOrder, quantity uint64) {
	x := &n.instrument
	notional := m.price * (quantity / x.LotSize)
	buyer, seller := m, t
	buyerFee, sellerFee := uint64(x.MakerFeeBasisPoints), uint64(x.TakerFeeBasisPoints)
	if t.side == model.SideBuy {
		buyer, seller = t, m
		buyerFee, sellerFee = sellerFee, buyerFee
	}
	baseFee := quantity * buyerFee / basisPointsPerUnit
	quoteFee := notional * sellerFee / basisPointsPerUnit
	n.posted[[2]uint64{buyer.trader, testBaseLedger}] += quantity - baseFee
	n.posted[[2]uint64{buyer.trader, testQuoteLedger}] -= notional
	n.posted[[2]uint64{seller.trader, testBaseLedger}] -= quantity
	n.posted[[2]uint64{seller.trader, testQuoteLedger}] += notional - quoteFee
	n.fees[testBaseLedger] += baseFee
	n.fees[testQuoteLedger] += quoteFee
	m.leaves, m.filled = m.leaves-quantity, m.filled+quantity
	t.leaves, t.filled = t.leaves-quantity, t.filled+quantity
	if t.orderType == model.OrderMarket && t.side == model.SideBuy {
		t.budget -= notional
	}
	n.trades = append(n.trades, trade{m.id, t.id, m.price, quantity})
	n.nextTradeID++
	if m.leaves == 0 {
		n.remove(m)
	}
}

// remember records a command's result under its key.
func (n *naive) remember(client, account, key uint64, kind commandKind,
	result model.OrderResult) model.OrderResult {
	n.sequence++
	n.window[[3]uint64{client, account, key}] = naiveEntry{kind: kind, result: result,
		at: n.sequence}
	if keys, opted := n.increasing[[2]uint64{client, account}]; opted {
		n.increasing[[2]uint64{client, account}] = append(keys, key)
	}
	return result
}

// recent reports whether key is among the last perAccount keys of an opted-in account.
func (n *naive) recent(keys []uint64, key uint64) bool {
	return slices.Contains(keys[max(0, len(keys)-n.perAccount):], key)
}

// beforeOptIn reports whether key was used by an opted-in account before it opted in
// and the window still remembers it: such keys stay answered from the window as before.
func (n *naive) beforeOptIn(client, account, key uint64) bool {
	entry, used := n.window[[3]uint64{client, account, key}]
	return used && n.live(entry) &&
		!slices.Contains(n.increasing[[2]uint64{client, account}], key)
}

// lookup answers a command's key as the engine's lookupKey does, written from the rule
// rather than the ring: a key an opted-in account used before its opt-in is answered by
// the window; its other keys above all it used are new, one of its last perAccount keys
// is a resend, any other is refused (and not remembered); other accounts' keys are
// looked up in the window, which forgets a key once windowMax commands were remembered
// after it.
func (n *naive) lookup(client, account, key uint64, kind commandKind,
	order *model.Order) (model.OrderResult, bool) {
	keys, opted := n.increasing[[2]uint64{client, account}]
	entry, found := n.window[[3]uint64{client, account, key}]
	if opted && !n.beforeOptIn(client, account, key) {
		if key > keys[len(keys)-1] {
			return model.OrderResult{}, false
		}
		if !n.recent(keys, key) {
			return model.OrderResult{Status: model.StatusClientOrderIDNotIncreasing}, true
		}
	} else if found && !n.live(entry) {
		found = false
	}
	switch {
	case !found:
		return model.OrderResult{}, false
	case entry.kind != kind:
		return model.OrderResult{Status: model.StatusClientOrderIDReused}, true
	case order != nil && entry.order != nil && *order != *entry.order:
		return model.OrderResult{Status: model.StatusClientOrderIDExistsWithDifferentFields},
			true
	}
	return entry.result, true
}

// place applies a place event; the generator only makes the refusals modelled here.
func (n *naive) place(client uint64, trader uint64, e *model.Order, now uint64) model.OrderResult {
	if result, found := n.lookup(client, e.Account, e.ClientOrderID, commandPlace, e); found {
		return result
	}
	defer func() { // Every outcome is remembered with its event.
		at := [3]uint64{client, e.Account, e.ClientOrderID}
		entry := n.window[at]
		event := *e
		entry.order = &event
		n.window[at] = entry
		// An accepted place with the flag opts its account in: its key starts the ring.
		_, opted := n.increasing[[2]uint64{client, e.Account}]
		if !opted && entry.result.Status == model.StatusOK &&
			e.Flags&model.OrderFlagClientOrderIDsIncreasing != 0 {
			n.increasing[[2]uint64{client, e.Account}] = []uint64{e.ClientOrderID}
		}
	}()
	x := &n.instrument
	reject := func(status model.Status) model.OrderResult {
		return n.remember(client, e.Account, e.ClientOrderID, commandPlace,
			model.OrderResult{Status: status})
	}
	switch {
	case e.Price%x.TickSize != 0:
		return reject(model.StatusPriceNotOnTick)
	case e.ExpireTimestamp != 0 && e.ExpireTimestamp <= now:
		return reject(model.StatusExpireTimestampInvalid)
	}
	o := &naiveOrder{client: client, account: e.Account, clientOrderID: e.ClientOrderID,
		trader: trader, side: e.Side, orderType: e.Type, timeInForce: e.TimeInForce,
		selfTrade: e.SelfTrade, price: e.Price, reserve: e.ReservePrice, leaves: e.Quantity,
		budget: e.Budget.Lo, expire: e.ExpireTimestamp}
	if o.selfTrade == model.SelfTradeDefault {
		o.selfTrade = model.SelfTradeCancelNewest
	}
	if o.side == model.SideBuy && o.orderType == model.OrderLimit && o.reserve == 0 {
		o.reserve = o.price
	}
	if e.Type == model.OrderLimit && (e.TimeInForce == model.GoodTillCancel ||
		e.TimeInForce == model.PostOnly) && n.openOf(client) >= n.perClientMax {
		return reject(model.StatusOrdersLimitReached)
	}
	if e.TimeInForce == model.PostOnly {
		if book := n.sorted(opposite(e.Side)); len(book) > 0 && crossesNaive(o, book[0].price) {
			return reject(model.StatusPostOnlyWouldCross)
		}
	}
	if n.hold(o) > n.available(trader, paysLedger(o.side)) {
		return reject(model.StatusInsufficientFunds)
	}
	o.id = n.nextOrderID
	n.nextOrderID++
	result := n.remember(client, e.Account, e.ClientOrderID, commandPlace,
		model.OrderResult{OrderID: o.id, Status: model.StatusOK})
	n.match(o, now)
	return result
}

// find returns the open order named like the engine's findOwnedOrder does.
func (n *naive) find(client, account, orderID, original uint64, now uint64) *naiveOrder {
	byOriginal := orderID == 0
	if byOriginal {
		entry, found := n.window[[3]uint64{client, account, original}]
		if keys, opted := n.increasing[[2]uint64{client, account}]; opted {
			if !n.recent(keys, original) && !n.beforeOptIn(client, account, original) {
				found = false // Its ring, and the window for keys from before its opt-in.
			}
		} else if found && !n.live(entry) {
			found = false // Forgotten by the window.
		}
		if !found || entry.result.Status != model.StatusOK ||
			(entry.kind != commandPlace && entry.kind != commandReplace) {
			return nil
		}
		orderID = entry.result.OrderID
	}
	for _, o := range n.open {
		if o.id == orderID && o.client == client && o.account == account &&
			(!byOriginal || o.clientOrderID == original) {
			return o
		}
	}
	return nil
}

func (n *naive) cancelCommand(client uint64, c *model.OrderCancel, now uint64) model.OrderResult {
	if result, found := n.lookup(client, c.Account, c.ClientOrderID, commandCancel,
		nil); found {
		if result.Status == model.StatusClientOrderIDNotIncreasing {
			result.OrderID = c.OrderID
		}
		return result
	}
	o := n.find(client, c.Account, c.OrderID, c.OriginalClientOrderID, now)
	if o == nil {
		return n.remember(client, c.Account, c.ClientOrderID, commandCancel,
			model.OrderResult{OrderID: c.OrderID, Status: model.StatusOrderNotFound})
	}
	n.cancel(o, model.StatusCanceledByClient)
	return n.remember(client, c.Account, c.ClientOrderID, commandCancel,
		model.OrderResult{OrderID: o.id, Status: model.StatusOK})
}

func (n *naive) replace(client uint64, r *model.OrderReplace, now uint64) model.OrderResult {
	if result, found := n.lookup(client, r.Account, r.ClientOrderID, commandReplace,
		nil); found {
		if result.Status == model.StatusClientOrderIDNotIncreasing {
			result.OrderID = r.OrderID
		}
		return result
	}
	reject := func(orderID uint64, status model.Status) model.OrderResult {
		return n.remember(client, r.Account, r.ClientOrderID, commandReplace,
			model.OrderResult{OrderID: orderID, Status: status})
	}
	o := n.find(client, r.Account, r.OrderID, r.OriginalClientOrderID, now)
	if o == nil || (o.expire != 0 && o.expire <= now) {
		return reject(r.OrderID, model.StatusOrderNotFound)
	}
	x := &n.instrument
	switch {
	case r.Price%x.TickSize != 0:
		return reject(o.id, model.StatusPriceNotOnTick)
	case r.Quantity < x.QuantityMin:
		return reject(o.id, model.StatusQuantityBelowMinimum)
	case r.Quantity > x.QuantityMax:
		return reject(o.id, model.StatusQuantityAboveMaximum)
	case r.Quantity <= o.filled:
		return reject(o.id, model.StatusReplaceQuantityInvalid)
	}
	probe := *o
	probe.price = r.Price
	if o.timeInForce == model.PostOnly {
		if book := n.sorted(opposite(o.side)); len(book) > 0 && crossesNaive(&probe, book[0].price) {
			return reject(o.id, model.StatusPostOnlyWouldCross)
		}
	}
	after := *o
	after.leaves = r.Quantity - o.filled
	if o.side == model.SideBuy {
		after.reserve = r.Price
		if r.ReservePrice != 0 {
			after.reserve = r.ReservePrice
		}
	}
	available := n.available(o.trader, paysLedger(o.side)) + n.hold(o)
	if n.hold(&after) != n.hold(o) && n.hold(&after) > available {
		return reject(o.id, model.StatusInsufficientFunds)
	}
	result := n.remember(client, r.Account, r.ClientOrderID, commandReplace,
		model.OrderResult{OrderID: o.id, Status: model.StatusOK})
	keep := r.Price == o.price && after.leaves <= o.leaves
	o.leaves, o.reserve, o.clientOrderID = after.leaves, after.reserve, r.ClientOrderID
	if !keep {
		n.remove(o)
		o.price = r.Price
		n.match(o, now)
	}
	return result
}

func (n *naive) massCancel(client uint64, m *model.MassCancel) model.MassCancelResult {
	if result, found := n.lookup(client, m.Account, m.ClientOrderID, commandMassCancel,
		nil); found {
		return model.MassCancelResult{Status: result.Status, CanceledCount: uint32(result.OrderID)}
	}
	var ending []*naiveOrder
	for _, o := range n.open {
		if o.client == client && o.account == m.Account && (m.Side == 0 || o.side == m.Side) {
			ending = append(ending, o)
		}
	}
	sort.Slice(ending, func(i, j int) bool { return ending[i].id < ending[j].id })
	for _, o := range ending {
		n.cancel(o, model.StatusCanceledMass)
	}
	n.remember(client, m.Account, m.ClientOrderID, commandMassCancel,
		model.OrderResult{OrderID: uint64(len(ending)), Status: model.StatusOK})
	return model.MassCancelResult{Status: model.StatusOK, CanceledCount: uint32(len(ending))}
}

func (n *naive) expire(timestamp uint64) int {
	var ending []*naiveOrder
	for _, o := range n.open {
		if o.expire != 0 && o.expire <= timestamp {
			ending = append(ending, o)
		}
	}
	sort.Slice(ending, func(i, j int) bool {
		if ending[i].expire != ending[j].expire {
			return ending[i].expire < ending[j].expire
		}
		return ending[i].id < ending[j].id
	})
	for _, o := range ending {
		n.cancel(o, model.StatusExpired)
	}
	return len(ending)
}

// book returns one side as (id, price, leaves) triples in priority order.
func (n *naive) book(side model.Side) [][3]uint64 {
	var result [][3]uint64
	for _, o := range n.sorted(side) {
		result = append(result, [3]uint64{o.id, o.price, o.leaves})
	}
	return result
}
