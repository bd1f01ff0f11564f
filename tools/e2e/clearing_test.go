package e2e

import (
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
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
	random := rand.New(rand.NewPCG(17, 17))
	for cycle := 0; cycle < *conversionCycles; cycle++ {
		load.run(2)
		time.Sleep(time.Duration(30+random.IntN(150)) * time.Millisecond)
		s.kill()
		s.restart()
		load.wait()
		if load.err != nil {
			t.Fatalf("cycle %d: %v", cycle, load.err)
		}
	}
	load.run(1)
	load.wait()
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
