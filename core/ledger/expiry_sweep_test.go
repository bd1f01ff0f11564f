package ledger

import (
	"bytes"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// sweepResolvedCount is how many pending transfers with a timeout
// TestExpirySweepWorkIsBounded resolves before their deadlines: far more than one sweep
// may expire (ExpiriesPerPulseMax).
const sweepResolvedCount = 100_000

// TestExpirySweepWorkIsBounded measures, as a count of heap items (not time), the work of
// one sweep: Expire, which the machine calls once per log entry. 100,000 pending
// transfers with one timeout, half posted and half voided, then one left pending with a
// later deadline: the one entry past their deadlines pops 1 item, the transfer it
// expires, on the live ledger as on one restored from a snapshot. (Before session 46 a
// post or void left its transfer's item in the heap and the live sweep popped all
// 100,001: work that grew with the transfers limit, 2^27, all in one entry.) Then
// ExpiriesPerPulseMax+5 pending transfers sharing a deadline take two sweeps, the
// first popping exactly ExpiriesPerPulseMax, alike on both ledgers.
func TestExpirySweepWorkIsBounded(t *testing.T) {
	f := newFixture(t)
	batch := make([]model.Transfer, 0, model.EventsPerRequestMax)
	flush := func() {
		for i, result := range f.transfers(batch...) {
			if result.Status != model.StatusOK {
				t.Fatalf("transfer %s: %s", batch[i].ID, result.Status)
			}
		}
		batch = batch[:0]
	}
	for id := uint64(1); id <= sweepResolvedCount; id++ {
		batch = append(batch, pending(id, 1, 2, 1, 1))
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	for id := uint64(1); id <= sweepResolvedCount; id++ {
		if id%2 == 0 {
			batch = append(batch, post(sweepResolvedCount+id, id, model.U128(1)))
		} else {
			batch = append(batch, void(sweepResolvedCount+id, id))
		}
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	batch = append(batch, pending(3*sweepResolvedCount, 1, 2, 7, 1)) // The last deadline.
	flush()

	restore := func() *Ledger {
		var snapshot bytes.Buffer
		if _, err := f.ledger.Snapshot().WriteTo(&snapshot); err != nil {
			t.Fatal(err)
		}
		restored, err := Restore(Config{HashSeed: 7}, bytes.NewReader(snapshot.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		return restored
	}
	sweep := func(restored *Ledger, timestamp uint64, want int) {
		t.Helper()
		for _, ledger := range []struct {
			name   string
			ledger *Ledger
		}{{"live", f.ledger}, {"restored", restored}} {
			items := len(ledger.ledger.expiry.items)
			expired := ledger.ledger.Expire(timestamp, nil)
			if popped := items - len(ledger.ledger.expiry.items); popped != want ||
				expired != want {
				t.Errorf("%s ledger: one sweep popped %d heap items and expired %d, want %d",
					ledger.name, popped, expired, want)
			}
		}
		if f.ledger.Digest() != restored.Digest() {
			t.Error("the live and the restored ledger differ after the sweep")
		}
	}
	restored := restore()
	f.timestamp += 2 * second
	sweep(restored, f.timestamp, 1)

	for id := uint64(1); id <= ExpiriesPerPulseMax+5; id++ {
		batch = append(batch, pending(4*sweepResolvedCount+id, 1, 2, 1, 1))
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	restored = restore()
	f.timestamp += 2 * second
	sweep(restored, f.timestamp, ExpiriesPerPulseMax)
	f.timestamp++
	sweep(restored, f.timestamp, 5)
}

// checkExpiryHeap checks that l's expiry heap holds exactly its active pending transfers
// with a timeout, each under its own deadline, in heap order, each where its recorded
// position says.
func checkExpiryHeap(t heapTest, l *Ledger) {
	t.Helper()
	h := &l.expiry
	scheduled := 0
	for i := uint32(0); i < l.transfers.count; i++ {
		slot, found := h.slotOf(i)
		transfer := l.transfers.at(i)
		want := *l.pending.at(i) == pendingActive && transfer.Timeout != 0
		if found != want {
			t.Fatalf("transfer %d (%s, status %d, timeout %d): in the expiry heap %v",
				i, transfer.ID, *l.pending.at(i), transfer.Timeout, found)
		}
		if !found {
			continue
		}
		scheduled++
		if slot >= len(h.items) || h.items[slot].transfer != i ||
			h.items[slot].deadline != pendingDeadline(transfer) {
			t.Fatalf("transfer %d: position %d does not hold its item", i, slot)
		}
	}
	if scheduled != len(h.items) {
		t.Fatalf("expiry heap holds %d items, %d active timed pending transfers", len(h.items),
			scheduled)
	}
	checkPositions(t, h)
}

// heapTest is what the expiry heap's checks need of a test: *testing.T or *rapid.T.
type heapTest interface {
	Helper()
	Fatalf(format string, args ...any)
}

// TestExpiryHeapInLinkedChains checks that a linked chain changes the expiry heap only
// when it commits: a rolled-back post or void leaves its transfer scheduled (it still
// expires), a committed one takes it out, and a chain that creates and resolves a
// transfer leaves nothing behind.
func TestExpiryHeapInLinkedChains(t *testing.T) {
	linked := func(transfer model.Transfer) model.Transfer {
		transfer.Flags |= model.TransferLinked
		return transfer
	}
	f := newFixture(t)
	f.expect(model.StatusOK, pending(1, 1, 2, 5, 1))
	f.expect(model.StatusOK, pending(2, 1, 2, 5, 1))
	f.expect(model.StatusOK, pending(3, 1, 2, 5, 1))
	checkExpiryHeap(t, f.ledger)

	// Rolled back: the post of 1 and the void of 2 fail with the chain's last event.
	results := f.transfers(linked(post(11, 1, model.Uint128Max)), linked(void(12, 2)),
		transfer(13, 1, 99, 1))
	if results[2].Status != model.StatusCreditAccountNotFound {
		t.Fatalf("chain's last event: %s", results[2].Status)
	}
	if len(f.ledger.expiry.items) != 3 {
		t.Fatalf("%d scheduled after a rolled-back chain, want 3", len(f.ledger.expiry.items))
	}
	checkExpiryHeap(t, f.ledger)

	// Committed: 1 posted, 2 voided; 4 created and posted in the same chain; 5 created.
	results = f.transfers(linked(post(21, 1, model.Uint128Max)), linked(void(22, 2)),
		linked(pending(4, 1, 2, 5, 1)), linked(post(24, 4, model.Uint128Max)),
		pending(5, 1, 2, 5, 1))
	for i, result := range results {
		if result.Status != model.StatusOK {
			t.Fatalf("committed chain event %d: %s", i, result.Status)
		}
	}
	checkExpiryHeap(t, f.ledger)
	if len(f.ledger.expiry.items) != 2 {
		t.Fatalf("%d scheduled after a committed chain, want 2 (3 and 5)",
			len(f.ledger.expiry.items))
	}

	// Rolled back: 6 created, then 3 posted, then a failure.
	f.transfers(linked(pending(6, 1, 2, 5, 1)), linked(post(31, 3, model.Uint128Max)),
		transfer(33, 1, 99, 1))
	checkExpiryHeap(t, f.ledger)

	var expired []uint64
	f.timestamp += 2 * second
	f.ledger.Expire(f.timestamp, func(id model.Uint128) { expired = append(expired, id.Lo) })
	if !slices.Equal(expired, []uint64{3, 5}) {
		t.Fatalf("expired %v, want [3 5]", expired)
	}
	checkExpiryHeap(t, f.ledger)
}

// TestExpiryReplayMatchesRestore replays random runs of timed pending transfers, posts,
// voids (some in linked chains, some failing) and sweeps on one ledger, and the same run
// on a copy restored from a snapshot at random points (restoredCopy), restored again and
// again: after every step both hold the same expiry heap (exactly the active timed
// pending transfers), their sweeps expire the same transfers in the same order, and
// their digests are equal. Some steps create more transfers with one deadline than a
// sweep may expire, so the ExpiriesPerPulseMax bound is reached.
func TestExpiryReplayMatchesRestore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		live := New(Config{HashSeed: 5})
		accounts := make([]model.Account, 4)
		for i := range accounts {
			accounts[i] = model.Account{ID: model.U128(uint64(i + 1)), Ledger: 1, Code: 1}
		}
		timestamp := uint64(1_000 * second)
		live.CreateAccounts(timestamp, accounts, make([]model.EventResult, len(accounts)))
		replica := restoredCopy(t, live, 11)
		nextID := uint64(1)
		var created []uint64 // Ids of the pending transfers created, to post and void.
		results := make([]model.TransferResult, 2*model.EventsPerRequestMax)
		for step := rapid.IntRange(1, 20).Draw(t, "steps"); step > 0; step-- {
			timestamp += rapid.Uint64Range(1, 3*second).Draw(t, "advance")
			var expiredLive, expiredReplica []model.Uint128
			countLive := live.Expire(timestamp, func(id model.Uint128) {
				expiredLive = append(expiredLive, id)
			})
			countReplica := replica.Expire(timestamp, func(id model.Uint128) {
				expiredReplica = append(expiredReplica, id)
			})
			if countLive != countReplica || !slices.Equal(expiredLive, expiredReplica) {
				t.Fatalf("sweep at %d: live expired %v, restored %v", timestamp,
					expiredLive, expiredReplica)
			}
			var events []model.Transfer
			if rapid.IntRange(0, 24).Draw(t, "burst") == 0 {
				// More timed pending transfers with one deadline than one sweep expires.
				for range ExpiriesPerPulseMax + 3 {
					events = append(events, pending(nextID, 1, 2, 1, 1))
					created = append(created, nextID)
					nextID++
				}
			}
			for range rapid.IntRange(0, 12).Draw(t, "events") {
				var event model.Transfer
				switch kind := rapid.IntRange(0, 3).Draw(t, "kind"); {
				case kind == 0 || len(created) == 0:
					debit := rapid.Uint64Range(1, 4).Draw(t, "debit")
					event = pending(nextID, debit, debit%4+1, 1,
						rapid.Uint32Range(0, 3).Draw(t, "timeout"))
					created = append(created, nextID)
				case kind == 1:
					event = post(nextID, rapid.SampledFrom(created).Draw(t, "posted"),
						model.Uint128Max)
				case kind == 2:
					event = void(nextID, rapid.SampledFrom(created).Draw(t, "voided"))
				default: // Fails: rolls its chain back.
					event = transfer(nextID, 1, 99, 1)
				}
				if rapid.IntRange(0, 3).Draw(t, "linked") == 0 {
					event.Flags |= model.TransferLinked
				}
				events = append(events, event)
				nextID++
			}
			for start := 0; start < len(events); start += model.EventsPerRequestMax {
				part := events[start:min(start+model.EventsPerRequestMax, len(events))]
				live.CreateTransfers(timestamp, part, results[:len(part)])
				replica.CreateTransfers(timestamp, part, results[len(part):2*len(part)])
				timestamp += uint64(len(part)) // Each event takes a timestamp of its own.
				for i := range part {
					if results[i] != results[len(part)+i] {
						t.Fatalf("transfer %s: live %+v, restored %+v", part[i].ID,
							results[i], results[len(part)+i])
					}
				}
			}
			checkExpiryHeap(t, live)
			checkExpiryHeap(t, replica)
			if live.Digest() != replica.Digest() {
				t.Fatal("the live and the restored ledger differ")
			}
			if rapid.IntRange(0, 4).Draw(t, "restore") == 0 {
				replica = restoredCopy(t, live, rapid.Uint64().Draw(t, "seed"))
			}
		}
	})
}
