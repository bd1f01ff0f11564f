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
	empty := wal.ChainCheck{OK: true, RetainedFromOp: 1, WindowCovered: true}
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
		// A window ending before the logs' first entry: every node verified nothing, and
		// an empty chain at op 0 is no disagreement (session 52 reported "disagree on the
		// chain at op 0:  vs " for a primary and its standby).
		{"two nodes, nothing up to the cut-off", []wal.ChainCheck{empty, empty}, nil,
			[2]string{}, ""},
		// A standby with nothing yet was not compared (its log may hold only a base: the
		// chain of a snapshot's op, TestChainCheckStandbyFromABaseIsNotAgreement_review52d).
		{"a standby with nothing yet", []wal.ChainCheck{healthy, empty}, nil, [2]string{},
			"not compared"},
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
	sections, err := runChecks(context.Background(), []Check{ChainCheck{Addresses: []string{
		fakeNode(t, healthy, nil) + "/missing"}}})
	if err != nil || sections[0].OK || !strings.Contains(sections[0].Problems[0], "HTTP 404") {
		t.Errorf("unreachable endpoint: %+v", sections[0])
	}
}

// fakeShardedNode serves GET /v1/audit/chain for a node of len(checks) shards: the check
// of the shard asked for (the shard parameter, required here so that a check asking
// without it fails), and chainAt[shard][op] for an anchor op.
func fakeShardedNode(t *testing.T, checks []wal.ChainCheck,
	chainAt []map[uint64]string) string {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shard, err := strconv.Atoi(r.URL.Query().Get("shard"))
		if r.URL.Path != "/v1/audit/chain" || err != nil || shard < 0 || shard >= len(checks) {
			http.Error(w, "bad shard", http.StatusBadRequest)
			return
		}
		answer := checks[shard]
		if text := r.URL.Query().Get("anchor_op"); text != "" {
			op, _ := strconv.ParseUint(text, 10, 64)
			answer.AnchorOp, answer.AnchorChain = op, chainAt[shard][op]
		}
		json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(server.Close)
	return server.URL
}

// TestChainCheckEveryShard: on nodes of several shards each shard's log is verified on
// every node and the nodes are compared shard by shard: a primary and a standby agreeing
// on shard 0 but not on shard 1 fail, with the problem naming shard 1; an anchor is
// checked against its own shard's log only; an anchor naming a shard the nodes lack makes
// the check fail to run.
func TestChainCheckEveryShard(t *testing.T) {
	shard0 := wal.ChainCheck{OK: true, RetainedFromOp: 1, VerifiedFromOp: 1, VerifiedToOp: 90,
		Entries: 30, ChainLast: "a0", WindowCovered: true}
	shard1 := shard0
	shard1.VerifiedToOp, shard1.ChainLast = 70, "a1"
	forged := shard1
	forged.ChainLast = "f1"
	anchors := []map[uint64]string{{40: "00"}, {40: "11"}}
	cases := []struct {
		name     string
		standby  wal.ChainCheck // The standby's shard 1.
		anchor   [3]string      // Shard, op, chain.
		problems []string       // Each in the section's problems.
	}{
		{"nodes agree on both", shard1, [3]string{}, nil},
		{"shard 1 differs", forged, [3]string{},
			[]string{"(shard 1) and ", "(shard 1) disagree on the chain at op 70: a1 vs f1"}},
		{"anchor of shard 1 holds", shard1, [3]string{"1", "40", "11"}, nil},
		{"anchor of shard 1 is not shard 0's", shard1, [3]string{"1", "40", "00"},
			[]string{"(shard 1): the chain at anchor op 40 is 11"}},
	}
	for _, c := range cases {
		check := ChainCheck{Shards: 2, Addresses: []string{
			fakeShardedNode(t, []wal.ChainCheck{shard0, shard1}, anchors),
			fakeShardedNode(t, []wal.ChainCheck{shard0, c.standby}, anchors)}}
		if c.anchor[0] != "" {
			check.AnchorShard, _ = strconv.Atoi(c.anchor[0])
			check.AnchorOp, _ = strconv.ParseUint(c.anchor[1], 10, 64)
			check.AnchorChain = c.anchor[2]
		}
		section, err := check.Run(context.Background())
		problems := strings.Join(section.Problems, "; ")
		found := err == nil && section.OK == (len(c.problems) == 0)
		for _, problem := range c.problems {
			found = found && strings.Contains(problems, problem)
		}
		nodes, _ := section.Details.([]ChainNode)
		if !found || len(nodes) != 4 || nodes[2].Shard != 1 ||
			nodes[3].Check.ChainLast != c.standby.ChainLast ||
			!strings.Contains(section.Summary, "shard 1: ops 1..70") {
			t.Errorf("%s: ok %v, problems %q, err %v, nodes %+v, summary %q", c.name,
				section.OK, problems, err, nodes, section.Summary)
		}
	}
	check := ChainCheck{Shards: 2, AnchorShard: 2, AnchorOp: 40, AnchorChain: "00",
		Addresses: []string{fakeShardedNode(t, []wal.ChainCheck{shard0, shard1}, anchors)}}
	if _, err := check.Run(context.Background()); err == nil ||
		!strings.Contains(err.Error(), "shard 2") {
		t.Errorf("anchor of a shard the nodes lack: %v", err)
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
