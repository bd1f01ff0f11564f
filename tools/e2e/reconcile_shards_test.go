package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestReconcileOnTwoShards: `sequent reconcile` against a node of two shards (range
// placement: accounts below 100 on shard 0, the rest on shard 1), with a statement for an
// account of each shard whose payments include transfers that cross shards in both
// directions (sagas through the settlement accounts) and a local pending one. Each clean
// statement must exit 0 with every line matched and every check passing (the trial
// balance over both shards, the chain of each shard's log, the cross-shard report); a
// planted difference on each must exit 1 naming exactly it, and so must a wrong anchor
// of shard 1's chain. FAILS without the chain check per shard: GET /v1/audit/chain
// verified shard 0's log alone, and the report said nothing of shard 1's.
func TestReconcileOnTwoShards(t *testing.T) {
	data := t.TempDir()
	address, httpAddress := freePort(t), freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "range",
		"--placement-ranges", "0,100", "--http", httpAddress)
	c := dial(t, data, 1, address)
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(50), Ledger: 1, Code: 2}, {ID: model.U128(101), Ledger: 1, Code: 1},
		{ID: model.U128(150), Ledger: 1, Code: 2}}); err != nil {
		t.Fatal(err)
	}
	transfers := []model.Transfer{
		paymentOn(10, 1, 50, 1_000, 1001, 0),   // Shard 0 alone.
		paymentOn(11, 101, 50, 2_000, 1002, 0), // Shard 1 to shard 0.
		paymentOn(12, 50, 150, 600, 1003, 0),   // Shard 0 to shard 1: on both statements.
		paymentOn(13, 1, 50, 700, 1004, model.TransferPending),
		paymentOn(20, 101, 150, 3_000, 2001, 0), // Shard 1 alone.
		paymentOn(21, 1, 150, 400, 2002, 0),     // Shard 0 to shard 1.
	}
	results, err := c.CreateTransfers(ctx, transfers)
	if err != nil {
		t.Fatal(err)
	}
	for i, result := range results {
		if result.Status != model.StatusOK {
			t.Fatalf("payment %d: %s", i, result.Status)
		}
	}
	token := adminTokenOf(t, filepath.Join(data, "keys.json"))
	settledReport(t, httpAddress, token) // Every saga done before the cut-off.

	directory := t.TempDir()
	ledgers := filepath.Join(directory, "ledgers.json")
	os.WriteFile(ledgers, []byte(`{"ledgers":[{"ledger":1,"name":"USD","scale":2}]}`), 0o600)
	reconcileArgs := func(account, statement, report string) []string {
		return []string{"reconcile", "--statement", statement, "--account", account,
			"--ledgers", ledgers, "--json", report, "--http", httpAddress, "--token", token,
			"--addr", address, "--keys", filepath.Join(data, "keys.json")}
	}
	for _, c := range []struct {
		account, clean, planted string
		differences             []string
	}{
		{"50", "reference,amount,currency,status\n1001,10.00,USD,settled\n" +
			"1002,20.00,USD,settled\n1003,-6.00,USD,settled\n1004,7.00,USD,pending\n",
			"reference,amount,currency,status\n1001,10.00,USD,settled\n" +
				"1002,20.01,USD,settled\n1003,-6.00,USD,settled\n1004,7.00,USD,pending\n",
			[]string{"amount:1002"}},
		{"150", "reference,amount,currency,status\n2001,30.00,USD,settled\n" +
			"1003,6.00,USD,settled\n2002,4.00,USD,settled\n",
			"reference,amount,currency,status\n2001,30.00,USD,settled\n" +
				"2002,4.00,USD,settled\n",
			[]string{"missing_theirs:1003"}},
	} {
		clean := filepath.Join(directory, c.account+"-clean.csv")
		os.WriteFile(clean, []byte(c.clean), 0o600)
		report := filepath.Join(directory, c.account+"-clean.json")
		if output, code := exitCode(t, reconcileArgs(c.account, clean, report)...); code != 0 {
			t.Fatalf("account %s, clean statement: exit %d\n%s", c.account, code, output)
		}
		// The chain section: each shard's log, verified apart (one node, two chains).
		checkReportOf(t, report, 2, true, nil)
		if raw, err := os.ReadFile(report); err != nil || !strings.Contains(string(raw),
			`"address":"`+httpAddress+`","shard":1,`) {
			t.Fatalf("account %s: the chain section lacks shard 1's log (%v)\n%s", c.account,
				err, raw)
		}
		planted := filepath.Join(directory, c.account+"-planted.csv")
		os.WriteFile(planted, []byte(c.planted), 0o600)
		report = filepath.Join(directory, c.account+"-planted.json")
		if output, code := exitCode(t, reconcileArgs(c.account, planted, report)...); code != 1 {
			t.Fatalf("account %s, planted statement: exit %d\n%s", c.account, code, output)
		}
		checkReportOf(t, report, 2, false, c.differences)
	}
	// An anchor is about one shard's log: shard 1's chain at op 1 is not this.
	anchor := "1:1:" + strings.Repeat("ab", 32)
	output, code := exitCode(t, append(reconcileArgs("50", filepath.Join(directory,
		"50-clean.csv"), filepath.Join(directory, "anchor.json")), "--chain-anchor",
		anchor)...)
	if code != 1 || !strings.Contains(output, "(shard 1): the chain at anchor op 1") {
		t.Fatalf("wrong anchor of shard 1: exit %d\n%s", code, output)
	}
}
