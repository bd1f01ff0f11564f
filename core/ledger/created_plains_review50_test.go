package ledger

import (
	"fmt"
	"reflect"
	"testing"

	"sequent/core/event"
	"sequent/core/model"
)

// Clients of the review50 tests of createdPlains: the accounts' owner, a client with a
// transfer grant over the whole of ledger 1, and one with a transfer grant over ledger
// 1's ids 1..4 only (the owner-table path, not actor.transferLedger's one compare).
const (
	review50Owner  uint64 = 41
	review50Whole  uint64 = 42
	review50Ranged uint64 = 43
)

// review50Pair is two ledgers built alike, one applying batches through CreateTransfersAs
// (createdPlains' runs), the other through createTransfersGeneral (every event by
// createTransfer), with their event buffers.
type review50Pair struct {
	t                *testing.T
	fast, general    *Ledger
	fastEv, generalE event.Buffer
	timestamp        uint64
}

// newReview50Pair returns a pair with accounts 1..8 on ledger 1 and 9..12 on ledger 2,
// without flags (their plain transfers take createdPlains), owned by review50Owner, and
// both id tables at their minimum size (no capacity): the transfer table is prepared
// from 384 transfers and grows at 512.
func newReview50Pair(t *testing.T) *review50Pair {
	p := &review50Pair{t: t, fast: New(Config{HashSeed: 50}), general: New(Config{HashSeed: 50}),
		timestamp: 1_000 * second}
	p.fast.SetEvents(&p.fastEv)
	p.general.SetEvents(&p.generalE)
	for _, l := range []*Ledger{p.fast, p.general} {
		if err := l.SetGrants([]model.Grant{
			{Client: review50Owner, Scopes: model.ScopeTransfer},
			{Client: review50Whole, Scopes: model.ScopeTransfer, Ledger: 1},
			{Client: review50Ranged, Scopes: model.ScopeTransfer, Ledger: 1,
				First: model.U128(1), Last: model.U128(4)}}); err != nil {
			t.Fatal(err)
		}
		accounts := make([]model.Account, 12)
		for i := range accounts {
			accounts[i] = model.Account{ID: model.U128(uint64(i) + 1), Ledger: 1 + uint32(i/8),
				Code: 1}
		}
		results := make([]model.EventResult, len(accounts))
		l.CreateAccountsAs(review50Owner, p.timestamp, accounts, results)
		for i := range results {
			if results[i].Status != model.StatusOK {
				t.Fatalf("account %d: %s", i+1, results[i].Status)
			}
		}
	}
	p.timestamp += 100
	return p
}

// apply runs a batch on both ledgers and requires the same results, events, digests and
// the state the digest does not see (createdPlainSameState: id tables slot for slot,
// links, pending states, totals); every result but exists (the stored transfer's) must
// carry its event's timestamp. It
// returns the fast ledger's results.
func (p *review50Pair) apply(label string, client uint64, balances bool,
	events []model.Transfer) []model.TransferResult {
	p.t.Helper()
	fastEvents := append([]model.Transfer(nil), events...)
	generalEvents := append([]model.Transfer(nil), events...)
	fastResults := make([]model.TransferResult, len(events))
	generalResults := make([]model.TransferResult, len(events))
	poisonResults(fastResults)
	poisonResults(generalResults)
	p.fastEv.Reset()
	p.generalE.Reset()
	p.fast.CreateTransfersAs(client, balances, p.timestamp, fastEvents, fastResults)
	p.general.createTransfersGeneral(client, balances, p.timestamp, generalEvents,
		generalResults)
	for i := range fastResults {
		if fastResults[i] != generalResults[i] {
			p.t.Fatalf("%s: event %d %+v: %+v, general path %+v", label, i, events[i],
				fastResults[i], generalResults[i])
		}
		if fastResults[i].Status != model.StatusExists &&
			fastResults[i].Timestamp != p.timestamp+uint64(i) {
			p.t.Fatalf("%s: event %d: timestamp %d, want %d", label, i,
				fastResults[i].Timestamp, p.timestamp+uint64(i))
		}
	}
	if !reflect.DeepEqual(p.fastEv.Events, p.generalE.Events) {
		p.t.Fatalf("%s: other events than the general path's", label)
	}
	if p.fast.Digest() != p.general.Digest() {
		p.t.Fatalf("%s: the digests differ", label)
	}
	createdPlainSameState(p.t, label, p.fast, p.general, model.U128(1))
	p.timestamp += uint64(len(events)) + 1
	return fastResults
}

// review50Plain is a plain transfer on ledger 1 between accounts debit and credit.
func review50Plain(id, debit, credit uint64) model.Transfer {
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(1 + id%7), Ledger: 1, Code: 1}
}

// TestReview50CreatedPlainsRunAcrossTableGrowth (review of perf50, claim checked fine)
// holds a run of plain transfers that createdPlains creates in one call to the general
// path while the transfer table starts preparing its next table in the middle of that
// run: createdPlains must test transferIndex.prepared() before every event of its run
// (appendTransfer inserts without prepareInsert, which createTransfer calls for every
// event), not once per call. With the tables at their minimum size the next table is
// allocated at 384 transfers, at the start of a pipeline block (16 events) for batches
// of plain transfers alone, where a test made once per call still holds; so each case
// first creates offset transfers, then a batch that ends two events after the 384th
// transfer, in the same block: the id tables (the next table allocated or not) must
// match the general path's slot for slot (createdPlainSameState). A third batch takes
// the table through its growth (512) and migration. Sent by the system, the owner, a
// whole-ledger grantee and a ranged grantee (debits of accounts 1..4).
//
// Checked: with prepared() tested only for the first event of each call (i == start),
// this test fails (the id tables differ after the second batch), where the whole ledger
// suite (TestCreatedPlainMatchesGeneralPath included) passed.
func TestReview50CreatedPlainsRunAcrossTableGrowth(t *testing.T) {
	clients := []uint64{0, review50Owner, review50Whole, review50Ranged}
	for _, offset := range []int{3, 5, 11, 14} { // 384-offset is not a block's last.
		for _, client := range clients {
			t.Run(fmt.Sprintf("offset=%d/client=%d", offset, client), func(t *testing.T) {
				p := newReview50Pair(t)
				debits := uint64(8)
				if client == review50Ranged {
					debits = 4
				}
				id := uint64(1)
				batch := func(count int) []model.Transfer {
					events := make([]model.Transfer, count)
					for i := range events {
						debit := 1 + id%debits
						events[i] = review50Plain(id, debit, 1+(debit+id/8)%8)
						if events[i].DebitAccountID == events[i].CreditAccountID {
							events[i].CreditAccountID = model.U128(9 - debit)
						}
						if id%5 == 0 {
							events[i].Flags = model.TransferPending
						}
						id++
					}
					return events
				}
				p.apply("offset", client, true, batch(offset))
				if (384-offset)%pipelineBlockEvents == pipelineBlockEvents-1 {
					t.Fatal("the 384th transfer is its block's last: the case is missed")
				}
				p.apply("prepared", client, true, batch(384-offset+2))
				if p.fast.transferIndex.next == nil {
					t.Fatal("the transfer table is not preparing: the case is missed")
				}
				results := p.apply("grown", client, client != review50Ranged, batch(400))
				for i := range results {
					if results[i].Status != model.StatusOK {
						t.Fatalf("event %d: %s, want ok", i, results[i].Status)
					}
				}
				table := &p.fast.transferIndex
				if len(table.slots) <= idTableSlotsMin {
					t.Fatalf("the transfer table did not grow (%d slots)", len(table.slots))
				}
				if used := uint64(table.count + table.tombstones); used >
					uint64(len(table.slots))*idTableLoadMax/256 {
					t.Fatalf("the transfer table holds %d keys in %d slots", used,
						len(table.slots))
				}
			})
		}
	}
}

// TestReview50CreatedPlainsBoundaries (review of perf50, claim checked fine) holds the
// places where createdPlains' run stops and applyTransfers' general path takes over to
// the general path, with their statuses (for the system) and timestamps: an id
// repeated within the batch after its transfer was created (exists), plain events after
// a declined one, a chain (linked, linked, its last event plain: the general path), a
// debit account not found, the same event twice in a row, an event on ledger 2, equal
// accounts, and a last event linked (chain open). The batch is sent alone (15 events:
// resolveShort), padded with plain events to 40 (the pipeline: the run crosses its
// 16-event blocks), and as its one-event batches, by each kind of client.
func TestReview50CreatedPlainsBoundaries(t *testing.T) {
	want := []model.Status{model.StatusOK, model.StatusOK, model.StatusExists,
		model.StatusOK, model.StatusOK, model.StatusOK, model.StatusOK, model.StatusOK,
		model.StatusDebitAccountNotFound, model.StatusOK, model.StatusExists, model.StatusOK,
		model.StatusAccountsMustBeDifferent, model.StatusOK, model.StatusLinkedEventChainOpen}
	clients := []uint64{0, review50Owner, review50Whole, review50Ranged}
	for _, client := range clients {
		t.Run(fmt.Sprintf("client=%d", client), func(t *testing.T) {
			p := newReview50Pair(t)
			base := uint64(1_000)
			boundaries := func() []model.Transfer {
				events := []model.Transfer{
					review50Plain(base, 1, 2),
					review50Plain(base+1, 2, 3),
					review50Plain(base, 1, 2), // Created above: exists.
					review50Plain(base+2, 3, 4),
					review50Plain(base+3, 4, 5),
					review50Plain(base+4, 1, 6),
					review50Plain(base+5, 2, 7), // The chain's last event.
					review50Plain(base+6, 3, 8),
					review50Plain(base+7, 99, 8), // Debit account not found.
					review50Plain(base+8, 4, 1),
					review50Plain(base+8, 4, 1), // The same event again: exists.
					review50Plain(base+9, 9, 10),
					review50Plain(base+10, 2, 2), // Accounts must be different.
					review50Plain(base+11, 1, 3),
					review50Plain(base+12, 2, 4), // Linked, last: chain open.
				}
				events[1].Flags = model.TransferPending
				events[4].Flags = model.TransferLinked
				events[5].Flags = model.TransferLinked
				events[11].Ledger = 2
				events[14].Flags = model.TransferLinked
				base += 100
				return events
			}
			results := p.apply("alone", client, true, boundaries())
			if client == 0 {
				for i := range want {
					if results[i].Status != want[i] {
						t.Fatalf("event %d: %s, want %s", i, results[i].Status, want[i])
					}
				}
			}
			padded := boundaries()
			for len(padded) < 40 {
				padded = append(padded, review50Plain(base+uint64(len(padded)),
					1+uint64(len(padded))%4, 5))
			}
			p.apply("padded", client, false, padded)
			for i, e := range boundaries() {
				p.apply(fmt.Sprintf("one %d", i), client, i%2 == 0, []model.Transfer{e})
			}
			p.apply("empty", client, true, nil)
		})
	}
}
