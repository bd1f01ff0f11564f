package ledger

import "sequent/core/model"

// transfersScanMax bounds the forward scan of transferWalkStart past the first transfer
// above the bound: a few cache lines of records, far less than a long walk.
const transfersScanMax = 32

// transferWalkStart returns where a newest-first walk of the account's transfers should
// start for a filter bounded above by TimestampMax: the account's newest transfer with a
// timestamp at or below it. It gives the walk the same elements as starting from the
// account's newest transfer and skipping what is above the bound; only cheaper.
//
// Transfers are stored in timestamp order, so a binary search finds the first transfer
// above the bound. If it, or one of the next transfersScanMax, belongs to the account, its
// link for the account is the answer in O(log n): that is always the case when a client
// pages newest first by the timestamp of the last transfer it saw (the bound is that
// timestamp − 1, so the next transfer above it is the account's). Otherwise the walk starts
// at the newest, as it always did: a query with an arbitrary bound costs what it cost.
//
// Without this, paging an account with n transfers cost n²/(2 × limit) list steps in all
// (each page walked from the newest transfer down to its bound), on the sequencer.
func (l *Ledger) transferWalkStart(f *model.AccountFilter, account *accountRecord) uint32 {
	newest := newestTransfer(account)
	if f.TimestampMax == 0 || newest == indexNone ||
		l.transfers.at(newest).Timestamp <= f.TimestampMax {
		return newest
	}
	low, high := uint32(0), l.transfers.count // The first index above the bound is in [low, high].
	for low < high {
		middle := low + (high-low)/2
		if l.transfers.at(middle).Timestamp > f.TimestampMax {
			high = middle
		} else {
			low = middle + 1
		}
	}
	for index := low; index < l.transfers.count && index < low+transfersScanMax; index++ {
		t, links := l.transfers.at(index), l.transferLinks.at(index)
		switch f.AccountID {
		case t.DebitAccountID:
			return links.debitPrevious
		case t.CreditAccountID:
			return links.creditPrevious
		}
	}
	return newest
}
