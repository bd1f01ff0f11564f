package core

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// TestGrantsAndOwnersChangeWithinAnEntry applies one entry in which what a client may do
// changes between its one-transfer requests: grants given and taken back by set_grants,
// and a client's first account created inside a failed linked chain (undone) and then
// for good. Each request must see the permissions in force at its turn, whatever the
// ledger's actor cache and the lookahead (on and off) kept from before.
func TestGrantsAndOwnersChangeWithinAnEntry(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("lookahead_off=%v", off), func(t *testing.T) {
			testGrantsAndOwnersChangeWithinAnEntry(t, off)
		})
	}
}

func testGrantsAndOwnersChangeWithinAnEntry(t *testing.T, lookaheadOff bool) {
	const (
		issuer   uint64 = 1 // Holds a transfer grant on ledger 1 throughout.
		stranger uint64 = 2 // Given the same grant for a while.
		newcomer uint64 = 3 // Owns nothing at first.
	)
	h := newHarness(t, Config{})
	h.machine.lookahead.off = lookaheadOff
	grants := func(clients ...uint64) Request {
		table := make([]model.Grant, len(clients))
		for i, client := range clients {
			table[i] = model.Grant{Client: client, Scopes: model.ScopeTransfer, Ledger: 1}
		}
		return Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil, table)}
	}
	numbers := map[uint64]uint64{}
	request := func(client uint64, operation model.Operation, body []byte) Request {
		numbers[client]++
		return Request{Client: client, Session: 1, Number: numbers[client],
			Operation: operation, Body: body}
	}
	move := func(client, id, debit, credit uint64) Request {
		return request(client, model.OperationCreateTransfers,
			transfersBody(simpleTransfer(id, debit, credit, 5)))
	}
	limited := func(id uint64, flags uint16, ledger uint32) model.Account {
		return model.Account{ID: model.U128(id), Ledger: ledger, Code: 1,
			Flags: flags | model.AccountDebitsMustNotExceedCredits}
	}
	accounts := func(client uint64, list ...model.Account) Request {
		body := make([]byte, len(list)*model.AccountSize)
		for i := range list {
			list[i].Encode(body[i*model.AccountSize:])
		}
		return request(client, model.OperationCreateAccounts, body)
	}
	out := h.apply(grants(issuer), request(issuer, model.OperationCreateAccounts,
		accountsBody(1, 2)))
	if got := eventStatuses(t, out.Body(&out.Replies[1])); len(got) != 2 ||
		got[0] != model.StatusOK || got[1] != model.StatusOK {
		t.Fatalf("setup accounts: %v", got)
	}
	requests := []Request{
		move(stranger, 10, 1, 2), // Refused: resolves the stranger without grants.
		grants(issuer, stranger),
		move(stranger, 11, 1, 2), // Now allowed.
		grants(issuer),
		move(stranger, 12, 1, 2), // Refused again.
		// The newcomer's first account, undone with its chain (ledger 0 is invalid).
		accounts(newcomer, limited(30, model.AccountLinked, 1), limited(31, 0, 0)),
		move(newcomer, 13, 30, 2), // No such account.
		accounts(newcomer, limited(30, 0, 1)),
		request(issuer, model.OperationCreateTransfers, // Funds it.
			transfersBody(simpleTransfer(14, 1, 30, 50))),
		move(newcomer, 15, 30, 2), // Its owner moves it.
		move(stranger, 16, 30, 2), // Nobody else may.
		move(newcomer, 17, 30, 2),
	}
	want := [][]model.Status{
		{model.StatusDebitAccountNotOwned}, nil, {model.StatusOK}, nil,
		{model.StatusDebitAccountNotOwned},
		{model.StatusLinkedEventFailed, model.StatusLedgerMustNotBeZero},
		{model.StatusDebitAccountNotFound}, {model.StatusOK}, {model.StatusOK},
		{model.StatusOK}, {model.StatusDebitAccountNotOwned}, {model.StatusOK},
	}
	out = h.apply(requests...)
	for i := range requests {
		if out.Replies[i].Status != model.StatusOK {
			t.Fatalf("request %d: %s", i, out.Replies[i].Status)
		}
		if want[i] == nil {
			continue
		}
		got := eventStatuses(t, out.Body(&out.Replies[i]))
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("request %d (client %d): %v, want %v", i, requests[i].Client, got, want[i])
		}
	}
}
