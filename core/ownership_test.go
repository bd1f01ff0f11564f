package core

import (
	"encoding/binary"
	"fmt"
	"testing"

	"sequent/core/match"
	"sequent/core/model"
)

// The ownership matrix: every operation that touches money, by every kind of client —
// the owner (owned), and non-owners with no grant, a read, transfer or trade grant, or
// the operator scope (not owned) — through Apply and Query, as the server runs them.
// Grants arrive as a logged set_grants request, as the server writes them.

// Clients of the matrix. The owner owns accounts 1 (ledger 1), 2 (ledger 1, history)
// and 3 (ledger 2); each subject also owns one funded account of its own (its client id
// + 1000, ledger 1). The operator 99 owns the banks 100 (ledger 1) and 101 (ledger 2).
const (
	matrixOwner    uint64 = 1
	matrixStranger uint64 = 2
	matrixReader   uint64 = 3
	matrixPayer    uint64 = 4 // A transfer grant.
	matrixTrader   uint64 = 5 // A trade grant.
	matrixOperator uint64 = 99
)

// matrixLimited is the flag of every client account of the matrix.
const matrixLimited = model.AccountDebitsMustNotExceedCredits

var matrixSubjects = []struct {
	name   string
	client uint64
}{{"owner", matrixOwner}, {"no grant", matrixStranger}, {"read grant", matrixReader},
	{"transfer grant", matrixPayer}, {"trade grant", matrixTrader}, {"operator", matrixOperator}}

// matrixMachine builds the state every case starts from and returns the harness and the
// id of an open order of the owner's.
func matrixMachine(t *testing.T) (*harness, uint64) {
	return matrixMachineWith(t, Config{})
}

// matrixMachineWith is matrixMachine with a machine configuration.
func matrixMachineWith(t *testing.T, config Config) (*harness, uint64) {
	h := newHarness(t, config)
	owned := model.Grant{First: model.U128(1), Last: model.U128(3)}
	grants := []model.Grant{{Client: matrixOperator, Scopes: model.ScopeOperator}}
	for client, scope := range map[uint64]model.Scope{matrixReader: model.ScopeRead,
		matrixPayer: model.ScopeTransfer, matrixTrader: model.ScopeTrade} {
		grant := owned
		grant.Client, grant.Scopes = client, scope
		grants = append(grants, grant)
	}
	h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil, grants)})
	h.expectEvents(Request{Client: matrixOperator, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: encodeRecords(model.AccountSize,
			&model.Account{ID: model.U128(100), Ledger: 1, Code: 1},
			&model.Account{ID: model.U128(101), Ledger: 2, Code: 1})})
	// Clients' accounts limit their debits (without a transfer grant a client may not
	// create an account that can go negative); the operator's banks may go negative.
	h.expectEvents(Request{Client: matrixOwner, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: encodeRecords(model.AccountSize,
			&model.Account{ID: model.U128(1), Ledger: 1, Code: 1, Flags: matrixLimited},
			&model.Account{ID: model.U128(2), Ledger: 1, Code: 1,
				Flags: matrixLimited | model.AccountHistory},
			&model.Account{ID: model.U128(3), Ledger: 2, Code: 1, Flags: matrixLimited})})
	funding := []*model.Transfer{
		{ID: model.U128(1), DebitAccountID: model.U128(100), CreditAccountID: model.U128(1),
			Amount: model.U128(10_000), Ledger: 1, Code: 1},
		{ID: model.U128(2), DebitAccountID: model.U128(100), CreditAccountID: model.U128(2),
			Amount: model.U128(10_000), Ledger: 1, Code: 1},
		{ID: model.U128(3), DebitAccountID: model.U128(101), CreditAccountID: model.U128(3),
			Amount: model.U128(10_000), Ledger: 2, Code: 1}}
	for _, subject := range matrixSubjects {
		id := model.U128(subject.client + 1000)
		h.expectEvents(Request{Client: subject.client, Session: 2, Number: 1,
			Operation: model.OperationCreateAccounts, Body: encodeRecords(model.AccountSize,
				&model.Account{ID: id, Ledger: 1, Code: 1, Flags: matrixLimited})})
		funding = append(funding, &model.Transfer{ID: model.U128(10 + subject.client),
			DebitAccountID: model.U128(100), CreditAccountID: id, Amount: model.U128(1000),
			Ledger: 1, Code: 1})
	}
	h.expectEvents(Request{Client: matrixOperator, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: encodeRecords(model.TransferSize, funding...)})
	h.expectEvents(Request{Client: matrixOperator, Session: 1, Number: 3,
		Operation: model.OperationCreateInstruments, Body: encodeRecords(model.InstrumentSize,
			&model.Instrument{ID: 5, BaseLedger: 1, QuoteLedger: 2, TickSize: 1, LotSize: 1,
				QuantityMin: 1, QuantityMax: 1000})})
	out := h.apply(Request{Client: matrixOwner, Session: 1, Number: 2,
		Operation: model.OperationPlaceOrders, Body: encodeRecords(model.OrderSize, matrixOrder(1))})
	var placed model.OrderResult
	placed.Decode(out.Body(&out.Replies[0]))
	if placed.Status != model.StatusOK {
		t.Fatalf("the owner's order: %s", placed.Status)
	}
	return h, placed.OrderID
}

// matrixOrder is a resting sell from the owner's accounts 1 (base) and 3 (quote).
func matrixOrder(clientOrderID uint64) *model.Order {
	return &model.Order{ClientOrderID: clientOrderID, Account: 1, BaseAccountID: model.U128(1),
		QuoteAccountID: model.U128(3), Price: 500, Quantity: 10, Instrument: 5,
		Side: model.SideSell, Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}
}

// expectEvents applies a write and requires every event result to be ok.
func (h *harness) expectEvents(request Request) {
	h.t.Helper()
	out := h.apply(request)
	if out.Replies[0].Status != model.StatusOK {
		h.t.Fatalf("%s: %s", request.Operation, out.Replies[0].Status)
	}
	for i, status := range eventStatuses(h.t, out.Body(&out.Replies[0])) {
		if status != model.StatusOK {
			h.t.Fatalf("%s event %d: %s", request.Operation, i, status)
		}
	}
}

// matrixCase runs one operation as client and returns what it observed, as a status:
// the event's status for writes, the query's status or "ok"/"not found" for lookups.
type matrixCase struct {
	name  string
	setup func(h *harness) // Optional: state the case needs, made by its owner.
	run   func(h *harness, client uint64, order uint64) model.Status
	// allowed lists the subjects that may; the others get refused.
	allowed []uint64
	refused model.Status
}

// notVisible stands for a lookup that found nothing (lookups carry no status).
const notVisible = model.StatusAccountNotFound

func TestOwnershipMatrix(t *testing.T) {
	owner, operator := matrixOwner, matrixOperator
	cases := []matrixCase{
		{"debit the owner's account", nil, func(h *harness, client, _ uint64) model.Status {
			return h.transferStatus(client, model.Transfer{ID: model.U128(500),
				DebitAccountID: model.U128(1), CreditAccountID: model.U128(100),
				Amount: model.U128(5), Ledger: 1, Code: 1})
		}, []uint64{owner, matrixPayer, operator}, model.StatusDebitAccountNotOwned},
		{"pay into the owner's account", nil, func(h *harness, client, _ uint64) model.Status {
			return h.transferStatus(client, model.Transfer{ID: model.U128(500),
				DebitAccountID: model.U128(client + 1000), CreditAccountID: model.U128(1),
				Amount: model.U128(5), Ledger: 1, Code: 1})
		}, []uint64{owner, matrixStranger, matrixReader, matrixPayer, matrixTrader, operator}, 0},
		{"balancing credit on the owner's account", nil, func(h *harness, client, _ uint64) model.Status {
			return h.transferStatus(client, model.Transfer{ID: model.U128(500),
				DebitAccountID: model.U128(client + 1000), CreditAccountID: model.U128(2),
				Amount: model.U128(5), Ledger: 1, Code: 1, Flags: model.TransferBalancingCredit})
		}, []uint64{owner, matrixPayer, operator}, model.StatusCreditAccountNotOwned},
		{"post the owner's pending transfer", func(h *harness) { h.ownerPending(600) },
			func(h *harness, client, _ uint64) model.Status {
				return h.transferStatus(client, model.Transfer{ID: model.U128(601),
					PendingID: model.U128(600), Amount: model.Uint128Max,
					Flags: model.TransferPostPending})
			}, []uint64{owner, matrixPayer, operator}, model.StatusPendingTransferNotOwned},
		{"void the owner's pending transfer", func(h *harness) { h.ownerPending(600) },
			func(h *harness, client, _ uint64) model.Status {
				return h.transferStatus(client, model.Transfer{ID: model.U128(601),
					PendingID: model.U128(600), Flags: model.TransferVoidPending})
			}, []uint64{owner, matrixPayer, operator}, model.StatusPendingTransferNotOwned},
		{"create the owner's account again", nil, func(h *harness, client, _ uint64) model.Status {
			out := h.apply(Request{Client: client, Session: 7, Number: 1,
				Operation: model.OperationCreateAccounts, Body: encodeRecords(model.AccountSize,
					&model.Account{ID: model.U128(1), Ledger: 1, Code: 1, Flags: matrixLimited})})
			status := eventStatuses(h.t, out.Body(&out.Replies[0]))[0]
			if status == model.StatusExists {
				return model.StatusOK
			}
			return status
		}, []uint64{owner}, model.StatusExistsWithDifferentOwner},
		{"lookup_accounts", nil, func(h *harness, client, _ uint64) model.Status {
			return h.found(client, model.OperationLookupAccounts, model.U128(1).Append(nil),
				model.AccountSize)
		}, []uint64{owner, matrixReader, matrixPayer, matrixTrader, operator}, notVisible},
		{"lookup_transfers", nil, func(h *harness, client, _ uint64) model.Status {
			return h.found(client, model.OperationLookupTransfers, model.U128(1).Append(nil),
				model.TransferSize)
		}, []uint64{owner, matrixReader, matrixPayer, matrixTrader, operator}, notVisible},
		{"get_account_transfers", nil, func(h *harness, client, _ uint64) model.Status {
			return h.query(client, model.OperationGetAccountTransfers, 1)
		}, []uint64{owner, matrixReader, matrixPayer, matrixTrader, operator}, model.StatusAccountNotFound},
		{"get_account_balances", nil, func(h *harness, client, _ uint64) model.Status {
			return h.query(client, model.OperationGetAccountBalances, 2)
		}, []uint64{owner, matrixReader, matrixPayer, matrixTrader, operator}, model.StatusAccountNotFound},
		{"place an order from the owner's accounts", nil, func(h *harness, client, _ uint64) model.Status {
			return h.orderStatus(client, model.OperationPlaceOrders,
				encodeRecords(model.OrderSize, matrixOrder(50)))
		}, []uint64{owner, matrixTrader, operator}, model.StatusBaseAccountNotOwned},
		{"cancel the owner's order", nil, func(h *harness, client, order uint64) model.Status {
			return h.orderStatus(client, model.OperationCancelOrders, encodeRecords(
				model.OrderCancelSize, &model.OrderCancel{ClientOrderID: 51, Account: 1, OrderID: order}))
		}, []uint64{owner, operator}, model.StatusOrderNotFound},
		{"replace the owner's order", nil, func(h *harness, client, order uint64) model.Status {
			return h.orderStatus(client, model.OperationReplaceOrders, encodeRecords(
				model.OrderReplaceSize, &model.OrderReplace{ClientOrderID: 52, Account: 1,
					OrderID: order, Price: 500, Quantity: 5}))
		}, []uint64{owner}, model.StatusOrderNotFound},
		{"get_ledger_totals of the owner's ledger 2", nil, func(h *harness, client, _ uint64) model.Status {
			// Ledger 2 holds the owner's account 3 and the operator's bank 101: whoever
			// may read neither gets no totals for it.
			return h.found(client, model.OperationGetLedgerTotals, encodeRecords(
				model.LedgerFilterSize, &model.LedgerFilter{LedgerMin: 2, LedgerMax: 2, Limit: 1}),
				model.LedgerTotalsSize)
		}, []uint64{owner, matrixReader, matrixPayer, matrixTrader, operator}, notVisible},
		{"lookup_orders", nil, func(h *harness, client, order uint64) model.Status {
			return h.found(client, model.OperationLookupOrders,
				binary.LittleEndian.AppendUint64(nil, order), model.OrderStateSize)
		}, []uint64{owner, operator}, notVisible},
		// Market data is public per instrument: everyone sees the owner's resting order
		// in the book, as a level (no account, client or order id).
		{"get_book with the owner's order", nil, func(h *harness, client, _ uint64) model.Status {
			return h.bookAsks(client)
		}, []uint64{owner, matrixStranger, matrixReader, matrixPayer, matrixTrader, operator}, notVisible},
	}
	for _, c := range cases {
		for _, subject := range matrixSubjects {
			t.Run(fmt.Sprintf("%s/%s", c.name, subject.name), func(t *testing.T) {
				h, order := matrixMachine(t)
				if c.setup != nil {
					c.setup(h)
				}
				before := h.machine.Ledger().LookupAccounts([]model.Uint128{model.U128(1),
					model.U128(2), model.U128(3)}, nil)
				want := c.refused
				for _, allowed := range c.allowed {
					if allowed == subject.client {
						want = model.StatusOK
					}
				}
				if got := c.run(h, subject.client, order); got != want {
					t.Fatalf("%s as %s: %s, want %s", c.name, subject.name, got, want)
				}
				if want != model.StatusOK {
					after := h.machine.Ledger().LookupAccounts([]model.Uint128{model.U128(1),
						model.U128(2), model.U128(3)}, nil)
					for i := range before {
						if before[i] != after[i] {
							t.Fatalf("a refused %s changed account %s", c.name, before[i].ID)
						}
					}
				}
			})
		}
	}
}

// transferStatus applies one transfer as client and returns its event status.
func (h *harness) transferStatus(client uint64, transfer model.Transfer) model.Status {
	h.t.Helper()
	out := h.apply(Request{Client: client, Session: 7, Number: 1,
		Operation: model.OperationCreateTransfers, Body: encodeRecords(model.TransferSize, &transfer)})
	return eventStatuses(h.t, out.Body(&out.Replies[0]))[0]
}

// ownerPending has the owner create pending transfer id from account 1 to the bank.
func (h *harness) ownerPending(id uint64) {
	h.t.Helper()
	h.expectEvents(Request{Client: matrixOwner, Session: 8, Number: 1,
		Operation: model.OperationCreateTransfers, Body: encodeRecords(model.TransferSize,
			&model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(1),
				CreditAccountID: model.U128(100), Amount: model.U128(7), Ledger: 1, Code: 1,
				Flags: model.TransferPending})})
}

// orderStatus applies one order command as client and returns its result status.
func (h *harness) orderStatus(client uint64, operation model.Operation, body []byte) model.Status {
	h.t.Helper()
	out := h.apply(Request{Client: client, Session: 7, Number: 1, Operation: operation, Body: body})
	var result model.OrderResult
	result.Decode(out.Body(&out.Replies[0]))
	return result.Status
}

// found runs a lookup as client: ok when one record came back, notVisible when none.
func (h *harness) found(client uint64, operation model.Operation, body []byte, size int) model.Status {
	h.t.Helper()
	out := &Output{}
	h.machine.Query(&Request{Client: client, Session: 7, Number: 1, Operation: operation,
		Body: body}, out)
	switch length := len(out.Body(&out.Replies[0])); {
	case out.Replies[0].Status != model.StatusOK:
		return out.Replies[0].Status
	case length == size:
		return model.StatusOK
	case length == 0:
		return notVisible
	}
	h.t.Fatalf("%s: %d bytes", operation, len(out.Body(&out.Replies[0])))
	return 0
}

// bookAsks runs get_book on instrument 5 as client: ok when the book shows one ask
// level (the owner's order), notVisible when it shows none.
func (h *harness) bookAsks(client uint64) model.Status {
	h.t.Helper()
	out := &Output{}
	h.machine.Query(&Request{Client: client, Session: 7, Number: 1, Operation: model.OperationGetBook,
		Body: encodeRecords(model.DepthFilterSize, &model.DepthFilter{Instrument: 5, Levels: 10})}, out)
	if out.Replies[0].Status != model.StatusOK {
		return out.Replies[0].Status
	}
	var header model.BookHeader
	header.Decode(out.Body(&out.Replies[0]))
	if header.AskCount == 1 {
		return model.StatusOK
	}
	return notVisible
}

// query runs get_account_transfers or get_account_balances on account as client.
func (h *harness) query(client uint64, operation model.Operation, account uint64) model.Status {
	h.t.Helper()
	filter := model.AccountFilter{AccountID: model.U128(account), Limit: 10,
		Flags: model.FilterDebits | model.FilterCredits}
	out := &Output{}
	h.machine.Query(&Request{Client: client, Session: 7, Number: 1, Operation: operation,
		Body: encodeRecords(model.AccountFilterSize, &filter)}, out)
	if out.Replies[0].Status == model.StatusOK && len(out.Body(&out.Replies[0])) == 0 {
		h.t.Fatalf("%s found nothing on account %d", operation, account)
	}
	return out.Replies[0].Status
}

// TestGrantsAreLoggedState: the grant table takes effect at its op, survives a snapshot,
// and a replay of the log decides exactly as the live machine did.
func TestGrantsAreLoggedState(t *testing.T) {
	h, _ := matrixMachine(t)
	pay := func(id uint64) Request {
		return Request{Client: matrixStranger, Session: 3, Number: id,
			Operation: model.OperationCreateTransfers, Body: encodeRecords(model.TransferSize,
				&model.Transfer{ID: model.U128(700 + id), DebitAccountID: model.U128(1),
					CreditAccountID: model.U128(100), Amount: model.U128(1), Ledger: 1, Code: 1})}
	}
	refused := h.apply(pay(1))
	h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
		[]model.Grant{{Client: matrixStranger, Scopes: model.ScopeTransfer, Ledger: 1}})})
	allowed := h.apply(pay(2))
	if eventStatuses(t, refused.Body(&refused.Replies[0]))[0] != model.StatusDebitAccountNotOwned ||
		eventStatuses(t, allowed.Body(&allowed.Replies[0]))[0] != model.StatusOK {
		t.Fatal("the grant did not take effect at its op")
	}
	invalid := h.apply(Request{Operation: model.OperationSetGrants,
		Body: model.AppendGrants(nil, []model.Grant{{Client: 0, Scopes: model.ScopeRead}})})
	if invalid.Replies[0].Status != model.StatusInvalidBody {
		t.Fatalf("an invalid grant table: %s", invalid.Replies[0].Status)
	}
	if grants := h.machine.Grants(); len(grants) != 1 || grants[0].Client != matrixStranger {
		t.Fatalf("an invalid table replaced the one in force: %+v", grants)
	}
	replayed := New(Config{})
	for i := range h.entries {
		if err := replayed.Apply(&h.entries[i], &Output{}); err != nil {
			t.Fatal(err)
		}
	}
	if replayed.Digest() != h.machine.Digest() {
		t.Fatal("a replay of the log reaches another state")
	}
}

// TestSelfIssuedMoneyCannotBuy: a stranger tries to buy the owner's resting sell with
// money it creates itself: an account of its own with no debit limit, debited into a
// debit-limited quote account it trades from. Without a transfer grant the plain account
// is refused (debits_must_not_exceed_credits_required), so there is nothing to pay with
// and the owner's order and base account stay as they were.
func TestSelfIssuedMoneyCannotBuy(t *testing.T) {
	h, order := matrixMachine(t)
	stranger := matrixStranger
	out := h.apply(Request{Client: stranger, Session: 5, Number: 1,
		Operation: model.OperationCreateAccounts, Body: encodeRecords(model.AccountSize,
			&model.Account{ID: model.U128(2002), Ledger: 2, Code: 1},
			&model.Account{ID: model.U128(2003), Ledger: 2, Code: 1, Flags: matrixLimited},
			&model.Account{ID: model.U128(2004), Ledger: 1, Code: 1, Flags: matrixLimited})})
	statuses := eventStatuses(t, out.Body(&out.Replies[0]))
	if statuses[0] != model.StatusDebitsMustNotExceedCreditsRequired ||
		statuses[1] != model.StatusOK || statuses[2] != model.StatusOK {
		t.Errorf("the stranger's accounts: %v", statuses)
	}
	issued := h.transferStatus(stranger, model.Transfer{ID: model.U128(2100),
		DebitAccountID: model.U128(2002), CreditAccountID: model.U128(2003),
		Amount: model.U128(1_000_000), Ledger: 2, Code: 1})
	if issued != model.StatusDebitAccountNotFound {
		t.Errorf("issuing money: %s", issued)
	}
	h.apply(Request{Client: stranger, Session: 5, Number: 2, Operation: model.OperationPlaceOrders,
		Body: encodeRecords(model.OrderSize, &model.Order{ClientOrderID: 1, Account: 1,
			BaseAccountID: model.U128(2004), QuoteAccountID: model.U128(2003), Price: 500,
			Quantity: 10, Instrument: 5, Side: model.SideBuy, Type: model.OrderLimit,
			TimeInForce: model.ImmediateOrCancel})})
	if found := h.found(matrixOwner, model.OperationLookupOrders,
		binary.LittleEndian.AppendUint64(nil, order), model.OrderStateSize); found != model.StatusOK {
		t.Fatal("the owner's order was taken by self-issued money")
	}
	base := h.machine.Ledger().LookupAccounts([]model.Uint128{model.U128(1)}, nil)[0]
	if !base.DebitsPosted.IsZero() {
		t.Fatalf("the owner's base account paid out: %+v", base)
	}
}

// TestOtherClientsCannotEvictASession: the session table is shared and bounded, and it
// forgot the least recently used session whoever held it, so a stranger that wrote under
// as many sessions of its own as the table holds (one write per new session id) pushed
// the owner's session out; with order commands that also pushed the owner's client
// order ids out of their window, the owner's resend of a place it had already been
// answered for (a lost reply, a reconnect) was placed a second time. Now the table
// forgets a session of the client holding the most sessions: the stranger evicts its
// own, and the owner's resend is answered from its cache.
func TestOtherClientsCannotEvictASession(t *testing.T) {
	h, _ := matrixMachineWith(t, Config{SessionsMax: 4,
		Match: match.Config{ClientOrderIDsMax: 16}})
	place := Request{Client: matrixOwner, Session: 1, Number: 3,
		Operation: model.OperationPlaceOrders, Body: encodeRecords(model.OrderSize, matrixOrder(60))}
	h.expectOrders(h.apply(place))
	open := h.machine.Match().OpenOrderCount()
	for session := uint64(1); session <= 4; session++ { // A full table of its own sessions.
		cancels := make([]*model.OrderCancel, 16) // And a full window of its own keys.
		for i := range cancels {
			cancels[i] = &model.OrderCancel{ClientOrderID: session*100 + uint64(i), Account: 1,
				OrderID: 1 << 40}
		}
		h.apply(Request{Client: matrixStranger, Session: 100 + session, Number: 1,
			Operation: model.OperationCancelOrders,
			Body:      encodeRecords(model.OrderCancelSize, cancels...)})
	}
	resend := h.apply(place)
	if !resend.Replies[0].Duplicate {
		t.Errorf("the owner's resend was not answered from its session: %+v", resend.Replies[0])
	}
	if got := h.machine.Match().OpenOrderCount(); got != open {
		t.Fatalf("the owner's resent order was placed again: %d open orders, want %d", got, open)
	}
}

// expectOrders requires every order result of a reply to be ok.
func (h *harness) expectOrders(out *Output) {
	h.t.Helper()
	body := out.Body(&out.Replies[0])
	for offset := 0; offset < len(body); offset += model.OrderResultSize {
		var result model.OrderResult
		if result.Decode(body[offset:]); result.Status != model.StatusOK {
			h.t.Fatalf("order %d: %s", offset/model.OrderResultSize, result.Status)
		}
	}
}
