package jsonview

import (
	"fmt"

	"sequent/core/model"
	"sequent/netio/client"
)

// Result is one create result: the event's id, its status by name and number, and the
// timestamp (the object's when created or existing, else the time it was evaluated). A
// risk status (300..349) names its rule, and a refusal explains itself when the server
// sent the explanation (results with balances; the HTTP API always does).
type Result struct {
	ID        string      `json:"id"`
	Status    string      `json:"status"`
	Code      uint32      `json:"code"`
	Timestamp uint64      `json:"timestamp"`
	Rule      uint32      `json:"rule,omitempty"`
	Risk      *RiskDetail `json:"risk,omitempty"`
}

// NewResult returns the JSON form of a create result for the event with id.
func NewResult(id model.Uint128, result *model.EventResult) Result {
	return Result{ID: id.String(), Status: result.Status.String(), Code: uint32(result.Status),
		Timestamp: result.Timestamp, Rule: result.Rule}
}

// NewTransferResult is NewResult with the risk explanation of a refusal.
func NewTransferResult(id model.Uint128, result *model.TransferResult) Result {
	row := NewResult(id, &result.EventResult)
	if result.Status.IsRiskRefusal() && result.Status != model.StatusRiskReviewRequired {
		detail := NewRiskDetail(&result.Risk)
		row.Risk = &detail
	}
	return row
}

// Account is an account record.
type Account struct {
	ID             string `json:"id"`
	Ledger         uint32 `json:"ledger"`
	Code           uint16 `json:"code"`
	Flags          uint16 `json:"flags"`
	DebitsPending  string `json:"debits_pending"`
	DebitsPosted   string `json:"debits_posted"`
	CreditsPending string `json:"credits_pending"`
	CreditsPosted  string `json:"credits_posted"`
	UserData128    string `json:"user_data_128"`
	UserData64     uint64 `json:"user_data_64"`
	UserData32     uint32 `json:"user_data_32"`
	Timestamp      uint64 `json:"timestamp"`
}

// NewAccount returns the JSON form of an account.
func NewAccount(a *model.Account) Account {
	return Account{ID: a.ID.String(), Ledger: a.Ledger, Code: a.Code, Flags: a.Flags,
		DebitsPending: a.DebitsPending.String(), DebitsPosted: a.DebitsPosted.String(),
		CreditsPending: a.CreditsPending.String(), CreditsPosted: a.CreditsPosted.String(),
		UserData128: a.UserData128.String(), UserData64: a.UserData64,
		UserData32: a.UserData32, Timestamp: a.Timestamp}
}

// Model returns the account a create request asks for. Balances and the timestamp are
// set by the server, so any other value of theirs is kept as given, to be refused by the
// ledger with its precise status (debits_pending_must_be_zero, …). An absent balance or
// user_data_128 is 0.
func (a *Account) Model() (model.Account, error) {
	var account model.Account
	fields := []struct {
		name, text string
		into       *model.Uint128
	}{{"id", a.ID, &account.ID}, {"debits_pending", a.DebitsPending, &account.DebitsPending},
		{"debits_posted", a.DebitsPosted, &account.DebitsPosted},
		{"credits_pending", a.CreditsPending, &account.CreditsPending},
		{"credits_posted", a.CreditsPosted, &account.CreditsPosted},
		{"user_data_128", a.UserData128, &account.UserData128}}
	for _, field := range fields {
		if err := parseField(field.name, field.text, field.into); err != nil {
			return account, err
		}
	}
	account.Ledger, account.Code, account.Flags = a.Ledger, a.Code, a.Flags
	account.UserData64, account.UserData32, account.Timestamp = a.UserData64, a.UserData32,
		a.Timestamp
	return account, nil
}

// Transfer is a transfer record.
type Transfer struct {
	ID              string `json:"id"`
	DebitAccountID  string `json:"debit_account_id"`
	CreditAccountID string `json:"credit_account_id"`
	Amount          string `json:"amount"`
	PendingID       string `json:"pending_id"`
	Ledger          uint32 `json:"ledger"`
	Code            uint16 `json:"code"`
	Flags           uint16 `json:"flags"`
	Timeout         uint32 `json:"timeout"`
	UserData128     string `json:"user_data_128"`
	UserData64      uint64 `json:"user_data_64"`
	UserData32      uint32 `json:"user_data_32"`
	Timestamp       uint64 `json:"timestamp"`
}

// NewTransfer returns the JSON form of a transfer.
func NewTransfer(t *model.Transfer) Transfer {
	return Transfer{ID: t.ID.String(), DebitAccountID: t.DebitAccountID.String(),
		CreditAccountID: t.CreditAccountID.String(), Amount: t.Amount.String(),
		PendingID: t.PendingID.String(), Ledger: t.Ledger, Code: t.Code, Flags: t.Flags,
		Timeout: t.Timeout, UserData128: t.UserData128.String(), UserData64: t.UserData64,
		UserData32: t.UserData32, Timestamp: t.Timestamp}
}

// Model returns the transfer a create request asks for (absent ids and amounts are 0;
// "max" is accepted for an amount: 2^128−1, which posts a pending transfer's full
// amount).
func (t *Transfer) Model() (model.Transfer, error) {
	var transfer model.Transfer
	fields := []struct {
		name, text string
		into       *model.Uint128
	}{{"id", t.ID, &transfer.ID}, {"debit_account_id", t.DebitAccountID, &transfer.DebitAccountID},
		{"credit_account_id", t.CreditAccountID, &transfer.CreditAccountID},
		{"amount", t.Amount, &transfer.Amount}, {"pending_id", t.PendingID, &transfer.PendingID},
		{"user_data_128", t.UserData128, &transfer.UserData128}}
	for _, field := range fields {
		if err := parseField(field.name, field.text, field.into); err != nil {
			return transfer, err
		}
	}
	transfer.Ledger, transfer.Code, transfer.Flags = t.Ledger, t.Code, t.Flags
	transfer.Timeout, transfer.UserData64, transfer.UserData32 = t.Timeout, t.UserData64,
		t.UserData32
	transfer.Timestamp = t.Timestamp
	return transfer, nil
}

// Balance is one balance-history entry.
type Balance struct {
	Timestamp      uint64 `json:"timestamp"`
	DebitsPending  string `json:"debits_pending"`
	DebitsPosted   string `json:"debits_posted"`
	CreditsPending string `json:"credits_pending"`
	CreditsPosted  string `json:"credits_posted"`
}

// NewBalance returns the JSON form of a balance-history entry.
func NewBalance(b *model.AccountBalance) Balance {
	return Balance{Timestamp: b.Timestamp, DebitsPending: b.DebitsPending.String(),
		DebitsPosted: b.DebitsPosted.String(), CreditsPending: b.CreditsPending.String(),
		CreditsPosted: b.CreditsPosted.String()}
}

// maxAmount is the text accepted for 2^128−1.
const maxAmount = "max"

// parseField parses a 128-bit field: "" is 0, "max" is 2^128−1, else a decimal or 0x
// hexadecimal number.
func parseField(name, text string, into *model.Uint128) error {
	switch text {
	case "":
		*into = model.Uint128{}
		return nil
	case maxAmount:
		*into = model.Uint128{Lo: ^uint64(0), Hi: ^uint64(0)}
		return nil
	}
	value, err := model.ParseUint128(text)
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	*into = value
	return nil
}

// ParseID parses a 128-bit id or amount as the JSON forms write it (decimal, or 0x
// hexadecimal), naming the field in the error.
func ParseID(name, text string) (model.Uint128, error) {
	var value model.Uint128
	if text == "" {
		return value, fmt.Errorf("%s: empty", name)
	}
	return value, parseField(name, text, &value)
}

// Conversion is the outcome of a currency conversion (netio/client's Conversion): whether
// both legs exist now, the refusal if not, the amounts and the rate, what the operator
// keeps of one target minor unit ("numerator/denominator"), and each leg's result.
type Conversion struct {
	Applied      bool     `json:"applied"`
	Refusal      string   `json:"refusal,omitempty"`
	SourceAmount string   `json:"source_amount"`
	TargetAmount string   `json:"target_amount"`
	Rate         string   `json:"rate"`
	QuoteID      string   `json:"quote_id"`
	Remainder    string   `json:"remainder"`
	Legs         []Result `json:"legs"`
}

// NewConversion returns the JSON form of a conversion's outcome.
func NewConversion(c *client.Conversion, result *client.ConversionResult) Conversion {
	plan := &result.Plan
	out := Conversion{Applied: result.Applied(), SourceAmount: plan.SourceAmount.String(),
		TargetAmount: plan.TargetAmount.String(), Rate: c.Rate.String(),
		QuoteID: c.QuoteID.String(), Remainder: plan.RemainderNumerator.String() + "/" +
			plan.RemainderDenominator.String()}
	if !out.Applied {
		out.Refusal = result.Refusal().String()
	}
	for i := range result.Results {
		out.Legs = append(out.Legs, NewResult(plan.Transfers[i].ID, &result.Results[i]))
	}
	return out
}
