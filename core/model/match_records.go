package model

import (
	"encoding/binary"
	"unsafe"
)

// Matching records: instruments, order commands, their results, execution reports, market
// data and query records. All are fixed-size and little-endian with frozen offsets (wire
// and log formats: never change them). Each struct mirrors its layout field for field, so
// the compile-time checks below prove there is no padding. Reserved bytes decode into
// Reserved fields; the engine rejects a command whose reserved bytes are not zero
// (StatusReservedField), so they stay free for later versions.
//
// Units (see package match for the arithmetic):
//   - quantity: base-ledger amount units (the smallest unit of the base asset), always a
//     multiple of the instrument's lot size;
//   - price: quote-ledger amount units per lot, always a multiple of the tick size; a fill
//     of q at price p moves p × q / lot_size quote units, which is exact;
//   - fee: amount units of the ledger the payer receives (base for a buyer, quote for a
//     seller).
const (
	InstrumentSize       = 128 // Instrument record.
	OrderSize            = 128 // Order (place) event.
	OrderCancelSize      = 32  // OrderCancel event.
	OrderReplaceSize     = 64  // OrderReplace event.
	MassCancelSize       = 32  // MassCancel event.
	OrderResultSize      = 24  // Result of place, cancel and replace.
	MassCancelResultSize = 16  // Result of a mass cancel.
	ExecutionReportSize  = 128 // Report to an order's owner.
	MarketDataUpdateSize = 128 // Public market data.
	OrderStateSize       = 128 // An open order, as queries return it.
	OrderFilterSize      = 32  // get_account_orders query.
	DepthFilterSize      = 16  // get_depth query.
	DepthLevelSize       = 32  // One price level of a depth snapshot.
	OrderIDSize          = 8   // A bare order id (lookup_orders events).
	InstrumentIDSize     = 8   // A bare instrument id, u32 + 4 reserved bytes.
)

// Side of an order.
type Side uint8

const (
	SideBuy  Side = 1 // Buys base, pays quote.
	SideSell Side = 2 // Sells base, receives quote.
)

// OrderType says how an order is priced.
type OrderType uint8

const (
	OrderLimit  OrderType = 1 // Trades at its price or better.
	OrderMarket OrderType = 2 // Trades at any price up to its worst price (Price field).
)

// TimeInForce says what happens to the part of an order that does not trade at once.
type TimeInForce uint8

const (
	GoodTillCancel    TimeInForce = 1 // Rests until filled, canceled or expired.
	ImmediateOrCancel TimeInForce = 2 // The rest is canceled.
	FillOrKill        TimeInForce = 3 // Fills completely at once, or nothing happens.
	PostOnly          TimeInForce = 4 // Rests without trading; rejected if it would cross.
)

// SelfTradeMode says what happens when an order would trade with a resting order of the
// same owner and account.
type SelfTradeMode uint8

const (
	SelfTradeDefault      SelfTradeMode = 0 // Cancel newest.
	SelfTradeCancelNewest SelfTradeMode = 1 // Cancel the incoming order's rest.
	SelfTradeCancelOldest SelfTradeMode = 2 // Cancel the resting order and go on matching.
	SelfTradeCancelBoth   SelfTradeMode = 3 // Cancel both.
)

// ReportKind is what an execution report says happened.
type ReportKind uint8

const (
	ReportAccepted ReportKind = 1 // The order was accepted (it may trade right after).
	ReportRejected ReportKind = 2 // The command was refused; Status says why.
	ReportReplaced ReportKind = 3 // Price or quantity changed.
	ReportCanceled ReportKind = 4 // The order is done; Status gives the reason.
	ReportFill     ReportKind = 5 // A trade; LeavesQuantity 0 means filled.
	ReportExpired  ReportKind = 6 // A good-till-time order reached its deadline.
)

// Liquidity flag of a fill.
type Liquidity uint8

const (
	LiquidityNone  Liquidity = 0
	LiquidityMaker Liquidity = 1 // The resting order.
	LiquidityTaker Liquidity = 2 // The incoming order.
)

// MarketDataKind is what a market-data update describes.
type MarketDataKind uint8

const (
	MarketDataLevel MarketDataKind = 1 // A price level's new total (0 = level gone).
	MarketDataTrade MarketDataKind = 2 // A trade; Side is the taker's.
)

// Instrument field offsets within the 128-byte record (wire format: never change).
//
//	 0 id (u32)          4 base_ledger (u32)   8 quote_ledger (u32)
//	12 maker_fee_basis_points (u16)  14 taker_fee_basis_points (u16)
//	16 tick_size        24 lot_size          32 quantity_min       40 quantity_max
//	48 fee_base_account_id (u128)            64 fee_quote_account_id (u128)
//	80 user_data_64     88 flags (u16)       90 reserved (30)     120 timestamp
const (
	instrumentOffsetID                  = 0
	instrumentOffsetBaseLedger          = 4
	instrumentOffsetQuoteLedger         = 8
	instrumentOffsetMakerFeeBasisPoints = 12
	instrumentOffsetTakerFeeBasisPoints = 14
	instrumentOffsetTickSize            = 16
	instrumentOffsetLotSize             = 24
	instrumentOffsetQuantityMin         = 32
	instrumentOffsetQuantityMax         = 40
	instrumentOffsetFeeBaseAccountID    = 48
	instrumentOffsetFeeQuoteAccountID   = 64
	instrumentOffsetUserData64          = 80
	instrumentOffsetFlags               = 88
	instrumentOffsetReserved            = 90
	instrumentOffsetTimestamp           = 120
)

// Instrument is an order book between a base and a quote ledger (asset). Creating one
// also creates its two escrow accounts (system accounts, one per ledger) that hold the
// funds of open orders.
type Instrument struct {
	ID                  uint32   // Chosen by the creator; not zero.
	BaseLedger          uint32   // Ledger of the asset traded (quantities).
	QuoteLedger         uint32   // Ledger of the asset it is priced in.
	MakerFeeBasisPoints uint16   // Fee of the resting side, in 1/10,000 of what it receives.
	TakerFeeBasisPoints uint16   // Fee of the incoming side, likewise.
	TickSize            uint64   // Prices are multiples of this (quote units per lot).
	LotSize             uint64   // Quantities are multiples of this (base units).
	QuantityMin         uint64   // Smallest order quantity (base units); a lot multiple.
	QuantityMax         uint64   // Largest order quantity (base units); a lot multiple.
	FeeBaseAccountID    Uint128  // Receives base fees; may be 0 when no fee is set.
	FeeQuoteAccountID   Uint128  // Receives quote fees; may be 0 when no fee is set.
	UserData64          uint64   // Opaque to Sequent.
	Flags               uint16   // None defined yet: must be zero.
	Reserved            [30]byte // Must be zero.
	Timestamp           uint64   // Assigned at creation; must be zero in the event.
}

const (
	_ uintptr = unsafe.Sizeof(Instrument{}) - InstrumentSize
	_ uintptr = InstrumentSize - unsafe.Sizeof(Instrument{})
)

// Encode writes the instrument into b[0:128].
func (x *Instrument) Encode(b []byte) {
	_ = b[InstrumentSize-1]
	binary.LittleEndian.PutUint32(b[instrumentOffsetID:], x.ID)
	binary.LittleEndian.PutUint32(b[instrumentOffsetBaseLedger:], x.BaseLedger)
	binary.LittleEndian.PutUint32(b[instrumentOffsetQuoteLedger:], x.QuoteLedger)
	binary.LittleEndian.PutUint16(b[instrumentOffsetMakerFeeBasisPoints:], x.MakerFeeBasisPoints)
	binary.LittleEndian.PutUint16(b[instrumentOffsetTakerFeeBasisPoints:], x.TakerFeeBasisPoints)
	binary.LittleEndian.PutUint64(b[instrumentOffsetTickSize:], x.TickSize)
	binary.LittleEndian.PutUint64(b[instrumentOffsetLotSize:], x.LotSize)
	binary.LittleEndian.PutUint64(b[instrumentOffsetQuantityMin:], x.QuantityMin)
	binary.LittleEndian.PutUint64(b[instrumentOffsetQuantityMax:], x.QuantityMax)
	x.FeeBaseAccountID.PutLE(b[instrumentOffsetFeeBaseAccountID:])
	x.FeeQuoteAccountID.PutLE(b[instrumentOffsetFeeQuoteAccountID:])
	binary.LittleEndian.PutUint64(b[instrumentOffsetUserData64:], x.UserData64)
	binary.LittleEndian.PutUint16(b[instrumentOffsetFlags:], x.Flags)
	copy(b[instrumentOffsetReserved:instrumentOffsetTimestamp], x.Reserved[:])
	binary.LittleEndian.PutUint64(b[instrumentOffsetTimestamp:], x.Timestamp)
}

// Decode reads the instrument from b[0:128]. Every bit pattern decodes.
func (x *Instrument) Decode(b []byte) {
	_ = b[InstrumentSize-1]
	x.ID = binary.LittleEndian.Uint32(b[instrumentOffsetID:])
	x.BaseLedger = binary.LittleEndian.Uint32(b[instrumentOffsetBaseLedger:])
	x.QuoteLedger = binary.LittleEndian.Uint32(b[instrumentOffsetQuoteLedger:])
	x.MakerFeeBasisPoints = binary.LittleEndian.Uint16(b[instrumentOffsetMakerFeeBasisPoints:])
	x.TakerFeeBasisPoints = binary.LittleEndian.Uint16(b[instrumentOffsetTakerFeeBasisPoints:])
	x.TickSize = binary.LittleEndian.Uint64(b[instrumentOffsetTickSize:])
	x.LotSize = binary.LittleEndian.Uint64(b[instrumentOffsetLotSize:])
	x.QuantityMin = binary.LittleEndian.Uint64(b[instrumentOffsetQuantityMin:])
	x.QuantityMax = binary.LittleEndian.Uint64(b[instrumentOffsetQuantityMax:])
	x.FeeBaseAccountID = Uint128LE(b[instrumentOffsetFeeBaseAccountID:])
	x.FeeQuoteAccountID = Uint128LE(b[instrumentOffsetFeeQuoteAccountID:])
	x.UserData64 = binary.LittleEndian.Uint64(b[instrumentOffsetUserData64:])
	x.Flags = binary.LittleEndian.Uint16(b[instrumentOffsetFlags:])
	copy(x.Reserved[:], b[instrumentOffsetReserved:instrumentOffsetTimestamp])
	x.Timestamp = binary.LittleEndian.Uint64(b[instrumentOffsetTimestamp:])
}

// Order field offsets within the 128-byte place event (wire format: never change).
//
//	  0 client_order_id   8 account           16 base_account_id (u128)
//	 32 quote_account_id (u128)               48 price          56 quantity
//	 64 reserve_price    72 expire_timestamp  80 budget (u128)
//	 96 instrument (u32) 100 side (u8) 101 type (u8) 102 time_in_force (u8)
//	103 self_trade (u8)  104 flags (u8)      105 reserved (15)   120 timestamp
//
// Byte 104 was the first of 16 reserved bytes, which had to be zero: flags 0 is the
// behaviour of every release before it.
const (
	orderOffsetClientOrderID   = 0
	orderOffsetAccount         = 8
	orderOffsetBaseAccountID   = 16
	orderOffsetQuoteAccountID  = 32
	orderOffsetPrice           = 48
	orderOffsetQuantity        = 56
	orderOffsetReservePrice    = 64
	orderOffsetExpireTimestamp = 72
	orderOffsetBudget          = 80
	orderOffsetInstrument      = 96
	orderOffsetSide            = 100
	orderOffsetType            = 101
	orderOffsetTimeInForce     = 102
	orderOffsetSelfTrade       = 103
	orderOffsetFlags           = 104
	orderOffsetReserved        = 105
	orderOffsetTimestamp       = 120
)

// Order asks to place an order. Account is the trading account within the authenticated
// client: client order ids are unique per (client, account), self-trade prevention and
// mass cancel work per (client, account). The two ledger accounts fund the order and
// receive its proceeds: a buy pays from the quote account into the base account, a sell
// the other way round.
type Order struct {
	ClientOrderID   uint64        // Idempotency key of this command; not zero.
	Account         uint64        // Trading account; not zero.
	BaseAccountID   Uint128       // Trader's account on the base ledger.
	QuoteAccountID  Uint128       // Trader's account on the quote ledger.
	Price           uint64        // Limit price; for a market order its worst price.
	Quantity        uint64        // Base units; a lot multiple.
	ReservePrice    uint64        // Limit buys: hold at this price (≥ Price); 0 = Price.
	ExpireTimestamp uint64        // Resting orders: expire at this timestamp; 0 = never.
	Budget          Uint128       // Market buys: most quote units to spend; 0 elsewhere.
	Instrument      uint32        // Instrument id.
	Side            Side          // SideBuy or SideSell.
	Type            OrderType     // OrderLimit or OrderMarket.
	TimeInForce     TimeInForce   // Market orders: IOC or FOK only.
	SelfTrade       SelfTradeMode // Self-trade prevention of this order.
	Flags           uint8         // OrderFlag* bits; others are reserved (must be zero).
	Reserved        [15]byte      // Must be zero.
	Timestamp       uint64        // Must be zero.
}

// Order flags (byte 104 of the place event).
const (
	// OrderFlagClientOrderIDsIncreasing opts the order's (client, trading account) into
	// increasing client order ids when the place is accepted (package match,
	// "Idempotency"): from this command on,
	// every order command of that trading account must carry a key above the highest it
	// used, or be a resend of one of its last few commands. The opt-in is kept for good;
	// the flag on later places of the account changes nothing (but is part of the
	// command's fields, as every byte is, for telling resends from mistakes).
	OrderFlagClientOrderIDsIncreasing uint8 = 1 << 0
	// OrderFlagsKnown is every defined order flag; any other bit is reserved_field.
	OrderFlagsKnown = OrderFlagClientOrderIDsIncreasing
)

const (
	_ uintptr = unsafe.Sizeof(Order{}) - OrderSize
	_ uintptr = OrderSize - unsafe.Sizeof(Order{})
)

// Encode writes the order into b[0:128].
func (o *Order) Encode(b []byte) {
	_ = b[OrderSize-1]
	binary.LittleEndian.PutUint64(b[orderOffsetClientOrderID:], o.ClientOrderID)
	binary.LittleEndian.PutUint64(b[orderOffsetAccount:], o.Account)
	o.BaseAccountID.PutLE(b[orderOffsetBaseAccountID:])
	o.QuoteAccountID.PutLE(b[orderOffsetQuoteAccountID:])
	binary.LittleEndian.PutUint64(b[orderOffsetPrice:], o.Price)
	binary.LittleEndian.PutUint64(b[orderOffsetQuantity:], o.Quantity)
	binary.LittleEndian.PutUint64(b[orderOffsetReservePrice:], o.ReservePrice)
	binary.LittleEndian.PutUint64(b[orderOffsetExpireTimestamp:], o.ExpireTimestamp)
	o.Budget.PutLE(b[orderOffsetBudget:])
	binary.LittleEndian.PutUint32(b[orderOffsetInstrument:], o.Instrument)
	b[orderOffsetSide] = byte(o.Side)
	b[orderOffsetType] = byte(o.Type)
	b[orderOffsetTimeInForce] = byte(o.TimeInForce)
	b[orderOffsetSelfTrade] = byte(o.SelfTrade)
	b[orderOffsetFlags] = o.Flags
	copy(b[orderOffsetReserved:orderOffsetTimestamp], o.Reserved[:])
	binary.LittleEndian.PutUint64(b[orderOffsetTimestamp:], o.Timestamp)
}

// Decode reads the order from b[0:128]. Every bit pattern decodes.
func (o *Order) Decode(b []byte) {
	_ = b[OrderSize-1]
	o.ClientOrderID = binary.LittleEndian.Uint64(b[orderOffsetClientOrderID:])
	o.Account = binary.LittleEndian.Uint64(b[orderOffsetAccount:])
	o.BaseAccountID = Uint128LE(b[orderOffsetBaseAccountID:])
	o.QuoteAccountID = Uint128LE(b[orderOffsetQuoteAccountID:])
	o.Price = binary.LittleEndian.Uint64(b[orderOffsetPrice:])
	o.Quantity = binary.LittleEndian.Uint64(b[orderOffsetQuantity:])
	o.ReservePrice = binary.LittleEndian.Uint64(b[orderOffsetReservePrice:])
	o.ExpireTimestamp = binary.LittleEndian.Uint64(b[orderOffsetExpireTimestamp:])
	o.Budget = Uint128LE(b[orderOffsetBudget:])
	o.Instrument = binary.LittleEndian.Uint32(b[orderOffsetInstrument:])
	o.Side = Side(b[orderOffsetSide])
	o.Type = OrderType(b[orderOffsetType])
	o.TimeInForce = TimeInForce(b[orderOffsetTimeInForce])
	o.SelfTrade = SelfTradeMode(b[orderOffsetSelfTrade])
	o.Flags = b[orderOffsetFlags]
	copy(o.Reserved[:], b[orderOffsetReserved:orderOffsetTimestamp])
	o.Timestamp = binary.LittleEndian.Uint64(b[orderOffsetTimestamp:])
}

// OrderCancel asks to cancel one open order of the caller's account, named by OrderID,
// or, when OrderID is 0, by the client order id of the command that placed or last
// replaced it (if that command is still in the engine's idempotency window).
//
// Layout: client_order_id 0 | account 8 | order_id 16 | original_client_order_id 24.
type OrderCancel struct {
	ClientOrderID         uint64 // Idempotency key of this command; not zero.
	Account               uint64 // Trading account owning the order.
	OrderID               uint64 // The order; 0 = look up OriginalClientOrderID.
	OriginalClientOrderID uint64 // Used only when OrderID is 0.
}

const (
	_ uintptr = unsafe.Sizeof(OrderCancel{}) - OrderCancelSize
	_ uintptr = OrderCancelSize - unsafe.Sizeof(OrderCancel{})
)

// Encode writes the cancel into b[0:32].
func (c *OrderCancel) Encode(b []byte) {
	_ = b[OrderCancelSize-1]
	binary.LittleEndian.PutUint64(b[0:], c.ClientOrderID)
	binary.LittleEndian.PutUint64(b[8:], c.Account)
	binary.LittleEndian.PutUint64(b[16:], c.OrderID)
	binary.LittleEndian.PutUint64(b[24:], c.OriginalClientOrderID)
}

// Decode reads the cancel from b[0:32].
func (c *OrderCancel) Decode(b []byte) {
	_ = b[OrderCancelSize-1]
	c.ClientOrderID = binary.LittleEndian.Uint64(b[0:])
	c.Account = binary.LittleEndian.Uint64(b[8:])
	c.OrderID = binary.LittleEndian.Uint64(b[16:])
	c.OriginalClientOrderID = binary.LittleEndian.Uint64(b[24:])
}

// OrderReplace asks to change an open order's price, quantity or reserve price
// (cancel-replace). The order keeps its id. Reducing the quantity at the same price keeps
// its time priority; a new price or a larger quantity sends it to the back of its level,
// and a new price that crosses the book trades at once.
//
// Layout: client_order_id 0 | account 8 | order_id 16 | original_client_order_id 24 |
// price 32 | quantity 40 | reserve_price 48 | reserved 56 (8).
type OrderReplace struct {
	ClientOrderID         uint64 // Idempotency key of this command; not zero.
	Account               uint64 // Trading account owning the order.
	OrderID               uint64 // The order; 0 = look up OriginalClientOrderID.
	OriginalClientOrderID uint64 // Used only when OrderID is 0.
	Price                 uint64 // New limit price (may equal the old one).
	Quantity              uint64 // New total quantity, filled part included (FIX style).
	ReservePrice          uint64 // Buys: new reserve price; 0 = the new price.
	Reserved              uint64 // Must be zero.
}

const (
	_ uintptr = unsafe.Sizeof(OrderReplace{}) - OrderReplaceSize
	_ uintptr = OrderReplaceSize - unsafe.Sizeof(OrderReplace{})
)

// Encode writes the replace into b[0:64].
func (r *OrderReplace) Encode(b []byte) {
	_ = b[OrderReplaceSize-1]
	binary.LittleEndian.PutUint64(b[0:], r.ClientOrderID)
	binary.LittleEndian.PutUint64(b[8:], r.Account)
	binary.LittleEndian.PutUint64(b[16:], r.OrderID)
	binary.LittleEndian.PutUint64(b[24:], r.OriginalClientOrderID)
	binary.LittleEndian.PutUint64(b[32:], r.Price)
	binary.LittleEndian.PutUint64(b[40:], r.Quantity)
	binary.LittleEndian.PutUint64(b[48:], r.ReservePrice)
	binary.LittleEndian.PutUint64(b[56:], r.Reserved)
}

// Decode reads the replace from b[0:64].
func (r *OrderReplace) Decode(b []byte) {
	_ = b[OrderReplaceSize-1]
	r.ClientOrderID = binary.LittleEndian.Uint64(b[0:])
	r.Account = binary.LittleEndian.Uint64(b[8:])
	r.OrderID = binary.LittleEndian.Uint64(b[16:])
	r.OriginalClientOrderID = binary.LittleEndian.Uint64(b[24:])
	r.Price = binary.LittleEndian.Uint64(b[32:])
	r.Quantity = binary.LittleEndian.Uint64(b[40:])
	r.ReservePrice = binary.LittleEndian.Uint64(b[48:])
	r.Reserved = binary.LittleEndian.Uint64(b[56:])
}

// MassCancel asks to cancel every open order of the caller's account, optionally only on
// one instrument and one side.
//
// Layout: client_order_id 0 | account 8 | instrument 16 (u32) | side 20 (u8) |
// reserved 21 (11).
type MassCancel struct {
	ClientOrderID uint64   // Idempotency key of this command; not zero.
	Account       uint64   // Trading account.
	Instrument    uint32   // 0 = every instrument.
	Side          Side     // 0 = both sides.
	Reserved      [11]byte // Must be zero.
}

const (
	_ uintptr = unsafe.Sizeof(MassCancel{}) - MassCancelSize
	_ uintptr = MassCancelSize - unsafe.Sizeof(MassCancel{})
)

// Encode writes the mass cancel into b[0:32].
func (m *MassCancel) Encode(b []byte) {
	_ = b[MassCancelSize-1]
	binary.LittleEndian.PutUint64(b[0:], m.ClientOrderID)
	binary.LittleEndian.PutUint64(b[8:], m.Account)
	binary.LittleEndian.PutUint32(b[16:], m.Instrument)
	b[20] = byte(m.Side)
	copy(b[21:MassCancelSize], m.Reserved[:])
}

// Decode reads the mass cancel from b[0:32].
func (m *MassCancel) Decode(b []byte) {
	_ = b[MassCancelSize-1]
	m.ClientOrderID = binary.LittleEndian.Uint64(b[0:])
	m.Account = binary.LittleEndian.Uint64(b[8:])
	m.Instrument = binary.LittleEndian.Uint32(b[16:])
	m.Side = Side(b[20])
	copy(m.Reserved[:], b[21:MassCancelSize])
}

// OrderResult is the outcome of one place, cancel or replace event. OrderID is the order
// placed, canceled or replaced (0 when none); Timestamp is the command's. A resend of a
// command (same client order id) answers the original result.
//
// Layout: order_id 0 | timestamp 8 | status 16 (u32) | reserved 20 (u32, zero).
type OrderResult struct {
	OrderID   uint64
	Timestamp uint64
	Status    Status
	Reserved  uint32
}

const (
	_ uintptr = unsafe.Sizeof(OrderResult{}) - OrderResultSize
	_ uintptr = OrderResultSize - unsafe.Sizeof(OrderResult{})
)

// Encode writes the result into b[0:24].
func (r *OrderResult) Encode(b []byte) {
	_ = b[OrderResultSize-1]
	binary.LittleEndian.PutUint64(b[0:], r.OrderID)
	binary.LittleEndian.PutUint64(b[8:], r.Timestamp)
	binary.LittleEndian.PutUint32(b[16:], uint32(r.Status))
	binary.LittleEndian.PutUint32(b[20:], r.Reserved)
}

// Decode reads the result from b[0:24].
func (r *OrderResult) Decode(b []byte) {
	_ = b[OrderResultSize-1]
	r.OrderID = binary.LittleEndian.Uint64(b[0:])
	r.Timestamp = binary.LittleEndian.Uint64(b[8:])
	r.Status = Status(binary.LittleEndian.Uint32(b[16:]))
	r.Reserved = binary.LittleEndian.Uint32(b[20:])
}

// MassCancelResult is the outcome of one mass cancel: how many orders it canceled.
//
// Layout: timestamp 0 | status 8 (u32) | canceled_count 12 (u32).
type MassCancelResult struct {
	Timestamp     uint64
	Status        Status
	CanceledCount uint32
}

const (
	_ uintptr = unsafe.Sizeof(MassCancelResult{}) - MassCancelResultSize
	_ uintptr = MassCancelResultSize - unsafe.Sizeof(MassCancelResult{})
)

// Encode writes the result into b[0:16].
func (r *MassCancelResult) Encode(b []byte) {
	_ = b[MassCancelResultSize-1]
	binary.LittleEndian.PutUint64(b[0:], r.Timestamp)
	binary.LittleEndian.PutUint32(b[8:], uint32(r.Status))
	binary.LittleEndian.PutUint32(b[12:], r.CanceledCount)
}

// Decode reads the result from b[0:16].
func (r *MassCancelResult) Decode(b []byte) {
	_ = b[MassCancelResultSize-1]
	r.Timestamp = binary.LittleEndian.Uint64(b[0:])
	r.Status = Status(binary.LittleEndian.Uint32(b[8:]))
	r.CanceledCount = binary.LittleEndian.Uint32(b[12:])
}

// ExecutionReport field offsets within the 128-byte record (wire format: never change).
//
//	 0 order_id          8 client_order_id   16 client            24 account
//	32 instrument (u32) 36 status (u32)     40 kind (u8) 41 side (u8) 42 liquidity (u8)
//	43 type (u8)        44 reserved (u32)   48 trade_id          56 contra_order_id
//	64 price            72 quantity         80 leaves_quantity   88 filled_quantity
//	96 fee (u128)      112 timestamp       120 reserved (u64)
const (
	reportOffsetOrderID        = 0
	reportOffsetClientOrderID  = 8
	reportOffsetClient         = 16
	reportOffsetAccount        = 24
	reportOffsetInstrument     = 32
	reportOffsetStatus         = 36
	reportOffsetKind           = 40
	reportOffsetSide           = 41
	reportOffsetLiquidity      = 42
	reportOffsetType           = 43
	reportOffsetReserved       = 44
	reportOffsetTradeID        = 48
	reportOffsetContraOrderID  = 56
	reportOffsetPrice          = 64
	reportOffsetQuantity       = 72
	reportOffsetLeavesQuantity = 80
	reportOffsetFilledQuantity = 88
	reportOffsetFee            = 96
	reportOffsetTimestamp      = 112
	reportOffsetReserved2      = 120
)

// ExecutionReport tells an order's owner what happened to it. Client routes it. For a
// fill: TradeID, ContraOrderID (the other side's order), Price and Quantity of the fill,
// Liquidity, and Fee (in the unit of what the owner received). For accepted and replaced:
// Price and Quantity of the order. For canceled, expired and rejected: Status is the
// reason. LeavesQuantity and FilledQuantity are the order's after the event.
type ExecutionReport struct {
	OrderID        uint64
	ClientOrderID  uint64 // Of the command that caused the report (or the order's).
	Client         uint64 // Owner: deliver to this client.
	Account        uint64
	Instrument     uint32
	Status         Status
	Kind           ReportKind
	Side           Side
	Liquidity      Liquidity
	Type           OrderType
	Reserved       uint32 // Zero.
	TradeID        uint64
	ContraOrderID  uint64
	Price          uint64
	Quantity       uint64
	LeavesQuantity uint64
	FilledQuantity uint64
	Fee            Uint128
	Timestamp      uint64
	Reserved2      uint64 // Zero.
}

const (
	_ uintptr = unsafe.Sizeof(ExecutionReport{}) - ExecutionReportSize
	_ uintptr = ExecutionReportSize - unsafe.Sizeof(ExecutionReport{})
)

// Encode writes the report into b[0:128].
func (r *ExecutionReport) Encode(b []byte) {
	_ = b[ExecutionReportSize-1]
	binary.LittleEndian.PutUint64(b[reportOffsetOrderID:], r.OrderID)
	binary.LittleEndian.PutUint64(b[reportOffsetClientOrderID:], r.ClientOrderID)
	binary.LittleEndian.PutUint64(b[reportOffsetClient:], r.Client)
	binary.LittleEndian.PutUint64(b[reportOffsetAccount:], r.Account)
	binary.LittleEndian.PutUint32(b[reportOffsetInstrument:], r.Instrument)
	binary.LittleEndian.PutUint32(b[reportOffsetStatus:], uint32(r.Status))
	b[reportOffsetKind] = byte(r.Kind)
	b[reportOffsetSide] = byte(r.Side)
	b[reportOffsetLiquidity] = byte(r.Liquidity)
	b[reportOffsetType] = byte(r.Type)
	binary.LittleEndian.PutUint32(b[reportOffsetReserved:], r.Reserved)
	binary.LittleEndian.PutUint64(b[reportOffsetTradeID:], r.TradeID)
	binary.LittleEndian.PutUint64(b[reportOffsetContraOrderID:], r.ContraOrderID)
	binary.LittleEndian.PutUint64(b[reportOffsetPrice:], r.Price)
	binary.LittleEndian.PutUint64(b[reportOffsetQuantity:], r.Quantity)
	binary.LittleEndian.PutUint64(b[reportOffsetLeavesQuantity:], r.LeavesQuantity)
	binary.LittleEndian.PutUint64(b[reportOffsetFilledQuantity:], r.FilledQuantity)
	r.Fee.PutLE(b[reportOffsetFee:])
	binary.LittleEndian.PutUint64(b[reportOffsetTimestamp:], r.Timestamp)
	binary.LittleEndian.PutUint64(b[reportOffsetReserved2:], r.Reserved2)
}

// Decode reads the report from b[0:128].
func (r *ExecutionReport) Decode(b []byte) {
	_ = b[ExecutionReportSize-1]
	r.OrderID = binary.LittleEndian.Uint64(b[reportOffsetOrderID:])
	r.ClientOrderID = binary.LittleEndian.Uint64(b[reportOffsetClientOrderID:])
	r.Client = binary.LittleEndian.Uint64(b[reportOffsetClient:])
	r.Account = binary.LittleEndian.Uint64(b[reportOffsetAccount:])
	r.Instrument = binary.LittleEndian.Uint32(b[reportOffsetInstrument:])
	r.Status = Status(binary.LittleEndian.Uint32(b[reportOffsetStatus:]))
	r.Kind = ReportKind(b[reportOffsetKind])
	r.Side = Side(b[reportOffsetSide])
	r.Liquidity = Liquidity(b[reportOffsetLiquidity])
	r.Type = OrderType(b[reportOffsetType])
	r.Reserved = binary.LittleEndian.Uint32(b[reportOffsetReserved:])
	r.TradeID = binary.LittleEndian.Uint64(b[reportOffsetTradeID:])
	r.ContraOrderID = binary.LittleEndian.Uint64(b[reportOffsetContraOrderID:])
	r.Price = binary.LittleEndian.Uint64(b[reportOffsetPrice:])
	r.Quantity = binary.LittleEndian.Uint64(b[reportOffsetQuantity:])
	r.LeavesQuantity = binary.LittleEndian.Uint64(b[reportOffsetLeavesQuantity:])
	r.FilledQuantity = binary.LittleEndian.Uint64(b[reportOffsetFilledQuantity:])
	r.Fee = Uint128LE(b[reportOffsetFee:])
	r.Timestamp = binary.LittleEndian.Uint64(b[reportOffsetTimestamp:])
	r.Reserved2 = binary.LittleEndian.Uint64(b[reportOffsetReserved2:])
}

// MarketDataUpdate field offsets within the 128-byte record (wire format: never change).
//
//	  0 sequence          8 timestamp        16 instrument (u32) 20 kind (u8) 21 side (u8)
//	 22 reserved (u16)   24 price            32 quantity (u128)  48 order_count (u32)
//	 52 reserved (u32)   56 trade_id         64 bid_price        72 bid_quantity (u128)
//	 88 ask_price        96 ask_quantity (u128)                  112 bid_order_count (u32)
//	116 ask_order_count (u32)               120 op (u64)
const (
	marketDataOffsetSequence      = 0
	marketDataOffsetTimestamp     = 8
	marketDataOffsetInstrument    = 16
	marketDataOffsetKind          = 20
	marketDataOffsetSide          = 21
	marketDataOffsetShard         = 22
	marketDataOffsetPrice         = 24
	marketDataOffsetQuantity      = 32
	marketDataOffsetOrderCount    = 48
	marketDataOffsetReserved2     = 52
	marketDataOffsetTradeID       = 56
	marketDataOffsetBidPrice      = 64
	marketDataOffsetBidQuantity   = 72
	marketDataOffsetAskPrice      = 88
	marketDataOffsetAskQuantity   = 96
	marketDataOffsetBidOrderCount = 112
	marketDataOffsetAskOrderCount = 116
	marketDataOffsetOp            = 120
)

// MarketDataUpdate is one public change of an instrument: a trade, or a price level's new
// total (coalesced per matching step). Every update also carries the top of book as it
// stands when the update is published (0 price and quantity for an empty side). Sequence
// counts the instrument's updates from 1 without gaps. Level totals are 128-bit: many
// orders of up to 2^64-1 units each may rest at one price.
type MarketDataUpdate struct {
	Sequence      uint64
	Timestamp     uint64
	Instrument    uint32
	Kind          MarketDataKind
	Side          Side   // Level: its side. Trade: the taker's side.
	Shard         uint16 // Whose log Op is in: 0 from the engine, set by the feed (netio).
	Price         uint64
	Quantity      Uint128 // Level: total open quantity (0 = gone). Trade: traded quantity.
	OrderCount    uint32  // Level: open orders at the price.
	Reserved2     uint32
	TradeID       uint64 // Trade only.
	BidPrice      uint64
	BidQuantity   Uint128
	AskPrice      uint64
	AskQuantity   Uint128
	BidOrderCount uint32
	AskOrderCount uint32
	Op            uint64 // Log op of the request that caused the update.
}

const (
	_ uintptr = unsafe.Sizeof(MarketDataUpdate{}) - MarketDataUpdateSize
	_ uintptr = MarketDataUpdateSize - unsafe.Sizeof(MarketDataUpdate{})
)

// Encode writes the update into b[0:128].
func (m *MarketDataUpdate) Encode(b []byte) {
	_ = b[MarketDataUpdateSize-1]
	binary.LittleEndian.PutUint64(b[marketDataOffsetSequence:], m.Sequence)
	binary.LittleEndian.PutUint64(b[marketDataOffsetTimestamp:], m.Timestamp)
	binary.LittleEndian.PutUint32(b[marketDataOffsetInstrument:], m.Instrument)
	b[marketDataOffsetKind] = byte(m.Kind)
	b[marketDataOffsetSide] = byte(m.Side)
	binary.LittleEndian.PutUint16(b[marketDataOffsetShard:], m.Shard)
	binary.LittleEndian.PutUint64(b[marketDataOffsetPrice:], m.Price)
	m.Quantity.PutLE(b[marketDataOffsetQuantity:])
	binary.LittleEndian.PutUint32(b[marketDataOffsetOrderCount:], m.OrderCount)
	binary.LittleEndian.PutUint32(b[marketDataOffsetReserved2:], m.Reserved2)
	binary.LittleEndian.PutUint64(b[marketDataOffsetTradeID:], m.TradeID)
	binary.LittleEndian.PutUint64(b[marketDataOffsetBidPrice:], m.BidPrice)
	m.BidQuantity.PutLE(b[marketDataOffsetBidQuantity:])
	binary.LittleEndian.PutUint64(b[marketDataOffsetAskPrice:], m.AskPrice)
	m.AskQuantity.PutLE(b[marketDataOffsetAskQuantity:])
	binary.LittleEndian.PutUint32(b[marketDataOffsetBidOrderCount:], m.BidOrderCount)
	binary.LittleEndian.PutUint32(b[marketDataOffsetAskOrderCount:], m.AskOrderCount)
	binary.LittleEndian.PutUint64(b[marketDataOffsetOp:], m.Op)
}

// Decode reads the update from b[0:128].
func (m *MarketDataUpdate) Decode(b []byte) {
	_ = b[MarketDataUpdateSize-1]
	m.Sequence = binary.LittleEndian.Uint64(b[marketDataOffsetSequence:])
	m.Timestamp = binary.LittleEndian.Uint64(b[marketDataOffsetTimestamp:])
	m.Instrument = binary.LittleEndian.Uint32(b[marketDataOffsetInstrument:])
	m.Kind = MarketDataKind(b[marketDataOffsetKind])
	m.Side = Side(b[marketDataOffsetSide])
	m.Shard = binary.LittleEndian.Uint16(b[marketDataOffsetShard:])
	m.Price = binary.LittleEndian.Uint64(b[marketDataOffsetPrice:])
	m.Quantity = Uint128LE(b[marketDataOffsetQuantity:])
	m.OrderCount = binary.LittleEndian.Uint32(b[marketDataOffsetOrderCount:])
	m.Reserved2 = binary.LittleEndian.Uint32(b[marketDataOffsetReserved2:])
	m.TradeID = binary.LittleEndian.Uint64(b[marketDataOffsetTradeID:])
	m.BidPrice = binary.LittleEndian.Uint64(b[marketDataOffsetBidPrice:])
	m.BidQuantity = Uint128LE(b[marketDataOffsetBidQuantity:])
	m.AskPrice = binary.LittleEndian.Uint64(b[marketDataOffsetAskPrice:])
	m.AskQuantity = Uint128LE(b[marketDataOffsetAskQuantity:])
	m.BidOrderCount = binary.LittleEndian.Uint32(b[marketDataOffsetBidOrderCount:])
	m.AskOrderCount = binary.LittleEndian.Uint32(b[marketDataOffsetAskOrderCount:])
	m.Op = binary.LittleEndian.Uint64(b[marketDataOffsetOp:])
}

// OrderState field offsets within the 128-byte record (wire and snapshot format).
//
//	  0 order_id          8 client_order_id   16 client            24 account
//	 32 base_account_id (u128)                48 quote_account_id (u128)
//	 64 price            72 quantity          80 leaves_quantity   88 filled_quantity
//	 96 reserve_price   104 expire_timestamp 112 instrument (u32)
//	116 side (u8) 117 type (u8) 118 time_in_force (u8) 119 self_trade (u8)
//	120 timestamp (of its current time priority)
const (
	orderStateOffsetOrderID         = 0
	orderStateOffsetClientOrderID   = 8
	orderStateOffsetClient          = 16
	orderStateOffsetAccount         = 24
	orderStateOffsetBaseAccountID   = 32
	orderStateOffsetQuoteAccountID  = 48
	orderStateOffsetPrice           = 64
	orderStateOffsetQuantity        = 72
	orderStateOffsetLeavesQuantity  = 80
	orderStateOffsetFilledQuantity  = 88
	orderStateOffsetReservePrice    = 96
	orderStateOffsetExpireTimestamp = 104
	orderStateOffsetInstrument      = 112
	orderStateOffsetSide            = 116
	orderStateOffsetType            = 117
	orderStateOffsetTimeInForce     = 118
	orderStateOffsetSelfTrade       = 119
	orderStateOffsetTimestamp       = 120
)

// OrderState is an open (resting) order as lookup_orders and get_account_orders return
// it. Quantity is its total quantity (FIX OrderQty): LeavesQuantity + FilledQuantity.
type OrderState struct {
	OrderID         uint64
	ClientOrderID   uint64 // Of the command that placed or last replaced it.
	Client          uint64
	Account         uint64
	BaseAccountID   Uint128
	QuoteAccountID  Uint128
	Price           uint64
	Quantity        uint64
	LeavesQuantity  uint64
	FilledQuantity  uint64
	ReservePrice    uint64 // Buys: the price its hold is computed at.
	ExpireTimestamp uint64
	Instrument      uint32
	Side            Side
	Type            OrderType
	TimeInForce     TimeInForce
	SelfTrade       SelfTradeMode
	Timestamp       uint64 // When it took its current place in the queue.
}

const (
	_ uintptr = unsafe.Sizeof(OrderState{}) - OrderStateSize
	_ uintptr = OrderStateSize - unsafe.Sizeof(OrderState{})
)

// Encode writes the state into b[0:128].
func (s *OrderState) Encode(b []byte) {
	_ = b[OrderStateSize-1]
	binary.LittleEndian.PutUint64(b[orderStateOffsetOrderID:], s.OrderID)
	binary.LittleEndian.PutUint64(b[orderStateOffsetClientOrderID:], s.ClientOrderID)
	binary.LittleEndian.PutUint64(b[orderStateOffsetClient:], s.Client)
	binary.LittleEndian.PutUint64(b[orderStateOffsetAccount:], s.Account)
	s.BaseAccountID.PutLE(b[orderStateOffsetBaseAccountID:])
	s.QuoteAccountID.PutLE(b[orderStateOffsetQuoteAccountID:])
	binary.LittleEndian.PutUint64(b[orderStateOffsetPrice:], s.Price)
	binary.LittleEndian.PutUint64(b[orderStateOffsetQuantity:], s.Quantity)
	binary.LittleEndian.PutUint64(b[orderStateOffsetLeavesQuantity:], s.LeavesQuantity)
	binary.LittleEndian.PutUint64(b[orderStateOffsetFilledQuantity:], s.FilledQuantity)
	binary.LittleEndian.PutUint64(b[orderStateOffsetReservePrice:], s.ReservePrice)
	binary.LittleEndian.PutUint64(b[orderStateOffsetExpireTimestamp:], s.ExpireTimestamp)
	binary.LittleEndian.PutUint32(b[orderStateOffsetInstrument:], s.Instrument)
	b[orderStateOffsetSide] = byte(s.Side)
	b[orderStateOffsetType] = byte(s.Type)
	b[orderStateOffsetTimeInForce] = byte(s.TimeInForce)
	b[orderStateOffsetSelfTrade] = byte(s.SelfTrade)
	binary.LittleEndian.PutUint64(b[orderStateOffsetTimestamp:], s.Timestamp)
}

// Decode reads the state from b[0:128].
func (s *OrderState) Decode(b []byte) {
	_ = b[OrderStateSize-1]
	s.OrderID = binary.LittleEndian.Uint64(b[orderStateOffsetOrderID:])
	s.ClientOrderID = binary.LittleEndian.Uint64(b[orderStateOffsetClientOrderID:])
	s.Client = binary.LittleEndian.Uint64(b[orderStateOffsetClient:])
	s.Account = binary.LittleEndian.Uint64(b[orderStateOffsetAccount:])
	s.BaseAccountID = Uint128LE(b[orderStateOffsetBaseAccountID:])
	s.QuoteAccountID = Uint128LE(b[orderStateOffsetQuoteAccountID:])
	s.Price = binary.LittleEndian.Uint64(b[orderStateOffsetPrice:])
	s.Quantity = binary.LittleEndian.Uint64(b[orderStateOffsetQuantity:])
	s.LeavesQuantity = binary.LittleEndian.Uint64(b[orderStateOffsetLeavesQuantity:])
	s.FilledQuantity = binary.LittleEndian.Uint64(b[orderStateOffsetFilledQuantity:])
	s.ReservePrice = binary.LittleEndian.Uint64(b[orderStateOffsetReservePrice:])
	s.ExpireTimestamp = binary.LittleEndian.Uint64(b[orderStateOffsetExpireTimestamp:])
	s.Instrument = binary.LittleEndian.Uint32(b[orderStateOffsetInstrument:])
	s.Side = Side(b[orderStateOffsetSide])
	s.Type = OrderType(b[orderStateOffsetType])
	s.TimeInForce = TimeInForce(b[orderStateOffsetTimeInForce])
	s.SelfTrade = SelfTradeMode(b[orderStateOffsetSelfTrade])
	s.Timestamp = binary.LittleEndian.Uint64(b[orderStateOffsetTimestamp:])
}

// OrderFilter selects the open orders of one of the caller's trading accounts, in order-id
// order (placement order), after a given order id (for paging).
//
// Layout: account 0 | after_order_id 8 | instrument 16 (u32) | limit 20 (u32) |
// reserved 24 (8).
type OrderFilter struct {
	Account      uint64 // Trading account.
	AfterOrderID uint64 // Only orders with a larger id; 0 = from the first.
	Instrument   uint32 // 0 = every instrument.
	Limit        uint32 // Most results, 1..EventsPerRequestMax.
	Reserved     uint64 // Must be zero.
}

const (
	_ uintptr = unsafe.Sizeof(OrderFilter{}) - OrderFilterSize
	_ uintptr = OrderFilterSize - unsafe.Sizeof(OrderFilter{})
)

// Encode writes the filter into b[0:32].
func (f *OrderFilter) Encode(b []byte) {
	_ = b[OrderFilterSize-1]
	binary.LittleEndian.PutUint64(b[0:], f.Account)
	binary.LittleEndian.PutUint64(b[8:], f.AfterOrderID)
	binary.LittleEndian.PutUint32(b[16:], f.Instrument)
	binary.LittleEndian.PutUint32(b[20:], f.Limit)
	binary.LittleEndian.PutUint64(b[24:], f.Reserved)
}

// Decode reads the filter from b[0:32].
func (f *OrderFilter) Decode(b []byte) {
	_ = b[OrderFilterSize-1]
	f.Account = binary.LittleEndian.Uint64(b[0:])
	f.AfterOrderID = binary.LittleEndian.Uint64(b[8:])
	f.Instrument = binary.LittleEndian.Uint32(b[16:])
	f.Limit = binary.LittleEndian.Uint32(b[20:])
	f.Reserved = binary.LittleEndian.Uint64(b[24:])
}

// DepthFilter asks for the best Levels price levels of each side of an instrument.
//
// Layout: instrument 0 (u32) | levels 4 (u32) | reserved 8 (8).
type DepthFilter struct {
	Instrument uint32
	Levels     uint32 // Per side, 1..DepthLevelsMax of package match.
	Reserved   uint64 // Must be zero.
}

const (
	_ uintptr = unsafe.Sizeof(DepthFilter{}) - DepthFilterSize
	_ uintptr = DepthFilterSize - unsafe.Sizeof(DepthFilter{})
)

// Encode writes the filter into b[0:16].
func (f *DepthFilter) Encode(b []byte) {
	_ = b[DepthFilterSize-1]
	binary.LittleEndian.PutUint32(b[0:], f.Instrument)
	binary.LittleEndian.PutUint32(b[4:], f.Levels)
	binary.LittleEndian.PutUint64(b[8:], f.Reserved)
}

// Decode reads the filter from b[0:16].
func (f *DepthFilter) Decode(b []byte) {
	_ = b[DepthFilterSize-1]
	f.Instrument = binary.LittleEndian.Uint32(b[0:])
	f.Levels = binary.LittleEndian.Uint32(b[4:])
	f.Reserved = binary.LittleEndian.Uint64(b[8:])
}

// DepthLevel is one price level of a depth snapshot: bids come first, best first, then
// asks, best first.
//
// Layout: price 0 | quantity 8 (u128) | order_count 24 (u32) | side 28 (u8) |
// reserved 29 (3).
type DepthLevel struct {
	Price      uint64
	Quantity   Uint128 // Total open quantity at the price.
	OrderCount uint32
	Side       Side
	Reserved   [3]byte
}

const (
	_ uintptr = unsafe.Sizeof(DepthLevel{}) - DepthLevelSize
	_ uintptr = DepthLevelSize - unsafe.Sizeof(DepthLevel{})
)

// Encode writes the level into b[0:32].
func (d *DepthLevel) Encode(b []byte) {
	_ = b[DepthLevelSize-1]
	binary.LittleEndian.PutUint64(b[0:], d.Price)
	d.Quantity.PutLE(b[8:])
	binary.LittleEndian.PutUint32(b[24:], d.OrderCount)
	b[28] = byte(d.Side)
	copy(b[29:DepthLevelSize], d.Reserved[:])
}

// Decode reads the level from b[0:32].
func (d *DepthLevel) Decode(b []byte) {
	_ = b[DepthLevelSize-1]
	d.Price = binary.LittleEndian.Uint64(b[0:])
	d.Quantity = Uint128LE(b[8:])
	d.OrderCount = binary.LittleEndian.Uint32(b[24:])
	d.Side = Side(b[28])
	copy(d.Reserved[:], b[29:DepthLevelSize])
}

// BookHeader is the first result of get_book (the market-data snapshot), in a
// DepthLevel-sized record; BidCount bid levels then AskCount ask levels follow, best
// first. Sequence is the instrument's market-data sequence the book reflects: apply the
// updates with a higher sequence to it.
//
//	0 sequence u64   8 op u64   16 instrument u32   20 bid_count u32   24 ask_count u32
//	28 reserved u32
type BookHeader struct {
	Sequence   uint64 // Last market-data sequence of the instrument included in the book.
	Op         uint64 // Last op applied when the book was read.
	Instrument uint32
	BidCount   uint32
	AskCount   uint32
}

// Encode writes the header into b[0:32].
func (h *BookHeader) Encode(b []byte) {
	_ = b[DepthLevelSize-1]
	binary.LittleEndian.PutUint64(b[0:], h.Sequence)
	binary.LittleEndian.PutUint64(b[8:], h.Op)
	binary.LittleEndian.PutUint32(b[16:], h.Instrument)
	binary.LittleEndian.PutUint32(b[20:], h.BidCount)
	binary.LittleEndian.PutUint32(b[24:], h.AskCount)
	binary.LittleEndian.PutUint32(b[28:], 0)
}

// Decode reads the header from b[0:32].
func (h *BookHeader) Decode(b []byte) {
	_ = b[DepthLevelSize-1]
	h.Sequence = binary.LittleEndian.Uint64(b[0:])
	h.Op = binary.LittleEndian.Uint64(b[8:])
	h.Instrument = binary.LittleEndian.Uint32(b[16:])
	h.BidCount = binary.LittleEndian.Uint32(b[20:])
	h.AskCount = binary.LittleEndian.Uint32(b[24:])
}
