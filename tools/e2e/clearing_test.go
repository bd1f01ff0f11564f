package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/client"
)

var conversionCycles = flag.Int("e2e.conversioncycles", 6,
	"SIGKILL/restart cycles of TestConversionsSurviveCrashes")

// Accounts of the conversion tests: USD is ledger 1 (scale 2), EUR ledger 2 (scale 2).
// The EUR liquidity account has the debits_must_not_exceed_credits limit and little money,
// so many conversions are refused on their second leg once it runs dry.
const (
	usdFunding, usdLiquidity, eurFunding, eurLiquidity = 1, 2, 11, 12
	payerFirst, payeeFirst, userCount                  = 100, 200, 4
)

func conversionAccounts() []model.Account {
	limited := model.AccountDebitsMustNotExceedCredits
	accounts := []model.Account{
		{ID: model.U128(usdFunding), Ledger: 1, Code: 1},
		{ID: model.U128(usdLiquidity), Ledger: 1, Code: 2},
		{ID: model.U128(eurFunding), Ledger: 2, Code: 1},
		{ID: model.U128(eurLiquidity), Ledger: 2, Code: 2, Flags: limited},
	}
	for i := range uint64(userCount) {
		accounts = append(accounts,
			model.Account{ID: model.U128(payerFirst + i), Ledger: 1, Code: 3, Flags: limited},
			model.Account{ID: model.U128(payeeFirst + i), Ledger: 2, Code: 3})
	}
	return accounts
}

// TestConversionsSurviveCrashes sends conversions (linked two-leg chains across the USD
// and EUR ledgers, 40 per request) from workers while the server is SIGKILLed and
// restarted, -e2e.conversioncycles times. One client session lives through every crash and
// resends what was not answered. Afterwards every conversion ever sent has both legs
// stored or neither (none is cut in two by a crash or by a refused second leg), every
// account's balances equal the sum of the legs stored, both ledgers balance
// (get_ledger_totals), some conversions were applied and some refused by the EUR
// liquidity limit, and `sequent wal verify` replays the log to every snapshot's state.
func TestConversionsSurviveCrashes(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	s := startServer(t, data, address, "--snapshot-every", "200", "--http", "")
	c := dial(t, data, 0, address)
	setup, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(setup, conversionAccounts()); err != nil {
		t.Fatal(err)
	}
	funding := []model.Transfer{transferOn(1, usdFunding, payerFirst, 50_000_000, 1),
		transferOn(2, usdFunding, payerFirst+1, 50_000_000, 1),
		transferOn(3, usdFunding, payerFirst+2, 50_000_000, 1),
		transferOn(4, usdFunding, payerFirst+3, 50_000_000, 1),
		transferOn(5, eurFunding, eurLiquidity, 2_000_000, 2)}
	if results, err := c.CreateTransfers(setup, funding); err != nil || results[4].Status != 0 {
		t.Fatalf("funding: %v %+v", err, results)
	}
	load := &conversionLoad{client: c, nextID: 1_000}
	crashLoop(t, s, *conversionCycles, rand.New(rand.NewPCG(17, 17)), load.run,
		func() error { load.wait(); return load.err })
	ctx, cancelCheck := context30s()
	defer cancelCheck()
	load.check(t, ctx, funding)
	s.stop()
	if output, err := run(t, "wal", "verify", data); err != nil {
		t.Fatalf("wal verify: %v\n%s", err, output)
	}
}

func transferOn(id, debit, credit, amount uint64, ledger uint32) model.Transfer {
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount), Ledger: ledger, Code: 1}
}

// conversionLoad sends batches of conversions and remembers every plan sent.
type conversionLoad struct {
	client  *client.Client
	mutex   sync.Mutex
	nextID  uint64
	plans   []client.ConversionPlan
	group   sync.WaitGroup
	err     error
	answers map[model.Status]int // Second-leg statuses seen in replies.
}

func (l *conversionLoad) run(workers int) {
	for range workers {
		l.group.Add(1)
		go func() {
			defer l.group.Done()
			for range 20 {
				if !l.batch() {
					return
				}
			}
		}()
	}
}

func (l *conversionLoad) wait() { l.group.Wait() }

// batch sends 40 conversions in one request (each its own linked chain).
func (l *conversionLoad) batch() bool {
	l.mutex.Lock()
	var transfers []model.Transfer
	for range 40 {
		user := l.nextID % userCount
		c := client.Conversion{SourceTransferID: model.U128(l.nextID),
			TargetTransferID: model.U128(l.nextID + 1), Payer: model.U128(payerFirst + user),
			Payee: model.U128(payeeFirst + user), SourceLiquidity: model.U128(usdLiquidity),
			TargetLiquidity: model.U128(eurLiquidity), SourceLedger: 1, TargetLedger: 2,
			SourceScale: 2, TargetScale: 2, Rate: client.Rate{Mantissa: 9234, Places: 4},
			QuoteID: model.U128(l.nextID), Code: 5,
			SourceAmount: model.U128(100 + l.nextID%5_000)}
		l.nextID += 2
		plan, err := c.Plan()
		if err != nil {
			l.mutex.Unlock()
			l.fail(err)
			return false
		}
		l.plans = append(l.plans, plan)
		transfers = append(transfers, plan.Transfers[:]...)
	}
	l.mutex.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	results, err := l.client.CreateTransfers(ctx, transfers)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			l.fail(err) // Not even a reconnect within a minute: a real failure.
		}
		return false
	}
	l.mutex.Lock()
	defer l.mutex.Unlock()
	if l.answers == nil {
		l.answers = map[model.Status]int{}
	}
	for i := 1; i < len(results); i += 2 {
		l.answers[results[i].Status]++
	}
	return true
}

func (l *conversionLoad) fail(err error) {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	if l.err == nil {
		l.err = err
	}
}

// check looks every leg up and compares the stored state with the plans.
func (l *conversionLoad) check(t *testing.T, ctx context.Context, funding []model.Transfer) {
	ids := make([]model.Uint128, 0, 2*len(l.plans))
	for _, plan := range l.plans {
		ids = append(ids, plan.Transfers[0].ID, plan.Transfers[1].ID)
	}
	stored := map[model.Uint128]model.Transfer{}
	for start := 0; start < len(ids); start += model.EventsPerRequestMax {
		found, err := l.client.LookupTransfers(ctx, ids[start:min(start+model.EventsPerRequestMax,
			len(ids))])
		if err != nil {
			t.Fatal(err)
		}
		for _, transfer := range found {
			stored[transfer.ID] = transfer
		}
	}
	debits, credits := map[uint64]uint64{}, map[uint64]uint64{}
	for _, transfer := range funding {
		debits[transfer.DebitAccountID.Lo] += transfer.Amount.Lo
		credits[transfer.CreditAccountID.Lo] += transfer.Amount.Lo
	}
	applied := 0
	for _, plan := range l.plans {
		source, sourceStored := stored[plan.Transfers[0].ID]
		target, targetStored := stored[plan.Transfers[1].ID]
		if sourceStored != targetStored {
			t.Fatalf("conversion %s: source leg stored %v, target leg stored %v",
				plan.Transfers[0].ID, sourceStored, targetStored)
		}
		if !sourceStored {
			continue
		}
		applied++
		if source.Amount != plan.SourceAmount || target.Amount != plan.TargetAmount {
			t.Fatalf("conversion %s: stored amounts %s/%s, planned %s/%s", source.ID,
				source.Amount, target.Amount, plan.SourceAmount, plan.TargetAmount)
		}
		for _, leg := range []model.Transfer{source, target} {
			debits[leg.DebitAccountID.Lo] += leg.Amount.Lo
			credits[leg.CreditAccountID.Lo] += leg.Amount.Lo
		}
	}
	l.checkAccounts(t, ctx, debits, credits)
	if applied == 0 || applied == len(l.plans) || l.answers[model.StatusExceedsCredits] == 0 {
		t.Fatalf("%d of %d conversions applied, second legs answered %v: want both applied "+
			"and refused ones", applied, len(l.plans), l.answers)
	}
	t.Logf("%d conversions sent, %d applied; second legs answered %v", len(l.plans), applied,
		l.answers)
}

// checkAccounts compares every account's posted balances with the stored legs, and the
// trial balance of both ledgers.
func (l *conversionLoad) checkAccounts(t *testing.T, ctx context.Context,
	debits, credits map[uint64]uint64) {
	var ids []model.Uint128
	for _, account := range conversionAccounts() {
		ids = append(ids, account.ID)
	}
	accounts, err := l.client.LookupAccounts(ctx, ids)
	if err != nil || len(accounts) != len(ids) {
		t.Fatalf("lookup accounts: %v", err)
	}
	for _, a := range accounts {
		if a.DebitsPosted.Lo != debits[a.ID.Lo] || a.CreditsPosted.Lo != credits[a.ID.Lo] {
			t.Fatalf("account %s: debits %s credits %s, stored transfers sum to %d and %d",
				a.ID, a.DebitsPosted, a.CreditsPosted, debits[a.ID.Lo], credits[a.ID.Lo])
		}
	}
	totals, err := l.client.LedgerTotals(ctx, model.LedgerFilter{Limit: 10})
	if err != nil || len(totals) != 2 || !totals[0].Balanced() || !totals[1].Balanced() {
		t.Fatalf("trial balance: %v %v", err, totals)
	}
}

// exitCode runs the sequent binary and returns its output and exit code.
func exitCode(t *testing.T, args ...string) (string, int) {
	t.Helper()
	output, err := run(t, args...)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return output, 0
	case errors.As(err, &exit):
		return output, exit.ExitCode()
	}
	t.Fatalf("sequent %v: %v", args, err)
	return "", 0
}

// TestClearingCommands drives convert, settle and reconcile as an operator would, through
// the binary, against a primary and its sync standby: conversion on the primary; the
// reconciliation read from the standby (a read-only follower) with the chain verified by
// both nodes, which must agree; a clean statement exits 0, one with a difference of each
// kind exits 1 listing exactly those, a wrong chain anchor exits 1; the settlement from
// the command and from the standby's HTTP endpoint agree, and a booked settlement shows in
// flight.
func TestClearingCommands(t *testing.T) {
	primaryReplication := freePort(t)
	primaryData, standbyData := t.TempDir(), t.TempDir()
	primaryHTTP, standbyHTTP := freePort(t), freePort(t)
	primary := startServer(t, primaryData, freePort(t), "--http", primaryHTTP,
		"--replication-listen", primaryReplication, "--replication-key", replicationTestKey)
	standby := startServer(t, standbyData, freePort(t), "--http", standbyHTTP,
		"--replication-listen", freePort(t), "--standby-of", primaryReplication,
		"--replication-key", replicationTestKey)
	ledgers := filepath.Join(t.TempDir(), "ledgers.json")
	os.WriteFile(ledgers, []byte(`{"ledgers":[{"ledger":1,"name":"USD","scale":2},`+
		`{"ledger":2,"name":"EUR","scale":2}]}`), 0o600)
	onPrimary := []string{"--addr", primary.address, "--keys", filepath.Join(primaryData, "keys.json")}
	onStandby := []string{"--addr", standby.address, "--keys", filepath.Join(standbyData, "keys.json")}
	c := dial(t, primaryData, 1, primary.address)
	bookPayments(t, c)

	output, code := exitCode(t, append([]string{"client", "convert", "--id", "900", "--payer",
		"1", "--payee", "2", "--source-liquidity", "90", "--target-liquidity", "91",
		"--source-ledger", "1", "--target-ledger", "2", "--rate", "0.5", "--quote-id", "44",
		"--code", "5", "--amount", "1001", "--ledgers", ledgers, "--json"}, onPrimary...)...)
	if code != 0 || !strings.Contains(output, `"target_amount": "500"`) ||
		!strings.Contains(output, `"remainder": "5/10"`) {
		t.Fatalf("convert: exit %d\n%s", code, output)
	}
	reader := dial(t, standbyData, 2, standby.address)
	eventually(t, "the standby to apply the conversion", func() bool {
		return transferExists(t, reader, 901)
	})

	reconcileArgs := func(statement, report string, extra ...string) []string {
		return append(append([]string{"reconcile", "--statement", statement, "--account", "50",
			"--ledgers", ledgers, "--json", report, "--http", primaryHTTP, "--http",
			standbyHTTP, "--token", adminTokenOf(t, filepath.Join(primaryData, "keys.json"))},
			onStandby...), extra...)
	}
	directory := t.TempDir()
	clean := filepath.Join(directory, "clean.csv")
	os.WriteFile(clean, []byte(cleanStatement), 0o600)
	report := filepath.Join(directory, "clean.json")
	if output, code := exitCode(t, reconcileArgs(clean, report)...); code != 0 {
		t.Fatalf("clean statement: exit %d\n%s", code, output)
	}
	checkReport(t, report, true, nil)

	planted := filepath.Join(directory, "planted.csv")
	os.WriteFile(planted, []byte(plantedStatement), 0o600)
	report = filepath.Join(directory, "planted.json")
	if output, code := exitCode(t, reconcileArgs(planted, report)...); code != 1 {
		t.Fatalf("planted statement: exit %d\n%s", code, output)
	}
	checkReport(t, report, false, []string{"amount:1002", "currency:1003", "duplicate_ours:1008",
		"duplicate_theirs:1004", "missing_ours:1999", "missing_theirs:1005", "status:1010",
		"unreadable:"})

	anchor := "1:" + strings.Repeat("ab", 32)
	output, code = exitCode(t, reconcileArgs(clean, filepath.Join(directory, "anchor.json"),
		"--chain-anchor", anchor)...)
	if code != 1 || !strings.Contains(output, "anchor op 1") {
		t.Fatalf("wrong anchor: exit %d\n%s", code, output)
	}
	checkSettlement(t, onPrimary, onStandby, ledgers, standbyHTTP,
		filepath.Join(standbyData, "keys.json"), reader)
}

// bookPayments creates the accounts and the partner account's payments the statements
// describe: 1 (customer), 50 (partner), 90 (operator) on USD; 2, 91 on EUR.
func bookPayments(t *testing.T, c *client.Client) {
	ctx, cancel := context30s()
	defer cancel()
	accounts := []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(50), Ledger: 1, Code: 2}, {ID: model.U128(90), Ledger: 1, Code: 3},
		{ID: model.U128(2), Ledger: 2, Code: 1}, {ID: model.U128(91), Ledger: 2, Code: 3}}
	if _, err := c.CreateAccounts(ctx, accounts); err != nil {
		t.Fatal(err)
	}
	transfers := []model.Transfer{
		paymentOn(10, 1, 50, 1_000, 1001, 0), paymentOn(11, 1, 50, 2_000, 1002, 0),
		paymentOn(12, 1, 50, 3_000, 1003, 0), paymentOn(13, 1, 50, 4_000, 1004, 0),
		paymentOn(14, 1, 50, 5_000, 1005, 0), paymentOn(15, 50, 1, 600, 1006, 0),
		paymentOn(16, 1, 50, 700, 1007, model.TransferPending),
		paymentOn(17, 1, 50, 800, 1008, 0), paymentOn(18, 1, 50, 808, 1008, 0),
		paymentOn(19, 1, 50, 900, 1010, model.TransferPending),
		{ID: model.U128(20), PendingID: model.U128(19), Amount: model.U128(450),
			Flags: model.TransferPostPending},
		transferOn(21, 2, 91, 100_000, 2), // EUR liquidity for the conversion.
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
}

// cleanStatement describes bookPayments' payments exactly (the partner's own words for
// statuses, mixed case currencies, signed amounts).
const cleanStatement = `reference,amount,currency,status
1001,10.00,USD,settled
1002,20.00,usd,settled
1003,30.00,USD,COMPLETED
1004,40.00,USD,settled
1005,50.00,USD,settled
1006,-6.00,USD,settled
1007,7.00,USD,pending
1008,8.00,USD,settled
1008,8.08,USD,settled
1010,4.50,USD,settled
`

// plantedStatement has one difference of each kind: 1002 amount, 1003 currency, 1004
// listed twice, 1005 left out, 1008 once for two payments, 1010 status, 1999 unknown to
// Sequent, and an unreadable line.
const plantedStatement = `reference,amount,currency,status
1001,10.00,USD,settled
1002,20.01,USD,settled
1003,30.00,EUR,settled
1004,40.00,USD,settled
1004,40.00,USD,settled
1006,-6.00,USD,settled
1007,7.00,USD,pending
1008,8.00,USD,settled
1010,4.50,USD,pending
1999,1.00,USD,settled
1011,ten,USD,settled
`

// checkReport reads a reconcile JSON report of two nodes' chains: its verdict, its checks
// passing, and the differences as kind:reference, sorted.
func checkReport(t *testing.T, path string, ok bool, differences []string) {
	t.Helper()
	checkReportOf(t, path, 2, ok, differences)
}

// checkReportOf is checkReport for a report whose chain check covered nodes nodes.
func checkReportOf(t *testing.T, path string, nodes int, ok bool, differences []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		OK          bool `json:"ok"`
		Differences []struct {
			Kind      string `json:"kind"`
			Reference string `json:"reference"`
		} `json:"differences"`
		Checks []struct {
			Name    string `json:"name"`
			OK      bool   `json:"ok"`
			Details json.RawMessage
		} `json:"checks"`
	}
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatalf("report: %v\n%s", err, data)
	}
	var got []string
	for _, d := range report.Differences {
		got = append(got, d.Kind+":"+d.Reference)
	}
	slices.Sort(got)
	// Sections: the trial balance, the chain of every node, the cross-shard report (on a
	// one-shard node: no pair, no saga, every ledger balanced).
	if report.OK != ok || !slices.Equal(got, differences) || len(report.Checks) != 3 ||
		!report.Checks[0].OK || !report.Checks[1].OK || report.Checks[1].Name != "chain" ||
		strings.Count(string(report.Checks[1].Details), `"address"`) != nodes ||
		report.Checks[2].Name != "shards" || !report.Checks[2].OK {
		t.Fatalf("report ok %v, differences %v; want ok %v, %v\n%s", report.OK, got, ok,
			differences, data)
	}
}

// checkSettlement nets the partner's account from the command (on the standby) and the
// standby's HTTP endpoint, books the settlement on the primary and sees it in flight.
func checkSettlement(t *testing.T, onPrimary, onStandby []string, ledgers, standbyHTTP string,
	standbyKeys string, reader *client.Client) {
	t.Helper()
	// Credits 10+20+30+40+50+8+8.08+4.50 (post) = 170.58 USD; debits 6.00: net 164.58.
	settle := append([]string{"settle", "--partner", "50", "--until", "now", "--ledgers",
		ledgers, "--json"}, onStandby...)
	output, code := exitCode(t, settle...)
	if code != 0 || !strings.Contains(output, `"net": "16458"`) ||
		!strings.Contains(output, `"net_major": "164.58"`) ||
		!strings.Contains(output, `"in_flight_credits": "700"`) {
		t.Fatalf("settle: exit %d\n%s", code, output)
	}
	// The endpoint shows any account's data: it takes the node's admin token.
	request, err := http.NewRequest(http.MethodGet,
		"http://"+standbyHTTP+"/v1/settlement?partner=50&until=now", nil)
	if err != nil {
		t.Fatal(err)
	}
	request.Header.Set("Authorization", "Bearer "+adminTokenOf(t, standbyKeys))
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(response.Body)
	response.Body.Close()
	if response.StatusCode != http.StatusOK || !strings.Contains(string(body), `"net":"16458"`) {
		t.Fatalf("GET /v1/settlement: %d %s", response.StatusCode, body)
	}
	output, code = exitCode(t, append([]string{"settle", "--partner", "50", "--until", "now",
		"--book", "--via", "90", "--settlement-id", "5000", "--code", "7"}, onPrimary...)...)
	if code != 0 || !strings.Contains(output, "settlement 5000") {
		t.Fatalf("settle --book: exit %d\n%s", code, output)
	}
	eventually(t, "the standby to apply the settlement", func() bool {
		return transferExists(t, reader, 5000)
	})
	output, code = exitCode(t, settle...)
	if code != 0 || !strings.Contains(output, `"settlement_in_flight": "16458"`) {
		t.Fatalf("settle after booking: exit %d\n%s", code, output)
	}
}

var reconcileLines = flag.Int("e2e.reconcilelines", 0,
	"TestReconcileLarge: payments on one account and statement lines (0: skip; the README's "+
		"figure uses 1000000)")

// TestReconcileLarge is the speed figure's run, opt-in (-e2e.reconcilelines N): N payments
// on one account of a real server, a clean N-line statement, and `sequent reconcile`
// under /usr/bin/time -v, which must exit 0 having matched N payments; the elapsed time
// and peak RSS are logged (not asserted: the machine is shared).
func TestReconcileLarge(t *testing.T) {
	if *reconcileLines == 0 {
		t.Skip("opt-in: -e2e.reconcilelines N")
	}
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		t.Skip("needs /usr/bin/time")
	}
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--http", "", "--transfers-capacity",
		strconv.Itoa(*reconcileLines+1000))
	c := dial(t, data, 1, address)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(50), Ledger: 1, Code: 2}}); err != nil {
		t.Fatal(err)
	}
	statement := filepath.Join(t.TempDir(), "statement.csv")
	file, err := os.Create(statement)
	if err != nil {
		t.Fatal(err)
	}
	writer := bufio.NewWriterSize(file, 1<<20)
	writer.WriteString("reference,amount,currency,status\n")
	random := rand.New(rand.NewPCG(5, 5))
	batch := make([]model.Transfer, 0, model.EventsPerRequestMax)
	for i := range *reconcileLines {
		amount := 1 + random.Uint64N(10_000_000)
		reference := 1_000_000_000 + uint64(i)*7919%10_000_000_007 // Not in time order.
		transfer := transferOn(uint64(10+i), 1, 50, amount, 1)
		transfer.UserData128 = model.U128(reference)
		batch = append(batch, transfer)
		fmt.Fprintf(writer, "%d,%d.%02d,USD,settled\n", reference, amount/100, amount%100)
		if len(batch) == cap(batch) || i == *reconcileLines-1 {
			if _, err := c.CreateTransfers(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	writer.Flush()
	file.Close()
	ledgers := filepath.Join(t.TempDir(), "ledgers.json")
	os.WriteFile(ledgers, []byte(`{"ledgers":[{"ledger":1,"name":"USD","scale":2}]}`), 0o600)
	args := []string{"-v", binary, "reconcile", "--addr", address, "--keys",
		filepath.Join(data, "keys.json"), "--statement", statement, "--account", "50",
		"--ledgers", ledgers, "--no-trial-balance"}
	output, err := exec.Command("/usr/bin/time", args...).CombinedOutput()
	if err != nil || !strings.Contains(string(output), fmt.Sprintf("matched: %d;", *reconcileLines)) {
		t.Fatalf("reconcile: %v\n%s", err, output)
	}
	for _, line := range strings.Split(string(output), "\n") {
		if strings.Contains(line, "Elapsed (wall clock)") || strings.Contains(line, "Maximum resident") ||
			strings.Contains(line, "statement ") || strings.Contains(line, "matched:") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// adminTokenOf reads the first admin token of a keys file (a node's generated one).
func adminTokenOf(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file, err := netio.ParseKeysFile(data)
	if err != nil || len(file.AdminTokens) == 0 {
		t.Fatalf("keys file %s: %v (%d admin tokens)", path, err, len(file.AdminTokens))
	}
	return file.AdminTokens[0].Token
}

// paymentOn is a transfer on ledger 1 carrying a statement reference (user_data_128),
// as the reconciliation tests send them.
func paymentOn(id, debit, credit, amount, reference uint64, flags uint16) model.Transfer {
	transfer := transferOn(id, debit, credit, amount, 1)
	transfer.UserData128, transfer.Flags = model.U128(reference), flags
	return transfer
}
