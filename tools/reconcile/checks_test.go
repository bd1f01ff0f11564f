package reconcile

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/tools/clearing"
	"sequent/wal"
)

// fakeNode serves GET /v1/audit/chain with a fixed check; asked for an anchor op, it
// answers chainAt[op].
func fakeNode(t *testing.T, check wal.ChainCheck, chainAt map[uint64]string) string {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audit/chain" {
			http.NotFound(w, r)
			return
		}
		answer := check
		if text := r.URL.Query().Get("anchor_op"); text != "" {
			op, _ := strconv.ParseUint(text, 10, 64)
			answer.AnchorOp, answer.AnchorChain = op, chainAt[op]
		}
		json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(server.Close)
	return server.URL
}

// TestChainCheckFindings: nodes that agree pass; each finding fails the section with a
// problem that names it; a node that cannot answer makes the check fail to run.
func TestChainCheckFindings(t *testing.T) {
	healthy := wal.ChainCheck{OK: true, RetainedFromOp: 1, VerifiedFromOp: 1, VerifiedToOp: 90,
		Entries: 30, ChainLast: "aa", WindowCovered: true}
	behind := healthy
	behind.VerifiedToOp, behind.ChainLast = 80, "bb"
	cases := []struct {
		name    string
		nodes   []wal.ChainCheck
		chainAt map[uint64]string // The first node's chains at anchors.
		anchor  [2]string
		problem string
	}{
		{"one node", []wal.ChainCheck{healthy}, nil, [2]string{}, ""},
		{"two agree", []wal.ChainCheck{healthy, healthy}, nil, [2]string{}, ""},
		{"a standby behind agrees at its op", []wal.ChainCheck{healthy, behind},
			map[uint64]string{80: "bb"}, [2]string{}, ""},
		{"a standby behind disagrees", []wal.ChainCheck{healthy, behind},
			map[uint64]string{80: "cc"}, [2]string{}, "disagree on the chain at op 80"},
		{"a node found damage", []wal.ChainCheck{{OK: false, Problem: "chain hash does not match",
			WindowCovered: true}}, nil, [2]string{}, "chain hash does not match"},
		{"time limit", []wal.ChainCheck{{OK: true, Truncated: true, WindowCovered: true}}, nil,
			[2]string{}, "time limit"},
		{"retired window", []wal.ChainCheck{{OK: true, RetainedFromOp: 500}}, nil, [2]string{},
			"before op 500 was retired"},
		{"anchor holds", []wal.ChainCheck{healthy}, map[uint64]string{40: "dd"},
			[2]string{"40", "DD"}, ""},
		{"anchor changed", []wal.ChainCheck{healthy}, map[uint64]string{40: "ee"},
			[2]string{"40", "dd"}, "the chain at anchor op 40 is ee"},
		{"anchor gone", []wal.ChainCheck{healthy}, nil, [2]string{"40", "dd"},
			"no entry ends there"},
	}
	for _, c := range cases {
		check := ChainCheck{}
		for i, node := range c.nodes {
			chainAt := map[uint64]string{}
			if i == 0 {
				chainAt = c.chainAt
			}
			check.Addresses = append(check.Addresses, fakeNode(t, node, chainAt))
		}
		if c.anchor[0] != "" {
			check.AnchorOp, _ = strconv.ParseUint(c.anchor[0], 10, 64)
			check.AnchorChain = c.anchor[1]
		}
		section, err := check.Run(context.Background())
		problems := strings.Join(section.Problems, "; ")
		if err != nil || section.OK != (c.problem == "") || !strings.Contains(problems, c.problem) {
			t.Errorf("%s: ok %v, problems %q, err %v", c.name, section.OK, problems, err)
		}
	}
	sections := runChecks(context.Background(), []Check{ChainCheck{Addresses: []string{
		fakeNode(t, healthy, nil) + "/missing"}}})
	if sections[0].OK || !strings.Contains(sections[0].Problems[0], "HTTP 404") {
		t.Errorf("unreachable endpoint: %+v", sections[0])
	}
}

// unbalancedReader answers get_ledger_totals with one balanced and one unbalanced ledger.
type unbalancedReader struct{ clearing.Reader }

func (unbalancedReader) LedgerTotals(context.Context, model.LedgerFilter) (
	[]model.LedgerTotals, error) {
	one := model.WideSum{Low: model.U128(5)}
	return []model.LedgerTotals{{Ledger: 1, Accounts: 2, DebitsPosted: one, CreditsPosted: one},
		{Ledger: 2, Accounts: 1, DebitsPosted: one}}, nil
}

func TestTrialBalanceFindsAnUnbalancedLedger(t *testing.T) {
	ledgers, _ := clearing.NewLedgers([]clearing.LedgerInfo{{Ledger: 2, Name: "EUR", Scale: 2}})
	section, err := TrialBalance{Reader: unbalancedReader{}, Ledgers: ledgers}.Run(
		context.Background())
	if err != nil || section.OK || len(section.Problems) != 1 ||
		!strings.Contains(section.Problems[0], "ledger 2 (EUR)") ||
		!strings.Contains(section.Summary, "Σ debits = Σ credits in 1") {
		t.Fatalf("%+v, %v", section, err)
	}
}
