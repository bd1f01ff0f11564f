package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"sequent/netio/ops"
)

// newAdminRiskCommand returns `sequent admin risk`: the sequencer's risk rules.
func newAdminRiskCommand(options *adminOptions) *cobra.Command {
	command := &cobra.Command{
		Use:   "risk",
		Short: "List, set and remove the sequencer's risk rules",
		Long: `List, set and remove the risk rules the sequencer applies to every transfer
before it is created (limits, velocity, daily totals, blocks, cooling-off, anomaly
scores; README "Risk rules", PROTOCOL.md section 12).

Setting and removing are audited admin actions: the node writes an audit record and
then the change into its log, so the standby applies the same rules from the same
point and a replay reproduces every decision. Each needs the admin token.

On a node of several shards ledger and client rules go to every shard, an account rule
to the shard holding its account; each rule's line then ends with every shard's answer
in brackets, and list shows each rule once after checking that the shards agree (README
"Risk rules on a node of several shards").

A rule file holds {"rules": [...]} or a bare list of rules, for example:

  {"rules": [
    {"id": 1, "kind": "max_amount", "scope": "ledger", "ledger": 1, "amount": "100000"},
    {"id": 2, "kind": "velocity", "scope": "ledger", "ledger": 1,
     "window_ns": 3600000000000, "amount": "500000", "count": 20},
    {"id": 3, "kind": "anomaly", "scope": "account", "account": "42",
     "threshold": 64, "warmup": 10, "shift": 3, "action": "hold"},
    {"id": 4, "kind": "velocity", "scope": "client", "client": 7,
     "window_ns": 60000000000, "count": 100},
    {"id": 5, "kind": "velocity", "scope": "client", "client": 7, "ledger": 1,
     "window_ns": 3600000000000, "amount": "250000"}
  ]}

A client rule ("scope": "client", "client": a client id of the keys file) judges the
transfers that client sends, whoever the payer: rule 4 lets client 7 send at most 100
transfers a minute. Amounts are summed per ledger, so a client rule with an amount
(velocity, daily_amount) names its ledger and judges that ledger's transfers only (rule
5: at most 250000 an hour on ledger 1); without a ledger it may only count.`,
	}
	command.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the rules in force",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRiskList(cmd, options)
		},
	}, &cobra.Command{
		Use:     "set FILE",
		Short:   "Set rules from a JSON file ('-': standard input); a rule with an existing id replaces it",
		Example: "  sequent admin risk set rules.json",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRiskSet(cmd, options, args[0])
		},
	}, &cobra.Command{
		Use:     "remove ID...",
		Short:   "Remove rules by id",
		Example: "  sequent admin risk remove 2 3",
		Args:    minimumArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRiskRemove(cmd, options, args)
		},
	})
	return command
}

func runRiskList(cmd *cobra.Command, options *adminOptions) error {
	if strings.TrimSpace(options.token) == "" {
		return usage(cmd, "no admin token: set SEQUENT_ADMIN_TOKEN or pass --token")
	}
	code, body, err := adminRequest(cmd, options, http.MethodGet, ops.PathRiskRules, "", nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return adminRefusal(cmd, options, "risk list", code, body)
	}
	if options.asJSON {
		return writeAdminJSON(cmd, body)
	}
	var rules ops.RiskRules
	if err := json.Unmarshal(body, &rules); err != nil {
		return fmt.Errorf("risk list: unexpected reply from the server: %.200q", body)
	}
	out := cmd.OutOrStdout()
	for _, rule := range rules.Rules {
		line, _ := json.Marshal(rule)
		fmt.Fprintln(out, string(line))
	}
	fmt.Fprintf(out, "%d rules\n", len(rules.Rules))
	return nil
}

func runRiskSet(cmd *cobra.Command, options *adminOptions, path string) error {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), adminResponseBytesMax))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return usage(cmd, "rules: %v", err)
	}
	// Read as strictly as the server reads the body sent (ops.CheckJSONKeys): one value,
	// each key once and exactly spelled, no unknown field, in either form; the body is
	// re-encoded from what was read, so the server cannot see what this let through.
	var request ops.RiskSetRequest
	trimmed := bytes.TrimSpace(data)
	if err = ops.CheckJSONKeys(trimmed); err == nil {
		decoder := json.NewDecoder(bytes.NewReader(trimmed))
		decoder.DisallowUnknownFields()
		if len(trimmed) > 0 && trimmed[0] == '[' {
			err = decoder.Decode(&request.Rules)
		} else {
			err = decoder.Decode(&request)
		}
	}
	if err != nil || len(request.Rules) == 0 {
		return usage(cmd, "rules: want {\"rules\": [...]} or a list of rules: %v", err)
	}
	for i := range request.Rules {
		if _, err := request.Rules[i].Model(); err != nil {
			return usage(cmd, "%v", err)
		}
	}
	body, _ := json.Marshal(request)
	return runRiskAction(cmd, options, ops.ActionRiskSet, ops.PathRiskSet, body)
}

func runRiskRemove(cmd *cobra.Command, options *adminOptions, args []string) error {
	request := ops.RiskRemoveRequest{}
	for _, arg := range args {
		id, err := strconv.ParseUint(arg, 10, 32)
		if err != nil || id == 0 {
			return usage(cmd, "rule id %q: want a number from 1 to %d", arg, uint32(1<<32-1))
		}
		request.IDs = append(request.IDs, uint32(id))
	}
	body, _ := json.Marshal(request)
	return runRiskAction(cmd, options, ops.ActionRiskRemove, ops.PathRiskRemove, body)
}

// runRiskAction posts a risk action and prints each rule's outcome; it fails (exit 1)
// when the server refused the action or any rule.
func runRiskAction(cmd *cobra.Command, options *adminOptions, action, path string,
	body []byte) error {
	if strings.TrimSpace(options.token) == "" {
		return usage(cmd, "no admin token: set SEQUENT_ADMIN_TOKEN or pass --token")
	}
	code, reply, err := adminRequest(cmd, options, http.MethodPost, path, "", body)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return adminRefusal(cmd, options, action, code, reply)
	}
	var result ops.Reply
	if err := json.Unmarshal(reply, &result); err != nil {
		return fmt.Errorf("%s: unexpected reply from the server: %.200q", action, reply)
	}
	if options.asJSON {
		if err := writeAdminJSON(cmd, reply); err != nil {
			return err
		}
	} else {
		for _, rule := range result.Rules {
			fmt.Fprintf(cmd.OutOrStdout(), "rule %d: %s (%d)%s\n", rule.ID, rule.Status, rule.Code,
				shardAnswers(rule.Shards))
		}
	}
	if !result.OK {
		return fmt.Errorf("%s %w: not every rule was accepted", action, errAdminRefused)
	}
	return nil
}

// shardAnswers shows each shard's answer for a rule on a node of several shards, e.g.
// " [shard 0: ok, shard 1: risk_rule_account_not_found]" (nothing on one shard).
func shardAnswers(answers []ops.RiskShardResult) string {
	if len(answers) == 0 {
		return ""
	}
	texts := make([]string, len(answers))
	for i, answer := range answers {
		texts[i] = fmt.Sprintf("shard %d: %s", answer.Shard, answer.Status)
	}
	return " [" + strings.Join(texts, ", ") + "]"
}
