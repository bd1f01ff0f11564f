package core

import (
	"fmt"
	"math/bits"
	"math/rand/v2"

	"sequent/core/model"
)

// sessionKey identifies a session: the authenticated client and the session id the client
// chose. Keying by both means no client can read or disturb another client's sessions;
// the table's eviction (evictLeastRecent) keeps it so when the table is full.
type sessionKey struct {
	client  uint64
	session uint64
}

// cachedReply is one reply kept for retries.
type cachedReply struct {
	number uint64       // Request number.
	op     uint64       // Log position where it was applied.
	status model.Status // Request-level status.
	digest uint64       // requestDigest of the request: a resend must match it.
	start  int          // Body offset in the session's ring.
	length int          // Body length.
}

// session is one session's exactly-once state. Request numbers above highest are new.
// Within the window below it, a bit says whether the number was applied: if so the
// retry gets the cached reply (or request_too_old if the reply was evicted); if not, the
// request is applied now (it was refused before reaching the log, e.g. busy). Below the
// window, request_too_old.
type session struct {
	key     sessionKey
	highest uint64                     // Highest request number applied.
	applied [sessionWindow / 64]uint64 // Bit number%sessionWindow: applied.
	lastOp  uint64                     // Op of the latest request applied (eviction order).
	replies [sessionWindow]cachedReply
	first   int    // Index of the oldest cached reply in replies.
	count   int    // Cached replies.
	bytes   int    // Bytes of cached bodies.
	ring    []byte // Reply bodies; grows by doubling up to twice the configured maximum.
	head    int    // Next free byte in ring (bodies are stored contiguously, wrapping).
}

func (s *session) bit(number uint64) (word int, mask uint64) {
	index := number % sessionWindow
	return int(index / 64), 1 << (index % 64)
}

// classify says what to do with a request number.
func (s *session) classify(number uint64) (applied bool, tooOld bool) {
	if number > s.highest {
		return false, false
	}
	if s.highest-number >= sessionWindow {
		return false, true
	}
	word, mask := s.bit(number)
	return s.applied[word]&mask != 0, false
}

// markApplied records number as applied, sliding the window when it is the new highest.
func (s *session) markApplied(number uint64, op uint64) {
	if number > s.highest {
		if number-s.highest >= sessionWindow {
			s.applied = [sessionWindow / 64]uint64{}
		} else {
			for n := s.highest + 1; n <= number; n++ {
				word, mask := s.bit(n)
				s.applied[word] &^= mask
			}
		}
		s.highest = number
	}
	word, mask := s.bit(number)
	s.applied[word] |= mask
	s.lastOp = op
}

// find returns the cached reply for number.
func (s *session) find(number uint64) (*cachedReply, bool) {
	for i := 0; i < s.count; i++ {
		reply := &s.replies[(s.first+i)%sessionWindow]
		if reply.number == number {
			return reply, true
		}
	}
	return nil, false
}

// body returns a cached reply's body.
func (s *session) body(reply *cachedReply) []byte {
	return s.ring[reply.start : reply.start+reply.length]
}

// cache keeps a copy of a reply. Which replies stay cached is a logical rule that
// depends only on the sequence of replies, so every replica (and a machine restored from a
// snapshot) keeps exactly the same ones: at most sessionWindow replies and at most
// bytesMax bytes of bodies, evicting the oldest first; a body larger than bytesMax is not
// cached (its retry answers request_too_old).
//
// Physically, bodies live in a byte ring in the order they were cached. While the live
// bytes do not wrap they are [tail, head) and the free space is [head, end) and
// [0, tail); once they wrap, the free space is [head, tail). A body never wraps: if it
// does not fit after head it goes to 0. When a body does not fit, the ring grows
// (compacting); at 2×bytesMax a body always fits (see placeBody), so placement never
// evicts anything the logical rule keeps.
func (s *session) cache(number uint64, op uint64, status model.Status, digest uint64,
	body []byte, bytesMax int) {
	if len(body) > bytesMax {
		return
	}
	for s.count == sessionWindow || s.bytes+len(body) > bytesMax {
		s.evictOldest()
	}
	start, fits := s.placeBody(len(body))
	for !fits {
		s.growRing(bytesMax, len(body))
		start, fits = s.placeBody(len(body))
	}
	copy(s.ring[start:], body)
	s.head = start + len(body)
	s.bytes += len(body)
	s.replies[(s.first+s.count)%sessionWindow] = cachedReply{number: number, op: op,
		status: status, digest: digest, start: start, length: len(body)}
	s.count++
}

// placeBody returns where length bytes fit in the ring, if they do.
//
// Why 2×bytesMax always suffices, with L live bytes and L+length <= bytesMax: unwrapped,
// if the body does not fit after head then head > size-length, so tail = head-L >
// size-bytesMax = bytesMax >= length and [0, length) is free. Wrapped, the gap left at
// the end started above size-bytesMax = bytesMax, and the free run [head, tail) is that
// gap's start minus L, more than bytesMax-L >= length.
//
// tail is where the oldest non-empty body starts: an empty body holds no byte, so its start
// says nothing about where the live bytes are (taking it for the tail let a body be placed
// over a live one when the oldest reply was empty and head had come round to its start).
func (s *session) placeBody(length int) (int, bool) {
	tail, live := s.oldestBodyStart()
	if !live {
		s.head = 0
		return 0, length <= len(s.ring)
	}
	if s.head > tail {
		if len(s.ring)-s.head >= length {
			return s.head, true
		}
		return 0, tail >= length
	}
	return s.head, tail-s.head >= length
}

// oldestBodyStart returns where the oldest cached non-empty body starts, and false when
// no cached body holds a byte. The loop stops at the first non-empty reply, normally
// the oldest.
func (s *session) oldestBodyStart() (int, bool) {
	for i := 0; i < s.count; i++ {
		reply := &s.replies[(s.first+i)%sessionWindow]
		if reply.length > 0 {
			return reply.start, true
		}
	}
	return 0, false
}

func (s *session) evictOldest() {
	s.bytes -= s.replies[s.first].length
	s.first = (s.first + 1) % sessionWindow
	s.count--
}

// growRing doubles the ring (at least enough for need bytes more, at most 2×bytesMax) and
// compacts the cached bodies to its start in cache order.
func (s *session) growRing(bytesMax int, need int) {
	size := min(max(2*len(s.ring), 4096, 2*(s.bytes+need)), 2*bytesMax)
	if size <= len(s.ring) {
		panic(fmt.Sprintf("core: reply ring of %d bytes cannot grow for %d more (%d live)",
			len(s.ring), need, s.bytes))
	}
	grown := make([]byte, size)
	offset := 0
	for i := 0; i < s.count; i++ {
		reply := &s.replies[(s.first+i)%sessionWindow]
		copy(grown[offset:], s.body(reply))
		reply.start = offset
		offset += reply.length
	}
	s.ring, s.head = grown, offset
}

// sessionTable holds the sessions in creation order (which is what snapshots record), with
// an index to find them (sessionIndex). The index is never iterated.
type sessionTable struct {
	sessions []*session
	index    sessionIndex
	max      int
	// created counts the sessions created. Only a creation evicts a session, so a session
	// found while it had a value is still the table's for its key while it has it: the
	// request lookahead (lookahead.go) finds a session ahead of its request and uses it
	// then only if no session was created in between.
	created uint64
	// perClient is evictLeastRecent's scratch (sessions per client), kept so that an
	// eviction allocates nothing once it has seen as many clients.
	perClient map[uint64]int
}

func newSessionTable(max int) sessionTable {
	return sessionTable{index: newSessionIndex(), max: max, perClient: map[uint64]int{}}
}

// lookup returns the session for key, creating it (and evicting the least recently used
// session when the table is full) when create is set.
func (t *sessionTable) lookup(key sessionKey, create bool) *session {
	if position, ok := t.index.find(key); ok {
		return t.sessions[position]
	}
	if !create {
		return nil
	}
	if len(t.sessions) >= t.max {
		t.evictLeastRecent()
	}
	s := &session{key: key}
	t.created++
	t.add(s)
	return s
}

// add appends s, whose key the table does not hold, and indexes it.
func (t *sessionTable) add(s *session) {
	t.index.insert(s.key, len(t.sessions))
	t.sessions = append(t.sessions, s)
}

// evictLeastRecent removes, among the sessions of the client that holds the most (ties:
// all of those clients'), the one whose latest applied request is oldest (ties: the
// older session). The table is shared by every client: forgetting the least recent
// session whoever held it let one client, writing once under each of as many new
// session ids as the table holds, push out another's session and with it the replies a
// reconnecting client resends for (the resend was then applied again). A client that
// holds more than its share now evicts its own. Deterministic: it depends only on the
// log. O(sessions), on the creation of a session when the table is full.
func (t *sessionTable) evictLeastRecent() {
	clear(t.perClient)
	largest := 0
	for _, s := range t.sessions {
		t.perClient[s.key.client]++
		largest = max(largest, t.perClient[s.key.client])
	}
	victim := -1
	for i, s := range t.sessions {
		if t.perClient[s.key.client] == largest &&
			(victim < 0 || s.lastOp < t.sessions[victim].lastOp) {
			victim = i
		}
	}
	t.index.remove(t.sessions[victim].key)
	last := len(t.sessions) - 1
	if victim != last {
		t.sessions[victim] = t.sessions[last]
		t.index.insert(t.sessions[victim].key, victim)
	}
	t.sessions = t.sessions[:last]
	if len(t.sessions) != t.index.count {
		panic(fmt.Sprintf("core: session table has %d sessions and %d index entries",
			len(t.sessions), t.index.count))
	}
}

// sessionIndex maps a session key to its position in the table: open addressing with
// linear probing, at most half full, deletion by backward shift (no tombstones). With
// a Go map keyed by the two-word struct, sessionTable.lookup took about 170
// instructions (hashing, group probing), once per request (the lookahead's; the
// apply's too when a session was created in between); with this, about 70 (callgrind,
// BenchmarkApplySmallRequests). It grows by doubling, so its size follows the sessions
// held (at most SessionsMax): a machine that serves few sessions keeps a small one.
//
// Which slot a key lands in depends on seed and sessionSeed, drawn per index: keys
// (clients choose their session ids) cannot be crafted to collide, which would make each
// lookup a scan. Each word of the key gets its own seed: a word mixed with a constant
// instead has a value (the constant) that makes the multiply's product 0 whatever the
// other word, and sends every key holding it to one home.
// Nothing observable depends on slots: the table's order is the sessions slice's.
type sessionIndex struct {
	slots       []sessionSlot // Length a power of two.
	count       int
	seed        uint64 // Mixed into the key's client.
	sessionSeed uint64 // Mixed into the key's session.
}

// sessionSlot is one slot of the index; position 0 marks it empty (positions are
// stored plus one).
type sessionSlot struct {
	key      sessionKey
	position int
}

// sessionIndexSlotsMin is the index's first size (slots).
const sessionIndexSlotsMin = 16

func newSessionIndex() sessionIndex {
	return sessionIndex{slots: make([]sessionSlot, sessionIndexSlotsMin),
		seed: rand.Uint64() | 1, sessionSeed: rand.Uint64()}
}

// home returns the slot where key's probe starts: a 64×64→128-bit multiply of the key's
// words, folded (wyhash's mix), keyed by the seeds.
func (x *sessionIndex) home(key sessionKey) uint64 {
	high, low := bits.Mul64(key.client^x.seed, key.session^x.sessionSeed)
	return (high ^ low) & uint64(len(x.slots)-1)
}

// find returns key's position.
func (x *sessionIndex) find(key sessionKey) (int, bool) {
	mask := uint64(len(x.slots) - 1)
	for i := x.home(key); ; i = (i + 1) & mask {
		slot := &x.slots[i]
		if slot.position == 0 {
			return 0, false
		}
		if slot.key == key {
			return slot.position - 1, true
		}
	}
}

// insert sets key's position, adding key when it is not indexed.
func (x *sessionIndex) insert(key sessionKey, position int) {
	if 2*(x.count+1) > len(x.slots) {
		x.grow()
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.home(key); ; i = (i + 1) & mask {
		slot := &x.slots[i]
		if slot.position == 0 {
			*slot = sessionSlot{key: key, position: position + 1}
			x.count++
			return
		}
		if slot.key == key {
			slot.position = position + 1
			return
		}
	}
}

// remove drops key, which must be indexed, shifting back the entries of its probe run
// that would not be found past the hole.
func (x *sessionIndex) remove(key sessionKey) {
	mask := uint64(len(x.slots) - 1)
	hole := x.home(key)
	for x.slots[hole].key != key || x.slots[hole].position == 0 {
		if x.slots[hole].position == 0 {
			panic("core: session index: removing a key it does not hold")
		}
		hole = (hole + 1) & mask
	}
	for i := (hole + 1) & mask; x.slots[i].position != 0; i = (i + 1) & mask {
		// The entry at i may move to the hole when its home is not in (hole, i]
		// (cyclically): its probe passes the hole before reaching i.
		home := x.home(x.slots[i].key)
		if (i-home)&mask >= (i-hole)&mask {
			x.slots[hole] = x.slots[i]
			hole = i
		}
	}
	x.slots[hole] = sessionSlot{}
	x.count--
}

// grow doubles the slots and reinserts every entry.
func (x *sessionIndex) grow() {
	old := x.slots
	x.slots, x.count = make([]sessionSlot, 2*len(old)), 0
	for i := range old {
		if old[i].position != 0 {
			x.insert(old[i].key, old[i].position-1)
		}
	}
}
