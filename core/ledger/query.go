package ledger

import "sequent/core/model"

// Reads on behalf of a client show only what it may read (doc.go, "Ownership"): an
// account it may not read is answered as if it did not exist, and a transfer is shown
// when the client may read its debit or its credit account. The functions without "As"
// read as the system, which sees everything.

// LookupAccounts is LookupAccountsAs for the system.
func (l *Ledger) LookupAccounts(ids []model.Uint128, out []model.Account) []model.Account {
	return l.LookupAccountsAs(0, ids, out)
}

// LookupAccountsAs appends to out the accounts found for ids that client may read, in the
// order of ids; the others are skipped, as missing ids are in TigerBeetle.
func (l *Ledger) LookupAccountsAs(client uint64, ids []model.Uint128,
	out []model.Account) []model.Account {
	l.actAs(client)
	for _, id := range ids {
		if index, found := l.findAccount(id); found && l.allowed(model.ScopeRead, index) {
			out = append(out, exportAccount(l.accounts.at(index)))
		}
	}
	return out
}

// TransferIndex returns the storage index of the transfer with the id: transfers are
// numbered from 0 in the order they were created, for good (core/saga keeps the indexes of
// its sagas' first steps instead of a hash table of their ids).
func (l *Ledger) TransferIndex(id model.Uint128) (uint32, bool) { return l.findTransfer(id) }

// TransferVisibleAs reports whether client may see the stored transfer with the id (it
// may read its debit or its credit account); false when there is none.
func (l *Ledger) TransferVisibleAs(client uint64, id model.Uint128) bool {
	index, found := l.findTransfer(id)
	if !found {
		return false
	}
	l.actAs(client)
	return l.transferVisible(l.transfers.at(index))
}

// LookupTransfers is LookupTransfersAs for the system.
func (l *Ledger) LookupTransfers(ids []model.Uint128, out []model.Transfer) []model.Transfer {
	return l.LookupTransfersAs(0, ids, out)
}

// LookupTransfersAs appends to out the transfers found for ids that client may read, in
// the order of ids.
func (l *Ledger) LookupTransfersAs(client uint64, ids []model.Uint128,
	out []model.Transfer) []model.Transfer {
	l.actAs(client)
	for _, id := range ids {
		if index, found := l.findTransfer(id); found && l.transferVisible(l.transfers.at(index)) {
			out = append(out, *l.transfers.at(index))
		}
	}
	return out
}

// validateFilter checks an AccountFilter and returns the account's index.
func (l *Ledger) validateFilter(f *model.AccountFilter) (uint32, model.Status) {
	switch {
	case f.ReservedNonZero:
		return indexNone, model.StatusReservedField
	case f.Flags&^model.FilterFlagsKnown != 0:
		return indexNone, model.StatusInvalidFilter
	case f.Flags&(model.FilterDebits|model.FilterCredits) == 0:
		return indexNone, model.StatusInvalidFilter
	case f.Limit == 0 || f.Limit > model.EventsPerRequestMax:
		return indexNone, model.StatusInvalidFilter
	case f.TimestampMax != 0 && f.TimestampMin > f.TimestampMax:
		return indexNone, model.StatusInvalidFilter
	}
	index, found := l.findAccount(f.AccountID)
	if !found || !l.allowed(model.ScopeRead, index) {
		return indexNone, model.StatusAccountNotFound
	}
	return index, model.StatusOK
}

// filterWalk walks one account's transfers (or history records) newest first and collects
// the indexes that match, honouring the limit and the direction. next returns, for the
// current element, its timestamp, whether it matches the filter's other criteria, and the
// previous element. Work is proportional to the account's elements newer than
// TimestampMin (the lists are in timestamp order, so the walk stops below it); memory is
// bounded by the limit.
func (l *Ledger) filterWalk(f *model.AccountFilter, start uint32,
	next func(element uint32) (timestamp uint64, match bool, previous uint32)) []uint32 {
	ring := l.queryRing[:f.Limit]
	count := 0 // Matches seen; when oldest-first, the ring keeps the last Limit of them.
	for element := start; element != indexNone; {
		timestamp, match, previous := next(element)
		if timestamp < f.TimestampMin {
			break
		}
		if match && (f.TimestampMax == 0 || timestamp <= f.TimestampMax) {
			ring[count%len(ring)] = element
			count++
			if f.Flags&model.FilterReversed != 0 && count == len(ring) {
				break
			}
		}
		element = previous
	}
	if f.Flags&model.FilterReversed != 0 {
		return ring[:count]
	}
	// Oldest first: the ring holds the min(count, Limit) oldest matches, newest-first in
	// ring order ending at (count-1)%Limit. Rotate and reverse in place.
	kept := min(count, len(ring))
	ordered := ring[:kept]
	if count > len(ring) {
		rotateLeft(ordered, count%len(ring))
	}
	for i, j := 0, kept-1; i < j; i, j = i+1, j-1 {
		ordered[i], ordered[j] = ordered[j], ordered[i]
	}
	return ordered
}

// rotateLeft rotates s left by k positions in place (three reversals).
func rotateLeft(s []uint32, k int) {
	reverse := func(part []uint32) {
		for i, j := 0, len(part)-1; i < j; i, j = i+1, j-1 {
			part[i], part[j] = part[j], part[i]
		}
	}
	reverse(s[:k])
	reverse(s[k:])
	reverse(s)
}

// transferMatches applies the filter's side and user-data criteria to a transfer of the
// account and returns the previous transfer in the account's list.
func transferMatches(f *model.AccountFilter, t *model.Transfer, links *transferLinks) (bool,
	uint32) {
	debitSide := t.DebitAccountID == f.AccountID
	previous := links.creditPrevious
	if debitSide {
		previous = links.debitPrevious
	}
	switch {
	case debitSide && f.Flags&model.FilterDebits == 0:
		return false, previous
	case !debitSide && f.Flags&model.FilterCredits == 0:
		return false, previous
	case !f.UserData128.IsZero() && f.UserData128 != t.UserData128:
		return false, previous
	case f.UserData64 != 0 && f.UserData64 != t.UserData64:
		return false, previous
	case f.UserData32 != 0 && f.UserData32 != t.UserData32:
		return false, previous
	case f.Code != 0 && f.Code != t.Code:
		return false, previous
	}
	return true, previous
}

// GetAccountTransfers is GetAccountTransfersAs for the system.
func (l *Ledger) GetAccountTransfers(f *model.AccountFilter, out []model.Transfer) (
	[]model.Transfer, model.Status) {
	return l.GetAccountTransfersAs(0, f, out)
}

// GetAccountTransfersAs appends to out the account's transfers that match the filter:
// oldest first, or newest first with FilterReversed, at most Limit. The walk starts at the
// account's newest transfer at or below TimestampMax (transferWalkStart), so a client that
// pages newest first pays for each page only. An account client may not read answers
// account_not_found.
func (l *Ledger) GetAccountTransfersAs(client uint64, f *model.AccountFilter,
	out []model.Transfer) ([]model.Transfer, model.Status) {
	l.actAs(client)
	accountIndex, status := l.validateFilter(f)
	if status != model.StatusOK {
		return out, status
	}
	matches := l.filterWalk(f, l.transferWalkStart(f, l.accounts.at(accountIndex)),
		func(element uint32) (uint64, bool, uint32) {
			t := l.transfers.at(element)
			match, previous := transferMatches(f, t, l.transferLinks.at(element))
			return t.Timestamp, match, previous
		})
	for _, element := range matches {
		out = append(out, *l.transfers.at(element))
	}
	return out, model.StatusOK
}

// GetAccountBalances is GetAccountBalancesAs for the system.
func (l *Ledger) GetAccountBalances(f *model.AccountFilter, out []model.AccountBalance) (
	[]model.AccountBalance, model.Status) {
	return l.GetAccountBalancesAs(0, f, out)
}

// GetAccountBalancesAs appends to out the account's balance history entries whose
// transfer matches the filter. The account must have the history flag; an account client
// may not read answers account_not_found.
func (l *Ledger) GetAccountBalancesAs(client uint64, f *model.AccountFilter,
	out []model.AccountBalance) ([]model.AccountBalance, model.Status) {
	l.actAs(client)
	accountIndex, status := l.validateFilter(f)
	if status != model.StatusOK {
		return out, status
	}
	if l.accounts.at(accountIndex).Flags&model.AccountHistory == 0 {
		return out, model.StatusAccountHistoryNotEnabled
	}
	start, ok := l.historyLast[accountIndex]
	if !ok {
		return out, model.StatusOK
	}
	matches := l.filterWalk(f, start, func(element uint32) (uint64, bool, uint32) {
		record := l.history.at(element)
		t := l.transfers.at(record.transfer)
		match, _ := transferMatches(f, t, l.transferLinks.at(record.transfer))
		return record.balance.Timestamp, match, record.previous
	})
	for _, element := range matches {
		out = append(out, l.history.at(element).balance)
	}
	return out, model.StatusOK
}
