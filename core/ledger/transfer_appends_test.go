package ledger

import (
	"bytes"
	"slices"
	"testing"

	"sequent/core/model"
)

// TestTransferAppendsAcrossChunks: a transfer appends to three arrays at once
// (appendTransfer: records, links, pending statuses), falling back to each array's
// push where the first chunk grows and where a new chunk is taken. Across those places,
// and after a failed chain popped its transfers there, the three counts stay equal and
// each transfer's link and status are its own: an account whose transfers lie on every
// such boundary lists exactly them, newest first, and its pending transfers there can be
// posted and then not posted again, while the single-phase transfers stored where a
// failed chain's pending ones were undone cannot be, and a snapshot of it all restores.
func TestTransferAppendsAcrossChunks(t *testing.T) {
	// The fixture's ledger has no capacity: the first chunk starts at
	// chunkRecordCountFirst. Accounts 7 and 8 take only the watched transfers.
	f := newFixture(t)
	f.accounts(model.StatusOK, model.Account{ID: model.U128(7), Ledger: 1, Code: 1},
		model.Account{ID: model.U128(8), Ledger: 1, Code: 1})
	l := f.ledger
	// Indexes where an append crosses from one chunk size or chunk to the next.
	boundaries := []uint64{chunkRecordCountFirst - 1, chunkRecordCountFirst,
		2*chunkRecordCountFirst - 1, 2 * chunkRecordCountFirst, chunkRecordCount - 1,
		chunkRecordCount, chunkRecordCount + 1}
	total := uint64(chunkRecordCount + 50)
	// The watched account 7 pays account 8 at each boundary: pending, but for two
	// single-phase ones, so that both kinds lie at even and at odd indexes.
	var watched []model.Uint128
	pendingAt := map[uint64]bool{}
	for i, index := range boundaries {
		pendingAt[index] = i != 2 && i != 5
	}
	apply := func(events []model.Transfer, want model.Status) {
		t.Helper()
		results := f.transfers(events...)
		for i := range results {
			if results[i].Status != want && (want == model.StatusOK ||
				results[i].Status != model.StatusLinkedEventFailed) {
				t.Fatalf("transfer %d of %d: %s, want %s", i, len(events), results[i].Status, want)
			}
		}
	}
	created := uint64(0)
	failedChainDone := false
	for created < total {
		if !failedChainDone && created >= chunkRecordCount-8 {
			// A chain of pending transfers across the chunk boundary whose last event
			// fails: all of it undone, and the single-phase transfers then stored at the
			// same indexes must not be pending.
			chain := make([]model.Transfer, 16)
			for i := range chain {
				chain[i] = transfer(1_000_000+uint64(i), 1, 2, 1)
				chain[i].Flags = model.TransferLinked | model.TransferPending
			}
			chain[len(chain)-1] = transfer(1_000_100, 1, 99, 1) // Credit account missing.
			apply(chain, model.StatusCreditAccountNotFound)
			if l.transfers.count != uint32(created) {
				t.Fatalf("after the failed chain %d transfers, want %d", l.transfers.count, created)
			}
			failedChainDone = true
		}
		batch := min(total-created, pipelineBlockEvents*7+3)
		if !failedChainDone {
			batch = min(batch, chunkRecordCount-8-created)
			batch = max(batch, 1)
		}
		events := make([]model.Transfer, batch)
		for i := range events {
			index := created + uint64(i)
			events[i] = transfer(index+1, 1, 2, 1)
			if pending, ok := pendingAt[index]; ok {
				events[i] = transfer(index+1, 7, 8, 1)
				if pending {
					events[i].Flags = model.TransferPending
				}
				watched = append(watched, events[i].ID)
			}
		}
		apply(events, model.StatusOK)
		created += batch
	}
	if count := l.transfers.count; uint64(count) != total || l.transferLinks.count != count ||
		l.pending.count != count {
		t.Fatalf("counts: transfers %d, links %d, statuses %d, want %d", count,
			l.transferLinks.count, l.pending.count, total)
	}
	listed := make([]model.Transfer, 0, 16)
	listed, status := l.GetAccountTransfers(&model.AccountFilter{AccountID: model.U128(7),
		Limit: 16, Flags: model.FilterDebits | model.FilterCredits | model.FilterReversed},
		listed)
	if status != model.StatusOK {
		t.Fatalf("account transfers: %s", status)
	}
	ids := make([]model.Uint128, len(listed))
	for i := range listed {
		ids[i] = listed[i].ID
	}
	slices.Reverse(watched)
	if !slices.Equal(ids, watched) {
		t.Fatalf("account 7 lists %v, want %v", ids, watched)
	}
	for index := uint64(chunkRecordCount - 8); index < chunkRecordCount+8; index++ {
		if _, ok := pendingAt[index]; ok {
			continue
		}
		posted := model.Transfer{ID: model.U128(4_000_000 + index),
			PendingID: model.U128(index + 1), Flags: model.TransferPostPending}
		apply([]model.Transfer{posted}, model.StatusPendingTransferNotPending)
	}
	// A snapshot carries every transfer's status; restore refuses one that disagrees
	// with the transfer's flags (a stale status left where a pending transfer was undone).
	var encoded bytes.Buffer
	if _, err := l.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(Config{}, bytes.NewReader(encoded.Bytes())); err != nil {
		t.Fatalf("restore: %v", err)
	}
	for i, index := range boundaries {
		if !pendingAt[index] {
			continue
		}
		posted := model.Transfer{ID: model.U128(2_000_000 + uint64(i)),
			PendingID: model.U128(index + 1), Amount: model.Uint128Max,
			Flags: model.TransferPostPending}
		apply([]model.Transfer{posted}, model.StatusOK)
		again := posted
		again.ID = model.U128(3_000_000 + uint64(i))
		apply([]model.Transfer{again}, model.StatusPendingTransferAlreadyPosted)
	}
}
