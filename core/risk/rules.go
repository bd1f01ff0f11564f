package risk

import (
	"slices"
	"sort"

	"sequent/core/model"
)

// Set puts rules in force, each replacing the rule with its id if there is one (its
// counters start empty again), and writes one status per rule into results: StatusOK,
// or why the rule was refused (invalid fields, another id with the same target and kind,
// a bound reached, an account-scope rule's account missing). Rules are independent: one
// refused rule does not stop the others. timestamp becomes each rule's Timestamp.
func (e *Engine) Set(rules []model.RiskRule, timestamp uint64, results []model.Status) {
	for i := range rules {
		results[i] = e.setOne(rules[i], timestamp)
	}
	e.rebuild()
}

func (e *Engine) setOne(rule model.RiskRule, timestamp uint64) model.Status {
	if status := rule.Validate(); status != model.StatusOK {
		return status
	}
	if rule.Scope == model.RiskScopeAccount {
		if _, _, ok := e.resolve(rule.Account); !ok {
			return model.StatusRiskRuleAccountNotFound
		}
	}
	position, replacing := e.find(rule.ID)
	for _, other := range e.rules {
		if other.rule.ID != rule.ID && sameTarget(&other.rule, &rule) {
			return model.StatusRiskRuleConflict
		}
	}
	if !replacing && len(e.rules) >= RulesMax {
		return model.StatusRiskRulesLimitReached
	}
	if status := e.checkPerTargetBounds(&rule); status != model.StatusOK {
		return status
	}
	rule.Timestamp = timestamp
	e.generation++
	state := &ruleState{rule: rule, generation: e.generation}
	if replacing {
		e.rules[position] = state
	} else {
		e.rules = slices.Insert(e.rules, position, state)
	}
	return model.StatusOK
}

// checkPerTargetBounds refuses a rule that would give a client more than
// RulesPerClientMax rules or an account more than CounterpartiesPerAccountMax blocked
// counterparties (the rule with the same id, being replaced, does not count).
func (e *Engine) checkPerTargetBounds(rule *model.RiskRule) model.Status {
	count := 0
	for _, other := range e.rules {
		if other.rule.ID == rule.ID || other.rule.Scope != rule.Scope {
			continue
		}
		switch {
		case rule.Scope == model.RiskScopeClient && other.rule.Client == rule.Client:
			count++
			if count >= RulesPerClientMax {
				return model.StatusRiskRulesLimitReached
			}
		case rule.Scope == model.RiskScopeAccount && rule.Kind == model.RiskBlockedCounterparty &&
			other.rule.Kind == model.RiskBlockedCounterparty && other.rule.Account == rule.Account:
			count++
			if count >= CounterpartiesPerAccountMax {
				return model.StatusRiskRulesLimitReached
			}
		}
	}
	return model.StatusOK
}

// sameTarget reports whether two rules would both apply in the same place as the same
// kind: one target (a ledger, an account, or a client with one ledger filter) holds at
// most one rule of a kind, or one per counterparty for blocked_counterparty.
func sameTarget(a, b *model.RiskRule) bool {
	if a.Kind != b.Kind || a.Scope != b.Scope || a.Ledger != b.Ledger ||
		a.Account != b.Account || a.Client != b.Client {
		return false
	}
	return a.Kind != model.RiskBlockedCounterparty || a.Counterparty == b.Counterparty
}

// find returns where id is (or belongs) in the sorted rules and whether it is there.
func (e *Engine) find(id uint32) (int, bool) {
	position := sort.Search(len(e.rules), func(i int) bool { return e.rules[i].rule.ID >= id })
	return position, position < len(e.rules) && e.rules[position].rule.ID == id
}

// Remove removes the rules with the given ids (StatusRiskRuleNotFound for an unknown id);
// the counters they kept are dropped.
func (e *Engine) Remove(ids []uint32, results []model.Status) {
	for i, id := range ids {
		position, found := e.find(id)
		if !found {
			results[i] = model.StatusRiskRuleNotFound
			continue
		}
		e.rules = slices.Delete(e.rules, position, position+1)
		results[i] = model.StatusOK
	}
	e.rebuild()
}

// Rules appends to into the rules with ids above afterID, in id order, at most limit.
func (e *Engine) Rules(afterID uint32, limit int, into []model.RiskRule) []model.RiskRule {
	position, found := e.find(afterID)
	if found {
		position++
	}
	for _, state := range e.rules[position:] {
		if len(into) >= limit {
			break
		}
		into = append(into, state.rule)
	}
	return into
}

// rebuild resolves the rules into profiles: one per ledger with ledger-scope rules, one
// per account with rules of its own (its ledger's rules, each kind replaced by the
// account's own), and each client's list. It runs after every change of the rules and
// after a restore; the hot path then reads profiles only.
func (e *Engine) rebuild() {
	e.ledgers, e.overrides, e.overrideOf = nil, nil, nil
	e.clients = map[uint64][]*ruleState{}
	e.cachedLedger, e.cachedLedgerProfile = 0, nil
	e.blocking = false
	for _, state := range e.rules {
		rule := &state.rule
		switch rule.Kind {
		case model.RiskBlocked, model.RiskBlockedCounterparty:
			e.blocking = true
		}
		switch rule.Scope {
		case model.RiskScopeLedger:
			e.ledgerProfileFor(rule.Ledger).add(state)
		case model.RiskScopeClient:
			e.clients[rule.Client] = append(e.clients[rule.Client], state)
		}
	}
	for _, state := range e.rules {
		if state.rule.Scope != model.RiskScopeAccount {
			continue
		}
		index, ledger, ok := e.resolve(state.rule.Account)
		if !ok {
			panic("risk: the account of an account-scope rule is gone") // Accounts are never removed.
		}
		e.overrideFor(index, ledger).add(state)
	}
	e.actor = nil
}

// ledgerProfileFor returns the ledger's profile, adding an empty one in ledger order.
func (e *Engine) ledgerProfileFor(ledger uint32) *profile {
	position := sort.Search(len(e.ledgers), func(i int) bool { return e.ledgers[i].ledger >= ledger })
	if position == len(e.ledgers) || e.ledgers[position].ledger != ledger {
		e.ledgers = slices.Insert(e.ledgers, position, profile{ledger: ledger})
	}
	return &e.ledgers[position]
}

// overrideFor returns the account's own profile, creating it from its ledger's.
func (e *Engine) overrideFor(index uint32, ledger uint32) *profile {
	for uint32(len(e.overrideOf)) <= index {
		e.overrideOf = append(e.overrideOf, -1)
	}
	if override := e.overrideOf[index]; override >= 0 {
		return &e.overrides[override]
	}
	base := profile{ledger: ledger}
	if ledgerProfile := e.ledgerProfile(ledger); ledgerProfile != nil {
		base = *ledgerProfile
		base.counterparties = nil // Ledger-scope rules have none.
	}
	e.overrideOf[index] = int32(len(e.overrides))
	e.overrides = append(e.overrides, base)
	return &e.overrides[len(e.overrides)-1]
}

// add puts a ledger- or account-scope rule into the profile (the account's own rule of a
// kind replaces its ledger's, being added after it).
func (p *profile) add(state *ruleState) {
	switch state.rule.Kind {
	case model.RiskMaxAmount:
		p.maxAmount = state
	case model.RiskVelocity:
		p.velocity = state
	case model.RiskDailyAmount:
		p.daily = state
	case model.RiskBlocked:
		p.blocked = state
	case model.RiskBlockedCounterparty:
		p.counterparties = append(p.counterparties, state)
	case model.RiskCoolingOff:
		p.coolingOff = state
	case model.RiskAnomaly:
		p.anomaly = state
	}
}
