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
//
// The lookahead also parses the entry's requests for the apply, each once: request i is
// applied from the window slot where the lookahead parsed it two requests earlier, with
// its one transfer decoded (createTransfers copies it rather than decode it again) and
// what was looked up ahead for it. Parsing each header three times (Apply's check, the
// lookahead, the apply), decoding the transfer twice and moving the looked-up state
// from request to request (two 80-byte copies) took about 80 instructions more per
// one-transfer request (callgrind, BenchmarkApplySmallRequests).
type requestLookahead struct {
	rest []byte // The entry body after the last request parsed into the window.
	// window holds requests i, i+1 and i+2 at slots current, current+1 and current+2
	// (modulo lookaheadWindow): request i, being applied, at current. A slot with no
	// request (past the entry's end) is empty. With the lookahead off the window holds
	// request i only, at 0, with nothing looked up.
	window  [lookaheadWindow]parsedRequest
	current int
	// applying is the window slot of the request being applied, or -1 outside Apply.
	applying int
	none     ledger.TransferLookahead // Empty: a transfer's when no request is applied.
	off      bool                     // Tests compare with the lookahead off.
}

// lookaheadWindow is how many parsed requests the lookahead holds: the one applied and
// the two it looks ahead at.
const lookaheadWindow = 3

// parsedRequest is one request of the entry as the lookahead parsed it, with what it
// looked up ahead of its apply.
type parsedRequest struct {
	request Request
	// transfer is the request's one transfer, decoded when transferDecoded (a
	// one-transfer create_transfers of a client that the lookahead looked at).
	transfer        model.Transfer
	transferDecoded bool
	// transferAhead is its transfer's hashes and candidates, which its apply takes
	// (ledger.CreateTransferAheadAs).
	transferAhead ledger.TransferLookahead
	session       sessionAhead
}

// sessionAhead is the session of a request looked up ahead of it.
type sessionAhead struct {
	key     sessionKey
	session *session // nil: not looked up, or not created yet.
	created uint64   // The table's creation count when it was looked up.
}

// lookaheadStart begins the lookahead of an entry whose body is body, which parsed
// (CountRequests): it parses request 0, and parses and looks at request 1 (request 0's
// lookups are its apply's business).
func (m *Machine) lookaheadStart(body []byte) {
	a := &m.lookahead
	a.rest, a.current, a.applying = body, 0, -1
	if a.off {
		return
	}
	a.parse(0)
	if len(a.rest) > 0 {
		m.lookaheadFirst(1)
	} else {
		a.window[1].empty()
	}
}

// parse parses the request at the start of a.rest into window slot, moving a.rest past
// it.
func (a *requestLookahead) parse(slot int) *parsedRequest {
	parsed := &a.window[slot]
	a.rest, _ = nextRequest(a.rest, &parsed.request) // The entry parsed (CountRequests).
	parsed.transferDecoded = false
	parsed.transferAhead = ledger.TransferLookahead{}
	parsed.session = sessionAhead{}
	return parsed
}

// empty marks the slot as holding no request (nothing to prefetch for it).
func (p *parsedRequest) empty() {
	p.transferDecoded = false
	p.transferAhead = ledger.TransferLookahead{}
	p.session = sessionAhead{}
}

// lookaheadStep returns request i, to be applied next: before, it prefetches the second
// lines of request i+1 and parses and looks at request i+2 (its first lines).
func (m *Machine) lookaheadStep() *Request {
	a := &m.lookahead
	if a.off {
		a.applying = 0
		return &a.parse(0).request
	}
	current := a.current
	next := current + 1
	if next == lookaheadWindow {
		next = 0
	}
	far := next + 1
	if far == lookaheadWindow {
		far = 0
	}
	m.ledger.PrefetchTransferRecords(&a.window[next].transferAhead)
	m.prefetchSessionReplies(&a.window[next].session)
	if len(a.rest) > 0 {
		m.lookaheadFirst(far) // The slot of request i-1, applied.
	} else {
		a.window[far].empty()
	}
	a.applying, a.current = current, next
	return &a.window[current].request
}

// lookaheadFirst parses the request at the start of a.rest into window slot and looks
// at it: its session, and its transfer's slots when it is a one-transfer
// create_transfers (a longer batch prefetches its own events, all of them at once).
func (m *Machine) lookaheadFirst(slot int) {
	a := &m.lookahead
	parsed := a.parse(slot)
	r := &parsed.request
	if r.Client == 0 || r.Number == 0 {
		return // Internal requests have no session and no transfers.
	}
	key := sessionKey{r.Client, r.Session}
	if s := m.sessions.lookup(key, false); s != nil {
		parsed.session = sessionAhead{key: key, session: s, created: m.sessions.created}
		addresses := [...]uintptr{uintptr(unsafe.Pointer(&s.highest)),
			uintptr(unsafe.Pointer(&s.first))}
		prefetch.Lines(addresses[:])
	}
	if r.Operation != model.OperationCreateTransfers || len(r.Body) != model.TransferSize {
		return
	}
	parsed.transfer.Decode(r.Body)
	parsed.transferDecoded = true
	m.ledger.PrefetchTransferSlots(r.Client, r.Flags&RequestFlagReplyBalances != 0,
		&parsed.transfer, &parsed.transferAhead)
}

// decodedTransfer returns the one transfer of the request being applied as the
// lookahead decoded it from body, or nil when it did not (body being the very bytes it
// decoded, not equal ones: the same slice of the entry).
func (m *Machine) decodedTransfer(body []byte) *model.Transfer {
	a := &m.lookahead
	if a.applying < 0 {
		return nil
	}
	parsed := &a.window[a.applying]
	if !parsed.transferDecoded || len(body) != len(parsed.request.Body) ||
		unsafe.SliceData(body) != unsafe.SliceData(parsed.request.Body) {
		return nil
	}
	return &parsed.transfer
}

// transferAhead returns what the lookahead found for the transfer of the request being
// applied (empty when it found nothing).
func (m *Machine) transferAhead() *ledger.TransferLookahead {
	a := &m.lookahead
	if a.applying < 0 {
		a.none = ledger.TransferLookahead{}
		return &a.none
	}
	return &a.window[a.applying].transferAhead
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
	a := &m.lookahead
	if a.applying < 0 {
		return m.sessions.lookup(key, true)
	}
	ahead := &a.window[a.applying].session
	if ahead.session != nil && ahead.key == key && ahead.created == m.sessions.created {
		return ahead.session
	}
	return m.sessions.lookup(key, true)
}
