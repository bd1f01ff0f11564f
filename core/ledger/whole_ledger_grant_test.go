package ledger

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// Clients of TestWholeLedgerGrantMatchesGeneralPath, each holding one kind of grant the
// actor's whole-ledger transfer grant (actor.transferLedger) is derived from, or is not.
const (
	wholeCreatorA     uint64 = 31 // Owns a third of the accounts; no grant later.
	wholeCreatorB     uint64 = 32 // Owns a third; a transfer grant over ledger 1 later.
	wholeReadTransfer uint64 = 33 // Read over ledger 1, then transfer over ledger 2.
	wholeTrade        uint64 = 34 // Trade over ledger 1: no debit, no issuing.
	wholeRanged       uint64 = 35 // Transfer over ledger 1's ids 1..12 only.
	wholeEveryLedger  uint64 = 36 // Transfer over every ledger (ledger 0).
	wholeTwoLedgers   uint64 = 37 // Transfer over ledger 2, then over ledger 1.
	wholeNone         uint64 = 38 // No grant, no account.
)

// wholeLedgerGrants is the grant table of TestWholeLedgerGrantMatchesGeneralPath: first
// as listed by the constants above, then (swapped) with the ledgers of every whole-ledger
// grant exchanged, so that a client's cached actor must follow the new table.
func wholeLedgerGrants(swapped bool) []model.Grant {
	one, two := uint32(1), uint32(2)
	if swapped {
		one, two = two, one
	}
	return []model.Grant{
		{Client: wholeCreatorB, Scopes: model.ScopeTransfer, Ledger: one},
		{Client: wholeReadTransfer, Scopes: model.ScopeRead, Ledger: one},
		{Client: wholeReadTransfer, Scopes: model.ScopeTransfer, Ledger: two},
		{Client: wholeTrade, Scopes: model.ScopeTrade, Ledger: one},
		{Client: wholeRanged, Scopes: model.ScopeTransfer, Ledger: one,
			First: model.U128(1), Last: model.U128(12)},
		{Client: wholeEveryLedger, Scopes: model.ScopeTransfer},
		{Client: wholeTwoLedgers, Scopes: model.ScopeTransfer, Ledger: two},
		{Client: wholeTwoLedgers, Scopes: model.ScopeTransfer, Ledger: one},
	}
}

// TestWholeLedgerGrantMatchesGeneralPath is a differential test of the clients' checks
// that a whole-ledger transfer grant lets createdPlain and prefetchOwners skip (the
// debit right, the right to issue money, the credit account's balances shown): batches
// of one, a few and many (pipelined) transfers, plain and between accounts on both
// ledgers, owned by the system and by two clients, without the limit flag (so that
// debits issue money, SetIssuingChecked on), sent by clients holding each kind of grant
// (a read grant over a whole ledger before a transfer grant over another, a trade grant,
// a ranged transfer grant, one over every ledger, two whole-ledger ones), through
// CreateTransfersAs and through createTransfersGeneral (every event by createTransfer).
// Halfway the grant table changes ledgers. The results, the digests and the state the
// digest does not see must be the same, and every client must have transfers both
// created and refused.
func TestWholeLedgerGrantMatchesGeneralPath(t *testing.T) {
	const accountCount = 36
	ledgers := [2]*Ledger{New(Config{HashSeed: 21}), New(Config{HashSeed: 21})}
	timestamp := uint64(1_000 * second)
	creators := []uint64{0, wholeCreatorA, wholeCreatorB}
	for _, l := range ledgers {
		l.SetIssuingChecked(true)
		// The creators may create accounts that can go negative on both ledgers.
		if err := l.SetGrants([]model.Grant{
			{Client: wholeCreatorA, Scopes: model.ScopeTransfer},
			{Client: wholeCreatorB, Scopes: model.ScopeTransfer}}); err != nil {
			t.Fatal(err)
		}
		results := make([]model.EventResult, 1)
		for id := uint64(1); id <= accountCount; id++ {
			account := model.Account{ID: model.U128(id), Ledger: uint32(1 + id%2), Code: 1}
			l.CreateAccountsAs(creators[id%3], timestamp+id, []model.Account{account}, results)
			if results[0].Status != model.StatusOK {
				t.Fatalf("account %d: %s", id, results[0].Status)
			}
		}
		if err := l.SetGrants(wholeLedgerGrants(false)); err != nil {
			t.Fatal(err)
		}
	}
	timestamp += accountCount + 1
	clients := []uint64{wholeCreatorA, wholeCreatorB, wholeReadTransfer, wholeTrade,
		wholeRanged, wholeEveryLedger, wholeTwoLedgers, wholeNone}
	created, refused := map[uint64]int{}, map[uint64]int{}
	random := rand.New(rand.NewPCG(21, 22))
	nextID := uint64(1)
	const steps = 400
	for step := range steps {
		if step == steps/2 {
			for _, l := range ledgers {
				if err := l.SetGrants(wholeLedgerGrants(true)); err != nil {
					t.Fatal(err)
				}
			}
		}
		client := clients[random.IntN(len(clients))]
		balances := random.IntN(2) == 0
		events := make([]model.Transfer, []int{1, 3, 40}[random.IntN(3)])
		for i := range events {
			debit := 1 + random.Uint64N(accountCount)
			credit := 1 + random.Uint64N(accountCount)
			ledger := uint32(1 + debit%2)
			if random.IntN(8) == 0 {
				ledger = 3 - ledger // Not the debit account's: the general path's code.
			}
			events[i] = model.Transfer{ID: model.U128(nextID), DebitAccountID: model.U128(debit),
				CreditAccountID: model.U128(credit), Amount: model.U128(1 + random.Uint64N(500)),
				Ledger: ledger, Code: 1}
			nextID++
		}
		label := fmt.Sprintf("step %d (client %d, %d events)", step, client, len(events))
		var results [2][]model.TransferResult
		for n, l := range ledgers {
			batch := append([]model.Transfer(nil), events...)
			results[n] = make([]model.TransferResult, len(batch))
			if n == 0 {
				l.CreateTransfersAs(client, balances, timestamp, batch, results[n])
			} else {
				l.createTransfersGeneral(client, balances, timestamp, batch, results[n])
			}
		}
		timestamp += uint64(len(events))
		for i := range events {
			if results[0][i] != results[1][i] {
				t.Fatalf("%s: event %d %+v: %+v, general %+v", label, i, events[i],
					results[0][i], results[1][i])
			}
			if results[0][i].Status == model.StatusOK {
				created[client]++
			} else {
				refused[client]++
			}
		}
		if ledgers[0].Digest() != ledgers[1].Digest() {
			t.Fatalf("%s: digests differ", label)
		}
		createdPlainSameState(t, label, ledgers[0], ledgers[1],
			model.U128(1+random.Uint64N(accountCount)))
	}
	for _, client := range clients {
		if created[client] == 0 && client != wholeTrade && client != wholeNone {
			t.Errorf("client %d: no transfer created", client)
		}
		if refused[client] == 0 {
			t.Errorf("client %d: no transfer refused", client)
		}
	}
}
