package match

import (
	"fmt"

	"sequent/core/ledger"
	"sequent/core/model"
)

// System ids. Every account and transfer the engine creates lies in the ledger's system
// range (bit 127 set), under the engine's own domain byte, with a kind byte below it:
//
//	bits 127     1 (system range)
//	bits 112-119 0x6d ('m', the matching engine's domain)
//	bits 104-111 kind: 1 base escrow, 2 quote escrow, 3 transfer
//	bits 0-63    instrument id (escrows) or transfer sequence (transfers)
//
// Escrow ids derive from the instrument id, which is unique; transfer ids from a
// sequence that only increases, whatever the ledger answers (chainAdd and chainAddNext
// take the next one when an event is built, and a rolled-back chain does not give its
// ids back; the sequence is in the engine's snapshot). So ids never collide. The
// ledger does not remember a system transfer's failure (in core/ledger,
// TestFailedSystemTransfersAreNotRemembered): an id of a rolled-back chain could be
// sent again and would be applied, but the engine never sends it again.
const (
	systemIDHigh          = 1<<63 | 0x6d<<48
	systemKindEscrowBase  = 1 << 40
	systemKindEscrowQuote = 2 << 40
	systemKindTransfer    = 3 << 40
)

// Ledger codes of the engine's accounts and transfers (posts and voids inherit the hold's;
// a fill paid from a reservation carries the hold's code too).
const (
	AccountCodeEscrow    uint16 = 0x6d01 // Instrument escrow accounts.
	TransferCodeHold     uint16 = 0x6d10 // Trader → escrow: what an order pays (or a legacy hold).
	TransferCodeProceeds uint16 = 0x6d11 // Escrow → trader: what a fill pays out.
	TransferCodeFee      uint16 = 0x6d12 // Escrow → fee account.
)

func escrowID(kind uint64, instrumentID uint32) model.Uint128 {
	return model.Uint128{Hi: systemIDHigh | kind, Lo: uint64(instrumentID)}
}

func transferID(sequence uint64) model.Uint128 {
	return model.Uint128{Hi: systemIDHigh | systemKindTransfer, Lo: sequence}
}

// Owners of chain events that are not orders (see chain.owners).
const (
	ownerFee = indexNone - 1 // A fee transfer: the instrument's fee account refused it.
)

// chain is the ledger batch being built for one step: the events, and for each the order
// slot whose funds it moves (or ownerFee), so that a refused event names its culprit.
type chain struct {
	events  []model.Transfer
	owners  []uint32
	results []model.TransferResult
	// homes[2i] and homes[2i+1] point to where the engine keeps the ledger's place of
	// events[i]'s debit and credit account (an order's payingIndex, an instrument's
	// escrow or fee account index, a trader's receiving account's entry of
	// traderPlaces), or to placeElsewhere for an account it keeps no place of (a legacy
	// post's or void's zero ids). chainSubmit hands the places to the ledger in places
	// and writes its answers back.
	homes          []*uint32
	places         []uint32
	placeElsewhere uint32 // A guess like any other: the last such account's place.
	// traderPlaces holds the places of traders' accounts (an order's base and quote
	// accounts), direct-mapped by the account id (traderPlace): a new order's funding
	// checks start from them (ledger.AccountTermsPlacedAs) and write what they found,
	// and a proceeds event's receiving account, which the 192-byte order has no room
	// for, takes its place from there (the ledger's answers after a chain are written
	// back as every home's are). Two accounts sharing an entry only cost each other
	// lookups: the ledger trusts a place only where the record there has the account's
	// id, so no guess, right or wrong, changes a result, and the table is not state
	// (never logged, snapshotted or restored).
	traderPlaces *[traderPlacesCount]uint32
}

// traderPlacesBits sizes chain.traderPlaces: 4,096 entries (16 KiB), enough for each
// of a couple of thousand active traders' two accounts to keep its own entry most of
// the time.
const (
	traderPlacesBits  = 12
	traderPlacesCount = 1 << traderPlacesBits
)

// traderPlace returns the entry of chain.traderPlaces for the account id: a
// multiplicative (Fibonacci) hash of the id's words, which spreads consecutive ids over
// the table.
func (c *chain) traderPlace(id model.Uint128) *uint32 {
	const multiplier uint64 = 0x9e3779b97f4a7c15 // 2^64 divided by the golden ratio.
	return &c.traderPlaces[((id.Lo^id.Hi)*multiplier)>>(64-traderPlacesBits)]
}

func (c *chain) init() {
	size := max(chainEventsMax, voidsPerBatchMax)
	c.events = make([]model.Transfer, 0, size)
	c.owners = make([]uint32, 0, size)
	c.results = make([]model.TransferResult, size)
	c.homes = make([]*uint32, 2*size)
	c.places = make([]uint32, 2*size)
	c.traderPlaces = new([traderPlacesCount]uint32)
	for i := range c.traderPlaces {
		c.traderPlaces[i] = ledger.IndexUnknown
	}
}

func (c *chain) reset() {
	c.events = c.events[:0]
	c.owners = c.owners[:0]
}

// chainAdd appends a transfer owned by owner, giving it the next system transfer id, and
// returns that id's sequence.
func (e *Engine) chainAdd(t model.Transfer, owner uint32) uint64 {
	sequence := e.nextTransferSequence
	e.nextTransferSequence++
	t.ID = transferID(sequence)
	e.chainAppend(t, owner)
	return sequence
}

// chainAppend appends an event owned by owner as it is (a reservation: no id).
func (e *Engine) chainAppend(t model.Transfer, owner uint32) {
	*e.chainNext(owner) = t
}

// chainNext appends a zero event owned by owner and returns it, for the caller to fill
// in place: the transfers built on the hot path (reservations, payments from them,
// payouts) are written straight into the chain instead of being built in a 128-byte
// value and copied in (twice: as a result, then as an argument).
func (e *Engine) chainNext(owner uint32) *model.Transfer {
	c := &e.scratch.chain
	if len(c.events) == cap(c.events) {
		panic("match: ledger chain longer than its bound")
	}
	c.events = c.events[:len(c.events)+1]
	t := &c.events[len(c.events)-1]
	*t = model.Transfer{}
	c.owners = append(c.owners, owner)
	return t
}

// chainHomes fills the chain's homes (chain.homes) and places for its count events, for
// CreateSystemTransfersAt. Every event of a chain moves funds of one instrument's orders
// (a step's taker, makers and planned cancels; a replace's or cancel's order), so a fee
// event, owned by no order, takes the instrument of the order before it. A home that
// names another account than the event's (it cannot, but nothing depends on it) costs
// the ledger one lookup, never a different result: the ledger checks every place.
func (e *Engine) chainHomes(c *chain, count int) {
	homes, places := c.homes[:2*count], c.places[:2*count]
	owners := c.owners[:count]
	elsewhere := &c.placeElsewhere
	var x *instrument
	for i := range c.events[:count] {
		t := &c.events[i]
		debit, credit := elsewhere, elsewhere
		if owner := owners[i]; owner != ownerFee {
			o := &e.orders[owner]
			x = &e.instruments[o.instrument]
			switch {
			case t.Flags&(reservationFlags|model.TransferFromReservation) != 0:
				debit, credit = &o.payingIndex, escrowPlace(x, o.side)
			case t.Code == TransferCodeProceeds:
				debit, _ = payoutPlaces(x, o.side)
				credit = c.traderPlace(t.CreditAccountID)
			}
		} else if x != nil {
			// A fee: from the escrow of what the order receives to the fee account.
			side := model.SideSell
			if t.DebitAccountID == x.escrowBase {
				side = model.SideBuy
			}
			debit, credit = payoutPlaces(x, side)
		}
		pair := homes[2*i : 2*i+2 : 2*i+2]
		pair[0], pair[1] = debit, credit
		known := places[2*i : 2*i+2 : 2*i+2]
		known[0], known[1] = *debit, *credit
	}
}

// escrowPlace returns where the engine keeps the place of instrument x's escrow of the
// asset that side pays (quote for a buy, base for a sell): what holdTransferTo's
// transfers credit.
func escrowPlace(x *instrument, side model.Side) *uint32 {
	if side == model.SideBuy {
		return &x.escrowQuoteIndex
	}
	return &x.escrowBaseIndex
}

// payoutPlaces returns where the engine keeps the places of the accounts that
// payTransferTo's transfers for an order of side name besides the trader's: the escrow
// of the asset that side receives (base for a buy, quote for a sell), which pays out,
// and the fee account of that asset.
func payoutPlaces(x *instrument, side model.Side) (escrow, fee *uint32) {
	if side == model.SideBuy {
		return &x.escrowBaseIndex, &x.feeBaseIndex
	}
	return &x.escrowQuoteIndex, &x.feeQuoteIndex
}

// chainAddNext is chainNext for a transfer with an id: it gives the event the next
// system transfer id, as chainAdd does.
func (e *Engine) chainAddNext(owner uint32) *model.Transfer {
	t := e.chainNext(owner)
	t.ID = transferID(e.nextTransferSequence)
	e.nextTransferSequence++
	return t
}

// reservationFlags marks a ledger event as a reservation (reserve or release).
const reservationFlags = ledger.SystemReserve | ledger.SystemRelease

// holdReserved in order.holdSequence says that the order's funds are held by a ledger
// reservation (package ledger, "Reservations"): its holdAmount is part of the paying
// account's debits_pending and the escrow's credits_pending, with no transfer record.
// Any other non-zero sequence is a legacy hold: the pending transfer of an order restored
// from a snapshot older than reservations (version 2), settled the old way (posted or
// voided) until the order ends or its hold changes (a replace or partial fill turns it
// into a reservation).
const holdReserved = ^uint64(0)

// legacyHold reports whether the order's funds are held by a pending transfer.
func legacyHold(o *order) bool { return o.holdSequence != 0 && o.holdSequence != holdReserved }

// chainReservation adds, owned by slot, the ledger event that reserves (flag
// ledger.SystemReserve) or releases (ledger.SystemRelease) amount for order o: on the
// trader's paying account and the instrument's escrow, as holdTransfer's pending transfer
// would.
func (e *Engine) chainReservation(o *order, slot uint32, amount model.Uint128, flag uint16) {
	t := e.chainNext(slot)
	e.holdTransferTo(t, o, amount)
	t.Flags = flag
}

// chainRelease adds what ends an order's hold: the void of a legacy hold, or the
// release of its reservation (nothing when it reserves nothing).
func (e *Engine) chainRelease(slot uint32) {
	o := &e.orders[slot]
	switch {
	case legacyHold(o):
		e.chainAdd(voidTransfer(o.holdSequence), slot)
	case o.holdSequence == holdReserved && !o.holdAmount.IsZero():
		e.chainReservation(o, slot, o.holdAmount, ledger.SystemRelease)
	}
}

// chainPaid adds what an order pays for a fill out of its hold, keeping keep held: for a
// reservation, the from_reservation transfer of paid and the release of what is left
// beyond keep (a buy reserved at a reserve price above the trade price); for a legacy
// hold, its post (the ledger releases the rest). It reports whether keep must then be
// reserved again (legacy holds only), which the caller adds after the post.
func (e *Engine) chainPaid(slot uint32, paid model.Uint128, keep model.Uint128, keeps bool) bool {
	o := &e.orders[slot]
	if legacyHold(o) {
		e.chainAdd(postTransfer(o.holdSequence, paid), slot)
		return keeps
	}
	t := e.chainAddNext(slot)
	e.holdTransferTo(t, o, paid)
	t.Flags = model.TransferFromReservation
	if rest := o.holdAmount.MustSub(paid).MustSub(keep); !rest.IsZero() {
		e.chainReservation(o, slot, rest, ledger.SystemRelease)
	}
	return false
}

// chainSubmit applies the chain to the ledger, as one linked chain when linked (all or
// nothing) or as independent events. It consumes one timestamp per event. It returns -1
// when every event succeeded, or the index of the event that failed (for a linked chain,
// the ledger has then undone all of it).
func (e *Engine) chainSubmit(clock *uint64, linked bool) int {
	c := &e.scratch.chain
	count := len(c.events)
	if count == 0 {
		return -1
	}
	if linked {
		for i := 0; i < count-1; i++ {
			c.events[i].Flags |= model.TransferLinked
		}
	}
	first := *clock + 1
	if first > timestampMax-uint64(count) {
		panic(fmt.Sprintf("match: clock %d out of range", *clock))
	}
	*clock += uint64(count)
	results := c.results[:count]
	if count == 1 && c.events[0].Flags&reservationFlags != 0 {
		// A lone reservation change (most chains): the ledger's direct path, which gives
		// the same status and state as the batch entry. Only the status is read. Its
		// owner is the order (chainReservation), whose paying account and escrow the
		// ledger finds at the positions it last answered, checked, without a lookup.
		o := &e.orders[c.owners[0]]
		x := &e.instruments[o.instrument]
		escrowIndex := &x.escrowBaseIndex
		if o.side == model.SideBuy {
			escrowIndex = &x.escrowQuoteIndex
		}
		results[0].Status = e.ledger.ChangeSystemReservationAt(first, &c.events[0],
			&o.payingIndex, escrowIndex)
		if results[0].Status != model.StatusOK {
			return 0
		}
		return -1
	}
	// Longer chains (a fill's) through the ledger's entry told where the accounts were
	// last found, as the lone change above; its results carry only statuses, all this
	// reads. The answers go back where the engine keeps them.
	e.chainHomes(c, count)
	homes, places := c.homes[:2*count], c.places[:2*count]
	e.ledger.CreateSystemTransfersAt(first, c.events, places, results)
	for i, home := range homes {
		*home = places[i]
	}
	for i := range results {
		status := results[i].Status
		if status != model.StatusOK && status != model.StatusLinkedEventFailed {
			return i
		}
		if status == model.StatusLinkedEventFailed && !linked {
			panic("match: linked_event_failed outside a chain")
		}
	}
	return -1
}

// reserveAlone applies, on its own, the reservation change of amount (flag
// ledger.SystemReserve or SystemRelease) for order o, made for client (ledger.ReserveFor;
// 0 for the engine's own moves), and returns the ledger's status: the same event at the
// same timestamp, through the same ledger call (ChangeSystemReservationAt, at the
// places the engine keeps), as chainSubmit of a chain of that one event built by
// chainReservation, without building the chain (a 128-byte event zeroed and filled, its
// owner appended, the chain's checks and dispatch): most commands of a trading book
// change one order's reservation alone (a place, a bid moved to a new price, a cancel).
//
// It writes only the fields a reservation's ledger path reads (accounts, ledger, amount,
// flag, the client in UserData64), where holdTransferTo also writes the code, the order
// id and the instrument: a reservation stores no record and raises no change event, so
// the ledger never reads those, and writing them, and the side's test twice (here and
// in escrowPlace), cost ~16 instructions a reservation, ~10 a settled command of
// BenchmarkMatching (callgrind, session 49).
func (e *Engine) reserveAlone(clock *uint64, o *order, amount model.Uint128, flag uint16,
	client uint64) model.Status {
	x := &e.instruments[o.instrument]
	t := &e.scratch.reservation
	t.Amount, t.Flags = amount, flag
	ledger.ReserveFor(t, client)
	escrowIndex := &x.escrowBaseIndex
	if o.side == model.SideBuy {
		t.DebitAccountID, t.CreditAccountID, t.Ledger = o.quoteAccountID, x.escrowQuote,
			x.record.QuoteLedger
		escrowIndex = &x.escrowQuoteIndex
	} else {
		t.DebitAccountID, t.CreditAccountID, t.Ledger = o.baseAccountID, x.escrowBase,
			x.record.BaseLedger
	}
	first := *clock + 1
	if first > timestampMax-1 {
		panic(fmt.Sprintf("match: clock %d out of range", *clock))
	}
	*clock = first
	return e.ledger.ChangeSystemReservationAt(first, t, &o.payingIndex, escrowIndex)
}

// releaseAlone ends order o's hold on its own, as a chain of chainRelease alone would:
// the release of its reservation (nothing when it reserves nothing), or for a legacy
// hold the void, through the chain. A release is never refused.
func (e *Engine) releaseAlone(clock *uint64, slot uint32) {
	o := &e.orders[slot]
	var status model.Status
	switch {
	case legacyHold(o):
		e.scratch.chain.reset()
		e.chainRelease(slot)
		if failed := e.chainSubmit(clock, false); failed < 0 {
			return
		}
		status = e.scratch.chain.results[0].Status
	case o.holdSequence == holdReserved && !o.holdAmount.IsZero():
		status = e.reserveAlone(clock, o, o.holdAmount, ledger.SystemRelease, 0)
		if status == model.StatusOK {
			return
		}
	default:
		return
	}
	panic(fmt.Sprintf("match: the ledger refused to void a hold: %s", status))
}

// holdTransfer returns the pending transfer that holds amount for an order (a legacy
// hold; chainReservation and chainPaid write theirs with holdTransferTo): from the trader's
// paying account (quote for a buy, base for a sell) to the instrument's escrow.
func (e *Engine) holdTransfer(o *order, amount model.Uint128) model.Transfer {
	var t model.Transfer
	e.holdTransferTo(&t, o, amount)
	return t
}

// holdTransferTo writes holdTransfer's fields into t, a zero transfer (its id, timestamp
// and other fields stay as they are). reserveAlone writes the same accounts and ledger
// inline, without the code and user data: the two must stay alike.
func (e *Engine) holdTransferTo(t *model.Transfer, o *order, amount model.Uint128) {
	x := &e.instruments[o.instrument]
	t.Amount, t.Code, t.Flags = amount, TransferCodeHold, model.TransferPending
	t.UserData128, t.UserData32 = model.U128(o.id), x.record.ID
	if o.side == model.SideBuy {
		t.DebitAccountID, t.CreditAccountID, t.Ledger = o.quoteAccountID, x.escrowQuote,
			x.record.QuoteLedger
	} else {
		t.DebitAccountID, t.CreditAccountID, t.Ledger = o.baseAccountID, x.escrowBase,
			x.record.BaseLedger
	}
}

// postTransfer posts amount of a hold; the ledger releases the rest of the hold.
func postTransfer(holdSequence uint64, amount model.Uint128) model.Transfer {
	return model.Transfer{PendingID: transferID(holdSequence), Amount: amount,
		Flags: model.TransferPostPending}
}

// voidTransfer releases a whole hold.
func voidTransfer(holdSequence uint64) model.Transfer {
	return model.Transfer{PendingID: transferID(holdSequence), Flags: model.TransferVoidPending}
}

// payTransferTo writes into t, a zero transfer, the payment of amount of the asset an
// order receives (base for a buy, quote for a sell) out of the escrow, to the trader or,
// for a fee, to the fee account (t's id stays as it is).
func (e *Engine) payTransferTo(t *model.Transfer, o *order, amount model.Uint128, fee bool,
	tradeID uint64) {
	x := &e.instruments[o.instrument]
	t.Amount, t.Code = amount, TransferCodeProceeds
	t.UserData128, t.UserData64, t.UserData32 = model.U128(o.id), tradeID, x.record.ID
	if o.side == model.SideBuy {
		t.DebitAccountID, t.CreditAccountID, t.Ledger = x.escrowBase, o.baseAccountID,
			x.record.BaseLedger
		if fee {
			t.CreditAccountID = x.record.FeeBaseAccountID
		}
	} else {
		t.DebitAccountID, t.CreditAccountID, t.Ledger = x.escrowQuote, o.quoteAccountID,
			x.record.QuoteLedger
		if fee {
			t.CreditAccountID = x.record.FeeQuoteAccountID
		}
	}
	if fee {
		t.Code = TransferCodeFee
	}
}

// holdCreate reserves what an order needs (holdRequired) as its own ledger event. It
// returns StatusOK, or the reason the ledger refused it.
func (e *Engine) holdCreate(clock *uint64, slot uint32) model.Status {
	o := &e.orders[slot]
	x := &e.instruments[o.instrument]
	amount := holdRequired(o, x.record.LotSize)
	if e.settlementDisabled {
		o.holdSequence, o.holdAmount = holdReserved, amount
		return model.StatusOK
	}
	// The client's own commitment: reserved for the client.
	if status := e.reserveAlone(clock, o, amount, ledger.SystemReserve, o.client); status !=
		model.StatusOK {
		return holdRefusal(status)
	}
	o.holdSequence, o.holdAmount = holdReserved, amount
	return model.StatusOK
}

// holdRefusal maps the ledger's refusal of a new hold to the order's status. The
// engine checked everything else before (accounts exist on the right ledgers and are
// open), so any other refusal is a bug.
func holdRefusal(status model.Status) model.Status {
	switch status {
	case model.StatusExceedsCredits:
		return model.StatusInsufficientFunds
	case model.StatusDebitAccountAlreadyClosed:
		return model.StatusAccountClosed
	case model.StatusOverflowsDebitsPending, model.StatusOverflowsCreditsPending,
		model.StatusOverflowsDebitsPosted, model.StatusOverflowsCreditsPosted,
		model.StatusOverflowsDebits, model.StatusOverflowsCredits:
		return model.StatusHoldAmountOverflow
	}
	panic(fmt.Sprintf("match: the ledger refused a hold: %s", status))
}

// feeOf returns the fee on amount at basisPoints, rounded down:
// floor(amount × basisPoints / 10,000), computed without overflow as
// q × basisPoints + floor(r × basisPoints / 10,000) where amount = q × 10,000 + r.
// The fee never exceeds the amount (basisPoints ≤ 10,000), and amount − fee goes to the
// trader, so no unit is created or destroyed: rounding favours the trader by less than
// one unit per fill.
func feeOf(amount model.Uint128, basisPoints uint16) model.Uint128 {
	if basisPoints == 0 || amount.IsZero() {
		return model.Uint128{}
	}
	quotient, remainder := amount.DivMod64(basisPointsPerUnit)
	whole, overflow := quotient.Mul64(uint64(basisPoints))
	if overflow {
		panic("match: fee overflow") // whole ≤ amount: impossible.
	}
	return whole.MustAdd(model.U128(remainder * uint64(basisPoints) / basisPointsPerUnit))
}

// notionalOf returns price × quantity / lotSize: the quote units a fill moves. Exact:
// quantity is a multiple of the lot size, and the product of two u64 fits 128 bits.
func notionalOf(price uint64, quantity uint64, lotSize uint64) model.Uint128 {
	notional, _ := model.U128(price).Mul64(quantity / lotSize)
	return notional
}
