package ledger

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// le46IDs is the transfer-id model of TestTransferIDsOnceUnderUndoGrowthAndRestore: the
// ids stored (with the amount each was stored with, and whether it was linked) and those
// of undone chains.
type le46IDs struct {
	stored map[model.Uint128]le46Stored
	undone []model.Uint128
}

// le46Stored is what a retry of a stored transfer needs to know of it.
type le46Stored struct {
	amount uint64
	linked bool
}

// TestTransferIDsOnceUnderUndoGrowthAndRestore drives a ledger whose transfer table starts
// at its smallest size (so it grows, and migrates, many times) with batches mixing new
// ids (sequential, sharing lines of slots; random; differing from a stored id in one
// word only), retries of stored ids, ids of undone chains sent again, and linked chains
// of new ids of which a third fail at their last event and are undone; now and then the
// ledger is replaced by its restored snapshot. Against a map of the ids stored: a stored
// id's retry must answer exists (never be stored twice, however far along its probe run
// it sits and whatever its home slot holds), every new id must be stored, an undone
// chain's ids must be free again, and the count and lookups must agree.
func TestTransferIDsOnceUnderUndoGrowthAndRestore(t *testing.T) {
	for _, seed := range []uint64{1, 46, 0xbeef} {
		random := rand.New(rand.NewPCG(seed, 46))
		l := New(Config{HashSeed: seed})
		accountResults := make([]model.EventResult, 2)
		l.CreateAccounts(1, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
			{ID: model.U128(2), Ledger: 1, Code: 1}}, accountResults)
		m := le46IDs{stored: map[model.Uint128]le46Stored{}}
		timestamp, sequential := uint64(1_000), uint64(1)
		migrations, restores, undoneChains, retries, undoneResent := 0, 0, 0, 0, 0
		newID := func() model.Uint128 {
			for {
				var id model.Uint128
				switch random.IntN(4) {
				case 0:
					id = model.Uint128{Lo: random.Uint64(), Hi: random.Uint64() >> 2}
				case 1:
					if len(m.stored) > 0 && len(m.undone) > 0 {
						// One word of a stored or undone id changed (same other word).
						base := m.undone[random.IntN(len(m.undone))]
						if random.IntN(2) == 0 {
							id = model.Uint128{Lo: base.Lo, Hi: base.Hi ^ 1<<random.IntN(62)}
						} else {
							id = model.Uint128{Lo: base.Lo ^ 1<<random.IntN(64), Hi: base.Hi}
						}
						break
					}
					fallthrough
				default:
					id = model.U128(sequential)
					sequential++
				}
				if _, stored := m.stored[id]; !stored && !id.IsZero() && !id.IsMax() {
					return id
				}
			}
		}
		for batch := 0; l.TransferCount() < 30_000; batch++ {
			var events []model.Transfer
			var want []model.Status
			pendingIDs := map[model.Uint128]le46Stored{} // Stored by this batch so far.
			storedNow := func(id model.Uint128) (le46Stored, bool) {
				if stored, found := pendingIDs[id]; found {
					return stored, true
				}
				stored, found := m.stored[id]
				return stored, found
			}
			var undoneNow []model.Uint128
			for len(events) < 1+random.IntN(200) {
				switch kind := random.IntN(10); {
				case kind < 3 && len(m.stored) > 0: // Retry of a stored id.
					var id model.Uint128
					for stored := range m.stored { // Map order: a random one.
						id = stored
						break
					}
					stored, _ := storedNow(id)
					events = append(events, model.Transfer{ID: id, DebitAccountID: model.U128(1),
						CreditAccountID: model.U128(2), Amount: model.U128(stored.amount), Ledger: 1,
						Code: 1})
					if stored.linked { // Sent alone: without the flag.
						want = append(want, model.StatusExistsWithDifferentFlags)
					} else {
						want = append(want, model.StatusExists)
					}
					retries++
				case kind < 5 && len(m.undone) > 0: // An undone chain's id sent again, alone.
					index := random.IntN(len(m.undone))
					id := m.undone[index]
					m.undone[index] = m.undone[len(m.undone)-1]
					m.undone = m.undone[:len(m.undone)-1]
					if _, found := storedNow(id); found {
						continue
					}
					amount := uint64(1 + random.IntN(9))
					events = append(events, model.Transfer{ID: id, DebitAccountID: model.U128(1),
						CreditAccountID: model.U128(2), Amount: model.U128(amount), Ledger: 1, Code: 1})
					want = append(want, model.StatusOK)
					pendingIDs[id] = le46Stored{amount: amount}
					undoneResent++
				default: // A linked chain of new ids (a single event when one long).
					length := 1 + random.IntN(12)
					fails := length > 1 && random.IntN(3) == 0
					chain := make([]model.Transfer, length)
					ids := make([]model.Uint128, length)
					for i := range chain {
						for {
							ids[i] = newID()
							if _, found := pendingIDs[ids[i]]; !found {
								break
							}
						}
						chain[i] = model.Transfer{ID: ids[i], DebitAccountID: model.U128(1),
							CreditAccountID: model.U128(2), Amount: model.U128(uint64(1 + i)),
							Ledger: 1, Code: 1, Flags: model.TransferLinked}
						pendingIDs[ids[i]] = le46Stored{amount: uint64(1 + i), linked: i < length-1}
					}
					chain[length-1].Flags = 0
					if fails {
						chain[length-1].CreditAccountID = model.U128(1)
						for i := range chain {
							delete(pendingIDs, ids[i])
							want = append(want, model.StatusLinkedEventFailed)
						}
						want[len(want)-1] = model.StatusAccountsMustBeDifferent
						undoneNow = append(undoneNow, ids[:length-1]...)
						undoneChains++
					} else {
						for range chain {
							want = append(want, model.StatusOK)
						}
					}
					events = append(events, chain...)
				}
			}
			results := make([]model.TransferResult, len(events))
			l.CreateTransfers(timestamp, events, results)
			timestamp += uint64(len(events))
			for i, r := range results {
				if r.Status != want[i] {
					t.Fatalf("seed %d, batch %d, event %d (id %s, of %d): %s, want %s (table of "+
						"%d slots, growing %v)", seed, batch, i, events[i].ID, len(events), r.Status,
						want[i], len(l.transferIndex.slots), l.transferIndex.old != nil)
				}
			}
			for id, stored := range pendingIDs {
				m.stored[id] = stored
			}
			// The failed chain's last id failed for a permanent reason: never remembered,
			// so it is free too; the others were undone.
			m.undone = append(m.undone, undoneNow...)
			if l.transferIndex.old != nil {
				migrations++
			}
			if uint32(len(m.stored)) != l.TransferCount() {
				t.Fatalf("seed %d, batch %d: %d transfers stored, model %d", seed, batch,
					l.TransferCount(), len(m.stored))
			}
			if batch%97 == 0 {
				for id, stored := range m.stored {
					if index, found := l.findTransfer(id); !found ||
						l.transfers.at(index).Amount != model.U128(stored.amount) {
						t.Fatalf("seed %d, batch %d: stored id %s found %v", seed, batch, id, found)
					}
				}
				for _, id := range m.undone {
					if _, stored := m.stored[id]; stored {
						continue // Sent again since (as a new id of a later chain).
					}
					if _, found := l.findTransfer(id); found {
						t.Fatalf("seed %d, batch %d: undone id %s found", seed, batch, id)
					}
				}
			}
			if batch%53 == 52 {
				var encoded bytes.Buffer
				if _, err := l.Snapshot().WriteTo(&encoded); err != nil {
					t.Fatal(err)
				}
				restored, err := Restore(Config{HashSeed: seed + uint64(batch)},
					bytes.NewReader(encoded.Bytes()))
				if err != nil {
					t.Fatalf("restore: %v", err)
				}
				if restored.Digest() != l.Digest() {
					t.Fatalf("seed %d, batch %d: the restored ledger's digest differs", seed, batch)
				}
				l = restored
				restores++
			}
		}
		if migrations == 0 || restores == 0 || undoneChains == 0 || retries == 0 ||
			undoneResent == 0 {
			t.Fatalf("seed %d: %d batches during migrations, %d restores, %d undone chains, "+
				"%d retries, %d undone ids resent: a case was never reached", seed, migrations,
				restores, undoneChains, retries, undoneResent)
		}
	}
}
