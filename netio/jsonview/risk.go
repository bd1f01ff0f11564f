package jsonview

import (
	"fmt"

	"sequent/core/model"
)

// RiskRule is a risk rule (model.RiskRule; PROTOCOL.md section 12). Kind, scope and
// action are names; fields a kind does not use are left out (and must be absent or zero
// when setting a rule).
type RiskRule struct {
	ID           uint32 `json:"id"`
	Kind         string `json:"kind"`             // max_amount, velocity, daily_amount, blocked, blocked_counterparty, cooling_off, anomaly
	Scope        string `json:"scope"`            // ledger, account, client
	Action       string `json:"action,omitempty"` // anomaly: refuse (default) or hold
	Ledger       uint32 `json:"ledger,omitempty"`
	Account      string `json:"account,omitempty"`
	Client       uint64 `json:"client,omitempty"`
	WindowNs     uint64 `json:"window_ns,omitempty"`
	Amount       string `json:"amount,omitempty"`
	Count        uint64 `json:"count,omitempty"`
	Threshold    uint32 `json:"threshold,omitempty"` // Sixteenths of a deviation.
	Warmup       uint16 `json:"warmup,omitempty"`
	Shift        uint8  `json:"shift,omitempty"`
	Counterparty string `json:"counterparty,omitempty"`
	Timestamp    uint64 `json:"timestamp,omitempty"` // When it was set (listings only).
}

// NewRiskRule returns the JSON form of a rule.
func NewRiskRule(r *model.RiskRule) RiskRule {
	rule := RiskRule{ID: r.ID, Kind: r.Kind.String(), Scope: r.Scope.String(), Ledger: r.Ledger,
		Client: r.Client, WindowNs: r.WindowNs, Count: r.Count, Threshold: r.Threshold,
		Warmup: r.Warmup, Shift: r.Shift, Timestamp: r.Timestamp}
	if r.Kind == model.RiskAnomaly {
		rule.Action = r.Action.String()
	}
	if !r.Account.IsZero() {
		rule.Account = r.Account.String()
	}
	if !r.Amount.IsZero() {
		rule.Amount = r.Amount.String()
	}
	if !r.Counterparty.IsZero() {
		rule.Counterparty = r.Counterparty.String()
	}
	return rule
}

// Model returns the rule to set. It checks the names and numbers; whether the fields fit
// the kind and scope is model.RiskRule.Validate's (and the server's) to say.
func (r *RiskRule) Model() (model.RiskRule, error) {
	rule := model.RiskRule{ID: r.ID, Ledger: r.Ledger, Client: r.Client, WindowNs: r.WindowNs,
		Count: r.Count, Threshold: r.Threshold, Warmup: r.Warmup, Shift: r.Shift}
	var ok bool
	if rule.Kind, ok = model.ParseRiskKind(r.Kind); !ok {
		return rule, fmt.Errorf("rule %d: kind %q (want max_amount, velocity, daily_amount, "+
			"blocked, blocked_counterparty, cooling_off or anomaly)", r.ID, r.Kind)
	}
	if rule.Scope, ok = model.ParseRiskScope(r.Scope); !ok {
		return rule, fmt.Errorf("rule %d: scope %q (want ledger, account or client)", r.ID, r.Scope)
	}
	switch r.Action {
	case "", "refuse":
	case "hold":
		rule.Action = model.RiskHold
	default:
		return rule, fmt.Errorf("rule %d: action %q (want refuse or hold)", r.ID, r.Action)
	}
	for _, field := range []struct {
		name, text string
		into       *model.Uint128
	}{{"account", r.Account, &rule.Account}, {"amount", r.Amount, &rule.Amount},
		{"counterparty", r.Counterparty, &rule.Counterparty}} {
		if err := parseField(field.name, field.text, field.into); err != nil {
			return rule, fmt.Errorf("rule %d: %v", r.ID, err)
		}
	}
	return rule, nil
}

// RiskDetail explains a risk refusal (model.RiskDetail): which rule, its limit and the
// value it found (what they hold per kind: PROTOCOL.md section 12).
type RiskDetail struct {
	Rule     uint32 `json:"rule"`
	Kind     string `json:"kind"`
	Scope    string `json:"scope"`
	Action   string `json:"action"`
	WindowNs uint64 `json:"window_ns,omitempty"`
	Limit    string `json:"limit"`
	Current  string `json:"current"`
	Amount   string `json:"amount"`
	Until    uint64 `json:"until,omitempty"`
}

// NewRiskDetail returns the JSON form of a refusal's explanation.
func NewRiskDetail(d *model.RiskDetail) RiskDetail {
	return RiskDetail{Rule: d.Rule, Kind: d.Kind.String(), Scope: d.Scope.String(),
		Action: d.Action.String(), WindowNs: d.WindowNs, Limit: d.Limit.String(),
		Current: d.Current.String(), Amount: d.Amount.String(), Until: d.Until}
}
