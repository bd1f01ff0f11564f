package bench

import (
	"encoding/binary"

	"sequent/core/model"
)

// command is an order command of exchange-core's mix.
type command uint8

const (
	commandGTC    command = iota // Place a good-till-cancel limit order (9%).
	commandIOC                   // Place an immediate-or-cancel order that crosses (3%).
	commandCancel                // Cancel an open order (6%).
	commandMove                  // Cancel-replace an open order to a new price (82%).
	commandCount
)

var commandNames = [commandCount]string{"gtc", "ioc", "cancel", "move"}

// Percentages of exchange-core's mix, cumulative: 9% GTC, 3% IOC, 6% cancel, 82% move.
const (
	mixGTCBelow    = 9
	mixIOCBelow    = 12
	mixCancelBelow = 18
	mixRollRange   = 100
	// moveCrossOneIn: one move in 200 crosses the spread and trades.
	moveCrossOneIn = 200
)

// liveOrder is an open order as one connection believes it to be. Fills are not
// reported to the generator (it does not subscribe), so an order that filled is found
// out when a cancel or move answers order_not_found, and dropped.
type liveOrder struct {
	id       uint64
	price    uint64
	quantity uint64 // Total (FIX style: filled part included).
	trader   uint32
	side     model.Side
	busy     bool // A cancel or move of it is in flight.
}

// orderState is one connection's part of the order workload: its traders (trader i
// belongs to connection i mod connections, so client order ids and self-trade groups
// stay per connection) and its open orders.
type orderState struct {
	traders  []uint32
	live     []liveOrder
	position map[uint64]int32 // Order id → index in live.
	idle     int              // Live orders not busy.
	target   int              // Resting orders this connection keeps.
	key      uint64           // Client order ids used so far.
	picked   []int32          // Scratch: the orders one request names.
}

func newOrderState(index int, config *Config) *orderState {
	o := &orderState{position: make(map[uint64]int32),
		target: max(1, ordersRestingTarget/config.Connections)}
	for trader := index; trader < config.Accounts; trader += config.Connections {
		o.traders = append(o.traders, uint32(trader))
	}
	return o
}

func (o *orderState) add(order liveOrder) {
	if len(o.live) >= liveOrdersMax {
		return
	}
	if _, exists := o.position[order.id]; exists {
		return
	}
	o.position[order.id] = int32(len(o.live))
	o.live = append(o.live, order)
	o.idle++
}

func (o *orderState) remove(id uint64) {
	index, found := o.position[id]
	if !found {
		return
	}
	if !o.live[index].busy {
		o.idle--
	}
	last := int32(len(o.live) - 1)
	o.live[index] = o.live[last]
	o.position[o.live[index].id] = index
	o.live = o.live[:last]
	delete(o.position, id)
}

// find returns the open order with id, or nil.
func (o *orderState) find(id uint64) *liveOrder {
	if index, found := o.position[id]; found {
		return &o.live[index]
	}
	return nil
}

func (o *orderState) setBusy(order *liveOrder, busy bool) {
	if order.busy != busy {
		order.busy = busy
		if busy {
			o.idle--
		} else {
			o.idle++
		}
	}
}

// release marks the orders a cancel or move named as no longer busy (the request was
// refused or its outcome is unknown).
func (o *orderState) release(s *slot) {
	if s.command != commandCancel && s.command != commandMove {
		return
	}
	for i := range s.events {
		if order := o.find(s.meta[i].orderID); order != nil {
			o.setBusy(order, false)
		}
	}
}

// pickOrders marks up to count idle orders busy and returns their indexes in live.
func (w *worker) pickOrders(count int, picked []int32) []int32 {
	o := w.orders
	count = min(count, o.idle)
	if count == 0 {
		return picked
	}
	start := w.random.IntN(len(o.live))
	for i := 0; i < len(o.live) && len(picked) < count; i++ {
		index := (start + i) % len(o.live)
		if !o.live[index].busy {
			o.setBusy(&o.live[index], true)
			picked = append(picked, int32(index))
		}
	}
	return picked
}

// buildOrders draws the request's command from exchange-core's mix and fills its events.
func (w *worker) buildOrders(s *slot) (model.Operation, []byte) {
	o := w.orders
	roll := w.random.IntN(mixRollRange)
	s.command = commandMove
	switch {
	case roll < mixGTCBelow:
		s.command = commandGTC
	case roll < mixIOCBelow:
		s.command = commandIOC
	case roll < mixCancelBelow:
		s.command = commandCancel
	}
	if (s.command == commandCancel || s.command == commandMove) && o.idle == 0 {
		s.command = commandGTC // Nothing to cancel or move yet.
	}
	switch s.command {
	case commandCancel:
		return model.OperationCancelOrders, w.buildCancels(s)
	case commandMove:
		return model.OperationReplaceOrders, w.buildMoves(s)
	}
	return model.OperationPlaceOrders, w.buildPlacements(s)
}

// buildPlacements fills GTC or IOC orders. GTCs rest passively within the spread while
// the connection's book is below its target; above it, and for IOCs, orders are small
// and cross the whole spread, so they take liquidity from the best levels.
func (w *worker) buildPlacements(s *slot) []byte {
	o := w.orders
	ids := &w.run.ids
	s.events = w.run.config.Events
	for i := range s.events {
		trader := o.traders[w.random.IntN(len(o.traders))]
		side := model.SideBuy + model.Side(w.random.IntN(2))
		aggressive := s.command == commandIOC || len(o.live) >= o.target
		m := &s.meta[i]
		*m = eventMeta{debit: trader, side: side}
		switch {
		case aggressive:
			m.quantity = 1 + w.random.Uint64N(10)
			m.amount = orderCenterPrice - orderSpreadTicks
			if side == model.SideBuy {
				m.amount = orderCenterPrice + orderSpreadTicks
			}
		default:
			m.quantity = 10 + w.random.Uint64N(91)
			offset := 1 + w.random.Uint64N(orderSpreadTicks)
			m.amount = orderCenterPrice + offset
			if side == model.SideBuy {
				m.amount = orderCenterPrice - offset
			}
		}
		order := model.Order{ClientOrderID: w.nextClientOrderID(),
			Account: tradingAccount(trader), BaseAccountID: ids.traderBaseAccount(trader),
			QuoteAccountID: ids.traderQuoteAccount(trader), Price: m.amount,
			Quantity: m.quantity, Instrument: ids.instrument, Side: side,
			Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}
		if s.command == commandIOC {
			order.TimeInForce = model.ImmediateOrCancel
		}
		if w.run.config.ClientOrderIDsIncreasing {
			order.Flags = model.OrderFlagClientOrderIDsIncreasing
		}
		order.Encode(w.body[i*model.OrderSize:])
	}
	return w.body[:s.events*model.OrderSize]
}

func (w *worker) nextClientOrderID() uint64 {
	w.orders.key++
	return w.run.ids.clientOrderID(w.orders.key)
}

// buildCancels cancels up to Events idle open orders.
func (w *worker) buildCancels(s *slot) []byte {
	o := w.orders
	picked := w.pickOrders(w.run.config.Events, o.picked[:0])
	o.picked = picked
	s.events = len(picked)
	for i, index := range picked {
		order := &o.live[index]
		s.meta[i] = eventMeta{orderID: order.id, debit: order.trader, side: order.side}
		cancel := model.OrderCancel{ClientOrderID: w.nextClientOrderID(),
			Account: tradingAccount(order.trader), OrderID: order.id}
		cancel.Encode(w.body[i*model.OrderCancelSize:])
	}
	return w.body[:s.events*model.OrderCancelSize]
}

// buildMoves moves up to Events idle open orders by 1 to 3 ticks, keeping bids below
// and asks above the center, except one move in moveCrossOneIn that crosses and trades.
func (w *worker) buildMoves(s *slot) []byte {
	o := w.orders
	picked := w.pickOrders(w.run.config.Events, o.picked[:0])
	o.picked = picked
	s.events = len(picked)
	for i, index := range picked {
		order := &o.live[index]
		price := movedPrice(order.price, order.side, w.random.Uint64N(3)+1,
			w.random.IntN(2) == 0, w.random.IntN(moveCrossOneIn) == 0)
		s.meta[i] = eventMeta{orderID: order.id, debit: order.trader, side: order.side,
			amount: price, quantity: order.quantity}
		replace := model.OrderReplace{ClientOrderID: w.nextClientOrderID(),
			Account: tradingAccount(order.trader), OrderID: order.id, Price: price,
			Quantity: order.quantity}
		replace.Encode(w.body[i*model.OrderReplaceSize:])
	}
	return w.body[:s.events*model.OrderReplaceSize]
}

// movedPrice returns an order's new price after a move of step ticks.
func movedPrice(price uint64, side model.Side, step uint64, up, cross bool) uint64 {
	low, high := uint64(orderCenterPrice-orderSpreadTicks), uint64(orderCenterPrice-1)
	if side == model.SideSell {
		low, high = orderCenterPrice+1, orderCenterPrice+orderSpreadTicks
	}
	switch {
	case cross && side == model.SideBuy:
		return orderCenterPrice + orderSpreadTicks
	case cross:
		return orderCenterPrice - orderSpreadTicks
	case up:
		price += step
	default:
		price -= min(step, price)
	}
	return min(max(price, low), high)
}

// settleOrders reads one OrderResult per event and updates the connection's open orders.
func (w *worker) settleOrders(body []byte, s *slot, t *sample) bool {
	o := w.orders
	if len(body) != s.events*model.OrderResultSize {
		o.release(s)
		return false
	}
	for i := range s.events {
		result := body[i*model.OrderResultSize:]
		orderID := binary.LittleEndian.Uint64(result[0:])
		status := model.Status(binary.LittleEndian.Uint32(result[16:]))
		if t != nil {
			t.results[statusSlot(status)]++
		}
		m := &s.meta[i]
		switch s.command {
		case commandGTC:
			if status == model.StatusOK && orderID != 0 {
				o.add(liveOrder{id: orderID, price: m.amount, quantity: m.quantity,
					trader: m.debit, side: m.side})
			}
		case commandCancel:
			w.settleCancel(m, status)
		case commandMove:
			w.settleMove(m, status)
		}
	}
	if t != nil {
		t.commands[s.command]++
	}
	return true
}

func (w *worker) settleCancel(m *eventMeta, status model.Status) {
	o := w.orders
	switch status {
	case model.StatusOK, model.StatusOrderNotFound:
		o.remove(m.orderID) // Canceled, or already gone (filled): either way closed.
	default:
		if order := o.find(m.orderID); order != nil {
			o.setBusy(order, false)
		}
	}
}

func (w *worker) settleMove(m *eventMeta, status model.Status) {
	o := w.orders
	order := o.find(m.orderID)
	switch {
	case order == nil:
	case status == model.StatusOrderNotFound:
		o.remove(m.orderID) // Filled since it was placed.
	default:
		if status == model.StatusOK {
			order.price = m.amount
		}
		o.setBusy(order, false)
	}
}
