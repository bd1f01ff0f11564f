package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"sequent/wal"
)

// ChainCheck is the tamper-evidence section: each node named verifies its own log's hash
// chain over the window, server side (GET /v1/audit/chain on the operators' HTTP port),
// and the nodes must agree on the chain at a common op; with an anchor (the op and chain
// hash of an earlier report), the chain there must be unchanged. On nodes of several
// shards each shard's log has a chain of its own: every shard's is verified on every
// node, and the nodes are compared shard by shard.
//
// Why server side: the node has its log open and reads it concurrently with its writer,
// as replication catch-up does; an auditor's tool reading another machine's files while it
// runs would race the writer and need access to that disk. Why more than one node: a
// chain verified on one disk proves internal consistency only (someone with that disk
// could rewrite history, chain included); a standby's log has the same chain hashes entry
// for entry and sits on another disk, and an anchor kept from an earlier report pins
// history that an attacker cannot recompute.
type ChainCheck struct {
	Addresses []string // host:port (http) or a URL (https://host:port) of each node.
	// Shards is how many shards the nodes have (each shard's log verified apart). 0 or 1:
	// one log, asked for without the shard parameter (so a node older than it answers).
	Shards      int
	From, Until uint64 // The window (log timestamps; Until 0: the durable end).
	AnchorShard int    // The shard whose log the anchor is about (0 on one shard).
	AnchorOp    uint64 // 0: no anchor.
	AnchorChain string // Hex chain hash expected at AnchorOp.
	Client      *http.Client
}

var _ Check = ChainCheck{}

// chainRequestTimeout bounds one chain or reconcile request: longer than the server's own
// bound (ops.clearingTimeout, 60 s), so the server's 504 arrives rather than a client
// timeout.
const chainRequestTimeout = 70 * time.Second

// responseBytesMax bounds a node's answer: a chain check is a few hundred bytes, a
// cross-shard report a few hundred per ledger, pair and saga in flight.
const responseBytesMax = 64 << 20

// ChainNode is one node's answer for one shard's log in the report.
type ChainNode struct {
	Address string         `json:"address"`
	Shard   int            `json:"shard"` // 0 on a node of one shard.
	Check   wal.ChainCheck `json:"check"`
	// WindowCoveredBy says how the window's prefix this node's log lacks (started over
	// from a snapshot, or retired: Check.WindowCovered false) was covered instead: its
	// chain agrees with a node that verified that prefix. "": not needed, or not covered.
	WindowCoveredBy string `json:"window_covered_by,omitempty"`
	label           string // How problems name it: the address, and the shard if several.
}

// Name implements Check.
func (ChainCheck) Name() string { return "chain" }

// Run implements Check.
func (c ChainCheck) Run(ctx context.Context) (Section, error) {
	if len(c.Addresses) == 0 {
		return Section{}, fmt.Errorf("no node to ask (give the operators' HTTP address)")
	}
	shards := max(c.Shards, 1)
	if c.AnchorOp != 0 && (c.AnchorShard < 0 || c.AnchorShard >= shards) {
		return Section{}, fmt.Errorf("the anchor is about shard %d; the nodes have %d "+
			"shard(s)", c.AnchorShard, shards)
	}
	section := Section{OK: true}
	var nodes []ChainNode
	var summaries []string
	for shard := range shards {
		shardNodes, problems, err := c.runShard(ctx, shard)
		if err != nil {
			return Section{}, err
		}
		section.Problems = append(section.Problems, problems...)
		summary := chainSummary(&shardNodes[0].Check)
		for _, node := range shardNodes {
			if node.WindowCoveredBy != "" {
				summary += fmt.Sprintf("; %s: %s", node.Address, node.WindowCoveredBy)
			}
		}
		if c.Shards > 1 {
			summary = fmt.Sprintf("shard %d: %s", shard, summary)
		}
		summaries = append(summaries, summary)
		nodes = append(nodes, shardNodes...)
	}
	section.Details = nodes
	section.OK = len(section.Problems) == 0
	section.Summary = fmt.Sprintf("%d node(s); %s", len(c.Addresses),
		strings.Join(summaries, "; "))
	return section, nil
}

// chainSummary is a shard's line of the section's summary, from its first node's check:
// the range it verified and the chain at its end or, having verified no entry, the base
// its log starts after (a standby started over from a snapshot) and the chain there.
func chainSummary(first *wal.ChainCheck) string {
	if first.VerifiedToOp == 0 && first.BaseOp != 0 {
		return fmt.Sprintf("no entry verified (%d in the window), the log starts after "+
			"its base, chain at op %d: %s", first.WindowEntries, first.BaseOp,
			first.BaseChain)
	}
	return fmt.Sprintf("ops %d..%d verified (%d entries, %d in the window), chain at op "+
		"%d: %s", first.VerifiedFromOp, first.VerifiedToOp, first.Entries,
		first.WindowEntries, first.VerifiedToOp, first.ChainLast)
}

// runShard verifies one shard's log on every node and compares the nodes.
func (c ChainCheck) runShard(ctx context.Context, shard int) ([]ChainNode, []string, error) {
	anchorOp := uint64(0)
	if shard == c.AnchorShard {
		anchorOp = c.AnchorOp
	}
	nodes := make([]ChainNode, len(c.Addresses))
	for i, address := range c.Addresses {
		check, err := c.ask(ctx, address, shard, anchorOp)
		if err != nil {
			return nil, nil, err
		}
		label := address
		if c.Shards > 1 {
			label = fmt.Sprintf("%s (shard %d)", address, shard)
		}
		nodes[i] = ChainNode{Address: address, Shard: shard, Check: check, label: label}
	}
	var disagreements []string
	if len(nodes) > 1 {
		var err error
		if disagreements, err = c.agree(ctx, nodes); err != nil {
			return nil, nil, err
		}
	}
	var problems []string
	for i := range nodes {
		problems = append(problems, c.problems(&nodes[i], anchorOp)...)
	}
	return nodes, append(problems, disagreements...), nil
}

// problems lists one node's findings about one shard's log (anchorOp: the anchor, if it
// is about that log).
func (c ChainCheck) problems(node *ChainNode, anchorOp uint64) []string {
	var problems []string
	check := &node.Check
	if !check.OK {
		problems = append(problems, node.label+": "+check.Problem)
	}
	if check.Truncated {
		problems = append(problems, fmt.Sprintf("%s: verified only up to op %d before the "+
			"server's time limit; narrow the window", node.label, check.VerifiedToOp))
	}
	if !check.WindowCovered && node.WindowCoveredBy == "" {
		start := check.RetainedFromOp // 0 in an empty log: it starts after its base.
		if start == 0 && check.BaseOp != 0 {
			start = check.BaseOp + 1
		}
		problems = append(problems, fmt.Sprintf("%s: the log before op %d was retired (or "+
			"the log started over from a snapshot there), so the window is not fully "+
			"covered, and no node that verified that part agrees with its chain: start the "+
			"window later, verify the archived segments with 'sequent wal verify', or "+
			"give a node whose log holds that part", node.label, start))
	}
	if anchorOp != 0 && !strings.EqualFold(check.AnchorChain, c.AnchorChain) {
		found := check.AnchorChain
		if found == "" {
			found = "no entry ends there in the retained log"
		}
		problems = append(problems, fmt.Sprintf("%s: the chain at anchor op %d is %s, the "+
			"anchor says %s", node.label, anchorOp, found, c.AnchorChain))
	}
	return problems
}

// agree compares the nodes' chains of one shard's log at the lowest op all of them
// reached, asking again the nodes that reached beyond it for their chain there. A node
// reaches the last op it verified or, having verified no entry, the base its log starts
// after (BaseOp: a standby started over from a snapshot holds only the snapshot's op and
// chain until it applies an entry), so a started-over standby is compared at its base. A
// node that cannot be compared there (no entry and no base, or its retained log starts
// after that op) is a problem of its own, "not compared", rather than a disagreement: its
// log may hold a history the others' is not, and nothing proves it either way. A node
// whose log lacks the window's prefix and agrees with one that verified it is marked
// covered (WindowCoveredBy, see cover).
func (c ChainCheck) agree(ctx context.Context, nodes []ChainNode) ([]string, error) {
	var problems []string
	var holding []*ChainNode // The nodes that verified an entry or hold a base.
	for i := range nodes {
		node := &nodes[i]
		if op, _ := reached(&node.Check); op != 0 {
			holding = append(holding, node)
			continue
		}
		problems = append(problems, fmt.Sprintf("%s verified no entry up to the window's "+
			"end (its log is durable to op %d): its chain was not compared with the other "+
			"nodes'", node.label, node.Check.DurableOp))
	}
	if len(holding) == 0 {
		// No node holds an entry up to the cut-off (a window that ends before every log's
		// first entry): there is nothing to compare, as on a single node.
		return nil, nil
	}
	common, _ := reached(&holding[0].Check)
	for _, node := range holding[1:] {
		op, _ := reached(&node.Check)
		common = min(common, op)
	}
	var compared []*ChainNode // Those with a chain at the common op.
	var chains []string
	for _, node := range holding {
		op, chain := reached(&node.Check)
		if op != common {
			check, err := c.ask(ctx, node.Address, node.Shard, common)
			if err != nil {
				return nil, err
			}
			chain = check.AnchorChain
			if chain == "" && check.Truncated {
				// The second walk ran out of the server's time before the common op:
				// nothing was compared, which is no disagreement.
				problems = append(problems, fmt.Sprintf("%s was asked again for its chain "+
					"at op %d and verified only up to op %d before the server's time "+
					"limit: its chain was not compared there with the other nodes'",
					node.label, common, check.VerifiedToOp))
				continue
			}
			if chain == "" && (check.RetainedFromOp == 0 || check.RetainedFromOp > common) {
				start := fmt.Sprintf("its log starts at op %d", check.RetainedFromOp)
				if check.BaseOp != 0 {
					start = fmt.Sprintf("its log starts after op %d", check.BaseOp)
				}
				problems = append(problems, fmt.Sprintf("%s retains no entry ending at op %d "+
					"(%s): its chain was not compared there with the other nodes'",
					node.label, common, start))
				continue
			}
		}
		compared, chains = append(compared, node), append(chains, chain)
	}
	disputed := false
	for i := 1; i < len(compared); i++ {
		if chains[i] == "" || chains[i] != chains[0] {
			disputed = true
			problems = append(problems, fmt.Sprintf("%s and %s disagree on the chain at op %d: "+
				"%s vs %s", compared[0].label, compared[i].label, common, chains[0], chains[i]))
		}
	}
	if !disputed {
		// With a disagreement, which chain is the true history is unknown: an equal chain
		// proves nothing about a missing prefix.
		cover(compared, chains, common)
	}
	return problems, nil
}

// cover marks each compared node whose log lacks the window's prefix (WindowCovered
// false: started over from a snapshot after base op B, or its first segments retired,
// B = RetainedFromOp-1 with the first kept entry's link as its chain) and whose chain at
// the common op C agrees with a node that verified that prefix itself. Why that covers
// it: a chain hash at op C commits to every entry up to C, so equal chains at C ≥ B mean
// the missing entries are the verified node's, which checked each of them. The verified
// node must have found no problem and verified entries from before the window
// (WindowCovered) and at or before B through C; an empty log from op 1 also reports its
// window covered (nothing retired) but verified nothing, so it covers no other node (an
// empty log started over after a base reports it not covered, and is covered here like
// one with entries). A node that
// was not compared, disagrees, or found a problem itself stays uncovered: its missing
// prefix is reported as before. agree calls it only when the compared nodes all agree.
func cover(compared []*ChainNode, chains []string, common uint64) {
	for i, node := range compared {
		check := &node.Check
		// A node with no chain at the common op (its log starts after it) was not compared.
		if check.WindowCovered || !check.OK || check.BaseOp == 0 || chains[i] == "" {
			continue
		}
		for j, verifier := range compared {
			proof := &verifier.Check
			if j == i || chains[j] != chains[i] || !proof.OK || !proof.WindowCovered ||
				proof.VerifiedFromOp > check.BaseOp || proof.VerifiedToOp < common {
				continue
			}
			node.WindowCoveredBy = fmt.Sprintf("its log starts after op %d; the window "+
				"before it is covered through %s's chain at op %d, equal to this node's, "+
				"which that node verified over ops %d..%d", check.BaseOp, verifier.label,
				common, proof.VerifiedFromOp, proof.VerifiedToOp)
			break
		}
	}
}

// reached is the op up to which a node's check gives its chain, and the chain there: the
// last entry it verified, or else the base its log starts after (0 and "": neither).
func reached(check *wal.ChainCheck) (uint64, string) {
	if check.VerifiedToOp != 0 {
		return check.VerifiedToOp, check.ChainLast
	}
	if check.BaseOp != 0 && check.BaseChain != "" {
		return check.BaseOp, check.BaseChain
	}
	return 0, ""
}

// ask runs one node's chain check of one shard's log.
func (c ChainCheck) ask(ctx context.Context, address string, shard int, anchorOp uint64) (
	wal.ChainCheck, error) {
	query := url.Values{}
	if c.Shards > 1 {
		query.Set("shard", strconv.Itoa(shard))
	}
	query.Set("from", strconv.FormatUint(c.From, 10))
	if c.Until != 0 {
		query.Set("until", strconv.FormatUint(c.Until, 10))
	}
	if anchorOp != 0 {
		query.Set("anchor_op", strconv.FormatUint(anchorOp, 10))
	}
	var check wal.ChainCheck
	err := getJSON(ctx, c.Client, address, "/v1/audit/chain?"+query.Encode(), "", &check)
	if err != nil {
		if c.Shards > 1 {
			return wal.ChainCheck{}, fmt.Errorf("chain check of shard %d at %s: %w", shard,
				address, err)
		}
		return wal.ChainCheck{}, fmt.Errorf("chain check at %s: %w", address, err)
	}
	return check, nil
}

// getJSON GETs path from a node's operators' HTTP (address: host:port, or a URL) and
// decodes its JSON answer into result; any status but 200 is an error with the body.
func getJSON(ctx context.Context, client *http.Client, address, path, token string,
	result any) error {
	base := address
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, chainRequestTimeout)
	defer cancel()
	request, err := http.NewRequestWithContext(ctx, http.MethodGet,
		strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		return err
	}
	if token != "" {
		request.Header.Set("Authorization", "Bearer "+token)
	}
	if client == nil {
		client = http.DefaultClient
	}
	response, err := client.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	body, err := io.ReadAll(io.LimitReader(response.Body, responseBytesMax))
	if err != nil {
		return err
	}
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", response.StatusCode, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, result)
}
