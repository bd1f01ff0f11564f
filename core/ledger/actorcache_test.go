package ledger

import (
	"math/rand/v2"
	"slices"
	"testing"

	"sequent/core/model"
)

// resolveActorUncached is what actAs resolves for a client, from the maps alone (the
// reference of the actor cache).
func resolveActorUncached(l *Ledger, client uint64) actor {
	if client == 0 {
		return actor{owner: 0, all: true}
	}
	span := l.own.grantSpans[client]
	owner, ok := l.own.indexOf[client]
	if !ok {
		owner = ownerNone
	}
	grants := l.own.grants[span.start:span.end]
	// The first grant with the transfer scope over one whole ledger, spelled out.
	var transferLedger uint32
	for _, g := range grants {
		if g.Scopes&(model.ScopeTransfer|model.ScopeOperator) != 0 && g.Ledger != 0 &&
			g.First == (model.Uint128{}) && g.Last == (model.Uint128{}) {
			transferLedger = g.Ledger
			break
		}
	}
	return actor{client: client, owner: owner, transferLedger: transferLedger,
		all: span.operator, grants: grants}
}

func sameActor(a, b *actor) bool {
	return a.client == b.client && a.owner == b.owner && a.all == b.all &&
		a.transferLedger == b.transferLedger && slices.Equal(a.grants, b.grants)
}

// TestActorCacheMatchesMaps interleaves actAs for clients that share cache slots with
// what changes an actor: grant tables put in force, and accounts created by clients that
// owned none (which gives them an owner index). After each actAs the actor must be the
// one the maps say.
func TestActorCacheMatchesMaps(t *testing.T) {
	l := New(Config{HashSeed: 3})
	// Twice as many clients as slots, so that slots are shared and entries replaced.
	clients := make([]uint64, 2*actorSlots)
	for i := range clients {
		clients[i] = uint64(i+1) * 1_000_003
	}
	random := rand.New(rand.NewPCG(7, 8))
	nextAccount := uint64(1)
	check := func(step int, client uint64) {
		t.Helper()
		want := resolveActorUncached(l, client)
		if !sameActor(&l.actor, &want) {
			t.Fatalf("step %d client %d: actor %+v, want %+v", step, client, l.actor, want)
		}
	}
	for step := range 20_000 {
		client := clients[random.IntN(len(clients))]
		switch random.IntN(20) {
		case 0: // A new grant table: a few clients with grants, some operators.
			// Scopes with and without transfer, on one ledger or every ledger, over whole
			// ledgers or ranges of ids: what the actor's whole-ledger transfer grant
			// (transferLedger) is derived from.
			scopes := []model.Scope{model.ScopeTransfer, model.ScopeRead, model.ScopeTrade,
				model.ScopeRead | model.ScopeTransfer}
			var grants []model.Grant
			for range random.IntN(6) {
				grant := model.Grant{Client: clients[random.IntN(len(clients))],
					Scopes: scopes[random.IntN(len(scopes))], Ledger: uint32(random.IntN(4))}
				if random.IntN(4) == 0 {
					grant.First, grant.Last = model.U128(1), model.U128(uint64(1+random.IntN(9)))
				}
				if random.IntN(3) == 0 {
					grant = model.Grant{Client: grant.Client, Scopes: model.ScopeOperator}
				}
				grants = append(grants, grant)
			}
			if err := l.SetGrants(grants); err != nil {
				t.Fatal(err)
			}
		case 1, 2: // An account created by the client (its first gives it an owner index).
			results := make([]model.EventResult, 1)
			l.CreateAccountsAs(client, uint64(step+1)*1_000, []model.Account{{
				ID: model.U128(nextAccount), Ledger: 1, Code: 1,
				Flags: model.AccountDebitsMustNotExceedCredits}}, results)
			nextAccount++
			if results[0].Status != model.StatusOK {
				t.Fatalf("step %d: account: %s", step, results[0].Status)
			}
			check(step, client)
		}
		l.actAs(client)
		check(step, client)
	}
}

// TestActorCacheSeesNewGrants: a client resolved without grants and then given one by a
// new grant table may use it at once (the cache is cleared by SetGrants).
func TestActorCacheSeesNewGrants(t *testing.T) {
	f := ownershipFixture(t)
	const dave uint64 = 15
	f.as(dave, model.StatusDebitAccountNotOwned, transfer(300, 1, 3, 5)) // Caches dave.
	err := f.ledger.SetGrants([]model.Grant{{Client: dave, Scopes: model.ScopeTransfer,
		First: model.U128(1), Last: model.U128(1)}})
	if err != nil {
		t.Fatal(err)
	}
	f.as(dave, model.StatusOK, transfer(301, 1, 3, 5))
	// And loses it with the next table.
	if err := f.ledger.SetGrants(nil); err != nil {
		t.Fatal(err)
	}
	f.as(dave, model.StatusDebitAccountNotOwned, transfer(302, 1, 3, 5))
}

// TestActorCacheSeesNewOwner: a client resolved while it owned no account, which then
// creates one, owns it in its next batch (the cached actor without an owner index is
// dropped when the client gets one).
func TestActorCacheSeesNewOwner(t *testing.T) {
	f := ownershipFixture(t)
	const erin uint64 = 16
	f.as(erin, model.StatusDebitAccountNotOwned, transfer(310, 1, 3, 5)) // Caches erin.
	results := make([]model.EventResult, 1)
	f.ledger.CreateAccountsAs(erin, f.timestamp, []model.Account{{ID: model.U128(20),
		Ledger: 1, Code: 1, Flags: model.AccountDebitsMustNotExceedCredits}}, results)
	f.timestamp++
	if results[0].Status != model.StatusOK {
		t.Fatalf("account: %s", results[0].Status)
	}
	f.as(0, model.StatusOK, transfer(311, 9, 20, 50)) // Fund it.
	f.as(erin, model.StatusOK, transfer(312, 20, 3, 5))
}

// TestActorCacheAcrossRolledBackChain: a client resolved while it owned nothing whose
// first account is created inside a linked chain that fails gets an owner index that
// outlives the undo (the dictionary only grows); the cached actor without it must be
// dropped then, not when the client next creates an account (which finds the index
// already there), or the client could not move its own account. A second client that
// shares the first one's cache slot must never be served the first one's actor.
func TestActorCacheAcrossRolledBackChain(t *testing.T) {
	f := ownershipFixture(t)
	const frank uint64 = 17
	// grace: another client in frank's slot (the tag check tells them apart).
	grace := frank + 1
	for actorSlot(grace) != actorSlot(frank) || grace == alice || grace == bob ||
		grace == carol || grace == olivia {
		grace++
	}
	limited := model.AccountDebitsMustNotExceedCredits
	create := func(client uint64, want []model.Status, accounts ...model.Account) {
		t.Helper()
		results := make([]model.EventResult, len(accounts))
		f.ledger.CreateAccountsAs(client, f.timestamp, accounts, results)
		f.timestamp += uint64(len(accounts))
		for i := range results {
			if results[i].Status != want[i] {
				t.Fatalf("client %d account %s: %s, want %s", client, accounts[i].ID,
					results[i].Status, want[i])
			}
		}
		f.ledger.actAs(client)
		if reference := resolveActorUncached(f.ledger, client); !sameActor(&f.ledger.actor,
			&reference) {
			t.Fatalf("client %d: actor %+v, want %+v", client, f.ledger.actor, reference)
		}
	}
	f.as(frank, model.StatusDebitAccountNotOwned, transfer(320, 1, 3, 5)) // Caches frank.
	// The chain's second account is invalid (ledger 0): the first is created, then undone.
	create(frank, []model.Status{model.StatusLinkedEventFailed, model.StatusLedgerMustNotBeZero},
		model.Account{ID: model.U128(30), Ledger: 1, Code: 1, Flags: limited | model.AccountLinked},
		model.Account{ID: model.U128(31), Ledger: 0, Code: 1, Flags: limited})
	if _, found := f.ledger.Owner(model.U128(30)); found {
		t.Fatal("account 30 of the failed chain exists")
	}
	f.as(grace, model.StatusDebitAccountNotOwned, transfer(321, 1, 3, 5)) // Takes the slot.
	f.as(frank, model.StatusDebitAccountNotOwned, transfer(322, 1, 3, 5)) // And back.
	create(frank, []model.Status{model.StatusOK},
		model.Account{ID: model.U128(30), Ledger: 1, Code: 1, Flags: limited})
	f.as(0, model.StatusOK, transfer(323, 9, 30, 50)) // Fund it.
	f.as(frank, model.StatusOK, transfer(324, 30, 3, 5))
	f.as(grace, model.StatusDebitAccountNotOwned, transfer(325, 30, 3, 5))
	f.as(frank, model.StatusOK, transfer(326, 30, 3, 5))
}
