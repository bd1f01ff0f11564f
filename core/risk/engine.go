package risk

import (
	"unsafe"

	"sequent/core/internal/prefetch"
	"sequent/core/model"
)

// AccountResolver finds an account's index and ledger by id (the ledger's lookup), so
// that account-scope rules resolve to the index the hot path uses.
type AccountResolver func(id model.Uint128) (index uint32, ledger uint32, ok bool)

// Engine holds the rules in force, their profiles (rules resolved per ledger, per
// account and per client) and the counters the rules keep. One goroutine (the shard's
// sequencer, through the ledger) owns it.
type Engine struct {
	resolve AccountResolver

	rules      []*ruleState            // Sorted by rule id.
	generation uint32                  // Last generation given to a rule (state).
	clients    map[uint64][]*ruleState // Client-scope rules per client, by id (admin and per batch only).
	blocking   bool                    // Some rule blocks accounts: check the credit account's profile too.

	ledgers             []profile // Ledger-scope profiles, sorted by ledger.
	overrides           []profile // Profiles of accounts with rules of their own.
	overrideOf          []int32   // Per account index: index into overrides, or -1.
	cachedLedger        uint32    // The last ledger looked up, and its profile (nil: none).
	cachedLedgerProfile *profile

	actor []*ruleState // The client-scope rules of the batch's client.

	// cells holds each account's window and averages (accountCell). velocityCount and
	// anomalyCount are the accounts each kind has covered (one past the highest index
	// judged under a rule of the kind, or restored): the snapshot's two sections.
	cells         cells[accountCell]
	older         cells[olderAmounts] // Each account window's older amounts (window.olderKept).
	velocityCount uint32
	anomalyCount  uint32

	// pending is what the last Evaluate found applicable, for Commit.
	pending evaluation
	undo    undoLog

	// prefetchAddresses is Prefetch's scratch: the first byte of each account cell (two
	// lines, in chunks allocated whole, which start on a page), for prefetch.LinePairs;
	// flushed when full.
	prefetchAddresses [prefetchAddressesMax]uintptr
}

// ruleState is one rule in force with the counters it keeps itself: a client's window,
// daily total or averages, and a ledger's daily total. Per-account counters live in the
// engine's cells, stamped with the rule's generation.
type ruleState struct {
	rule       model.RiskRule
	generation uint32 // Unique per setting of a rule; counters of another generation are void.
	window     window
	older      olderAmounts // The window's older amounts.
	daily      daily
	averages   averages
}

// profile is the rules that apply to one account (or to every account of a ledger that
// has no rules of its own): at most one rule of each kind that keeps per-account
// counters or limits, the ledger's daily rule, and the blocked counterparties.
type profile struct {
	ledger         uint32
	maxAmount      *ruleState
	velocity       *ruleState
	daily          *ruleState
	blocked        *ruleState
	coolingOff     *ruleState
	anomaly        *ruleState
	counterparties []*ruleState
}

// New returns an engine without rules.
func New(resolve AccountResolver) *Engine {
	return &Engine{resolve: resolve, clients: map[uint64][]*ruleState{}}
}

// Active reports whether any rule is in force (when not, the ledger skips the engine).
func (e *Engine) Active() bool { return len(e.rules) != 0 }

// Begin makes client the sender of the transfers evaluated next (once per batch: the only
// map lookup the engine makes for transfers).
func (e *Engine) Begin(client uint64) {
	e.actor = e.clients[client]
}

// Transfer is what Evaluate needs of a single-phase or pending transfer, after the
// ledger's own checks (ownership, ledgers, closed accounts) and its balancing clamp.
type Transfer struct {
	DebitIndex  uint32
	CreditIndex uint32
	DebitID     model.Uint128
	CreditID    model.Uint128
	// CreditCreated is the credit account's creation timestamp (cooling-off rules).
	CreditCreated uint64
	Ledger        uint32
	Amount        model.Uint128
	Timestamp     uint64
	InChain       bool // Part of a linked chain: a hold is a refusal (a chain is all or nothing).
}

// evaluation is what Evaluate found applicable, kept for Commit.
type evaluation struct {
	transfer     *Transfer    // The caller's, unchanged until Commit.
	velocity     *accountCell // The debit account's cell when its window counts the transfer, or nil.
	anomaly      *accountCell // The debit account's cell when its averages do, or nil.
	anomalyShift uint8
	daily        *ruleState // The ledger's daily rule, or nil.
	held         bool
	clients      [RulesPerClientMax]*ruleState // The client's rules that count this transfer.
	clientCount  int
}

// profileOf returns the profile of an account: its own, else its ledger's (nil: none).
func (e *Engine) profileOf(index uint32, ledger uint32) *profile {
	if index < uint32(len(e.overrideOf)) {
		if override := e.overrideOf[index]; override >= 0 {
			return &e.overrides[override]
		}
	}
	if ledger == e.cachedLedger && e.cachedLedger != 0 {
		return e.cachedLedgerProfile
	}
	e.cachedLedger, e.cachedLedgerProfile = ledger, e.ledgerProfile(ledger)
	return e.cachedLedgerProfile
}

// ledgerProfile finds a ledger's profile (binary search; ledgers with rules are few).
func (e *Engine) ledgerProfile(ledger uint32) *profile {
	low, high := 0, len(e.ledgers)
	for low < high {
		middle := (low + high) / 2
		if e.ledgers[middle].ledger < ledger {
			low = middle + 1
		} else {
			high = middle
		}
	}
	if low < len(e.ledgers) && e.ledgers[low].ledger == ledger {
		return &e.ledgers[low]
	}
	return nil
}

// Evaluate checks a transfer against the rules in the documented precedence (doc.go) and
// returns StatusOK, a refusal (with detail filled in), or StatusRiskHeldForReview (the
// transfer is to be created as pending, held). It changes no counter beyond moving
// windows and days forward in time; Commit counts the transfer once it is created. t
// must stay unchanged until then (the engine keeps the pointer, not a copy).
func (e *Engine) Evaluate(t *Transfer, detail *model.RiskDetail) model.Status {
	debit := e.profileOf(t.DebitIndex, t.Ledger)
	if e.blocking || len(e.actor) != 0 {
		return e.evaluateAll(t, debit, detail)
	}
	p := &e.pending
	p.transfer, p.velocity, p.anomaly, p.daily = t, nil, nil, nil
	p.held, p.clientCount = false, 0
	if debit == nil {
		return model.StatusOK
	}
	return e.evaluateDebit(t, debit, detail)
}

// evaluateDebit is Evaluate when no rule blocks accounts and the client has no rules of
// its own, the usual case: then only the debit account's profile applies, and the
// general path's checks reduce to one per kind of the profile, in the same order. This
// path takes a transfer that passes them all (the common case) with fewer calls and no
// loops over the client's rules; at the first check that does not pass, it runs the
// general path from the start, which then finds and explains the same refusal or hold:
// what this path moved before (a velocity cell set to its rule's generation, a window or
// a day moved on to the transfer's timestamp) is idempotent at one timestamp, so the
// general path sees the state it would have made itself.
func (e *Engine) evaluateDebit(t *Transfer, debit *profile, detail *model.RiskDetail) model.Status {
	if rule := debit.maxAmount; rule != nil && rule.rule.Amount.Less(t.Amount) {
		return e.evaluateAll(t, debit, detail)
	}
	if rule := debit.coolingOff; rule != nil && !coolingOffPasses(t, rule, detail) {
		return e.evaluateAll(t, debit, detail)
	}
	velocity, anomaly := debit.velocity, debit.anomaly
	var cell *accountCell // The debit account's, read once for both kinds.
	if velocity != nil || anomaly != nil {
		cell = e.cells.at(t.DebitIndex)
	}
	if velocity != nil {
		// accountVelocity and checkWindow without the explanation.
		if !e.accountWindow(t, velocity, cell).passes(&velocity.rule, t.Amount) {
			return e.evaluateAll(t, debit, detail)
		}
		e.pending.velocity = cell
	}
	if rule := debit.daily; rule != nil {
		if !dailyPasses(t, rule, detail) {
			return e.evaluateAll(t, debit, detail)
		}
		e.pending.daily = rule
	}
	if anomaly != nil {
		// accountAnomaly and score without the explanation.
		if a := e.accountAverages(t, anomaly, cell); a.count >= uint32(anomaly.rule.Warmup) &&
			a.limit(anomaly.rule.Threshold).Less(t.Amount) {
			return e.evaluateAll(t, debit, detail)
		}
		e.pending.anomaly, e.pending.anomalyShift = cell, anomaly.rule.Shift
	}
	return model.StatusOK
}

// evaluateAll is Evaluate's general path: every kind's check on the debit account's
// profile (debit), then on the client's rules, and the blocking rules of both accounts.
func (e *Engine) evaluateAll(t *Transfer, debit *profile, detail *model.RiskDetail) model.Status {
	p := &e.pending
	p.transfer, p.velocity, p.anomaly, p.daily = t, nil, nil, nil
	p.held, p.clientCount = false, 0
	var credit *profile
	if e.blocking {
		credit = e.profileOf(t.CreditIndex, t.Ledger)
	}
	if debit == nil && credit == nil && len(e.actor) == 0 {
		return model.StatusOK
	}
	if e.blocking {
		if status := e.checkBlocked(t, debit, credit, detail); status != model.StatusOK {
			return status
		}
	}
	if status := e.checkMaxAmount(t, debit, detail); status != model.StatusOK {
		return status
	}
	if status := e.checkCoolingOff(t, debit, detail); status != model.StatusOK {
		return status
	}
	if status := e.checkVelocity(t, debit, detail); status != model.StatusOK {
		return status
	}
	if status := e.checkDaily(t, debit, detail); status != model.StatusOK {
		return status
	}
	return e.checkAnomaly(t, debit, detail)
}

// explain fills detail from rule and the values found.
func explain(detail *model.RiskDetail, rule *ruleState, limit, current model.Uint128,
	amount model.Uint128, until uint64) {
	*detail = model.RiskDetail{Rule: rule.rule.ID, Kind: rule.rule.Kind,
		Scope: rule.rule.Scope, Action: rule.rule.Action, WindowNs: rule.rule.WindowNs,
		Limit: limit, Current: current, Amount: amount, Until: until}
}

// appliesTo reports whether a client-scope rule covers a transfer on ledger.
func (r *ruleState) appliesTo(ledger uint32) bool {
	return r.rule.Ledger == 0 || r.rule.Ledger == ledger
}

func (e *Engine) checkBlocked(t *Transfer, debit, credit *profile,
	detail *model.RiskDetail) model.Status {
	if status := e.blockedAccounts(debit, credit, t.Ledger, t.Amount, detail); status != model.StatusOK {
		return status
	}
	zero := model.Uint128{}
	if debit != nil {
		for _, rule := range debit.counterparties {
			if rule.rule.Counterparty == t.CreditID {
				explain(detail, rule, zero, zero, t.Amount, 0)
				return model.StatusRiskCounterpartyBlocked
			}
		}
	}
	if credit != nil {
		for _, rule := range credit.counterparties {
			if rule.rule.Counterparty == t.DebitID {
				explain(detail, rule, zero, zero, t.Amount, 0)
				return model.StatusRiskCounterpartyBlocked
			}
		}
	}
	for _, rule := range e.actor {
		if rule.rule.Kind == model.RiskBlockedCounterparty && rule.appliesTo(t.Ledger) &&
			(rule.rule.Counterparty == t.CreditID || rule.rule.Counterparty == t.DebitID) {
			explain(detail, rule, zero, zero, t.Amount, 0)
			return model.StatusRiskCounterpartyBlocked
		}
	}
	return model.StatusOK
}

func (e *Engine) checkMaxAmount(t *Transfer, debit *profile, detail *model.RiskDetail) model.Status {
	if debit != nil && debit.maxAmount != nil && debit.maxAmount.rule.Amount.Less(t.Amount) {
		explain(detail, debit.maxAmount, debit.maxAmount.rule.Amount, model.Uint128{}, t.Amount, 0)
		return model.StatusRiskAmountAboveMaximum
	}
	for _, rule := range e.actor {
		if rule.rule.Kind == model.RiskMaxAmount && rule.appliesTo(t.Ledger) &&
			rule.rule.Amount.Less(t.Amount) {
			explain(detail, rule, rule.rule.Amount, model.Uint128{}, t.Amount, 0)
			return model.StatusRiskAmountAboveMaximum
		}
	}
	return model.StatusOK
}

// checkCoolingOff refuses more than the small amount to a payee account created less
// than the period ago.
func (e *Engine) checkCoolingOff(t *Transfer, debit *profile, detail *model.RiskDetail) model.Status {
	if debit != nil && debit.coolingOff != nil && !coolingOffPasses(t, debit.coolingOff, detail) {
		return model.StatusRiskNewCounterparty
	}
	for _, rule := range e.actor {
		if rule.rule.Kind == model.RiskCoolingOff && rule.appliesTo(t.Ledger) &&
			!coolingOffPasses(t, rule, detail) {
			return model.StatusRiskNewCounterparty
		}
	}
	return model.StatusOK
}

// coolingOffPasses reports whether the transfer is within rule's small amount or its
// payee account is older than the period, and explains the refusal otherwise.
func coolingOffPasses(t *Transfer, rule *ruleState, detail *model.RiskDetail) bool {
	if !rule.rule.Amount.Less(t.Amount) || t.Timestamp-t.CreditCreated >= rule.rule.WindowNs {
		return true
	}
	explain(detail, rule, rule.rule.Amount, model.U128(t.CreditCreated), t.Amount,
		t.CreditCreated+rule.rule.WindowNs)
	return false
}

// checkVelocity checks the debit account's window, then the client's windows. A transfer
// passes when the window's amount plus its own stays within the amount limit and the
// window's count plus one within the count limit.
func (e *Engine) checkVelocity(t *Transfer, debit *profile, detail *model.RiskDetail) model.Status {
	if debit != nil && debit.velocity != nil {
		if status := e.accountVelocity(t, debit.velocity, detail); status != model.StatusOK {
			return status
		}
	}
	for _, rule := range e.actor {
		if rule.rule.Kind != model.RiskVelocity || !rule.appliesTo(t.Ledger) {
			continue
		}
		rule.window.advance(t.Timestamp, rule.rule.WindowNs/model.RiskWindowBuckets, &rule.older)
		if status := e.checkWindow(t, rule, &rule.window, model.StatusRiskClientVelocityAmount,
			model.StatusRiskClientVelocityCount, detail); status != model.StatusOK {
			return status
		}
		e.pending.clients[e.pending.clientCount] = rule
		e.pending.clientCount++
	}
	return model.StatusOK
}

// accountVelocity checks the debit account's window under rule (its cell emptied first
// if it counted for another rule), and keeps the cell for Commit when the transfer passes.
func (e *Engine) accountVelocity(t *Transfer, rule *ruleState, detail *model.RiskDetail) model.Status {
	cell := e.cells.at(t.DebitIndex)
	if status := e.checkWindow(t, rule, e.accountWindow(t, rule, cell), model.StatusRiskAccountVelocityAmount,
		model.StatusRiskAccountVelocityCount, detail); status != model.StatusOK {
		return status
	}
	e.pending.velocity = cell
	return model.StatusOK
}

// accountWindow returns the debit account's window (cell) under rule, moved to the
// transfer's time: emptied first if it counted for another rule, and counted in the
// velocity section of snapshots.
func (e *Engine) accountWindow(t *Transfer, rule *ruleState, cell *accountCell) *window {
	e.velocityCount = max(e.velocityCount, t.DebitIndex+1)
	if cell.velocityGeneration != rule.generation {
		cell.velocityGeneration, cell.window = rule.generation, window{}
	}
	if w := &cell.window; w.due(t.Timestamp) {
		// The move reads the older amounts only when the window keeps some, and writes them
		// only when it carries one (its newest amount or a kept one): otherwise it touches
		// none, and the cold array is not grown to cover the account (a window's first move,
		// from its empty start, is one of those).
		var older *olderAmounts
		if w.olderKept || !w.newestAmount.IsZero() {
			older = e.older.at(t.DebitIndex)
		}
		w.moveTo(t.Timestamp, rule.rule.WindowNs/model.RiskWindowBuckets, older)
	}
	return &cell.window
}

// checkWindow checks a window moved to the transfer's time, and explains a refusal.
func (e *Engine) checkWindow(t *Transfer, rule *ruleState, w *window, amountStatus,
	countStatus model.Status, detail *model.RiskDetail) model.Status {
	if w.passes(&rule.rule, t.Amount) {
		return model.StatusOK
	}
	if !w.amountPasses(&rule.rule, t.Amount) {
		explain(detail, rule, rule.rule.Amount, w.amount, t.Amount, w.end)
		return amountStatus
	}
	explain(detail, rule, model.U128(rule.rule.Count), model.U128(w.count), t.Amount, w.end)
	return countStatus
}

// checkDaily checks the ledger's total of the day, then the client's.
func (e *Engine) checkDaily(t *Transfer, debit *profile, detail *model.RiskDetail) model.Status {
	if debit != nil && debit.daily != nil {
		if !dailyPasses(t, debit.daily, detail) {
			return model.StatusRiskLedgerDailyAmount
		}
		e.pending.daily = debit.daily
	}
	for _, rule := range e.actor {
		if rule.rule.Kind == model.RiskDailyAmount && rule.appliesTo(t.Ledger) {
			if !dailyPasses(t, rule, detail) {
				return model.StatusRiskClientDailyAmount
			}
			e.pending.clients[e.pending.clientCount] = rule
			e.pending.clientCount++
		}
	}
	return model.StatusOK
}

// dailyPasses moves rule's day on and reports whether the transfer fits the day's limit,
// explaining the refusal otherwise.
func dailyPasses(t *Transfer, rule *ruleState, detail *model.RiskDetail) bool {
	rule.daily.advance(t.Timestamp)
	if !rule.rule.Amount.Less(saturatingAdd(rule.daily.amount, t.Amount)) {
		return true
	}
	explain(detail, rule, rule.rule.Amount, rule.daily.amount, t.Amount,
		(rule.daily.day+1)*model.RiskDayNs)
	return false
}

// checkAnomaly scores the amount against the debit account's averages, then the
// client's. An anomalous amount is refused, or held when the rule says hold (outside a
// linked chain). Averages count only transfers created and not held, so that the
// outliers a rule holds do not become the account's new normal.
func (e *Engine) checkAnomaly(t *Transfer, debit *profile, detail *model.RiskDetail) model.Status {
	verdict := model.StatusOK
	if debit != nil && debit.anomaly != nil {
		if verdict = e.accountAnomaly(t, debit.anomaly, detail); verdict == model.StatusRiskAnomaly {
			return verdict
		}
	}
	for _, rule := range e.actor {
		if rule.rule.Kind != model.RiskAnomaly || !rule.appliesTo(t.Ledger) {
			continue
		}
		switch status := score(t, rule, &rule.averages, detail); status {
		case model.StatusRiskAnomaly:
			return status
		case model.StatusRiskHeldForReview:
			verdict = status
		}
		e.pending.clients[e.pending.clientCount] = rule
		e.pending.clientCount++
	}
	e.pending.held = verdict == model.StatusRiskHeldForReview
	return verdict
}

// accountAnomaly scores the amount against the debit account's averages under rule (its
// cell emptied first if it counted for another rule) and keeps the cell for Commit unless
// the transfer is refused. It returns StatusOK, the refusal or the hold; the hold itself
// is recorded by checkAnomaly, which has the client's verdicts too.
func (e *Engine) accountAnomaly(t *Transfer, rule *ruleState, detail *model.RiskDetail) model.Status {
	cell := e.cells.at(t.DebitIndex)
	verdict := score(t, rule, e.accountAverages(t, rule, cell), detail)
	if verdict != model.StatusRiskAnomaly {
		e.pending.anomaly, e.pending.anomalyShift = cell, rule.rule.Shift
	}
	return verdict
}

// accountAverages returns the debit account's averages (cell) under rule: emptied first
// if they counted for another rule, and counted in the anomaly section of snapshots.
func (e *Engine) accountAverages(t *Transfer, rule *ruleState, cell *accountCell) *averages {
	e.anomalyCount = max(e.anomalyCount, t.DebitIndex+1)
	if cell.anomalyGeneration != rule.generation {
		cell.anomalyGeneration, cell.averages = rule.generation, averages{}
	}
	return &cell.averages
}

// score returns StatusOK when the amount is within rule's limit over averages (or the
// averages are still warming up), else the refusal or the hold, explained.
func score(t *Transfer, rule *ruleState, a *averages, detail *model.RiskDetail) model.Status {
	if a.count < uint32(rule.rule.Warmup) {
		return model.StatusOK
	}
	limit := a.limit(rule.rule.Threshold)
	if !limit.Less(t.Amount) {
		return model.StatusOK
	}
	explain(detail, rule, limit, a.mean, t.Amount, 0)
	if rule.rule.Action == model.RiskHold && !t.InChain {
		return model.StatusRiskHeldForReview
	}
	return model.StatusRiskAnomaly
}

// Commit counts the transfer Evaluate passed (or held), now that the ledger created it:
// its windows, daily totals and averages (not for a held one).
func (e *Engine) Commit() {
	p := &e.pending
	t := p.transfer
	if cell := p.velocity; cell != nil {
		e.undo.saveVelocity(cell, &e.older, t.DebitIndex)
		cell.window.add(t.Amount)
	}
	if rule := p.daily; rule != nil {
		e.undo.saveRule(rule)
		rule.daily.amount = saturatingAdd(rule.daily.amount, t.Amount)
	}
	for _, rule := range p.clients[:p.clientCount] {
		switch rule.rule.Kind {
		case model.RiskVelocity:
			e.undo.saveRule(rule)
			rule.window.add(t.Amount)
		case model.RiskDailyAmount:
			e.undo.saveRule(rule)
			rule.daily.amount = saturatingAdd(rule.daily.amount, t.Amount)
		case model.RiskAnomaly:
			if !p.held {
				e.undo.saveRule(rule)
				rule.averages.update(t.Amount, rule.rule.Shift)
			}
		}
	}
	if cell := p.anomaly; cell != nil && !p.held {
		e.undo.saveAnomaly(cell)
		cell.averages.update(t.Amount, p.anomalyShift)
	}
}

// Prefetch asks the CPU for the per-account counters (the two lines of the account cell
// a transfer touches: the velocity window and the averages) of the debit accounts of a
// block of transfers before they are evaluated one by one, so that their cache misses
// overlap with other work (the ledger calls it from its prefetch phase, a block ahead,
// with the candidate indexes: a wrong or absent one costs a wasted prefetch, never a
// wrong result). A prefetch is a hint: it changes nothing the engine or the ledger can
// observe.
func (e *Engine) Prefetch(debitIndexes []uint32) {
	addresses := &e.prefetchAddresses
	count := 0
	for _, index := range debitIndexes {
		if count == len(addresses) {
			prefetch.LinePairs(addresses[:count])
			count = 0
		}
		if cell := e.cells.peek(index); cell != nil {
			addresses[count] = uintptr(unsafe.Pointer(cell))
			count++
		}
	}
	prefetch.LinePairs(addresses[:count])
}

// Blocked applies the blocking rules alone (accounts, the client), for a post of a
// pending transfer: the money was reserved under the rules of its day, but a blocked
// account neither pays nor receives, and a blocked client moves nothing. It returns the
// refusal and the rule's id, or StatusOK.
func (e *Engine) Blocked(debitIndex, creditIndex uint32, ledger uint32,
	detail *model.RiskDetail) (model.Status, uint32) {
	if !e.blocking {
		return model.StatusOK, 0
	}
	status := e.blockedAccounts(e.profileOf(debitIndex, ledger), e.profileOf(creditIndex, ledger),
		ledger, model.Uint128{}, detail)
	return status, detail.Rule
}

// Payee judges the credit of a cross-shard transfer on the credit shard (ledger.
// PayeeRisk): the payee's blocked rule (its own or its ledger's), its blocked
// counterparties naming the payer, and the client's blocked counterparties naming the
// payee. It changes no counter (a credit counts nowhere on its shard).
func (e *Engine) Payee(client uint64, payeeIndex, ledger uint32, payer, payee model.Uint128,
) model.Status {
	if !e.blocking {
		return model.StatusOK
	}
	if credit := e.profileOf(payeeIndex, ledger); credit != nil {
		if credit.blocked != nil {
			return model.StatusRiskCreditAccountBlocked
		}
		for _, rule := range credit.counterparties {
			if rule.rule.Counterparty == payer {
				return model.StatusRiskCounterpartyBlocked
			}
		}
	}
	for _, rule := range e.clients[client] {
		if rule.rule.Kind == model.RiskBlockedCounterparty && rule.appliesTo(ledger) &&
			rule.rule.Counterparty == payee {
			return model.StatusRiskCounterpartyBlocked
		}
	}
	return model.StatusOK
}

// blockedAccounts checks the blocked rules of the two accounts and of the client.
func (e *Engine) blockedAccounts(debit, credit *profile, ledger uint32, amount model.Uint128,
	detail *model.RiskDetail) model.Status {
	zero := model.Uint128{}
	switch {
	case debit != nil && debit.blocked != nil:
		explain(detail, debit.blocked, zero, zero, amount, 0)
		return model.StatusRiskDebitAccountBlocked
	case credit != nil && credit.blocked != nil:
		explain(detail, credit.blocked, zero, zero, amount, 0)
		return model.StatusRiskCreditAccountBlocked
	}
	for _, rule := range e.actor {
		if rule.rule.Kind == model.RiskBlocked && rule.appliesTo(ledger) {
			explain(detail, rule, zero, zero, amount, 0)
			return model.StatusRiskClientBlocked
		}
	}
	return model.StatusOK
}
