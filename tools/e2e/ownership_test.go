package e2e

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/client"
)

// Ownership test fixtures: two trading clients and an operator that runs the bank.
const (
	alice    = 1
	bob      = 2
	operator = 9
	// Each client's two accounts (base ledger 1, quote ledger 2), and the bank's.
	aliceBase, aliceQuote = 100, 101
	bobBase, bobQuote     = 200, 201
	bankBase, bankQuote   = 900, 901
	ownershipInstrument   = 5
)

// ownershipKeys writes the keys file: alice and bob may read, transfer and trade; the
// operator has every permission and the operator scope. extra grants are bob's.
func ownershipKeys(t *testing.T, path string, bobGrants ...netio.KeysFileGrant) (
	aliceSecret, bobSecret, operatorSecret string) {
	aliceSecret, bobSecret = strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	operatorSecret = strings.Repeat("c3", 32)
	bobClient := keyClient(bob, bobSecret, "read", "transfer", "trade")
	bobClient.Grants = bobGrants
	operatorClient := keyClient(operator, operatorSecret, "read", "transfer", "trade", "admin")
	operatorClient.Grants = []netio.KeysFileGrant{{Scopes: []string{"operator"}}}
	writeKeys(t, path, keyClient(alice, aliceSecret, "read", "transfer", "trade"), bobClient,
		operatorClient)
	return aliceSecret, bobSecret, operatorSecret
}

// TestTwoClientsCannotTouchEachOthersMoney: on a real server, two clients each try to
// move, hold (through a pending transfer and through an order) and query the other's
// money; every attempt is refused with its own code, the connection stays usable, and
// the other's balances do not move — also after a SIGKILL and a restart, which replays
// the log (grants included) and must decide the same way. Paying into the other's
// account is allowed, and a read grant added by a keys reload lets bob see alice's.
func TestTwoClientsCannotTouchEachOthersMoney(t *testing.T) {
	data := t.TempDir()
	keys := filepath.Join(data, "keys.json")
	aliceSecret, bobSecret, operatorSecret := ownershipKeys(t, keys)
	s := startServer(t, data, freePort(t), "--keys", keys)
	connect := func(id uint64, secret string) *client.Client {
		t.Helper()
		c, err := dialWith(t, s.address, id, secret)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ctx, cancel := context30s()
	defer cancel()
	bank, aliceClient, bobClient := connect(operator, operatorSecret),
		connect(alice, aliceSecret), connect(bob, bobSecret)
	expectEvents := func(what string, results []model.EventResult, err error, want model.Status) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for i, result := range results {
			if result.Status != want {
				t.Fatalf("%s event %d: %s, want %s", what, i, result.Status, want)
			}
		}
	}
	accountOn := func(id uint64, ledger uint32) model.Account {
		return model.Account{ID: model.U128(id), Ledger: ledger, Code: 1,
			Flags: model.AccountDebitsMustNotExceedCredits}
	}
	results, err := bank.CreateAccounts(ctx, []model.Account{
		{ID: model.U128(bankBase), Ledger: 1, Code: 1}, {ID: model.U128(bankQuote), Ledger: 2, Code: 1}})
	expectEvents("bank accounts", results, err, model.StatusOK)
	results, err = aliceClient.CreateAccounts(ctx, []model.Account{accountOn(aliceBase, 1), accountOn(aliceQuote, 2)})
	expectEvents("alice's accounts", results, err, model.StatusOK)
	results, err = bobClient.CreateAccounts(ctx, []model.Account{accountOn(bobBase, 1), accountOn(bobQuote, 2)})
	expectEvents("bob's accounts", results, err, model.StatusOK)
	funding := []model.Transfer{}
	for i, to := range []struct {
		account uint64
		bank    uint64
		ledger  uint32
	}{{aliceBase, bankBase, 1}, {aliceQuote, bankQuote, 2}, {bobBase, bankBase, 1}, {bobQuote, bankQuote, 2}} {
		funding = append(funding, model.Transfer{ID: model.U128(uint64(10 + i)),
			DebitAccountID: model.U128(to.bank), CreditAccountID: model.U128(to.account),
			Amount: model.U128(10_000), Ledger: to.ledger, Code: 1})
	}
	results, err = bank.CreateTransfers(ctx, funding)
	expectEvents("funding", results, err, model.StatusOK)
	results, err = bank.CreateInstruments(ctx, []model.Instrument{{ID: ownershipInstrument,
		BaseLedger: 1, QuoteLedger: 2, TickSize: 1, LotSize: 1, QuantityMin: 1, QuantityMax: 1000}})
	expectEvents("instrument", results, err, model.StatusOK)
	order := func(clientOrderID uint64, base, quote uint64, side model.Side) model.Order {
		return model.Order{ClientOrderID: clientOrderID, Account: 1, BaseAccountID: model.U128(base),
			QuoteAccountID: model.U128(quote), Price: 50, Quantity: 10,
			Instrument: ownershipInstrument, Side: side, Type: model.OrderLimit,
			TimeInForce: model.GoodTillCancel}
	}
	placed, err := aliceClient.PlaceOrders(ctx, []model.Order{order(1, aliceBase, aliceQuote, model.SideSell)})
	if err != nil || placed[0].Status != model.StatusOK {
		t.Fatalf("alice's order: %v %+v", err, placed)
	}
	aliceOrder := placed[0].OrderID
	results, err = aliceClient.CreateTransfers(ctx, []model.Transfer{{ID: model.U128(20),
		DebitAccountID: model.U128(aliceBase), CreditAccountID: model.U128(bankBase),
		Amount: model.U128(5), Ledger: 1, Code: 1, Flags: model.TransferPending}})
	expectEvents("alice's pending transfer", results, err, model.StatusOK)

	balances := func() []model.Account {
		t.Helper()
		found, err := bank.LookupAccounts(ctx, []model.Uint128{model.U128(aliceBase),
			model.U128(aliceQuote), model.U128(bobBase), model.U128(bobQuote)})
		if err != nil || len(found) != 4 {
			t.Fatalf("the operator's lookup: %v, %d accounts", err, len(found))
		}
		return found
	}
	before := balances()

	// Each client against the other's money.
	attack := func(thief *client.Client, victimBase, victimQuote, ownBase, ownQuote uint64,
		victimFunding, victimPending, victimOrder uint64, firstID uint64) {
		t.Helper()
		results, err := thief.CreateTransfers(ctx, []model.Transfer{
			{ID: model.U128(firstID), DebitAccountID: model.U128(victimBase),
				CreditAccountID: model.U128(ownBase), Amount: model.U128(1000), Ledger: 1, Code: 1},
			{ID: model.U128(firstID + 1), DebitAccountID: model.U128(victimBase),
				CreditAccountID: model.U128(ownBase), Amount: model.U128(1000), Ledger: 1, Code: 1,
				Flags: model.TransferPending}})
		expectEvents("moving or holding the other's money", results, err, model.StatusDebitAccountNotOwned)
		if victimPending != 0 {
			results, err = thief.CreateTransfers(ctx, []model.Transfer{{ID: model.U128(firstID + 2),
				PendingID: model.U128(victimPending), Flags: model.TransferVoidPending}})
			expectEvents("voiding the other's pending transfer", results, err,
				model.StatusPendingTransferNotOwned)
		}
		for i, o := range []model.Order{order(firstID+3, victimBase, ownQuote, model.SideSell),
			order(firstID+4, ownBase, victimQuote, model.SideBuy)} {
			placed, err := thief.PlaceOrders(ctx, []model.Order{o})
			want := []model.Status{model.StatusBaseAccountNotOwned, model.StatusQuoteAccountNotOwned}[i]
			if err != nil || placed[0].Status != want {
				t.Fatalf("an order on the other's account: %v %+v, want %s", err, placed, want)
			}
		}
		if victimOrder != 0 {
			canceled, err := thief.CancelOrders(ctx, []model.OrderCancel{{ClientOrderID: firstID + 5,
				Account: 1, OrderID: victimOrder}})
			if err != nil || canceled[0].Status != model.StatusOrderNotFound {
				t.Fatalf("canceling the other's order: %v %+v", err, canceled)
			}
			if found, err := thief.LookupOrders(ctx, []uint64{victimOrder}); err != nil || len(found) != 0 {
				t.Fatalf("looking the other's order up: %v %+v", err, found)
			}
		}
		if found, err := thief.LookupAccounts(ctx, []model.Uint128{model.U128(victimBase),
			model.U128(victimQuote)}); err != nil || len(found) != 0 {
			t.Fatalf("looking the other's accounts up: %v %+v", err, found)
		}
		if found, err := thief.LookupTransfers(ctx, []model.Uint128{
			model.U128(victimFunding)}); err != nil || len(found) != 0 {
			t.Fatalf("looking the other's funding up: %v %+v", err, found)
		}
		_, err = thief.GetAccountTransfers(ctx, model.AccountFilter{AccountID: model.U128(victimBase),
			Limit: 10, Flags: model.FilterDebits | model.FilterCredits})
		var refused *client.StatusError
		if !errors.As(err, &refused) || refused.Status != model.StatusAccountNotFound {
			t.Fatalf("querying the other's transfers: %v", err)
		}
		results, err = thief.CreateAccounts(ctx, []model.Account{accountOn(victimBase, 1)})
		expectEvents("re-creating the other's account", results, err, model.StatusExistsWithDifferentOwner)
	}
	attack(bobClient, aliceBase, aliceQuote, bobBase, bobQuote, 10, 20, aliceOrder, 1000)
	attack(aliceClient, bobBase, bobQuote, aliceBase, aliceQuote, 12, 0, 0, 2000)
	after := balances()
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("account %s changed:\nbefore %+v\nafter  %+v", before[i].ID, before[i], after[i])
		}
	}

	// A restart replays the log: the same refusal, the same balances.
	s.kill()
	s.restart()
	bobClient = connect(bob, bobSecret)
	results, err = bobClient.CreateTransfers(ctx, []model.Transfer{{ID: model.U128(3000),
		DebitAccountID: model.U128(aliceBase), CreditAccountID: model.U128(bobBase),
		Amount: model.U128(1), Ledger: 1, Code: 1}})
	expectEvents("after a restart", results, err, model.StatusDebitAccountNotOwned)
	bank = connect(operator, operatorSecret)
	restarted := balances()
	for i := range before {
		if before[i] != restarted[i] {
			t.Fatalf("account %s differs after the restart", before[i].ID)
		}
	}

	// Paying into the other's account needs nothing, and shows none of its balances.
	paid, err := bobClient.CreateTransfersWithBalances(ctx, []model.Transfer{{ID: model.U128(3001),
		DebitAccountID: model.U128(bobBase), CreditAccountID: model.U128(aliceBase),
		Amount: model.U128(7), Ledger: 1, Code: 1}})
	if err != nil || paid[0].Status != model.StatusOK || paid[0].CreditAccount != (model.Balance{}) ||
		paid[0].DebitAccount == (model.Balance{}) {
		t.Fatalf("bob pays alice: %v %+v", err, paid)
	}
	// A read grant for bob over alice's base account, given by a keys reload, is logged and
	// lets him see it (and nothing more).
	ownershipKeys(t, keys, netio.KeysFileGrant{Scopes: []string{"read"}, Accounts: "100"})
	s.command.Process.Signal(syscallHangup())
	eventually(t, "bob sees alice's account after the reload", func() bool {
		found, err := bobClient.LookupAccounts(ctx, []model.Uint128{model.U128(aliceBase),
			model.U128(aliceQuote)})
		return err == nil && len(found) == 1 && found[0].ID == model.U128(aliceBase)
	})
	results, err = bobClient.CreateTransfers(ctx, []model.Transfer{{ID: model.U128(3002),
		DebitAccountID: model.U128(aliceBase), CreditAccountID: model.U128(bobBase),
		Amount: model.U128(1), Ledger: 1, Code: 1}})
	expectEvents("a read grant does not move money", results, err, model.StatusDebitAccountNotOwned)
}
