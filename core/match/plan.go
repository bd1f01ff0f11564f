package match

import (
	"sequent/core/model"
)

// planFill is one fill of a step's plan.
type planFill struct {
	maker        uint32        // Maker's slot.
	quantity     uint64        // Base units.
	price        uint64        // The maker's price.
	notional     model.Uint128 // Quote units: price × quantity / lot.
	makerFee     model.Uint128 // In what the maker receives.
	takerFee     model.Uint128 // In what the taker receives.
	makerDone    bool          // The maker is filled completely.
	holdSequence uint64        // The maker's new hold (when not done), set by the chain.
	holdAmount   model.Uint128
}

// planCancel is a resting order the step cancels instead of trading with it.
type planCancel struct {
	slot   uint32
	reason model.Status // Self-trade, expired, or refused by the ledger.
}

// plan is what one step of matching will do, computed from the book without changing
// it, so that the ledger chain can be built and applied first: only if the ledger
// accepts the chain is the plan applied to the book. A refusal (a maker's account closed
// since it rested, say) cancels the culprit and the step is planned again.
type plan struct {
	fills        []planFill
	cancels      []planCancel
	quantity     uint64        // Taker quantity filled by the step.
	notional     model.Uint128 // Quote units of the step's fills.
	takerFee     model.Uint128 // Sum of the taker's fees.
	takerCancel  model.Status  // Not OK: the taker's rest ends for this reason.
	more         bool          // Stopped at a bound; the book may still cross.
	budgetSpent  bool          // A market buy's budget cannot buy one more lot.
	holdSequence uint64        // The taker's new hold, when it keeps one.
	holdAmount   model.Uint128
	// fillsMax is the most fills this step may plan: FillsPerStepMax, or fewer after a
	// step the ledger refused (matchTaker sets it before each plan; reset leaves it).
	fillsMax int
	// makersClosedRefused treats a resting order with a closed ledger account as refused
	// without a chain (a fill-or-kill after its first refusal, matchTaker; reset leaves
	// it).
	makersClosedRefused bool
}

func (p *plan) reset() {
	p.fills = p.fills[:0]
	p.cancels = p.cancels[:0]
	p.quantity, p.notional, p.takerFee = 0, model.Uint128{}, model.Uint128{}
	p.takerCancel, p.more, p.budgetSpent = model.StatusOK, false, false
	p.holdSequence, p.holdAmount = 0, model.Uint128{}
}

// empty reports whether the step would change nothing.
func (p *plan) empty() bool {
	return len(p.fills) == 0 && len(p.cancels) == 0 && p.takerCancel == model.StatusOK
}

// planMatch plans one step for the incoming order in slot at timestamp now: it walks the
// opposite side from the best level while prices cross, in time priority within a level,
// and stops when the taker is filled, a bound is reached, a market buy's budget is spent,
// or self-trade prevention ends the taker.
func (e *Engine) planMatch(taker uint32, now uint64) {
	p := &e.scratch.plan
	p.reset()
	t := &e.orders[taker]
	x := &e.instruments[t.instrument]
	opposite := x.side(model.SideSell)
	if t.side == model.SideSell {
		opposite = x.side(model.SideBuy)
	}
	remaining, budget := t.leaves, t.budget
	for levelIndex := opposite.best; levelIndex != indexNone; {
		l := &e.levels[levelIndex]
		if !crosses(t.side, l.price, t.price) {
			return
		}
		for maker := l.head; maker != indexNone; maker = e.orders[maker].levelNext {
			if !e.planMaker(t, maker, l.price, now, &remaining, &budget) {
				return
			}
		}
		levelIndex = l.worse
	}
}

// planMaker plans what happens between the taker and one resting order and reports
// whether matching goes on.
func (e *Engine) planMaker(t *order, maker uint32, price uint64, now uint64,
	remaining *uint64, budget *model.Uint128) bool {
	p := &e.scratch.plan
	m := &e.orders[maker]
	if len(p.fills) == FillsPerStepMax || len(p.cancels) == CancelsPerStepMax {
		p.more = true
		return false
	}
	if m.expireTimestamp != 0 && m.expireTimestamp <= now {
		p.cancels = append(p.cancels, planCancel{slot: maker, reason: model.StatusExpired})
		return true
	}
	if e.refused(maker) {
		p.cancels = append(p.cancels, planCancel{slot: maker, reason: model.StatusCanceledAccount})
		return true
	}
	if m.client == t.client && m.account == t.account {
		return e.planSelfTrade(t, maker)
	}
	if len(p.fills) == p.fillsMax {
		// A step shortened after a refusal (below FillsPerStepMax, which the test above
		// caught first): the resting orders met before the next fill are still canceled in
		// it, the refused one among them.
		p.more = true
		return false
	}
	lotSize := e.instruments[t.instrument].record.LotSize
	quantity := min(*remaining, m.leaves)
	marketBuy := t.orderType == model.OrderMarket && t.side == model.SideBuy
	if marketBuy {
		lots, _ := budget.DivMod64(price) // Price is per lot: the lots the budget buys.
		if lots.Hi == 0 && lots.Lo < quantity/lotSize {
			quantity = lots.Lo * lotSize
			p.budgetSpent = true
		}
		if quantity == 0 {
			return false
		}
	}
	if p.makersClosedRefused && e.accountsClosed(m) {
		// A fill the ledger would refuse, known without a chain: where a chain would have
		// found it (a fill planned: not expired, no self-trade, a quantity), canceled as a
		// refused order is, and the budget not spent on it (it was not spent before: the
		// walk stops once it is).
		p.budgetSpent = false
		p.cancels = append(p.cancels, planCancel{slot: maker, reason: model.StatusCanceledAccount})
		return true
	}
	e.planFill(t, maker, price, quantity)
	*remaining -= quantity
	if marketBuy {
		*budget = budget.MustSub(p.fills[len(p.fills)-1].notional)
	}
	return *remaining > 0 && !p.budgetSpent
}

// planSelfTrade applies the taker's self-trade prevention mode to a resting order of the
// same owner and account, and reports whether matching goes on.
func (e *Engine) planSelfTrade(t *order, maker uint32) bool {
	p := &e.scratch.plan
	switch t.selfTrade {
	case model.SelfTradeCancelOldest:
		p.cancels = append(p.cancels, planCancel{slot: maker,
			reason: model.StatusCanceledSelfTrade})
		return true
	case model.SelfTradeCancelBoth:
		p.cancels = append(p.cancels, planCancel{slot: maker,
			reason: model.StatusCanceledSelfTrade})
	}
	p.takerCancel = model.StatusCanceledSelfTrade
	return false
}

// planFill appends a fill of quantity at price with its fees.
func (e *Engine) planFill(t *order, maker uint32, price uint64, quantity uint64) {
	p := &e.scratch.plan
	m := &e.orders[maker]
	x := &e.instruments[t.instrument].record
	fill := planFill{maker: maker, quantity: quantity, price: price,
		notional: notionalOf(price, quantity, x.LotSize), makerDone: quantity == m.leaves}
	if !e.scratch.feesWaived {
		fill.makerFee = feeOf(receivedBy(m.side, quantity, fill.notional),
			x.MakerFeeBasisPoints)
		fill.takerFee = feeOf(receivedBy(t.side, quantity, fill.notional),
			x.TakerFeeBasisPoints)
	}
	p.fills = append(p.fills, fill)
	p.quantity += quantity
	p.notional = p.notional.MustAdd(fill.notional)
	p.takerFee = p.takerFee.MustAdd(fill.takerFee)
}

// receivedBy returns what the side receives from a fill: a buyer the base quantity, a
// seller the quote notional.
func receivedBy(side model.Side, quantity uint64, notional model.Uint128) model.Uint128 {
	if side == model.SideBuy {
		return model.U128(quantity)
	}
	return notional
}

// paidBy returns what the side pays for a fill (out of its hold).
func paidBy(side model.Side, quantity uint64, notional model.Uint128) model.Uint128 {
	if side == model.SideBuy {
		return notional
	}
	return model.U128(quantity)
}

// accountsClosed reports whether a ledger account that any fill with the resting order
// moves funds of is closed, so that the ledger refuses every such fill: the account it
// pays from (from its reservation; it always pays something), and the one it is paid
// into unless the maker fee takes all it receives (a fee of FeeBasisPointsMax, not
// waived: chainPay then pays the order nothing, and its fill settles with that account
// closed, as it does under the rule before version 8).
func (e *Engine) accountsClosed(o *order) bool {
	paying, receiving := o.quoteAccountID, o.baseAccountID
	if o.side == model.SideSell {
		paying, receiving = o.baseAccountID, o.quoteAccountID
	}
	if e.accountClosed(paying) {
		return true
	}
	x := &e.instruments[o.instrument].record
	return (x.MakerFeeBasisPoints != FeeBasisPointsMax || e.scratch.feesWaived) &&
		e.accountClosed(receiving)
}

// accountClosed reports whether the ledger account with the id is closed.
func (e *Engine) accountClosed(id model.Uint128) bool {
	a, found := e.lookupAccount(id)
	return found && a.Flags&model.AccountClosed != 0
}

// refused reports whether the ledger refused to settle a fill with the order earlier in
// this command (it is then canceled rather than traded with).
func (e *Engine) refused(slot uint32) bool {
	for _, refused := range e.scratch.refused {
		if refused == slot {
			return true
		}
	}
	return false
}
