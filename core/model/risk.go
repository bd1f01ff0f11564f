package model

import (
	"encoding/binary"
	"strconv"
)

// Risk rules (package core/risk evaluates them; PROTOCOL.md section 12 has the rules'
// semantics and their precedence). A rule is a fixed-size record: the body of the
// internal set_risk_rules request (so the log and every replica hold it) and a result of
// get_risk_rules.

// RiskKind is what a rule checks.
type RiskKind uint8

// Rule kinds. Numbers are stable (log and wire format).
const (
	RiskMaxAmount           RiskKind = 1 // amount ≤ Amount.
	RiskVelocity            RiskKind = 2 // Per rolling window: Σ amount ≤ Amount, count ≤ Count.
	RiskDailyAmount         RiskKind = 3 // Per UTC day: Σ amount ≤ Amount (a ledger's or a client's).
	RiskBlocked             RiskKind = 4 // Nothing moves (an account, every account of a ledger, a client).
	RiskBlockedCounterparty RiskKind = 5 // Nothing moves between the target and Counterparty.
	RiskCoolingOff          RiskKind = 6 // A payee account younger than WindowNs receives at most Amount.
	RiskAnomaly             RiskKind = 7 // amount ≤ mean + Threshold/16 × deviation (EWMA).
	riskKindEnd             RiskKind = 8
)

var riskKindNames = [riskKindEnd]string{"", "max_amount", "velocity", "daily_amount",
	"blocked", "blocked_counterparty", "cooling_off", "anomaly"}

// String returns the kind's stable name.
func (k RiskKind) String() string {
	if k > 0 && k < riskKindEnd {
		return riskKindNames[k]
	}
	return "risk_kind_" + strconv.Itoa(int(k))
}

// ParseRiskKind returns the kind with the given name.
func ParseRiskKind(name string) (RiskKind, bool) {
	for k := RiskKind(1); k < riskKindEnd; k++ {
		if riskKindNames[k] == name {
			return k, true
		}
	}
	return 0, false
}

// RiskScope is whom a rule applies to.
type RiskScope uint8

// Scopes. A ledger-scope rule applies to every account of the ledger, each with its own
// counters (except daily_amount, which counts the whole ledger); an account-scope rule to
// one account (it replaces the ledger's rule of the same kind for that account); a
// client-scope rule to the transfers one client sends (optionally on one ledger), with the
// client's own counters.
const (
	RiskScopeLedger  RiskScope = 1
	RiskScopeAccount RiskScope = 2
	RiskScopeClient  RiskScope = 3
	riskScopeEnd     RiskScope = 4
)

var riskScopeNames = [riskScopeEnd]string{"", "ledger", "account", "client"}

// String returns the scope's stable name.
func (s RiskScope) String() string {
	if s > 0 && s < riskScopeEnd {
		return riskScopeNames[s]
	}
	return "risk_scope_" + strconv.Itoa(int(s))
}

// ParseRiskScope returns the scope with the given name.
func ParseRiskScope(name string) (RiskScope, bool) {
	for s := RiskScope(1); s < riskScopeEnd; s++ {
		if riskScopeNames[s] == name {
			return s, true
		}
	}
	return 0, false
}

// RiskAction is what an anomaly rule does with a transfer it scores above its threshold
// (every other kind refuses).
type RiskAction uint8

// Actions.
const (
	RiskRefuse RiskAction = 0 // Refuse it (risk_anomaly).
	// RiskHold creates it as a pending transfer flagged held_for_review
	// (risk_held_for_review), for an operator to post or anyone entitled to void.
	RiskHold      RiskAction = 1
	riskActionEnd RiskAction = 2
)

// String returns the action's stable name.
func (a RiskAction) String() string {
	switch a {
	case RiskRefuse:
		return "refuse"
	case RiskHold:
		return "hold"
	}
	return "risk_action_" + strconv.Itoa(int(a))
}

// Risk rule bounds (wire-visible).
const (
	// RiskRuleSize is the encoded size of one rule (log and wire format: never change).
	RiskRuleSize = 128
	// RiskDetailSize is the encoded size of a refusal's explanation.
	RiskDetailSize = 128
	// RiskRuleFilterSize is the event of get_risk_rules.
	RiskRuleFilterSize = 16
	// RiskWindowBuckets is the number of buckets of a velocity window: the window slides
	// by a quarter of its length (a transfer counts from its bucket's start until the
	// window has moved four buckets on).
	RiskWindowBuckets = 4
	// RiskWindowNsMin and RiskWindowNsMax bound velocity windows and cooling-off periods.
	RiskWindowNsMin = 4_000_000       // 4 ms.
	RiskWindowNsMax = 366 * RiskDayNs // 366 days.
	// RiskDayNs is the length of the day of daily_amount rules (UTC days: timestamps are
	// nanoseconds since the Unix epoch, and day n covers [n×RiskDayNs, (n+1)×RiskDayNs)).
	RiskDayNs = 24 * 3600 * 1_000_000_000
	// RiskAnomalyShiftMax bounds an anomaly rule's weight 2^-Shift.
	RiskAnomalyShiftMax = 16
	// RiskRulesPerRequestMax bounds the rules of one set_risk_rules request.
	RiskRulesPerRequestMax = 64
)

// RiskRule is one rule. Encoding, little-endian (128 bytes):
//
//	  0 id u32            4 kind u8        5 scope u8       6 action u8    7 shift u8
//	  8 ledger u32       12 threshold u32 16 account u128  32 client u64
//	 40 window_ns u64    48 amount u128   64 count u64     72 warmup u16
//	 74 reserved (6)     80 counterparty u128              96 timestamp u64
//	104 reserved (24)
type RiskRule struct {
	ID     uint32
	Kind   RiskKind
	Scope  RiskScope
	Action RiskAction // Anomaly rules only; RiskRefuse for every other kind.
	// Ledger is the ledger of a ledger-scope rule; for a client-scope rule, the only
	// ledger whose transfers it applies to (0: every ledger; required when the rule sums
	// amounts, which are in the ledger's unit).
	Ledger       uint32
	Account      Uint128 // Account scope: the account.
	Client       uint64  // Client scope: the client.
	WindowNs     uint64  // Velocity: the window; cooling_off: the period after a payee's creation.
	Amount       Uint128 // max_amount, velocity and daily limits; cooling_off: the small amount.
	Count        uint64  // Velocity: most transfers per window (0: no count limit).
	Threshold    uint32  // Anomaly: sixteenths of a deviation above the mean (64 = 4.0).
	Warmup       uint16  // Anomaly: transfers the account's averages need before scoring.
	Shift        uint8   // Anomaly: the averages weigh each new amount 2^-Shift.
	Counterparty Uint128 // blocked_counterparty: the other account.
	Timestamp    uint64  // When the rule was set (the server's; 0 when sending).
}

// Encode writes the rule into b[0:128].
func (r *RiskRule) Encode(b []byte) {
	_ = b[RiskRuleSize-1]
	clear(b[:RiskRuleSize])
	binary.LittleEndian.PutUint32(b[0:], r.ID)
	b[4], b[5], b[6], b[7] = byte(r.Kind), byte(r.Scope), byte(r.Action), r.Shift
	binary.LittleEndian.PutUint32(b[8:], r.Ledger)
	binary.LittleEndian.PutUint32(b[12:], r.Threshold)
	r.Account.PutLE(b[16:])
	binary.LittleEndian.PutUint64(b[32:], r.Client)
	binary.LittleEndian.PutUint64(b[40:], r.WindowNs)
	r.Amount.PutLE(b[48:])
	binary.LittleEndian.PutUint64(b[64:], r.Count)
	binary.LittleEndian.PutUint16(b[72:], r.Warmup)
	r.Counterparty.PutLE(b[80:])
	binary.LittleEndian.PutUint64(b[96:], r.Timestamp)
}

// Decode reads a rule from b[0:128] and reports whether its reserved bytes were zero.
func (r *RiskRule) Decode(b []byte) bool {
	_ = b[RiskRuleSize-1]
	r.ID = binary.LittleEndian.Uint32(b[0:])
	r.Kind, r.Scope, r.Action, r.Shift = RiskKind(b[4]), RiskScope(b[5]), RiskAction(b[6]), b[7]
	r.Ledger = binary.LittleEndian.Uint32(b[8:])
	r.Threshold = binary.LittleEndian.Uint32(b[12:])
	r.Account = Uint128LE(b[16:])
	r.Client = binary.LittleEndian.Uint64(b[32:])
	r.WindowNs = binary.LittleEndian.Uint64(b[40:])
	r.Amount = Uint128LE(b[48:])
	r.Count = binary.LittleEndian.Uint64(b[64:])
	r.Warmup = binary.LittleEndian.Uint16(b[72:])
	r.Counterparty = Uint128LE(b[80:])
	r.Timestamp = binary.LittleEndian.Uint64(b[96:])
	return AllZero(b[74:80]) && AllZero(b[104:RiskRuleSize])
}

// AllZero reports whether every byte of b is zero: the check of a record's reserved
// bytes, which every decoder of untrusted bytes makes (a later version that gives them a
// meaning is then refused by this one, not misread).
func AllZero(b []byte) bool {
	for _, value := range b {
		if value != 0 {
			return false
		}
	}
	return true
}

// Validate checks a rule's fields against its kind and scope (the timestamp is the
// server's and is not checked). It returns StatusOK, StatusRiskRuleIDMustNotBeZero or
// StatusRiskRuleInvalid.
func (r *RiskRule) Validate() Status {
	if r.ID == 0 {
		return StatusRiskRuleIDMustNotBeZero
	}
	if !r.scopeValid() || !r.kindValid() {
		return StatusRiskRuleInvalid
	}
	return StatusOK
}

func (r *RiskRule) scopeValid() bool {
	switch r.Scope {
	case RiskScopeLedger:
		return r.Ledger != 0 && r.Account.IsZero() && r.Client == 0
	case RiskScopeAccount:
		return !r.Account.IsZero() && !r.Account.IsMax() && !IsSystemID(r.Account) &&
			r.Ledger == 0 && r.Client == 0
	case RiskScopeClient:
		return r.Client != 0 && r.Account.IsZero()
	}
	return false
}

// kindValid checks the fields each kind uses, and that the others are zero (so that a
// field set by mistake is refused instead of silently ignored).
func (r *RiskRule) kindValid() bool {
	window := r.WindowNs >= RiskWindowNsMin && r.WindowNs <= RiskWindowNsMax
	unused := func(window, amount, count, anomaly, counterparty bool) bool {
		return (window || r.WindowNs == 0) && (amount || r.Amount.IsZero()) &&
			(count || r.Count == 0) &&
			(anomaly || (r.Threshold == 0 && r.Warmup == 0 && r.Shift == 0)) &&
			(counterparty || r.Counterparty.IsZero()) &&
			(r.Action == RiskRefuse || (anomaly && r.Action == RiskHold))
	}
	sumsAmounts := r.Scope != RiskScopeClient || r.Ledger != 0
	switch r.Kind {
	case RiskMaxAmount:
		return unused(false, true, false, false, false)
	case RiskVelocity:
		return window && r.WindowNs%RiskWindowBuckets == 0 &&
			(!r.Amount.IsZero() || r.Count != 0) && (r.Amount.IsZero() || sumsAmounts) &&
			unused(true, true, true, false, false)
	case RiskDailyAmount:
		return r.Scope != RiskScopeAccount && sumsAmounts && unused(false, true, false, false, false)
	case RiskBlocked:
		return unused(false, false, false, false, false)
	case RiskBlockedCounterparty:
		return r.Scope != RiskScopeLedger && !r.Counterparty.IsZero() &&
			!r.Counterparty.IsMax() && r.Counterparty != r.Account &&
			unused(false, false, false, false, true)
	case RiskCoolingOff:
		return window && unused(true, true, false, false, false)
	case RiskAnomaly:
		return r.Threshold != 0 && r.Warmup != 0 && r.Shift >= 1 &&
			r.Shift <= RiskAnomalyShiftMax && r.Action < riskActionEnd &&
			unused(false, false, false, true, false)
	}
	return false
}

// RiskDetail explains a risk refusal: which rule, its limit, and the value it found.
// Encoding, little-endian (128 bytes; in a result with balances it takes the place of
// the two balances, which a refused transfer does not have):
//
//	 0 rule u32        4 kind u8     5 scope u8    6 action u8   7 reserved u8
//	 8 window_ns u64  16 limit u128 32 current u128              48 amount u128
//	64 until u64      72 reserved (56)
//
// What limit and current hold, per kind: max_amount: the maximum and 0; velocity: the
// amount (or count) limit and the window's total before this transfer; daily_amount: the
// limit and the day's total so far (a ledger rule's only to an operator from rules
// version 11: ledger.SetLedgerTotalHidden); cooling_off: the small amount and the time
// the payee account was created; anomaly: the largest amount that would have passed and the
// account's mean; blocked kinds and review_required: 0 and 0. amount is the amount the
// rule evaluated; until is the soonest the refusing condition can lapse by itself (the
// end of the window's newest bucket, when the oldest leaves: the rest may still refuse;
// the end of the day or of the cooling-off period), 0 when it does not.
type RiskDetail struct {
	Rule     uint32
	Kind     RiskKind
	Scope    RiskScope
	Action   RiskAction
	WindowNs uint64
	Limit    Uint128
	Current  Uint128
	Amount   Uint128
	Until    uint64
}

// Encode writes the detail into b[0:128].
func (d *RiskDetail) Encode(b []byte) {
	_ = b[RiskDetailSize-1]
	clear(b[:RiskDetailSize])
	binary.LittleEndian.PutUint32(b[0:], d.Rule)
	b[4], b[5], b[6] = byte(d.Kind), byte(d.Scope), byte(d.Action)
	binary.LittleEndian.PutUint64(b[8:], d.WindowNs)
	d.Limit.PutLE(b[16:])
	d.Current.PutLE(b[32:])
	d.Amount.PutLE(b[48:])
	binary.LittleEndian.PutUint64(b[64:], d.Until)
}

// Decode reads a detail from b[0:128].
func (d *RiskDetail) Decode(b []byte) {
	_ = b[RiskDetailSize-1]
	d.Rule = binary.LittleEndian.Uint32(b[0:])
	d.Kind, d.Scope, d.Action = RiskKind(b[4]), RiskScope(b[5]), RiskAction(b[6])
	d.WindowNs = binary.LittleEndian.Uint64(b[8:])
	d.Limit = Uint128LE(b[16:])
	d.Current = Uint128LE(b[32:])
	d.Amount = Uint128LE(b[48:])
	d.Until = binary.LittleEndian.Uint64(b[64:])
}

// RiskRuleFilter is the event of get_risk_rules: rules with an id above AfterID, at most
// Limit of them (1..EventsPerRequestMax), in id order. Encoding: after_id u32 at 0, limit
// u32 at 4, reserved u64 at 8 (zero).
type RiskRuleFilter struct {
	AfterID uint32
	Limit   uint32
}

// Encode writes the filter into b[0:16].
func (f *RiskRuleFilter) Encode(b []byte) {
	_ = b[RiskRuleFilterSize-1]
	binary.LittleEndian.PutUint32(b[0:], f.AfterID)
	binary.LittleEndian.PutUint32(b[4:], f.Limit)
	binary.LittleEndian.PutUint64(b[8:], 0)
}

// Decode reads a filter from b[0:16] and reports whether its reserved bytes were zero.
func (f *RiskRuleFilter) Decode(b []byte) bool {
	_ = b[RiskRuleFilterSize-1]
	f.AfterID = binary.LittleEndian.Uint32(b[0:])
	f.Limit = binary.LittleEndian.Uint32(b[4:])
	return binary.LittleEndian.Uint64(b[8:]) == 0
}
