package e2e

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/netio/client"
)

func account(id uint64, flags uint16) model.Account {
	return model.Account{ID: model.U128(id), Ledger: 1, Code: 1, Flags: flags}
}

// numberedAccounts returns accounts 1..count (ledger 1, code 1, no flags).
func numberedAccounts(count int) []model.Account {
	accounts := make([]model.Account, count)
	for i := range accounts {
		accounts[i] = account(uint64(i+1), 0)
	}
	return accounts
}

// createNumberedAccounts creates accounts 1..count through c, failing the test if any
// request fails.
func createNumberedAccounts(t *testing.T, c *client.Client, count int) {
	t.Helper()
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(ctx, numberedAccounts(count)); err != nil {
		t.Fatal(err)
	}
}

func transfer(id, debit, credit, amount uint64) model.Transfer {
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount), Ledger: 1, Code: 1}
}

// TestEveryLedgerOperation drives each ledger operation through a real server process.
func TestEveryLedgerOperation(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, freePort(t))
	c := dial(t, data, 0, s.address)
	ctx, cancel := context30s()
	defer cancel()
	results, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0),
		account(3, model.AccountHistory|model.AccountDebitsMustNotExceedCredits)})
	if err != nil {
		t.Fatal(err)
	}
	for i, result := range results {
		if result.Status != model.StatusOK {
			t.Fatalf("account %d: %s", i, result.Status)
		}
	}
	pending := transfer(12, 1, 3, 40)
	pending.Flags = model.TransferPending
	voided := transfer(13, 1, 3, 5)
	voided.Flags = model.TransferPending
	linkedA, linkedB := transfer(16, 3, 2, 10), transfer(17, 3, 2, 1000)
	linkedA.Flags = model.TransferLinked
	transfers := []model.Transfer{transfer(10, 1, 3, 100), transfer(11, 3, 2, 500), pending,
		voided,
		{ID: model.U128(14), PendingID: model.U128(12), Amount: model.U128(30),
			Flags: model.TransferPostPending},
		{ID: model.U128(15), PendingID: model.U128(13), Flags: model.TransferVoidPending},
		linkedA, linkedB}
	want := []model.Status{model.StatusOK, model.StatusExceedsCredits, model.StatusOK,
		model.StatusOK, model.StatusOK, model.StatusOK, model.StatusLinkedEventFailed,
		model.StatusExceedsCredits}
	transferResults, err := c.CreateTransfers(ctx, transfers)
	if err != nil {
		t.Fatal(err)
	}
	for i, result := range transferResults {
		if result.Status != want[i] {
			t.Fatalf("transfer %d: %s, want %s", i, result.Status, want[i])
		}
	}
	found, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(3), model.U128(99)})
	if err != nil || len(found) != 1 {
		t.Fatalf("lookup: %v %d", err, len(found))
	}
	if found[0].CreditsPosted != model.U128(130) || !found[0].CreditsPending.IsZero() {
		t.Fatalf("account 3: %+v", found[0])
	}
	stored, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(14)})
	if err != nil || len(stored) != 1 || stored[0].Amount != model.U128(30) {
		t.Fatalf("lookup transfer: %v %+v", err, stored)
	}
	filter := model.AccountFilter{AccountID: model.U128(3), Limit: 10,
		Flags: model.FilterDebits | model.FilterCredits}
	history, err := c.GetAccountTransfers(ctx, filter)
	if err != nil || len(history) != 5 {
		t.Fatalf("account transfers: %v, %d", err, len(history))
	}
	balances, err := c.GetAccountBalances(ctx, filter)
	if err != nil || len(balances) != 5 || balances[4].CreditsPosted != model.U128(130) {
		t.Fatalf("balances: %v %+v", err, balances)
	}
	// A resent transfer answers exists, with its original timestamp.
	again, err := c.CreateTransfers(ctx, []model.Transfer{transfer(10, 1, 3, 100)})
	if err != nil || again[0].Status != model.StatusExists ||
		again[0].Timestamp != transferResults[0].Timestamp {
		t.Fatalf("resend: %v %+v", err, again)
	}
	// The CLI speaks the same protocol.
	output, err := run(t, "client", "lookup-accounts", "1", "--addr", s.address, "--keys",
		data+"/keys.json")
	if err != nil {
		t.Fatalf("sequent client: %v\n%s", err, output)
	}
	s.stop()
	verify, err := run(t, "wal", "verify", data)
	if err != nil {
		t.Fatalf("wal verify: %v\n%s", err, verify)
	}
}

// TestRetryAcrossRestart: a request answered before a crash, resent after the restart by
// a client resuming the same session with the same number, is answered from the
// recovered session table (duplicate) and not applied again.
func TestRetryAcrossRestart(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, freePort(t))
	const session = 4242
	first := dial(t, data, session, s.address)
	ctx, cancel := context30s()
	defer cancel()
	if _, err := first.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0)}); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, model.TransferSize)
	original := transfer(10, 1, 2, 25)
	original.Encode(body)
	reply, err := first.Do(ctx, model.OperationCreateTransfers, 0, body)
	if err != nil || reply.Duplicate {
		t.Fatalf("first send: %v %+v", err, reply)
	}
	number := reply.Number
	first.Close()
	s.kill()
	s.restart()
	id, key, secret := credentials(t, data)
	resumed, err := client.Dial(ctx, client.Config{Addresses: []string{s.address}, Client: id,
		Key: key, Secret: secret, Session: session, FirstNumber: number, DialTimeout: dialTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	again, err := resumed.Do(ctx, model.OperationCreateTransfers, 0, body)
	if err != nil || !again.Duplicate || again.Op != reply.Op {
		t.Fatalf("retry after restart: %v %+v (first at op %d)", err, again, reply.Op)
	}
	accounts, err := resumed.LookupAccounts(ctx, []model.Uint128{model.U128(1)})
	if err != nil || accounts[0].DebitsPosted != model.U128(25) {
		t.Fatalf("applied twice? %v %+v", err, accounts)
	}
}

// TestAddressInUse checks that serve exits with an error naming the problem, rather than
// hanging, when its binary-protocol or HTTP address is taken.
func TestAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, test := range []struct {
		name string
		args []string
	}{
		{"binary port", []string{"--addr", taken.Addr().String(), "--http", ""}},
		{"http port", []string{"--addr", freePort(t), "--http", taken.Addr().String()}},
	} {
		t.Run(test.name, func(t *testing.T) {
			ctx, cancel := context30s()
			defer cancel()
			args := append([]string{"serve", "--data", t.TempDir()}, test.args...)
			output, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("serve still running after 30 s with its address taken:\n%s", output)
			}
			if err == nil {
				t.Fatalf("serve exited 0 with its address taken:\n%s", output)
			}
			if !strings.Contains(string(output), "address already in use") {
				t.Fatalf("error does not name the problem:\n%s", output)
			}
		})
	}
}
