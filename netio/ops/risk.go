package ops

import (
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"sequent/core/model"
	"sequent/netio/httpguard"
	"sequent/netio/jsonview"
)

// The risk rules of the sequencer (core/risk), set and removed as audited admin actions:
// the audit record (who, which rules) goes into the log first, then the change itself as
// an internal request (Sources.RiskSet, RiskRemove), so that the standby has the rules
// and a replay reproduces every decision. Listing needs the admin token too: the limits
// are worth knowing to someone who wants to stay under them.

// Risk action names and paths.
const (
	ActionRiskSet    = "risk-set"
	ActionRiskRemove = "risk-remove"
	PathRiskRules    = "/v1/admin/risk/rules"
	PathRiskSet      = "/v1/admin/risk/set"
	PathRiskRemove   = "/v1/admin/risk/remove"
)

// RiskSetRequest is the body of POST /v1/admin/risk/set.
type RiskSetRequest struct {
	Rules []jsonview.RiskRule `json:"rules"`
}

// RiskRemoveRequest is the body of POST /v1/admin/risk/remove.
type RiskRemoveRequest struct {
	IDs []uint32 `json:"ids"`
}

// RiskRuleResult is one rule's outcome in a risk-set or risk-remove reply: ok, or why the
// sequencer refused that rule (risk_rule_invalid, risk_rule_conflict, …).
type RiskRuleResult struct {
	ID     uint32 `json:"id"`
	Status string `json:"status"`
	Code   uint32 `json:"code"`
	// Shards is each shard's answer on a node of several shards (absent on one shard).
	Shards []RiskShardResult `json:"shards,omitempty"`
}

// RiskShardResult is one shard's answer for one rule, on a node of several shards.
type RiskShardResult struct {
	Shard  uint16 `json:"shard"`
	Status string `json:"status"`
	Code   uint32 `json:"code"`
}

// RiskOutcome is what a node did with one rule of a risk-set or risk-remove: the rule's
// status (StatusOK when the node holds the change as asked) and, on a node of several
// shards, each shard's own answer (nil on one shard).
type RiskOutcome struct {
	Status model.Status
	Shards []RiskShardStatus
}

// RiskShardStatus is one shard's status for one rule.
type RiskShardStatus struct {
	Shard  uint16
	Status model.Status
}

// RiskRules is the body of GET /v1/admin/risk/rules.
type RiskRules struct {
	Rules []jsonview.RiskRule `json:"rules"`
}

// handleRisk serves the three risk endpoints (the caller checked the path).
func (s *Server) handleRisk(ctx *fasthttp.RequestCtx, path string) {
	if path == PathRiskRules {
		if !ctx.IsGet() {
			methodNotAllowed(ctx, allowClearing)
			return
		}
		if _, ok := s.authorize(ctx, "risk-rules"); !ok {
			return
		}
		s.listRiskRules(ctx)
		return
	}
	if !ctx.IsPost() {
		methodNotAllowed(ctx, allowAdmin)
		return
	}
	action := ActionRiskSet
	if path == PathRiskRemove {
		action = ActionRiskRemove
	}
	who, ok := s.authorize(ctx, action)
	if !ok {
		return
	}
	run, detail, err := s.riskAction(ctx, action)
	if err != nil {
		reply(ctx, fasthttp.StatusBadRequest, Reply{Action: action, Code: CodeBadRequest,
			Error: err.Error()})
		return
	}
	if run == nil {
		s.metrics.actions.WithLabelValues(action, outcomeNotImplemented).Inc()
		reply(ctx, fasthttp.StatusNotImplemented, Reply{Action: action,
			Code: CodeNotImplemented, Error: "this node does not offer " + action})
		return
	}
	record := AuditRecord{Who: who, Action: action, Detail: detail,
		RemoteAddress: ctx.RemoteAddr().String(), TimeUnixNs: time.Now().UnixNano()}
	result := s.runAction(record, run)
	s.metrics.actions.WithLabelValues(action, result.outcome).Inc()
	result.reply.Action = action
	reply(ctx, result.statusCode, result.reply)
}

// riskAction parses a risk-set or risk-remove body and returns the action to run and the
// audit record's detail ("ids=1,2,3").
func (s *Server) riskAction(ctx *fasthttp.RequestCtx, action string) (
	func() (Reply, error), string, error) {
	if err := checkQueryAsSent(ctx); err != nil {
		return nil, "", err
	}
	if ctx.QueryArgs().Len() != 0 {
		return nil, "", errors.New("this action takes no query arguments")
	}
	mediaType, _, err := mime.ParseMediaType(string(ctx.Request.Header.ContentType()))
	if err != nil || mediaType != contentTypeJSON {
		return nil, "", errors.New("the body must be JSON (Content-Type: application/json)")
	}
	if action == ActionRiskRemove {
		var request RiskRemoveRequest
		if err := decodeStrict(ctx.PostBody(), &request); err != nil {
			return nil, "", fmt.Errorf(`the body must be {"ids":[…]}: %v`, err)
		}
		if len(request.IDs) == 0 || len(request.IDs) > model.RiskRulesPerRequestMax {
			return nil, "", fmt.Errorf("1 to %d ids", model.RiskRulesPerRequestMax)
		}
		if s.sources.RiskRemove == nil {
			return nil, "", nil
		}
		return func() (Reply, error) {
			outcomes, err := s.sources.RiskRemove(request.IDs)
			return riskReply(request.IDs, outcomes), err
		}, riskDetail(request.IDs), nil
	}
	var request RiskSetRequest
	if err := decodeStrict(ctx.PostBody(), &request); err != nil {
		return nil, "", fmt.Errorf(`the body must be {"rules":[…]}: %v`, err)
	}
	if len(request.Rules) == 0 || len(request.Rules) > model.RiskRulesPerRequestMax {
		return nil, "", fmt.Errorf("1 to %d rules", model.RiskRulesPerRequestMax)
	}
	rules := make([]model.RiskRule, len(request.Rules))
	ids := make([]uint32, len(rules))
	for i := range request.Rules {
		if rules[i], err = request.Rules[i].Model(); err != nil {
			return nil, "", err
		}
		ids[i] = rules[i].ID
	}
	if s.sources.RiskSet == nil {
		return nil, "", nil
	}
	return func() (Reply, error) {
		outcomes, err := s.sources.RiskSet(rules)
		return riskReply(ids, outcomes), err
	}, riskDetail(ids), nil
}

// riskReply is the reply of a risk action: ok when every rule was accepted.
func riskReply(ids []uint32, outcomes []RiskOutcome) Reply {
	result := Reply{OK: len(outcomes) == len(ids)}
	for i, outcome := range outcomes {
		rule := RiskRuleResult{ID: ids[i], Status: outcome.Status.String(),
			Code: uint32(outcome.Status)}
		for _, shard := range outcome.Shards {
			rule.Shards = append(rule.Shards, RiskShardResult{Shard: shard.Shard,
				Status: shard.Status.String(), Code: uint32(shard.Status)})
		}
		result.Rules = append(result.Rules, rule)
		result.OK = result.OK && outcome.Status == model.StatusOK
	}
	return result
}

// riskDetail is a risk action's audit detail: "ids=1,2,3", the ids in the request's
// order. When they do not all fit in detailBytesMax (model.RiskRulesPerRequestMax
// ten-digit ids take 707 bytes) it lists the whole ids that fit and says how many it left
// out ("ids=1,2 (+62 more)"): AuditRecord.Encode cuts a longer detail at its bound
// wherever that falls, which named part of an id, one nobody asked for, as changed
// (TestHunt52aRiskAuditDetailNamesOnlyRequestedIDs). The rules themselves follow in the
// log in full (the set or remove request), so the audit record says who and which first
// ids, never a wrong one.
//
// The whole list is written when it fits; else each id is written while there is room
// for it and for the mark of the ids after it, so the mark always fits and no more whole
// ids would (room kept for the longest mark instead cut lists of 392 or 400 bytes:
// TestReview52aRiskDetailListsEveryIDThatFits).
func riskDetail(ids []uint32) string {
	var detail strings.Builder
	detail.WriteString("ids=")
	for i, id := range ids {
		if i > 0 {
			detail.WriteByte(',')
		}
		detail.WriteString(strconv.FormatUint(uint64(id), 10))
	}
	if detail.Len() <= detailBytesMax {
		return detail.String()
	}
	detail.Reset()
	detail.WriteString("ids=")
	for i, id := range ids {
		text := strconv.FormatUint(uint64(id), 10)
		if i > 0 {
			text = "," + text
		}
		// Not all fit, so the last id never does, and any other is followed by the mark
		// of those after it.
		room := detailBytesMax - detail.Len()
		if i < len(ids)-1 {
			room -= len(riskDetailMore(len(ids) - i - 1))
		}
		if len(text) > room && i > 0 {
			detail.WriteString(riskDetailMore(len(ids) - i))
			break
		}
		detail.WriteString(text)
	}
	return detail.String()
}

// riskDetailMore is the mark of ids left out of a risk action's audit detail.
func riskDetailMore(left int) string { return " (+" + strconv.Itoa(left) + " more)" }

// listRiskRules answers GET /v1/admin/risk/rules.
func (s *Server) listRiskRules(ctx *fasthttp.RequestCtx) {
	if s.sources.RiskRules == nil {
		reply(ctx, fasthttp.StatusNotImplemented, Reply{Code: CodeNotImplemented,
			Error: "this node does not list risk rules"})
		return
	}
	var rules []model.RiskRule
	var err error
	// Unguarded: the read goes through the shard's input ring (see httpguard).
	httpguard.Unguarded(func() { rules, err = s.sources.RiskRules() })
	if err != nil {
		reply(ctx, fasthttp.StatusServiceUnavailable, Reply{Code: CodeActionFailed,
			Error: err.Error()})
		return
	}
	body := RiskRules{Rules: make([]jsonview.RiskRule, len(rules))}
	for i := range rules {
		body.Rules[i] = jsonview.NewRiskRule(&rules[i])
	}
	writeJSON(ctx, fasthttp.StatusOK, body)
}
