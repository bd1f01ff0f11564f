package clearing

import (
	"maps"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/ledger"
	"sequent/core/model"
	"sequent/netio/client"
)

// TestConversionsAgainstModel applies random batches mixing conversions (new ones and
// retries of earlier ones), top-ups, transfers between users and account closings to a
// real ledger, and checks after every batch, against a naive model of balances, limits,
// closed accounts and remembered failures:
//
//   - every event's status is the one the model predicts (a conversion whose second leg
//     is refused — the target liquidity account would be overdrawn, or the payee or the
//     liquidity account is closed — answers linked_event_failed on its first leg);
//   - every account's balances equal the model's;
//   - every ledger conserves: Σ debits = Σ credits, posted and pending
//     (ledger.CheckInvariants and get_ledger_totals both say so);
//   - every conversion ever attempted has both legs stored or neither, with the plan's
//     amounts.
func TestConversionsAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := newConversionHarness(t)
		for range rapid.IntRange(1, 25).Draw(t, "batches") {
			h.batch(t)
			h.check(t)
		}
	})
}

// Account ids in the test: ledger k (1..3) has its funding account 100k+1 (no limits,
// never closed), its liquidity account 100k+2 and users 100k+10, +11 (both with
// debits_must_not_exceed_credits) and +12 (no limit).
var conversionScales = map[uint32]uint8{1: 2, 2: 2, 3: 6}

func funding(ledgerNumber uint32) model.Uint128   { return model.U128(uint64(ledgerNumber)*100 + 1) }
func liquidity(ledgerNumber uint32) model.Uint128 { return model.U128(uint64(ledgerNumber)*100 + 2) }
func user(ledgerNumber uint32, i int) model.Uint128 {
	return model.U128(uint64(ledgerNumber)*100 + 10 + uint64(i))
}

type conversionHarness struct {
	ledger      *ledger.Ledger
	timestamp   uint64
	model       *ledgerModel
	nextID      uint64
	conversions []client.ConversionPlan // Every conversion sent, for retries and checks.
}

func newConversionHarness(t *rapid.T) *conversionHarness {
	h := &conversionHarness{ledger: ledger.New(ledger.Config{HashSeed: 3}),
		timestamp: 1_000_000_000_000, model: newLedgerModel(), nextID: 1_000}
	var accounts []model.Account
	for ledgerNumber := uint32(1); ledgerNumber <= 3; ledgerNumber++ {
		limited := model.AccountDebitsMustNotExceedCredits
		accounts = append(accounts,
			model.Account{ID: funding(ledgerNumber), Ledger: ledgerNumber, Code: 1},
			model.Account{ID: liquidity(ledgerNumber), Ledger: ledgerNumber, Code: 2, Flags: limited},
			model.Account{ID: user(ledgerNumber, 0), Ledger: ledgerNumber, Code: 3, Flags: limited},
			model.Account{ID: user(ledgerNumber, 1), Ledger: ledgerNumber, Code: 3, Flags: limited},
			model.Account{ID: user(ledgerNumber, 2), Ledger: ledgerNumber, Code: 3})
	}
	results := make([]model.EventResult, len(accounts))
	h.ledger.CreateAccounts(h.timestamp, accounts, results)
	h.timestamp += uint64(len(accounts))
	for i := range accounts {
		if results[i].Status != model.StatusOK {
			t.Fatalf("account %s: %s", accounts[i].ID, results[i].Status)
		}
		h.model.addAccount(&accounts[i])
	}
	return h
}

// batch builds one request of random items, predicts each event's status with the model,
// applies it to the ledger and compares.
func (h *conversionHarness) batch(t *rapid.T) {
	var events []model.Transfer
	var predicted []model.Status
	for range rapid.IntRange(1, 6).Draw(t, "items") {
		item := h.item(t)
		if len(item) == 0 {
			continue
		}
		events = append(events, item...)
		predicted = append(predicted, h.model.chain(item)...)
	}
	if len(events) == 0 {
		return
	}
	results := make([]model.TransferResult, len(events))
	h.ledger.CreateTransfers(h.timestamp, events, results)
	h.timestamp += uint64(len(events)) + 1
	for i := range events {
		if results[i].Status != predicted[i] {
			t.Fatalf("event %d (id %s, %s → %s, amount %s): %s, model says %s", i,
				events[i].ID, events[i].DebitAccountID, events[i].CreditAccountID,
				events[i].Amount, results[i].Status, predicted[i])
		}
	}
}

// item draws one item of a batch: a chain (a conversion's two legs) or one transfer.
func (h *conversionHarness) item(t *rapid.T) []model.Transfer {
	ledgerNumber := uint32(rapid.IntRange(1, 3).Draw(t, "ledger"))
	amount := model.U128(rapid.Uint64Range(0, 200_000).Draw(t, "amount"))
	switch rapid.IntRange(0, 19).Draw(t, "kind") {
	case 0, 1, 2, 3: // Top-up from the ledger's funding account.
		to := []model.Uint128{liquidity(ledgerNumber), user(ledgerNumber, 0),
			user(ledgerNumber, 1), user(ledgerNumber, 2)}[rapid.IntRange(0, 3).Draw(t, "to")]
		return []model.Transfer{h.transfer(funding(ledgerNumber), to, amount, ledgerNumber, 0)}
	case 4, 5: // Between two users of a ledger.
		from, to := rapid.IntRange(0, 2).Draw(t, "from"), rapid.IntRange(0, 2).Draw(t, "to")
		if from == to {
			return nil
		}
		return []model.Transfer{h.transfer(user(ledgerNumber, from), user(ledgerNumber, to),
			amount, ledgerNumber, 0)}
	case 6: // Close a user or a liquidity account (a pending closing transfer of 0).
		closed := []model.Uint128{liquidity(ledgerNumber), user(ledgerNumber, 0),
			user(ledgerNumber, 1), user(ledgerNumber, 2)}[rapid.IntRange(0, 3).Draw(t, "close")]
		return []model.Transfer{h.transfer(closed, funding(ledgerNumber), model.Uint128{},
			ledgerNumber, model.TransferPending|model.TransferClosingDebit)}
	case 7, 8:
		if len(h.conversions) > 0 { // A retry of an earlier conversion, same ids and fields.
			plan := h.conversions[rapid.IntRange(0, len(h.conversions)-1).Draw(t, "retry")]
			return plan.Transfers[:]
		}
	}
	return h.conversion(t, ledgerNumber)
}

// conversion draws a conversion from ledgerNumber to another ledger.
func (h *conversionHarness) conversion(t *rapid.T, source uint32) []model.Transfer {
	target := uint32(rapid.IntRange(1, 3).Draw(t, "target"))
	if target == source {
		return nil
	}
	c := client.Conversion{SourceTransferID: h.id(), TargetTransferID: h.id(),
		Payer:           user(source, rapid.IntRange(0, 2).Draw(t, "payer")),
		Payee:           user(target, rapid.IntRange(0, 2).Draw(t, "payee")),
		SourceLiquidity: liquidity(source), TargetLiquidity: liquidity(target),
		SourceLedger: source, TargetLedger: target, SourceScale: conversionScales[source],
		TargetScale: conversionScales[target], QuoteID: h.id(), Code: 9,
		Rate: client.Rate{Mantissa: rapid.Uint64Range(1, 5_000_000).Draw(t, "mantissa"),
			Places: uint8(rapid.IntRange(0, 6).Draw(t, "places"))}}
	amount := model.U128(rapid.Uint64Range(1, 100_000).Draw(t, "conversion amount"))
	if rapid.Bool().Draw(t, "send") {
		c.SourceAmount = amount
	} else {
		c.TargetAmount = amount
	}
	plan, err := c.Plan()
	if err != nil || plan.SourceAmount.Hi != 0 || plan.SourceAmount.Lo > 1<<40 {
		return nil // Too small, or too large for the model's 64-bit sums: not sent.
	}
	h.conversions = append(h.conversions, plan)
	return plan.Transfers[:]
}

// id returns a new transfer (or quote) id.
func (h *conversionHarness) id() model.Uint128 {
	h.nextID++
	return model.U128(h.nextID)
}

func (h *conversionHarness) transfer(debit, credit, amount model.Uint128, ledgerNumber uint32,
	flags uint16) model.Transfer {
	return model.Transfer{ID: h.id(), DebitAccountID: debit,
		CreditAccountID: credit, Amount: amount, Ledger: ledgerNumber, Code: 1, Flags: flags}
}

// check compares the ledger with the model after a batch.
func (h *conversionHarness) check(t *rapid.T) {
	if err := ledger.CheckInvariants(h.ledger.Accounts()); err != nil {
		t.Fatal(err)
	}
	totals, status := h.ledger.LedgerTotals(&model.LedgerFilter{Limit: 10}, nil)
	if status != model.StatusOK || len(totals) != 3 {
		t.Fatalf("ledger totals: %s, %d ledgers", status, len(totals))
	}
	for i := range totals {
		if !totals[i].Balanced() {
			t.Fatalf("not balanced: %s", &totals[i])
		}
	}
	for account := range h.ledger.Accounts() {
		want := h.model.accounts[account.ID]
		if account.DebitsPosted.Lo != want.debitsPosted ||
			account.CreditsPosted.Lo != want.creditsPosted ||
			account.Flags&model.AccountClosed != 0 != want.closed {
			t.Fatalf("account %s: %+v, model %+v", account.ID, account, *want)
		}
	}
	for _, plan := range h.conversions {
		ids := []model.Uint128{plan.Transfers[0].ID, plan.Transfers[1].ID}
		found := h.ledger.LookupTransfers(ids, nil)
		_, applied := h.model.transfers[ids[0]]
		switch {
		case len(found) == 1:
			t.Fatalf("conversion %s/%s: one leg stored without the other", ids[0], ids[1])
		case applied != (len(found) == 2):
			t.Fatalf("conversion %s: stored %v, model says applied %v", ids[0], len(found) == 2,
				applied)
		case applied && (found[0].Amount != plan.SourceAmount ||
			found[1].Amount != plan.TargetAmount):
			t.Fatalf("conversion %s: amounts %s/%s, plan %s/%s", ids[0], found[0].Amount,
				found[1].Amount, plan.SourceAmount, plan.TargetAmount)
		}
	}
}

// ledgerModel is a naive ledger for single-phase and closing transfers: balances, the
// debits_must_not_exceed_credits limit, closed accounts, stored ids and remembered
// transient failures.
type ledgerModel struct {
	accounts  map[model.Uint128]*modelAccount
	transfers map[model.Uint128]model.Transfer
	failed    map[model.Uint128]bool
}

type modelAccount struct {
	limited       bool
	closed        bool
	debitsPosted  uint64
	creditsPosted uint64
}

func newLedgerModel() *ledgerModel {
	return &ledgerModel{accounts: map[model.Uint128]*modelAccount{},
		transfers: map[model.Uint128]model.Transfer{}, failed: map[model.Uint128]bool{}}
}

func (m *ledgerModel) addAccount(a *model.Account) {
	m.accounts[a.ID] = &modelAccount{limited: a.Flags&model.AccountDebitsMustNotExceedCredits != 0}
}

// chain applies a linked chain (or one transfer) and returns each event's status: all
// applied, or none, with the failing event's status and linked_event_failed for the rest.
func (m *ledgerModel) chain(events []model.Transfer) []model.Status {
	saved := map[model.Uint128]modelAccount{}
	for id, account := range m.accounts {
		saved[id] = *account
	}
	savedTransfers := maps.Clone(m.transfers)
	statuses := make([]model.Status, len(events))
	for i := range events {
		status := m.apply(&events[i])
		if status == model.StatusOK || status == model.StatusExists {
			statuses[i] = status
			continue
		}
		for j := range statuses {
			statuses[j] = model.StatusLinkedEventFailed
		}
		statuses[i] = status
		for id, account := range saved {
			*m.accounts[id] = account
		}
		m.transfers = savedTransfers
		break
	}
	return statuses
}

// apply evaluates one transfer in the ledger's precedence order and applies it if it
// succeeds; a transient failure is remembered for its id.
func (m *ledgerModel) apply(t *model.Transfer) model.Status {
	if _, exists := m.transfers[t.ID]; exists {
		return model.StatusExists // The test resends only identical transfers.
	}
	if m.failed[t.ID] {
		return model.StatusIDAlreadyFailed
	}
	debit, credit := m.accounts[t.DebitAccountID], m.accounts[t.CreditAccountID]
	status := model.StatusOK
	switch {
	case debit.closed:
		status = model.StatusDebitAccountAlreadyClosed
	case credit.closed:
		status = model.StatusCreditAccountAlreadyClosed
	case debit.limited && debit.debitsPosted+t.Amount.Lo > debit.creditsPosted:
		status = model.StatusExceedsCredits
	}
	if status != model.StatusOK {
		m.failed[t.ID] = true
		return status
	}
	if t.Flags&model.TransferClosingDebit != 0 {
		debit.closed = true // A pending of 0: no balance moves.
	} else {
		debit.debitsPosted += t.Amount.Lo
		credit.creditsPosted += t.Amount.Lo
	}
	m.transfers[t.ID] = *t
	return model.StatusOK
}
