package core

import (
	"sequent/core/ledger"
	"sequent/core/model"
)

// requestLookahead overlaps the cache misses of an entry's small requests. Under many
// clients each sending one transfer per request, the sequencer packs a hundred or more
// such requests into one entry, and each one's account lookups miss the cache twice in
// a row (the id table's slot, then the account's record): applied one after the other,
// nothing overlaps those misses. So while request i is applied, the slots of request
// i+2's ids are prefetched (ledger.PrefetchTransferSlots) and the records of request
// i+1's accounts, whose slots arrived during request i-1's apply
// (ledger.PrefetchTransferRecords): the ledger's pipeline schedule, with requests for
// its blocks.
//
// Prefetches only read and change nothing any request observes, so replies, events and
// state are the same with or without the lookahead (TestLookaheadChangesNothing).
type requestLookahead struct {
	far      []byte                   // The entry body from request i+2 on.
	next     ledger.TransferLookahead // Request i+1's transfer, when it has one.
	request  Request                  // Decode scratch.
	transfer model.Transfer           // Decode scratch.
	off      bool                     // Tests and benchmarks compare with the lookahead off.
}

// lookaheadStart begins the lookahead of an entry whose body is body: it prefetches
// request 1's slots (request 0's are the apply's own business). An entry of one request
// pays one header parse.
func (m *Machine) lookaheadStart(body []byte) {
	a := &m.lookahead
	a.far = nil
	if a.off {
		return
	}
	rest, _ := nextRequest(body, &a.request) // The entry parsed (CountRequests).
	if len(rest) == 0 {
		return
	}
	a.far = rest
	m.lookaheadSlots()
}

// lookaheadStep runs before request i is applied: it prefetches request i+1's records
// and request i+2's slots.
func (m *Machine) lookaheadStep() {
	a := &m.lookahead
	m.ledger.PrefetchTransferRecords(&a.next)
	if len(a.far) > 0 {
		m.lookaheadSlots()
	}
}

// lookaheadSlots prefetches the slots of the request at the start of a.far, when it is
// a client's one-transfer create_transfers (a longer batch prefetches its own events,
// all of them at once), and moves a.far past it.
func (m *Machine) lookaheadSlots() {
	a := &m.lookahead
	a.far, _ = nextRequest(a.far, &a.request)
	r := &a.request
	if r.Operation != model.OperationCreateTransfers || r.Client == 0 ||
		len(r.Body) != model.TransferSize {
		return
	}
	a.transfer.Decode(r.Body)
	m.ledger.PrefetchTransferSlots(r.Client, r.Flags&RequestFlagReplyBalances != 0,
		&a.transfer, &a.next)
}
