package router

import (
	"encoding/binary"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// plan is how one client request is carried out: parts (one per shard, each with the
// indexes of its events in their original order), events the router answers itself, and
// whether the request can go through to one shard unchanged.
type plan struct {
	kind        requestKind
	passThrough bool   // One shard, no saga, nothing refused: submit as is.
	shard       uint16 // The shard, for a pass-through.
	parts       []planPart
	refused     []refusal // Events answered by the router (per-event kinds only).
}

type planPart struct {
	shard  uint16
	events []int32 // Per-event kinds: original event indexes, ascending. Broadcasts: nil.
	cross  bool    // Holds a transfer whose credit account is on another shard.
}

type refusal struct {
	event  int32
	status model.Status
}

// requestKind says how a request's results are merged.
type requestKind uint8

const (
	kindPerEvent  requestKind = iota // One result per event, in event order.
	kindLookup                       // Found records, each starting with its 16-byte id.
	kindQuery                        // One filter event; the owning shard's reply.
	kindOneResult                    // No events (get_shard_map): one shard answers.
)

func kindOf(operation model.Operation) requestKind {
	info, _ := operation.Info()
	switch {
	case info.EventSize == 0:
		return kindOneResult
	case info.Query:
		return kindQuery
	case !info.Write:
		return kindLookup // lookup_accounts, _transfers, _instruments, _orders.
	}
	return kindPerEvent
}

// split plans a request (whose shape was checked) on a map of several shards.
func split(m *shardmap.Map, operation model.Operation, body []byte) plan {
	info, _ := operation.Info()
	p := plan{kind: kindOf(operation)}
	if info.EventSize == 0 {
		p.passThrough = true // get_shard_map: every shard knows the map.
		return p
	}
	count := len(body) / info.EventSize
	targets := make([]shardmap.Target, count)
	for i := range targets {
		targets[i] = m.EventTarget(operation, body[i*info.EventSize:(i+1)*info.EventSize])
	}
	if operation == model.OperationCreateAccounts || operation == model.OperationCreateTransfers {
		refuseSpanningChains(body, info.EventSize, targets)
	}
	byShard := make([]int, m.Shards) // Part index + 1 of each shard.
	every := false
	for i, target := range targets {
		switch {
		case target.Status != model.StatusOK:
			p.refused = append(p.refused, refusal{event: int32(i), status: target.Status})
			continue
		case target.Every:
			every = true
			continue
		}
		if byShard[target.Shard] == 0 {
			p.parts = append(p.parts, planPart{shard: target.Shard})
			byShard[target.Shard] = len(p.parts)
		}
		part := &p.parts[byShard[target.Shard]-1]
		part.events = append(part.events, int32(i))
		part.cross = part.cross || target.Cross()
	}
	if every {
		// A lookup whose keys do not say where they live: every shard gets the whole
		// request (kinds lookup and query only).
		p.parts = p.parts[:0]
		for shard := range m.Shards {
			p.parts = append(p.parts, planPart{shard: shard})
		}
		return p
	}
	if len(p.refused) == 0 && len(p.parts) == 1 && !p.parts[0].cross {
		p.passThrough, p.shard = true, p.parts[0].shard
	}
	return p
}

// refuseSpanningChains refuses every linked chain whose events are not all local to one
// shard: the first event that leaves the chain's shard (or crosses shards, or cannot be
// placed) gets its own status or linked_chain_spans_shards, the others
// linked_event_failed. A chain lives in one ledger's undo log.
func refuseSpanningChains(body []byte, eventSize int, targets []shardmap.Target) {
	const flagsOffset = 118 // Account and Transfer records both keep their u16 flags here.
	linked := func(i int) bool {
		return binary.LittleEndian.Uint16(body[i*eventSize+flagsOffset:])&1 != 0 // *Linked.
	}
	for start := 0; start < len(targets); {
		end := start // The chain is [start, end].
		for end < len(targets)-1 && linked(end) {
			end++
		}
		if end > start || linked(start) {
			refuseChain(targets[start : end+1])
		}
		start = end + 1
	}
}

// refuseChain refuses a chain that leaves its first event's shard.
func refuseChain(chain []shardmap.Target) {
	home, offender := chain[0], -1
	for i, target := range chain {
		if target.Status != model.StatusOK || target.Cross() || target.Shard != home.Shard {
			offender = i
			break
		}
	}
	if offender < 0 {
		return
	}
	for i := range chain {
		switch {
		case i != offender:
			chain[i] = shardmap.Target{Status: model.StatusLinkedEventFailed}
		case chain[i].Status == model.StatusOK:
			chain[i] = shardmap.Target{Status: model.StatusLinkedChainSpansShards}
		}
	}
}

// encodeRefusal writes a per-event result of operation meaning "refused with status"
// (timestamp 0: no shard evaluated it) into b, which has the result's size.
func encodeRefusal(operation model.Operation, b []byte, status model.Status) {
	clear(b)
	switch operation {
	case model.OperationPlaceOrders, model.OperationCancelOrders, model.OperationReplaceOrders:
		binary.LittleEndian.PutUint32(b[16:], uint32(status)) // OrderResult.
	default:
		binary.LittleEndian.PutUint32(b[8:], uint32(status)) // EventResult, MassCancelResult.
	}
}

// eventStatus reads the status of a per-event result of a create operation.
func eventStatus(b []byte) model.Status { return model.Status(binary.LittleEndian.Uint32(b[8:])) }
