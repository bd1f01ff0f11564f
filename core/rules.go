package core

import (
	"encoding/binary"

	"sequent/core/model"
)

// Rules versions: how the machine applies entries (doc.go, "Rules version"). A change
// that makes the same entries produce another state gets a new version, and the old
// behaviour stays, selected by the version in force, so that a log written before the
// change replays exactly as it was applied.
const (
	// RulesVersionFirst is the version of a machine that no upgrade_rules entry has moved:
	// an empty machine, and every snapshot and log written before versions existed.
	RulesVersionFirst uint32 = 1
	// rulesVersionSettlementsAfterChecks creates a cross-shard transfer's settlement
	// account only for a transfer that passes the debit side's checks (the debit account
	// exists, is on the transfer's ledger, and the client may debit it). Before it, every
	// cross-shard transfer of a batch created its settlement account before any check, so
	// refused transfers could fill the accounts limit.
	rulesVersionSettlementsAfterChecks uint32 = 2
	// rulesVersionClientLimits reads the client limits a set_grants request may carry
	// (model.AppendGrantsAndLimits: the keys file's limits.accounts_max), so that a
	// client may create accounts only up to its own bound. Before it, the header word
	// that counts them was reserved: a set_grants request with limits is refused whole
	// (invalid_body), as the builds before it refused it.
	rulesVersionClientLimits uint32 = 3
	// rulesVersionOrderFlags reads byte 104 of a place event as the order flags (package
	// match: OrderFlagClientOrderIDsIncreasing opts the trading account into increasing
	// client order ids). Before it the byte was reserved: a place with it set is refused
	// with reserved_field (and that outcome remembered under its key), as the builds
	// before it applied it.
	rulesVersionOrderFlags uint32 = 4
	// rulesVersionPayeeRisk lets the risk rules see the payee of a cross-shard transfer:
	// step 1 of its saga (the debit, into the settlement account) is judged as a transfer
	// to the payee where a rule names the other account (blocked counterparties), and
	// step 2 (the credit, on the credit shard) by the payee's blocks: the payee account
	// blocked, its blocked counterparty naming the payer, the client's naming the payee
	// (the saga voids step 1; the client gets the refusal's code). Before it step 1 named
	// the settlement account and step 2 was judged by no rule, so such a transfer crossed
	// (core/risk_saga_kinds_test.go).
	rulesVersionPayeeRisk uint32 = 5
	// rulesVersionReplaceFunding makes a replace_orders event check that its client may
	// still trade from the order's paying account (package match, replaceFundingStatus):
	// base_account_not_owned or quote_account_not_owned, as a place would answer, after
	// order_not_found. Before it a client whose trade grant was withdrawn after it placed
	// an order on another client's accounts could still grow or reprice that order
	// (core/match/grant_withdrawn_hunt42b_test.go).
	rulesVersionReplaceFunding uint32 = 6
	// rulesVersionIssuingRight (the same version: none of it was released apart) makes a
	// client's debit that takes an account without debits_must_not_exceed_credits above
	// its credits posted need the right to issue money there at the time of the debit:
	// the operator scope or a transfer grant covering the account (package ledger,
	// SetIssuingChecked), or exceeds_credits. Before it the right was checked only when
	// such an account was created, so a client whose transfer grant was withdrawn kept
	// issuing with the accounts it had created (core/issuer_revoked_hunt42b_test.go).
	// The same switch covers the matching engine's holds made for a client (an order,
	// a replace's raise: ledger.ReserveFor), refused insufficient_funds; before it such a
	// client still issued money through orders (core/issuing_orders_test.go).
	rulesVersionIssuingRight uint32 = 6
	// rulesVersionIncreasingShare (the same version) bounds the trading accounts one
	// client may opt into increasing client order ids on a shard to its share of the
	// table (package match, IncreasingAccountsPerClientMax; accounts_limit_reached).
	// Before it one client could take the whole table, for good
	// (core/match/increasing_share_hunt42b_test.go).
	rulesVersionIncreasingShare uint32 = 6
	// rulesVersionOrdersShare bounds the open orders one client may keep on a shard to its
	// share of the table (package match, Config.OrdersPerClientMax: a sixteenth of
	// OrdersMax by default; the system and operators are not bound): beyond, a place of
	// an order that could rest is refused orders_limit_reached, as with the table full.
	// Before it one client could fill the table with small orders and have every other
	// client's resting place refused (core/match/orders_share_test.go).
	rulesVersionOrdersShare uint32 = 7
	// rulesVersionRefusedSteps bounds what a resting order the ledger refuses to settle
	// with costs an incoming order (package match, SetRefusalShrinksSteps): the refused
	// step is planned again with at most half as many fills (the fills before the refused
	// order's, fewer when those are more than half), each step applied doubling them back
	// to FillsPerStepMax. Before it every refused step was planned again whole, so each
	// refused order cost a chain of up to ~2,300 ledger events built and undone: one buy
	// crossing 4,000 sells whose payee account their client closed took 9.2 M events and
	// seconds of the sequencer (core/match/refused_steps_stall44_test.go). A fill-or-kill
	// (one step) instead takes, after its first refusal, every resting order with a closed
	// account as refused at once. The same orders trade and are canceled; the refused
	// chains take fewer transfer ids and timestamps, and the fills group into other
	// steps. The same switch cancels (canceled_account) the resting orders refused before
	// an incoming order whose own settlement is then refused, which before stayed resting
	// (core/match TestRefusedMakerCanceledWhenTheTakerIsRefusedToo).
	rulesVersionRefusedSteps uint32 = 8
	// rulesVersionRuleOnlyWhenHeld (the same version: none of it was released apart) names
	// a holding anomaly rule in a transfer's result only when the transfer is created held
	// (package ledger, SetRuleOnlyWhenHeld). Before it a transfer the rule would hold that
	// the ledger's later checks then refused (exceeds_credits …) answered that refusal
	// with the rule's id beside it, where PROTOCOL.md's EventResult says rule is 0 outside
	// the risk statuses (core/risk/held_refused_test.go). Only results change (the
	// session table remembers them, so the digest does); nothing else of the state.
	rulesVersionRuleOnlyWhenHeld uint32 = 8
	// rulesVersionPayerBound judges a cross-shard balancing_credit transfer (without
	// balancing_debit) by the payer's limit on the amount it moves, as a local one is
	// (package saga, SetPayerBound): when the debit account has
	// debits_must_not_exceed_credits, or its client may not issue money there, step 1
	// reserves at most what the payer may pay, and step 2 refuses exceeds_credits when the
	// credit account would take more than that. Before it step 1 reserved the amount
	// named, so a payer with 100 paying "at most 1,000" into an account that takes 30 was
	// refused exceeds_credits across shards where the same transfer moves 30 on one shard
	// (core/payer_bound_rules_test.go).
	rulesVersionPayerBound uint32 = 9
	// rulesVersionHeadroomBound makes step 1 of a cross-shard balancing_credit transfer
	// (without balancing_debit) from a payer that may issue money reserve at most half of
	// what the payer's debits and the settlement account's credits can take without
	// overflowing (package saga, SetHeadroomBound: the other half stays for the payer's
	// other debits meanwhile); step 2 then refuses exceeds_credits when the credit
	// account would take more. Before it step 1 reserved the amount named, so such a
	// transfer naming 2^128-1 ("as much as the payee takes") was refused
	// overflows_debits_posted once its payer had any debit posted, or
	// overflows_credits_posted once the pair of shards had carried any amount, where one
	// shard moves what the payee takes (core/hunt46a_balancing_max_test.go).
	rulesVersionHeadroomBound uint32 = 10
	// rulesVersionLedgerTotalHidden leaves the day's total out (0) of the RiskDetail of a
	// ledger-scope daily_amount refusal (risk_ledger_daily_amount) answered to a client
	// without the operator scope (package ledger, SetLedgerTotalHidden): that total is of
	// every client's transfers on the ledger, and two refused probes around another
	// client's payment read its amount exactly. Before it the detail carried the total
	// whoever sent the transfer (core/risk/hunt49b_daily_leak_test.go,
	// core/hunt49b_ledger_total_rules_test.go).
	rulesVersionLedgerTotalHidden uint32 = 11
	// RulesVersionCurrent is the newest version this build applies: the one the primary
	// moves its machine to (upgrade_rules) before it serves writes.
	RulesVersionCurrent = rulesVersionLedgerTotalHidden
)

// AcceptsClientLimits reports whether a set_grants request carrying client limits would
// be applied now (rules version 3 on); the primary moves the rules version before it
// writes one (core/shard).
func (m *Machine) AcceptsClientLimits() bool { return m.rules >= rulesVersionClientLimits }

// setRules puts a rules version in force, with what it decides in the engines below.
func (m *Machine) setRules(version uint32) {
	m.rules = version
	m.match.SetOrderFlagsAccepted(version >= rulesVersionOrderFlags)
	m.sagas.SetPayeeRisk(version >= rulesVersionPayeeRisk)
	m.match.SetReplaceFundingChecked(version >= rulesVersionReplaceFunding)
	m.ledger.SetIssuingChecked(version >= rulesVersionIssuingRight)
	m.match.SetIncreasingShareChecked(version >= rulesVersionIncreasingShare)
	m.match.SetOrdersShareChecked(version >= rulesVersionOrdersShare)
	m.match.SetRefusalShrinksSteps(version >= rulesVersionRefusedSteps)
	m.ledger.SetRuleOnlyWhenHeld(version >= rulesVersionRuleOnlyWhenHeld)
	m.sagas.SetPayerBound(version >= rulesVersionPayerBound)
	m.sagas.SetHeadroomBound(version >= rulesVersionHeadroomBound)
	m.ledger.SetLedgerTotalHidden(version >= rulesVersionLedgerTotalHidden)
}

// RulesVersion returns the rules version in force.
func (m *Machine) RulesVersion() uint32 { return m.rules }

// AppendUpgradeRules appends the body of an upgrade_rules request to version.
func AppendUpgradeRules(body []byte, version uint32) []byte {
	return binary.LittleEndian.AppendUint32(body, version)
}

// upgradeRules applies an upgrade_rules request: the version moves forward to the target,
// never back (a target at or below the version in force changes nothing). A target this
// build does not implement, or zero, is refused with invalid_body and changes nothing;
// the primary never writes one (it writes RulesVersionCurrent), so seeing it means a log
// written by a newer build, which this one cannot apply faithfully.
func (m *Machine) upgradeRules(body []byte) model.Status {
	target := binary.LittleEndian.Uint32(body)
	if target == 0 || target > RulesVersionCurrent {
		return model.StatusInvalidBody
	}
	m.setRules(max(m.rules, target))
	return model.StatusOK
}
