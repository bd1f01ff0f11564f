package reconcile

import (
	"context"
	"fmt"
	"net/http"

	noderec "sequent/core/node/reconcile"
)

// ShardsCheck is the cross-shard section: per-ledger totals over every shard of the node,
// each settlement pair's position, and the sagas in flight with their age, as the node
// computes them from its running shards (GET /v1/reconcile on the operators' HTTP port;
// core/node/reconcile). It fails when an invariant fails: a ledger whose debits and
// credits differ over the shards, or a settlement pair where a credit shard paid out more
// than its debit shard reserved, or a debit shard posted more than its credit shard paid.
// Sagas in flight are listed, not failed: under traffic they are normal.
type ShardsCheck struct {
	Address string // host:port (http) or a URL of the node's operators' HTTP.
	Token   string // The node's admin bearer token (the report covers every client).
	Client  *http.Client
}

var _ Check = ShardsCheck{}

// Name implements Check.
func (ShardsCheck) Name() string { return "shards" }

// Run implements Check.
func (c ShardsCheck) Run(ctx context.Context) (Section, error) {
	var report noderec.Report
	if err := getJSON(ctx, c.Client, c.Address, "/v1/reconcile", c.Token, &report); err != nil {
		return Section{}, fmt.Errorf("cross-shard report at %s: %w", c.Address, err)
	}
	section := Section{OK: report.OK, Details: report}
	oldest := int64(0)
	for _, s := range report.Running {
		oldest = max(oldest, s.AgeMs)
	}
	nets := 0
	for _, p := range report.Pairs {
		if p.Nets {
			nets++
		}
	}
	section.Summary = fmt.Sprintf("%d ledgers over every shard, %d settlement pairs (%d "+
		"net to zero), %d sagas in flight (oldest %d ms)", len(report.Ledgers),
		len(report.Pairs), nets, len(report.Running), oldest)
	if !report.OK {
		section.Problems = []string{report.Problem}
	}
	return section, nil
}
