package reconcile

import (
	"context"
	"fmt"

	"sequent/core/model"
	"sequent/tools/clearing"
)

// What our transfers are matched by.
const (
	MatchByUserData128 = "user_data_128" // The partner's reference, stored by whoever booked it.
	MatchByUserData64  = "user_data_64"
	MatchByID          = "id" // Sequent's transfer id, which the partner echoes back.
)

// oursSource reads the reconciled account's transfers in the window into a sorter, as
// entries ordered by (reference, payment, time): a pending transfer's post or void comes
// right after it, under the same reference, so the merge folds them into one payment.
type oursSource struct {
	reader  clearing.Reader
	account model.Uint128
	window  clearing.Window
	cutoff  uint64 // Pending transfers whose deadline is at or before it have expired.
	matchBy string
}

// oursCounts says what was read.
type oursCounts struct {
	records     int // Transfer records of the account in the window.
	resolutions int // Posts and voids among them.
}

// read pages the account's transfers into sorted (by byKey).
func (o *oursSource) read(ctx context.Context, sorted *sorter) (oursCounts, error) {
	var counts oursCounts
	var e entry
	err := clearing.ForEachTransfer(ctx, o.reader, o.account, o.window,
		func(page []model.Transfer) error {
			pendingKeys, err := o.pendingKeys(ctx, page)
			if err != nil {
				return err
			}
			for i := range page {
				counts.records++
				if o.entryOf(&page[i], pendingKeys, &e) {
					counts.resolutions++
				}
				if err := sorted.add(&e); err != nil {
					return err
				}
			}
			return nil
		})
	return counts, err
}

// entryOf fills e from a transfer and reports whether it is a post or a void.
func (o *oursSource) entryOf(t *model.Transfer, pendingKeys map[model.Uint128]model.Uint128,
	e *entry) bool {
	*e = entry{order: t.Timestamp, amount: t.Amount, origin: t.ID, ledger: t.Ledger,
		side: sideDebit, kind: kindSingle}
	if t.CreditAccountID == o.account {
		e.side = sideCredit
	}
	resolution := false
	switch {
	case t.Flags&model.TransferPending != 0:
		e.kind = kindPending
		if clearing.ExpiredBy(t, o.cutoff) {
			e.kind = kindPendingExpired
		}
	case t.Flags&model.TransferPostPending != 0:
		e.kind, e.origin, resolution = kindPost, t.PendingID, true
	case t.Flags&model.TransferVoidPending != 0:
		e.kind, e.origin, resolution = kindVoid, t.PendingID, true
	}
	switch {
	case o.matchBy == MatchByID:
		e.key = e.origin
	case resolution:
		e.key = pendingKeys[t.PendingID] // The payment's reference is its pending transfer's.
	default:
		e.key = o.keyOf(t)
	}
	return resolution
}

func (o *oursSource) keyOf(t *model.Transfer) model.Uint128 {
	if o.matchBy == MatchByUserData64 {
		return model.U128(t.UserData64)
	}
	return t.UserData128
}

// pendingKeys looks up the pending transfers that the page's posts and voids resolve and
// returns their references: a post may carry user data of its own, but the payment is the
// pending transfer's. One lookup per page that has any (never with MatchByID, where the
// reference is the pending id itself).
func (o *oursSource) pendingKeys(ctx context.Context, page []model.Transfer) (
	map[model.Uint128]model.Uint128, error) {
	if o.matchBy == MatchByID {
		return nil, nil
	}
	var ids []model.Uint128
	for i := range page {
		if page[i].Flags&(model.TransferPostPending|model.TransferVoidPending) != 0 {
			ids = append(ids, page[i].PendingID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	found, err := o.reader.LookupTransfers(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("reconcile: looking up pending transfers: %w", err)
	}
	keys := make(map[model.Uint128]model.Uint128, len(found))
	for i := range found {
		keys[found[i].ID] = o.keyOf(&found[i])
	}
	return keys, nil
}

// payment is one of our payments after folding: the transfer that made it and its
// outcome at the cut-off.
type payment struct {
	entry       // The originating transfer, with status and the amount that counts.
	orphan bool // A post or void of a pending transfer made before the window.
}

// fold turns one reference's records (sorted by payment, then time) into payments: a
// single-phase transfer is posted; a pending transfer is posted (for the amount its post
// posted), voided, still pending, or expired.
func fold(records []entry, payments []payment) []payment {
	for i := 0; i < len(records); {
		first := records[i]
		j := i + 1
		for j < len(records) && records[j].origin == first.origin {
			j++
		}
		p := payment{entry: first}
		switch first.kind {
		case kindSingle:
			p.status = statusPosted
		case kindPending:
			p.status = statusPending
		case kindPendingExpired:
			p.status = statusExpired
		default:
			p.orphan = true
		}
		for _, resolution := range records[i+1 : j] {
			switch resolution.kind {
			case kindPost:
				p.status, p.amount = statusPosted, resolution.amount
			case kindVoid:
				p.status = statusVoided
			}
		}
		payments = append(payments, p)
		i = j
	}
	return payments
}
