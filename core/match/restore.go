package match

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"sequent/core/ledger"
	"sequent/core/model"
)

// Restore builds an engine from a snapshot written by SnapshotView.WriteTo, over the
// ledger l restored from the snapshot of the same op. The input is untrusted: every
// count, id, price, quantity, order of records and hold is checked (each hold against the
// ledger, each escrow against the sum of its holds), so a damaged snapshot yields an
// error wrapping ErrSnapshotInvalid, never a panic or a silently wrong engine. config
// must bound at least what the snapshot holds, and its ClientOrderIDsMax must be the one
// the state was built with (it decides which entries are forgotten next).
func Restore(l *ledger.Ledger, config Config, r io.Reader) (*Engine, error) {
	var header [snapshotHeaderSize]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrSnapshotInvalid, err)
	}
	if string(header[0:8]) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrSnapshotInvalid)
	}
	version := binary.LittleEndian.Uint32(header[8:])
	if version < snapshotVersionOldest || version > snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d to %d", ErrSnapshotInvalid, version,
			snapshotVersionOldest, snapshotVersion)
	}
	instrumentCount := binary.LittleEndian.Uint32(header[12:])
	orderCount := binary.LittleEndian.Uint32(header[16:])
	windowCount := binary.LittleEndian.Uint32(header[20:])
	c := config.withDefaults()
	if instrumentCount > c.InstrumentsMax || orderCount > c.OrdersMax ||
		windowCount > c.ClientOrderIDsMax {
		return nil, fmt.Errorf("%w: counts %d/%d/%d exceed limits", ErrSnapshotInvalid,
			instrumentCount, orderCount, windowCount)
	}
	increasingCount := binary.LittleEndian.Uint32(header[48:])
	if increasingCount > IncreasingAccountsMax || (version < 4) != (increasingCount == 0) {
		return nil, fmt.Errorf("%w: %d increasing accounts in version %d (at most %d, "+
			"and some exactly from version 4)", ErrSnapshotInvalid, increasingCount, version,
			IncreasingAccountsMax)
	}
	if [12]byte(header[52:64]) != [12]byte{} {
		return nil, fmt.Errorf("%w: reserved header bytes", ErrSnapshotInvalid)
	}
	// Size the pools from the counts only up to restoreCapacityMax: the counts are
	// untrusted until the records behind them have been read.
	config.OrdersCapacity = max(config.OrdersCapacity, min(orderCount, restoreCapacityMax))
	config.ClientOrderIDsCapacity = max(config.ClientOrderIDsCapacity,
		min(windowCount, restoreCapacityMax))
	e := New(l, config)
	e.nextOrderID = binary.LittleEndian.Uint64(header[24:])
	e.nextTradeID = binary.LittleEndian.Uint64(header[32:])
	e.nextTransferSequence = binary.LittleEndian.Uint64(header[40:])
	if e.nextOrderID == 0 || e.nextTradeID == 0 || e.nextTransferSequence == 0 {
		return nil, fmt.Errorf("%w: counters must start at 1", ErrSnapshotInvalid)
	}
	restorer := restorer{engine: e, r: r, version: version}
	steps := []func() error{
		func() error { return restorer.instruments(instrumentCount) },
		func() error { return restorer.orders(orderCount) },
		func() error { return restorer.window(windowCount) },
		func() error { return restorer.increasing(increasingCount) },
		e.CheckInvariants,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
		}
	}
	return e, nil
}

// restorer reads the sections of a snapshot into a new engine.
type restorer struct {
	engine  *Engine
	r       io.Reader
	version uint32
	buffer  []byte
}

// read reads count records of size bytes, calling decode for each.
func (s *restorer) read(count uint32, size int, decode func(i uint32, b []byte) error) error {
	if s.buffer == nil {
		s.buffer = make([]byte, snapshotBufferBytes-snapshotBufferBytes%snapshotOrderSize)
	}
	perBlock := uint32(len(s.buffer) / size)
	for i := uint32(0); i < count; {
		n := min(perBlock, count-i)
		block := s.buffer[:int(n)*size]
		if _, err := io.ReadFull(s.r, block); err != nil {
			return fmt.Errorf("truncated at record %d: %v", i, err)
		}
		for j := uint32(0); j < n; j++ {
			if err := decode(i+j, block[int(j)*size:int(j+1)*size]); err != nil {
				return err
			}
		}
		i += n
	}
	return nil
}

func (s *restorer) instruments(count uint32) error {
	e := s.engine
	previous := uint64(0)
	return s.read(count, snapshotInstrumentSize, func(i uint32, b []byte) error {
		var x model.Instrument
		x.Decode(b)
		check := x
		check.Timestamp = 0
		switch {
		case x.ID == 0, x.Flags != 0, x.Reserved != [30]byte{}, x.Timestamp <= previous,
			x.Timestamp > timestampMax, validateInstrument(&check) != model.StatusOK,
			binary.LittleEndian.Uint64(b[136:]) != 0:
			return fmt.Errorf("instrument %d is not valid", i)
		}
		if _, found := e.findInstrument(x.ID); found {
			return fmt.Errorf("instrument id %d twice", x.ID)
		}
		previous = x.Timestamp
		e.instrumentIndex[x.ID] = uint32(len(e.instruments))
		e.instruments = append(e.instruments, instrument{record: x,
			escrowBase:         escrowID(systemKindEscrowBase, x.ID),
			escrowQuote:        escrowID(systemKindEscrowQuote, x.ID),
			bids:               newBookSide(model.SideBuy, x.TickSize),
			asks:               newBookSide(model.SideSell, x.TickSize),
			marketDataSequence: binary.LittleEndian.Uint64(b[128:])})
		return nil
	})
}

// orders reads the open orders in book order, rests each at the back of its level, then
// links the trading accounts' lists in order-id order.
func (s *restorer) orders(count uint32) error {
	e := s.engine
	group, lastPrice := uint64(0), uint64(0)
	size := snapshotOrderSize
	if s.version < 3 {
		size = snapshotOrderSizeV2
	}
	err := s.read(count, size, func(i uint32, b []byte) error {
		var state model.OrderState
		state.Decode(b)
		instrumentIndex, err := s.validateOrder(&state, b)
		if err != nil {
			return fmt.Errorf("order %d: %w", i, err)
		}
		// Book order: groups (instrument, side) never go back; within a group prices go
		// from best to worst.
		current := uint64(instrumentIndex)<<8 | uint64(state.Side)
		switch {
		case current < group:
			return fmt.Errorf("order %d out of book order", i)
		case current == group && state.Side == model.SideBuy && state.Price > lastPrice,
			current == group && state.Side == model.SideSell && state.Price < lastPrice:
			return fmt.Errorf("order %d out of price order", i)
		}
		group, lastPrice = current, state.Price
		sequence := binary.LittleEndian.Uint64(b[128:])
		switch {
		case s.version < 3 && (sequence == 0 || binary.LittleEndian.Uint64(b[136:]) != 0):
			return fmt.Errorf("order %d: hold invalid", i)
		case s.version >= 3 && sequence == 0:
			sequence = holdReserved
		case sequence == holdReserved:
			return fmt.Errorf("order %d: hold sequence invalid", i)
		}
		slot := s.rest(&state, instrumentIndex, sequence)
		if s.version >= 3 && model.Uint128LE(b[136:152]) != e.orders[slot].holdAmount {
			return fmt.Errorf("order %d: reserved %s, needs %s", i, model.Uint128LE(b[136:152]),
				e.orders[slot].holdAmount)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slots := make([]uint32, 0, len(e.orders))
	for slot := range e.orders {
		slots = append(slots, uint32(slot))
	}
	slices.SortFunc(slots, func(a, b uint32) int {
		return compareUint64(e.orders[a].id, e.orders[b].id)
	})
	for _, slot := range slots {
		e.accountLink(slot)
	}
	return nil
}

func compareUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// validateOrder checks one order record and returns its instrument's index.
func (s *restorer) validateOrder(o *model.OrderState, b []byte) (uint32, error) {
	e := s.engine
	index, found := e.findInstrument(o.Instrument)
	if !found {
		return 0, fmt.Errorf("instrument %d not found", o.Instrument)
	}
	x := &e.instruments[index].record
	total, overflow := model.U128(o.LeavesQuantity).Add(model.U128(o.FilledQuantity))
	switch {
	case o.Side != model.SideBuy && o.Side != model.SideSell, o.Type != model.OrderLimit,
		o.TimeInForce != model.GoodTillCancel && o.TimeInForce != model.PostOnly,
		o.SelfTrade < model.SelfTradeCancelNewest || o.SelfTrade > model.SelfTradeCancelBoth:
		return 0, fmt.Errorf("kind invalid")
	case o.OrderID == 0 || o.OrderID >= e.nextOrderID, o.Client == 0, o.Account == 0,
		o.ClientOrderID == 0, o.Timestamp == 0 || o.Timestamp > timestampMax:
		return 0, fmt.Errorf("ids or timestamp invalid")
	case overflow, total.Lo != o.Quantity, o.LeavesQuantity == 0,
		o.FilledQuantity%x.LotSize != 0,
		validatePriceQuantity(x, o.Price, o.Quantity) != model.StatusOK:
		return 0, fmt.Errorf("price or quantity invalid")
	case o.Side == model.SideBuy && (o.ReservePrice < o.Price || o.ReservePrice%x.TickSize != 0),
		o.Side == model.SideSell && o.ReservePrice != 0:
		return 0, fmt.Errorf("reserve price invalid")
	case model.IsSystemID(o.BaseAccountID) || model.IsSystemID(o.QuoteAccountID):
		return 0, fmt.Errorf("system account")
	}
	if _, _, found := e.findOrder(o.OrderID); found {
		return 0, fmt.Errorf("order id %d twice", o.OrderID)
	}
	if e.openCount >= e.config.OrdersMax {
		return 0, fmt.Errorf("more orders than OrdersMax")
	}
	return index, nil
}

// rest puts a validated order at the back of its level (without market data).
func (s *restorer) rest(state *model.OrderState, instrumentIndex uint32,
	holdSequence uint64) uint32 {
	e := s.engine
	slot := e.orderAllocate()
	o := &e.orders[slot]
	o.id, o.price, o.leaves, o.filled = state.OrderID, state.Price, state.LeavesQuantity,
		state.FilledQuantity
	o.instrument, o.client, o.account = instrumentIndex, state.Client, state.Account
	o.side, o.orderType, o.timeInForce = state.Side, state.Type, state.TimeInForce
	o.selfTrade, o.clientOrderID, o.reservePrice = state.SelfTrade, state.ClientOrderID,
		state.ReservePrice
	o.expireTimestamp, o.timestamp = state.ExpireTimestamp, state.Timestamp
	o.baseAccountID, o.quoteAccountID = state.BaseAccountID, state.QuoteAccountID
	o.holdSequence = holdSequence
	o.holdAmount = holdRequired(o, e.instruments[instrumentIndex].record.LotSize)
	side := e.instruments[instrumentIndex].side(o.side)
	levelIndex := e.levelFind(side, o.price)
	if levelIndex == indexNone {
		levelIndex = e.levelInsert(side, o.price)
	}
	e.levelAppend(levelIndex, slot)
	e.orderIndex.insert(tagOf(hash64(o.id, e.seed)), slot)
	e.openCount++
	if o.expireTimestamp != 0 {
		e.expiry.push(e, slot)
	}
	return slot
}

func (s *restorer) window(count uint32) error {
	e := s.engine
	return s.read(count, snapshotWindowEntrySize, func(i uint32, b []byte) error {
		entry := windowEntry{client: binary.LittleEndian.Uint64(b[0:]),
			account:       binary.LittleEndian.Uint64(b[8:]),
			clientOrderID: binary.LittleEndian.Uint64(b[16:]),
			orderID:       binary.LittleEndian.Uint64(b[24:]),
			timestamp:     binary.LittleEndian.Uint64(b[32:]),
			status:        model.Status(binary.LittleEndian.Uint32(b[40:])),
			kind:          commandKind(b[44]),
			digest:        binary.LittleEndian.Uint64(b[48:])}
		if s.version >= 4 && i != 0 && allZero(b[:snapshotWindowEntrySize]) {
			e.window.age() // A slot without a key: an opted-in command aged the window.
			return nil
		}
		switch {
		case entry.account == 0, entry.clientOrderID == 0, entry.timestamp == 0,
			entry.kind == 0 || entry.kind >= commandKindEnd, !entry.status.Known(),
			b[45] != 0 || b[46] != 0 || b[47] != 0:
			return fmt.Errorf("window entry %d is not valid", i)
		}
		if _, found := e.window.find(entry.client, entry.account, entry.clientOrderID); found {
			return fmt.Errorf("window entry %d twice", i)
		}
		e.window.remember(entry)
		return nil
	})
}

// increasing reads the trading accounts with increasing client order ids (version 4; an
// older file has none: its header word is reserved, and refused unless zero).
func (s *restorer) increasing(count uint32) error {
	e := s.engine
	var head [snapshotIncreasingSize]byte
	var record [snapshotIncreasingEntry]byte
	for i := range count {
		if _, err := io.ReadFull(s.r, head[:]); err != nil {
			return fmt.Errorf("increasing account %d truncated: %v", i, err)
		}
		client := binary.LittleEndian.Uint64(head[0:])
		account := binary.LittleEndian.Uint64(head[8:])
		entries := binary.LittleEndian.Uint32(head[16:])
		windowPending := binary.LittleEndian.Uint32(head[20:])
		switch {
		case account == 0, entries == 0, entries > e.config.ClientOrderIDsPerAccount,
			windowPending > e.window.keyedLifeLeft():
			return fmt.Errorf("increasing account %d is not valid", i)
		}
		if _, found := e.findIncreasing(client, account); found {
			return fmt.Errorf("increasing account %d twice", i)
		}
		a := &e.increasing[e.increasingAdd(client, account, windowPending)]
		for j := range entries {
			if _, err := io.ReadFull(s.r, record[:]); err != nil {
				return fmt.Errorf("increasing account %d entry %d truncated: %v", i, j, err)
			}
			b := record[:]
			entry := windowEntry{client: client, account: account,
				clientOrderID: binary.LittleEndian.Uint64(b[0:]),
				orderID:       binary.LittleEndian.Uint64(b[8:]),
				timestamp:     binary.LittleEndian.Uint64(b[16:]),
				digest:        binary.LittleEndian.Uint64(b[24:]),
				status:        model.Status(binary.LittleEndian.Uint32(b[32:])),
				kind:          commandKind(b[36])}
			switch {
			case entry.clientOrderID == 0, a.count != 0 && entry.clientOrderID <= a.mark,
				entry.timestamp == 0, entry.kind == 0 || entry.kind >= commandKindEnd,
				!entry.status.Known(), b[37] != 0 || b[38] != 0 || b[39] != 0:
				return fmt.Errorf("increasing account %d entry %d is not valid", i, j)
			}
			e.increasingAppend(a, &entry)
		}
	}
	return nil
}

// allZero reports whether every byte of b is zero.
func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
