package api

import (
	"sync"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
)

// Connection ids of the API's requests: from netio.ConnectionIDLimit (2^61) up, below
// backend.ClientConnectionLimit (2^62, above which a node's router and the shard number
// their own requests), so that a splitting Replier can tell them from the binary
// server's.
const (
	connectionIDFirst = netio.ConnectionIDLimit
	connectionIDEnd   = backend.ClientConnectionLimit
)

// isAPIConnection reports whether a reply belongs to the API.
func isAPIConnection(id uint64) bool { return id >= connectionIDFirst && id < connectionIDEnd }

// Replier is the shard's Replier when the binary server and the API share a shard: it
// hands each released reply to the API's waiter or to the binary server, in release
// order, and every execution report to the binary server (the API has no report
// stream). The shard calls it from its goroutine; it never blocks.
type Replier struct {
	binary  backend.Replier
	api     *Server
	scratch sync.Pool // *[]backend.Reply: the binary server's share of one Deliver.
}

var _ backend.Replier = (*Replier)(nil)

// NewReplier returns the Replier that serves both the binary server and api.
func NewReplier(binary backend.Replier, api *Server) *Replier {
	r := &Replier{binary: binary, api: api}
	r.scratch.New = func() any { return new([]backend.Reply) }
	return r
}

// Deliver splits the replies; a batch without API replies passes through unchanged.
func (r *Replier) Deliver(replies []backend.Reply) {
	first := -1
	for i := range replies {
		if isAPIConnection(replies[i].Connection) {
			first = i
			break
		}
	}
	if first < 0 {
		r.binary.Deliver(replies)
		return
	}
	scratch := r.scratch.Get().(*[]backend.Reply)
	binary := append((*scratch)[:0], replies[:first]...)
	for i := first; i < len(replies); i++ {
		if isAPIConnection(replies[i].Connection) {
			r.api.deliver(&replies[i])
		} else {
			binary = append(binary, replies[i])
		}
	}
	if len(binary) > 0 {
		r.binary.Deliver(binary)
	}
	clear(binary) // The bodies belong to the shard; do not keep them reachable.
	*scratch = binary[:0]
	r.scratch.Put(scratch)
}

// DeliverReports goes to the binary server.
func (r *Replier) DeliverReports(reports []backend.Report) { r.binary.DeliverReports(reports) }

// answer is what a waiting handler receives: the reply's header fields and a copy of its
// body (the shard reuses the original after Deliver returns).
type answer struct {
	status    model.Status
	op        uint64
	duplicate bool
	body      []byte
}

// waiters maps the API's connection ids to the handlers waiting for their replies,
// spread over shards by id. A handler that gives up (timeout) forgets its id, and a
// reply arriving later is dropped.
type waiters struct {
	next   sync.Mutex
	id     uint64
	shards [64]waiterShard
}

type waiterShard struct {
	mu      sync.Mutex
	pending map[uint64]chan answer
}

func newWaiters() *waiters {
	w := &waiters{id: connectionIDFirst}
	for i := range w.shards {
		w.shards[i].pending = map[uint64]chan answer{}
	}
	return w
}

// add returns a fresh connection id and the channel its answer will come on.
func (w *waiters) add() (uint64, chan answer) {
	w.next.Lock()
	w.id++
	if w.id >= connectionIDEnd { // After 2^62 requests; kept correct all the same.
		w.id = connectionIDFirst + 1
	}
	id := w.id
	w.next.Unlock()
	channel := make(chan answer, 1)
	s := &w.shards[id%uint64(len(w.shards))]
	s.mu.Lock()
	s.pending[id] = channel
	s.mu.Unlock()
	return id, channel
}

// take removes and returns id's channel.
func (w *waiters) take(id uint64) (chan answer, bool) {
	s := &w.shards[id%uint64(len(w.shards))]
	s.mu.Lock()
	channel, ok := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	return channel, ok
}

// deliver hands a released reply to its waiter (shard goroutine; never blocks: the
// channel holds one answer and only this reply is sent on it).
func (s *Server) deliver(reply *backend.Reply) {
	channel, ok := s.waiters.take(reply.Connection)
	if !ok {
		s.counters.repliesDropped.Add(1)
		return
	}
	channel <- answer{status: reply.Status, op: reply.Op, duplicate: reply.Duplicate,
		body: append([]byte(nil), reply.Body...)}
}
