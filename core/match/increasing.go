package match

import "sequent/core/model"

// Increasing client order ids (an opt-in per trading account; see the package
// documentation, "Idempotency"). A trading account that opted in keeps its own mark (the
// highest key it used) and a ring of its last Config.ClientOrderIDsPerAccount outcomes,
// in increasing key order; its commands are never remembered in the shared window (each
// only ages it by a slot without a key while the window holds a key, and looks its key
// up there during the account's span). A new command then costs a hash probe and the
// account's header line, and remembering it writes one ring entry next to the previous
// one, instead of two random lines of the window's megabytes.

// increasingEntry is the remembered outcome of one command of an opted-in account.
type increasingEntry struct {
	clientOrderID uint64
	orderID       uint64 // The order concerned; for a mass cancel, how many it canceled.
	timestamp     uint64
	digest        uint64
	status        model.Status
	kind          commandKind
}

// increasingAccount is one opted-in (client, trading account).
type increasingAccount struct {
	client  uint64
	account uint64
	mark    uint64 // The highest key remembered: the newest entry's.
	newest  uint32 // Ring position of the newest entry.
	count   uint32 // Entries remembered, 1 to Config.ClientOrderIDsPerAccount.
	// windowUntil is the window's remembered count (clientOrderWindow.remembered) from
	// which every entry the account left in the window before it opted in is forgotten:
	// when the window's newest keyed entry at the opt-in is (newestKeyedAt + max; every
	// remembered command, the account's own included, takes a window slot while a keyed
	// entry is left, so it comes within the window's size). Until then its keys are also
	// looked up in the window, so that a command sent before the opt-in and resent after
	// it answers its original outcome instead of being applied again (or refused).
	windowUntil uint64
	ring        [ClientOrderIDsPerAccountMax]increasingEntry
}

// SetOrderFlagsAccepted says whether byte 104 of a place event is read as the order flags
// (true, the default of New and Restore) or is still reserved, refused with
// reserved_field unless 0, as it was before them (false: the owner applies a log written
// then, which must replay as it was applied). It is the owner's state, not the engine's.
func (e *Engine) SetOrderFlagsAccepted(accepted bool) { e.orderFlagsRefused = !accepted }

// SetReplaceFundingChecked says whether a replace checks that its client may still trade
// from the order's paying account (true, the default of New and Restore: a trade grant
// withdrawn since the order was placed stops the former delegate from committing the
// account anew, by a larger quantity or another price) or not, as before that check
// (false: the owner applies a log written then, which must replay as it was applied).
// It is the owner's state, not the engine's.
func (e *Engine) SetReplaceFundingChecked(checked bool) { e.replaceFundingUnchecked = !checked }

// SetIncreasingShareChecked says whether a client may opt in at most
// IncreasingAccountsPerClientMax trading accounts (true, the default of New and Restore:
// beyond, its opting place with a new key is refused with accounts_limit_reached, as
// with the table full; the system and operators are not bound) or up to the table's
// bound, as before the share (false: the owner applies a log written then, which must
// replay as it was applied). It is the owner's state, not the engine's.
func (e *Engine) SetIncreasingShareChecked(checked bool) {
	e.increasingShareUnchecked = !checked
}

// IncreasingAccountCountOf returns how many trading accounts client opted into
// increasing client order ids, for tests and tools.
func (e *Engine) IncreasingAccountCountOf(client uint64) int {
	return int(e.increasingByClient[client])
}

// increasingShareTaken reports whether client may opt in no more trading accounts
// because it has its share of the table (SetIncreasingShareChecked). Asked only of a
// place that would opt an account in: the count's look-up, then the grants' only for a
// client at its share.
func (e *Engine) increasingShareTaken(client uint64) bool {
	return !e.increasingShareUnchecked &&
		e.increasingByClient[client] >= IncreasingAccountsPerClientMax &&
		!e.ledger.IsOperator(client)
}

// IncreasingAccountCount returns how many trading accounts opted into increasing client
// order ids: none below the rules version that reads the order flags (package core
// refuses a snapshot that says otherwise).
func (e *Engine) IncreasingAccountCount() int { return len(e.increasing) }

// increasingTag hashes (client, account) for the opted-in accounts' index.
func (e *Engine) increasingTag(client, account uint64) uint32 {
	return tagOf(hash128(client, account, e.seed^0x9e6c63d0676a9a99))
}

// findIncreasing returns the index of the opted-in account (client, account).
func (e *Engine) findIncreasing(client, account uint64) (uint32, bool) {
	if len(e.increasing) == 0 {
		return indexNone, false // Nobody opted in: the window's path pays nothing more.
	}
	_, index, found := e.increasingIndex.find(e.increasingTag(client, account),
		func(index uint32) bool {
			a := &e.increasing[index]
			return a.client == client && a.account == account
		})
	return index, found
}

// increasingFind returns the entry of the ring of a with key clientOrderID. Ring keys
// increase from the oldest to the newest, so the walk from the newest stops below it.
func (e *Engine) increasingFind(a *increasingAccount, clientOrderID uint64) (
	*increasingEntry, bool) {
	size := e.config.ClientOrderIDsPerAccount
	position := a.newest
	for range a.count {
		entry := &a.ring[position]
		if entry.clientOrderID <= clientOrderID {
			return entry, entry.clientOrderID == clientOrderID
		}
		if position == 0 {
			position = size
		}
		position--
	}
	return nil, false
}

// lookupKey looks up the key of a valid-keyed order command of client: in its opted-in
// account's ring, or in the shared window. It returns the remembered outcome (nil: the
// key is new), or a status other than OK with which the command is refused and not
// remembered. optIn (a place with OrderFlagClientOrderIDsIncreasing) asks to opt an
// account that has not yet in: the place is looked up in the window as any other, and
// opts the account in only if it is accepted (rememberCommand); with the table full, or
// the client's share of it taken, a new key is refused at once (a remembered one still answers as remembered). It notes where the command's outcome goes (rememberCommand). An
// outcome from a ring is copied into e.keyEntry: valid until the next lookup.
func (e *Engine) lookupKey(client, account, clientOrderID uint64, optIn bool) (
	*windowEntry, model.Status) {
	// findIncreasing's own first test, made here: with nobody opted in (the default) the
	// call is spared.
	index, found := indexNone, false
	if len(e.increasing) != 0 {
		index, found = e.findIncreasing(client, account)
	}
	e.keyAccount, e.keyOptIn = index, false
	if !found {
		entry, found := e.window.find(client, account, clientOrderID)
		if found {
			return entry, model.StatusOK // A resend answers as remembered, full table or not.
		}
		if optIn && (uint32(len(e.increasing)) >= IncreasingAccountsMax ||
			e.increasingShareTaken(client)) {
			return nil, model.StatusAccountsLimitReached
		}
		e.keyOptIn = optIn
		return nil, model.StatusOK
	}
	a := &e.increasing[index]
	if clientOrderID > a.mark {
		if windowEntry, found := e.windowBeforeOptIn(a, clientOrderID); found {
			return windowEntry, model.StatusOK
		}
		return nil, model.StatusOK
	}
	entry, found := e.increasingFind(a, clientOrderID)
	if !found {
		if windowEntry, found := e.windowBeforeOptIn(a, clientOrderID); found {
			return windowEntry, model.StatusOK
		}
		return nil, model.StatusClientOrderIDNotIncreasing
	}
	e.keyEntry = windowEntry{client: client, account: account,
		clientOrderID: entry.clientOrderID, orderID: entry.orderID,
		timestamp: entry.timestamp, digest: entry.digest, status: entry.status,
		kind: entry.kind}
	return &e.keyEntry, model.StatusOK
}

// findOutcome returns the remembered outcome of the command of (client, account) with
// the key, for a cancel or replace naming its order by client order id: from the ring of
// an opted-in account, else from the window. It does not change where the current
// command's own outcome goes.
func (e *Engine) findOutcome(client, account, clientOrderID uint64) (*windowEntry, bool) {
	index, found := e.findIncreasing(client, account)
	if !found {
		return e.window.find(client, account, clientOrderID)
	}
	a := &e.increasing[index]
	entry, found := e.increasingFind(a, clientOrderID)
	if !found {
		return e.windowBeforeOptIn(a, clientOrderID)
	}
	e.outcomeEntry = windowEntry{client: client, account: account,
		clientOrderID: entry.clientOrderID, orderID: entry.orderID,
		timestamp: entry.timestamp, digest: entry.digest, status: entry.status,
		kind: entry.kind}
	return &e.outcomeEntry, true
}

// windowBeforeOptIn returns the window's entry for a key of the opted-in account a while
// the window may still hold commands of a from before its opt-in. No command of a is
// remembered in the window after its opt-in, so a key found there is one of those.
func (e *Engine) windowBeforeOptIn(a *increasingAccount, clientOrderID uint64) (
	*windowEntry, bool) {
	if e.window.remembered >= a.windowUntil {
		return nil, false // Steady state: one comparison.
	}
	e.windowSpanProbes++
	return e.window.find(a.client, a.account, clientOrderID)
}

// windowPendingCount is how many more slots the window must take before a's entries
// from before its opt-in are forgotten (0: none can be left). It is what a snapshot
// carries: the window's remembered count restarts at each restore.
func (e *Engine) windowPendingCount(a *increasingAccount) uint32 {
	if e.window.remembered >= a.windowUntil {
		return 0
	}
	return uint32(a.windowUntil - e.window.remembered)
}

// increasingAdd opts (client, account) in, with no entry yet, and returns its index.
// windowPending is how many more window slots may still find its entries from before
// the opt-in (at an opt-in, the life left of the window's newest keyed entry). The
// caller appends the opting command's outcome before the command ends.
func (e *Engine) increasingAdd(client, account uint64, windowPending uint32) uint32 {
	index := uint32(len(e.increasing))
	e.increasing = append(e.increasing, increasingAccount{client: client, account: account,
		windowUntil: e.window.remembered + uint64(windowPending)})
	e.increasingIndex.insert(e.increasingTag(client, account), index)
	if e.increasingByClient == nil {
		e.increasingByClient = map[uint64]uint32{}
	}
	e.increasingByClient[client]++
	return index
}

// rememberCommand records the outcome of a command whose key lookupKey found new: in the
// ring of its opted-in account, or in the shared window. An accepted place that asked
// to opt in opts its account in here, and is the first entry of its ring.
func (e *Engine) rememberCommand(entry *windowEntry) {
	if e.keyAccount == indexNone {
		if !e.keyOptIn || entry.status != model.StatusOK || entry.kind != commandPlace {
			e.window.rememberFrom(entry)
			return
		}
		e.keyOptIn = false
		e.keyAccount = e.increasingAdd(entry.client, entry.account,
			e.window.keyedLifeLeft())
	}
	a := &e.increasing[e.keyAccount]
	if a.client != entry.client || a.account != entry.account ||
		(a.count != 0 && entry.clientOrderID <= a.mark) {
		panic("match: remembered command is not the one looked up")
	}
	e.increasingAppend(a, entry)
	if e.window.index.count != 0 {
		e.window.age() // Rules version 4: every remembered command ages the window.
	}
}

// increasingAppend adds an outcome to the account's ring, forgetting its oldest when the
// ring is full.
func (e *Engine) increasingAppend(a *increasingAccount, entry *windowEntry) {
	if a.count != 0 {
		a.newest++
		if a.newest == e.config.ClientOrderIDsPerAccount {
			a.newest = 0
		}
	}
	a.count = min(a.count+1, e.config.ClientOrderIDsPerAccount)
	a.ring[a.newest] = increasingEntry{clientOrderID: entry.clientOrderID,
		orderID: entry.orderID, timestamp: entry.timestamp, digest: entry.digest,
		status: entry.status, kind: entry.kind}
	a.mark = entry.clientOrderID
}

// increasingAt returns the i-th oldest entry of the account's ring.
func (e *Engine) increasingAt(a *increasingAccount, i uint32) *increasingEntry {
	size := e.config.ClientOrderIDsPerAccount
	return &a.ring[(a.newest+size-a.count+1+i)%size]
}
