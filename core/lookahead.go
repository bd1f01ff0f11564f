package core

import (
	"unsafe"

	"sequent/core/internal/prefetch"
	"sequent/core/ledger"
	"sequent/core/model"
)

// requestLookahead overlaps the cache misses of an entry's small requests. Under many
// clients each sending one transfer per request, the sequencer packs a hundred or more
// such requests into one entry, and each one's lookups miss the cache twice in a row
// (the id table's slot, then the account's record; the session table's entry, then the
// session's reply slots): applied one after the other, nothing overlaps those misses.
// So while request i is applied, the first lines of request i+2 are prefetched (its ids'
// slots, ledger.PrefetchTransferSlots; its session's head and bookkeeping) and the
// second lines of request i+1, whose first ones arrived during request i-1's apply (its
// accounts' records and owners, ledger.PrefetchTransferRecords; its session's reply
// slots and ring): the ledger's pipeline schedule, with requests for its blocks.
//
// Prefetches only read and change nothing any request observes, so replies, events and
// state are the same with or without the lookahead (TestLookaheadChangesNothing). The
// session found ahead is used by its request (no second map lookup) only if no session
// was created in between, which is the only way one is evicted; the transfer's hashes
// and candidate accounts are used by its apply (ledger.CreateTransferAheadAs), which
// confirms the candidates against the ledger as it is then.
type requestLookahead struct {
	far      []byte // The entry body after the request last looked at.
	transfer struct {
		// Requests i, i+1 and i+2: request i's apply takes its hashes and candidates
		// (ledger.CreateTransferAheadAs).
		current, next, far ledger.TransferLookahead
	}
	session struct {
		current, next, far sessionAhead // Requests i, i+1 and i+2.
	}
	request Request        // Decode scratch.
	decoded model.Transfer // Decode scratch.
	off     bool           // Tests compare with the lookahead off.
}

// sessionAhead is the session of a request looked up ahead of it.
type sessionAhead struct {
	key     sessionKey
	session *session // nil: not looked up, or not created yet.
	created uint64   // The table's creation count when it was looked up.
}

// lookaheadStart begins the lookahead of an entry whose body is body: it looks at
// request 1 (request 0's lookups are its apply's business). An entry of one request pays
// one header parse.
func (m *Machine) lookaheadStart(body []byte) {
	a := &m.lookahead
	a.far = nil
	a.transfer.current, a.transfer.next, a.transfer.far = ledger.TransferLookahead{},
		ledger.TransferLookahead{}, ledger.TransferLookahead{}
	a.session.current, a.session.next, a.session.far = sessionAhead{}, sessionAhead{},
		sessionAhead{}
	if a.off {
		return
	}
	rest, _ := nextRequest(body, &a.request) // The entry parsed (CountRequests).
	if len(rest) == 0 {
		return
	}
	a.far = rest
	m.lookaheadFirst()
}

// lookaheadStep runs before request i is applied: the second lines of request i+1, the
// first ones of request i+2.
func (m *Machine) lookaheadStep() {
	a := &m.lookahead
	a.session.current, a.session.next, a.session.far = a.session.next, a.session.far,
		sessionAhead{}
	a.transfer.current, a.transfer.next, a.transfer.far = a.transfer.next, a.transfer.far,
		ledger.TransferLookahead{}
	m.ledger.PrefetchTransferRecords(&a.transfer.next)
	m.prefetchSessionReplies(&a.session.next)
	if len(a.far) > 0 {
		m.lookaheadFirst()
	}
}

// lookaheadFirst looks at the request at the start of a.far, moving a.far past it: its
// session, and its transfer's slots when it is a one-transfer create_transfers (a longer
// batch prefetches its own events, all of them at once).
func (m *Machine) lookaheadFirst() {
	a := &m.lookahead
	a.far, _ = nextRequest(a.far, &a.request)
	r := &a.request
	if r.Client == 0 || r.Number == 0 {
		return // Internal requests have no session and no transfers.
	}
	key := sessionKey{r.Client, r.Session}
	if s := m.sessions.lookup(key, false); s != nil {
		a.session.far = sessionAhead{key: key, session: s, created: m.sessions.created}
		addresses := [...]uintptr{uintptr(unsafe.Pointer(&s.highest)),
			uintptr(unsafe.Pointer(&s.first))}
		prefetch.Lines(addresses[:])
	}
	if r.Operation != model.OperationCreateTransfers || len(r.Body) != model.TransferSize {
		return
	}
	a.decoded.Decode(r.Body)
	m.ledger.PrefetchTransferSlots(r.Client, r.Flags&RequestFlagReplyBalances != 0,
		&a.decoded, &a.transfer.far)
}

// prefetchSessionReplies prefetches what caching a reply in the session will touch: the
// oldest cached reply (evicted when the session is full), the slot of the new one and
// the ring where its body goes. The session's bookkeeping was prefetched a request ago.
func (m *Machine) prefetchSessionReplies(ahead *sessionAhead) {
	s := ahead.session
	if s == nil || ahead.created != m.sessions.created {
		return
	}
	addresses := [3]uintptr{uintptr(unsafe.Pointer(&s.replies[s.first])),
		uintptr(unsafe.Pointer(&s.replies[(s.first+s.count)%sessionWindow]))}
	count := 2
	if s.head < len(s.ring) {
		addresses[count] = uintptr(unsafe.Pointer(&s.ring[s.head]))
		count++
	}
	prefetch.Lines(addresses[:count])
}

// lookupSession returns the session for key, creating it if need be: the one the
// lookahead found for the request being applied when it is still the table's.
func (m *Machine) lookupSession(key sessionKey) *session {
	ahead := &m.lookahead.session.current
	if ahead.session != nil && ahead.key == key && ahead.created == m.sessions.created {
		return ahead.session
	}
	return m.sessions.lookup(key, true)
}
