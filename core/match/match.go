package match

import (
	"fmt"

	"sequent/core/ledger"
	"sequent/core/model"
)

// matchTaker matches the incoming order in slot (a new order, or a replaced order taken
// out of its level) step by step, then rests what is left or ends it. Each step is
// planned on the unchanged book, settled in the ledger as one linked chain, and only then
// applied to the book, so the ledger and the book never disagree.
//
// From core's rules version 8 (SetRefusalShrinksSteps) a step the ledger refuses for a
// resting order is planned again with at most min(j, n/2) fills, where n is the fills
// the refused step could plan and j the refused order's place among its fills, and each
// step applied doubles the bound again, up to FillsPerStepMax. So a refused chain costs
// at most twice the fills of the step applied before it (or FillsPerStepMax, once per
// incoming order), and refused chains in a row halve: the ledger events an incoming
// order costs grow linearly with the resting orders it meets, refused or not, instead of
// up to FillsPerStepMax fills' worth per refused order
// (TestRefusedMakersCostLinearEvents). A fill-or-kill settles in one step or not at all,
// so it keeps FillsPerStepMax; after its first refusal it plans every resting order with
// a closed ledger account as refused (accountsClosed: the ledger refuses any fill with
// it), so that the makers refused for that reason cost it one more chain, not one each
// (TestRefusedMakersFillOrKillCost). Before it every refused step was planned again with
// FillsPerStepMax fills.
func (e *Engine) matchTaker(clock *uint64, taker uint32, now uint64, sink Sink) {
	// Most takers do not cross the book (passive orders, and nearly every move): their
	// first plan would stop at the opposite side's best level with nothing to do, and the
	// loop below would go straight to takerFinish. Going there directly skips the plan's
	// reset and the loop (~5% of a move's instructions). A fill-or-kill that does not cross
	// is canceled by the loop, so it takes the loop. The plan is read only by the steps
	// after planMatch, which resets it first, so leaving it as it was changes nothing.
	if t := &e.orders[taker]; t.timeInForce != model.FillOrKill &&
		!e.wouldCross(t.instrument, t.side, t.price) {
		e.takerFinish(clock, taker, now, sink)
		return
	}
	p := &e.scratch.plan
	shrinks := e.refusalShrinksSteps && e.orders[taker].timeInForce != model.FillOrKill
	fillsMax, closedRefused := FillsPerStepMax, false
	// refusals counts the chains the ledger refused since the last step applied. Each
	// refusal names a maker not refused before in this step (canceled when planning again)
	// or the fee account (once), so a step is settled within this bound; it is counted per
	// step, not per command: an order may cross any number of refused makers, step after
	// step (TestManyRefusedMakersDoNotStopMatching), and every applied step makes progress
	// (a fill or a cancel).
	refusals := 0
	for e.orders[taker].leaves > 0 {
		if refusals > 2*FillsPerStepMax+CancelsPerStepMax+2 {
			panic("match: matching did not converge")
		}
		p.fillsMax, p.makersClosedRefused = fillsMax, closedRefused
		e.planMatch(taker, now)
		t := &e.orders[taker]
		if t.timeInForce == model.FillOrKill &&
			(p.quantity < t.leaves || p.more || p.takerCancel != model.StatusOK) {
			reason := model.StatusCanceledFillOrKill
			if p.more {
				reason = model.StatusTooManyFills
			}
			e.takerEnd(clock, taker, reason, now, sink)
			return
		}
		if p.empty() {
			break
		}
		refusedBefore := len(e.scratch.refused)
		if !e.stepSettle(clock, taker) {
			if e.scratch.takerRefused {
				if e.refusalShrinksSteps {
					e.refusedEnd(clock, now, closedRefused, sink)
				}
				e.takerEnd(clock, taker, model.StatusCanceledAccount, now, sink)
				return
			}
			refusals++
			if e.refusalShrinksSteps && len(e.scratch.refused) > refusedBefore {
				if shrinks {
					fillsMax = stepFillsAfterRefusal(p, e.scratch.refused[refusedBefore],
						fillsMax)
				} else {
					closedRefused = true // A fill-or-kill: one step, shortened never.
				}
			}
			continue // A maker or the fee account was refused: plan again without it.
		}
		refusals = 0
		e.stepApply(taker, now, sink)
		if shrinks {
			fillsMax = min(FillsPerStepMax, 2*max(fillsMax, 1))
		}
		e.marketDataFlush(now, sink)
		if p.takerCancel != model.StatusOK {
			e.takerEnd(clock, taker, p.takerCancel, now, sink)
			return
		}
		if !p.more {
			break
		}
	}
	e.takerFinish(clock, taker, now, sink)
}

// SetRefusalShrinksSteps says whether a step the ledger refused for a resting order is
// planned again with fewer fills, and a fill-or-kill's with every resting order with a
// closed account as refused (true: matchTaker, core's rules version 8 on), or with
// FillsPerStepMax as before (false, the default of New and Restore, so that the owner
// applies a log written before as it was applied, and the tests pinned on that rule stay
// as they were). It changes the transfer ids and timestamps the refused chains take and
// how fills group into steps (so the order of the reports of a step's cancels and fills,
// package doc "Matching"); the trades and the resting orders canceled are the same
// (TestRefusedStepsShrinkKeepsTheOutcome), except that a refusal of the incoming order's
// own settlement, or of a fee, ends it or waives fees from another step on, and that a
// fill-or-kill answered too_many_fills before only because the refused orders not yet
// found counted as fills may fill (TestFillOrKillPastRefusedMakersOutcome). With it on,
// an incoming order ended on the refusal of its own settlement also cancels the resting
// orders refused before it that no applied step canceled (refusedEnd); before, they
// stayed resting. It is the owner's state, not the engine's.
func (e *Engine) SetRefusalShrinksSteps(shrinks bool) { e.refusalShrinksSteps = shrinks }

// stepFillsAfterRefusal returns the most fills of the step planned after the ledger
// refused the planned one (p) for the resting order in slot maker, when the refused step
// could plan fillsMax: the fills before the maker's, at most half of fillsMax. The maker
// is canceled in the step that reaches it (planMaker, refused); with fewer fills than
// those before it, a later step does, the refusal kept until then (stepApply).
func stepFillsAfterRefusal(p *plan, maker uint32, fillsMax int) int {
	before := len(p.fills)
	for i := range p.fills {
		if p.fills[i].maker == maker {
			before = i
			break
		}
	}
	return min(before, fillsMax/2)
}

// refusedEnd cancels (canceled_account) the resting orders the ledger refused to settle
// with and no applied step canceled yet, in the order they were refused, when the
// incoming order ends on the refusal of its own settlement (matchTaker, from core's rules
// version 8): PROTOCOL.md §10 says a refused resting order is canceled, and no later step
// of this order would reach it. Every one is still open (stepApply keeps only those), so
// its hold is intact: voided with the batch's others. Before version 8 they stayed
// resting until another order met them (TestRefusedMakerCanceledWhenTheTakerIsRefusedToo).
//
// A fill-or-kill past its first refusal (closedRefused) also counts as refused every
// resting order with a closed account its refused step planned to cancel (PROTOCOL.md
// §10): those end too, after the ones the ledger named, in book order; an
// immediate-or-cancel order meeting the same book cancels them all before its own
// refusal (TestFillOrKillCountedRefusedCanceledWhenTheTakerIsRefused).
func (e *Engine) refusedEnd(clock *uint64, now uint64, closedRefused bool, sink Sink) {
	for _, slot := range e.scratch.refused {
		e.refusedEndQueue(clock, slot, now, sink)
	}
	if closedRefused {
		p := &e.scratch.plan
		for i := range p.cancels {
			c := &p.cancels[i]
			if c.reason == model.StatusCanceledAccount && !e.refused(c.slot) {
				e.refusedEndQueue(clock, c.slot, now, sink)
			}
		}
	}
	e.endQueueFlush(clock, now, sink)
	e.scratch.refused = e.scratch.refused[:0]
}

// refusedEndQueue queues a refused resting order's cancel for refusedEnd, flushing the
// queue when it is full.
func (e *Engine) refusedEndQueue(clock *uint64, slot uint32, now uint64, sink Sink) {
	e.endQueue(slot, model.StatusCanceledAccount, 0)
	if len(e.scratch.ending) == cap(e.scratch.ending) {
		e.endQueueFlush(clock, now, sink)
	}
}

// restsUncrossed reports whether an incoming order with quantity left goes straight to
// the book: a kind that rests, and a limit that does not reach the other side. matchTaker
// would then take its first test's way to takerFinish, which rests it: the callers that
// know their order is such (a place, a move; they test its quantity too) call orderRest
// themselves and spare the two calls (most commands of exchange-core's mix are moves
// that do not cross; bench/PERFORMANCE.md, session 46, helper book46). Small enough
// to inline.
func (e *Engine) restsUncrossed(t *order) bool {
	return takerRests(t) && !e.wouldCross(t.instrument, t.side, t.price)
}

// takerRests reports whether the order rests when it has quantity left.
func takerRests(t *order) bool {
	return t.orderType == model.OrderLimit &&
		(t.timeInForce == model.GoodTillCancel || t.timeInForce == model.PostOnly)
}

// takerFinish ends matching: a filled order is done, a resting kind rests, and the rest of
// any other order is canceled.
func (e *Engine) takerFinish(clock *uint64, taker uint32, now uint64, sink Sink) {
	t := &e.orders[taker]
	switch {
	case t.leaves == 0:
		if t.holdSequence != 0 {
			panic("match: a filled order still holds funds")
		}
		e.orderClose(taker)
	case takerRests(t):
		e.orderRest(taker)
	case t.orderType == model.OrderMarket && t.side == model.SideBuy && e.budgetSpent(t):
		e.takerEnd(clock, taker, model.StatusCanceledBudget, now, sink)
	default:
		e.takerEnd(clock, taker, model.StatusCanceledUnfilled, now, sink)
	}
}

// budgetSpent reports whether a market buy's budget cannot pay one lot at its worst price
// (the best price it could still get), which is why it stopped.
func (e *Engine) budgetSpent(t *order) bool {
	lots, _ := t.budget.DivMod64(t.price)
	return lots.IsZero()
}

// takerEnd cancels the rest of an order: it voids the order's hold if it still has one,
// reports the cancel with its reason, and frees the order (closing it if it was open).
func (e *Engine) takerEnd(clock *uint64, slot uint32, reason model.Status, now uint64,
	sink Sink) {
	o := &e.orders[slot]
	if o.holdSequence != 0 && !e.settlementDisabled {
		e.releaseAlone(clock, slot)
	}
	o.holdSequence, o.holdAmount = 0, model.Uint128{}
	e.report(o, model.ReportCanceled, reason, o.clientOrderID, now, sink)
	e.orderClose(slot)
	e.marketDataFlush(now, sink)
}

// takerKeepsHold reports whether the taker still needs a hold after the planned step:
// it has quantity left and will rest or match again.
func takerKeepsHold(t *order, p *plan) bool {
	if t.leaves == p.quantity || p.takerCancel != model.StatusOK {
		return false
	}
	return takerRests(t) || (p.more && !p.budgetSpent)
}

// stepSettle settles the planned step in the ledger as one linked chain. It returns false
// when the ledger refused an event (and undid the chain); it then records the culprit: a
// maker (refused, to be canceled when planning again), the fee account (fees are waived
// for the rest of the command) or the taker.
func (e *Engine) stepSettle(clock *uint64, taker uint32) bool {
	if e.settlementDisabled {
		e.stepSettleDisabled(taker)
		return true
	}
	e.scratch.chain.reset()
	e.chainStep(taker)
	failed := e.chainSubmit(clock, true)
	if failed < 0 {
		return true
	}
	owner := e.scratch.chain.owners[failed]
	event, status := &e.scratch.chain.events[failed], e.scratch.chain.results[failed].Status
	if model.IsSystemID(event.DebitAccountID) && status == model.StatusExceedsCredits {
		// An escrow paying out more than the holds posted into it: a bug, not a trader's
		// account problem, so it must not be blamed on (and cancel) an order.
		panic(fmt.Sprintf("match: escrow %s short by a payout", event.DebitAccountID))
	}
	switch {
	case owner == ownerFee:
		if e.scratch.feesWaived {
			panic("match: the ledger refused a fee with fees waived")
		}
		e.scratch.feesWaived = true
	case owner == taker:
		e.scratch.takerRefused = true
	default:
		if e.refused(owner) {
			panic("match: the ledger refused a settlement of a canceled order")
		}
		e.scratch.refused = append(e.scratch.refused, owner)
	}
	return false
}

// stepSettleDisabled stands in for the ledger when settlement is off (benchmarks).
func (e *Engine) stepSettleDisabled(taker uint32) {
	p := &e.scratch.plan
	for i := range p.fills {
		if !p.fills[i].makerDone {
			p.fills[i].holdSequence = holdReserved
		}
	}
	p.holdSequence = 0
	if takerKeepsHold(&e.orders[taker], p) {
		p.holdSequence = holdReserved
	}
}

// chainStep builds the step's ledger chain. Order matters: what the orders pay goes into
// the escrows before the escrows pay out (escrows may never go below zero). An order
// with quantity left keeps what its rest needs reserved; the rest of its reservation is
// released (a legacy hold is posted, which releases all of it, and what the rest needs
// is reserved again after the payouts).
func (e *Engine) chainStep(taker uint32) {
	p := &e.scratch.plan
	t := &e.orders[taker]
	for i := range p.cancels {
		e.chainRelease(p.cancels[i].slot)
	}
	keep := takerKeepsHold(t, p)
	p.holdSequence, p.holdAmount = t.holdSequence, t.holdAmount
	var amount model.Uint128 // What the taker's rest needs held, when it keeps a hold.
	if p.quantity > 0 && keep {
		budget := t.budget
		if t.orderType == model.OrderMarket && t.side == model.SideBuy {
			budget = budget.MustSub(p.notional)
		}
		amount = holdRequiredWith(t, t.leaves-p.quantity, t.reservePrice, budget,
			e.instruments[t.instrument].record.LotSize)
	}
	reserveAgain := false
	if p.quantity > 0 {
		reserveAgain = e.chainPaid(taker, paidBy(t.side, p.quantity, p.notional), amount, keep)
		p.holdSequence, p.holdAmount = 0, model.Uint128{}
		if keep {
			p.holdSequence, p.holdAmount = holdReserved, amount
		}
	} else if !keep {
		e.chainRelease(taker)
		p.holdSequence, p.holdAmount = 0, model.Uint128{}
	}
	e.chainMakers()
	e.chainTakerProceeds(taker)
	if reserveAgain {
		e.chainReservation(t, taker, amount, ledger.SystemReserve)
	}
}

// chainMakers adds, for every fill, what the maker pays out of its hold (and the
// reservation of its rest, for a legacy hold), then every maker's proceeds and fee.
func (e *Engine) chainMakers() {
	p := &e.scratch.plan
	for i := range p.fills {
		f := &p.fills[i]
		m := &e.orders[f.maker]
		f.holdSequence, f.holdAmount = 0, model.Uint128{}
		if !f.makerDone {
			f.holdSequence = holdReserved
			f.holdAmount = holdRequiredWith(m, m.leaves-f.quantity, m.reservePrice, m.budget,
				e.instruments[m.instrument].record.LotSize)
		}
		paid := paidBy(m.side, f.quantity, f.notional)
		if e.chainPaid(f.maker, paid, f.holdAmount, !f.makerDone) {
			e.chainReservation(m, f.maker, f.holdAmount, ledger.SystemReserve)
		}
	}
	for i := range p.fills {
		f := &p.fills[i]
		m := &e.orders[f.maker]
		tradeID := e.nextTradeID + uint64(i)
		received := receivedBy(m.side, f.quantity, f.notional)
		e.chainPay(m, f.maker, received, f.makerFee, tradeID)
	}
}

// chainTakerProceeds adds what the taker receives for the whole step, and its fees.
func (e *Engine) chainTakerProceeds(taker uint32) {
	p := &e.scratch.plan
	if p.quantity == 0 {
		return
	}
	t := &e.orders[taker]
	e.chainPay(t, taker, receivedBy(t.side, p.quantity, p.notional), p.takerFee, 0)
}

// chainPay adds the payout of received minus fee to the order's owner and of the fee to
// the fee account, skipping zero amounts.
func (e *Engine) chainPay(o *order, slot uint32, received, fee model.Uint128, tradeID uint64) {
	if net := received.MustSub(fee); !net.IsZero() {
		e.payTransferTo(e.chainAddNext(slot), o, net, false, tradeID)
	}
	if !fee.IsZero() {
		e.payTransferTo(e.chainAddNext(ownerFee), o, fee, true, tradeID)
	}
}

// stepApply applies a settled step to the book and reports it: planned cancels first,
// then each fill (maker, then taker report, then the trade print).
func (e *Engine) stepApply(taker uint32, now uint64, sink Sink) {
	p := &e.scratch.plan
	for i := range p.cancels {
		c := &p.cancels[i]
		o := &e.orders[c.slot]
		o.holdSequence, o.holdAmount = 0, model.Uint128{}
		kind := model.ReportCanceled
		if c.reason == model.StatusExpired {
			kind = model.ReportExpired
		}
		e.report(o, kind, c.reason, o.clientOrderID, now, sink)
		e.orderClose(c.slot)
	}
	for i := range p.fills {
		e.fillApply(taker, &p.fills[i], now, sink)
	}
	t := &e.orders[taker]
	t.holdSequence, t.holdAmount = p.holdSequence, p.holdAmount
	if !e.refusalShrinksSteps {
		e.scratch.refused = e.scratch.refused[:0]
		return
	}
	// A shortened step may end before a refused order it did not reach (matchTaker):
	// keep those still open, not the ones it canceled (their slots released: id 0).
	kept := e.scratch.refused[:0]
	for _, slot := range e.scratch.refused {
		if e.orders[slot].id != 0 {
			kept = append(kept, slot)
		}
	}
	e.scratch.refused = kept
}

// fillApply applies one settled fill to the maker, the taker and the book.
func (e *Engine) fillApply(taker uint32, f *planFill, now uint64, sink Sink) {
	t, m := &e.orders[taker], &e.orders[f.maker]
	tradeID := e.nextTradeID
	e.nextTradeID++
	l := &e.levels[m.level]
	l.quantity = l.quantity.MustSub(model.U128(f.quantity))
	e.marketDataMark(m.instrument, m.side, m.level)
	m.leaves -= f.quantity
	m.filled += f.quantity
	t.leaves -= f.quantity
	t.filled += f.quantity
	if t.orderType == model.OrderMarket && t.side == model.SideBuy {
		t.budget = t.budget.MustSub(f.notional)
	}
	e.reportFill(m, t.id, tradeID, f, model.LiquidityMaker, f.makerFee, now, sink)
	e.reportFill(t, m.id, tradeID, f, model.LiquidityTaker, f.takerFee, now, sink)
	e.tradePrint(t, f, tradeID)
	if f.makerDone {
		m.holdSequence, m.holdAmount = 0, model.Uint128{}
		e.orderClose(f.maker)
		return
	}
	m.holdSequence, m.holdAmount = f.holdSequence, f.holdAmount
}
