package shard

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
)

// inputRing is the shard's bounded input queue: many producers (network event loops),
// one consumer (the sequencer). Requests are stored already encoded in the log's entry
// format (core.AppendRequest), in a byte ring, with a metadata ring beside it.
//
// The mutex is held only to reserve space and to publish or take metadata, never while a
// large body is copied: a producer reserves its region, copies outside the lock, then
// publishes; the consumer takes published metadata, copies outside the lock, then frees.
// A small request (ringCopyUnderLockBytesMax) is copied and published in the same hold
// of the mutex as its reservation instead. A producer finding no room gets busy at once;
// nobody ever waits for room.
//
// Positions are absolute byte counters (never wrapping in practice: 2^64 bytes); the
// region of a request never wraps around the end of the buffer: if it does not fit
// before the end, the tail of the buffer is skipped.
type inputRing struct {
	mutex     sync.Mutex
	buffer    []byte        // Capacity: a power of two.
	metadata  []requestMeta // Capacity: a power of two.
	head      uint64        // Next byte to reserve.
	tail      uint64        // First byte still in use.
	published uint64        // Metadata records published (written).
	reserved  uint64        // Metadata records reserved.
	taken     uint64        // Metadata records taken by the consumer.
	closed    bool          // No more submissions.
	accepted  uint64        // Requests queued with a connection: each is owed one answer.
	// cancels are the clients whose cancel-on-disconnect found no room (pushCancel), in
	// the order their sessions ended. While any is pending the ring takes nothing else,
	// so each goes into the ring at the place its session ended (release queues them as
	// soon as there is room): after every request queued before, before every request
	// queued after.
	cancels waitingCancels
	// stampLast is the last Received stamp a push converted, receivedLast its value on the
	// monotonicNow scale (receivedLocked): the event loop stamps every request of one
	// read with one clock reading, so the pushes of a read convert it once.
	stampLast    time.Time
	receivedLast int64
	// barriers counts the calls of barrier. It has a cache line of its own, so that the
	// sequencer's load of it every turn does not share the line that the producers
	// write at every push (the fields above).
	_        [cacheLineBytes]byte
	barriers atomic.Uint64
}

// cacheLineBytes is the size of a CPU cache line (x86-64 and most arm64 cores).
const cacheLineBytes = 64

// anyBarriers is the barrier count given to takeUpTo by a take that ignores barriers.
const anyBarriers = math.MaxUint64

// requestMeta describes one queued request.
type requestMeta struct {
	connection uint64
	start      uint64 // Absolute byte position of the encoded request.
	end        uint64 // Absolute position after it (including any skipped tail before it).
	length     uint32 // Encoded bytes.
	write      bool   // Goes through the log (else a query).
	received   int64  // Monotonic ns when queued (for latency).
	ticket     uint64 // Its position in the ring's order, unique for the shard's life.
	barriers   uint64 // The ring's barrier count when it was queued (takeUpTo).
	ready      bool   // Published by its producer.
}

// ringCopyUnderLockBytesMax is the largest encoded request push copies while it holds
// the mutex, so that it takes the mutex once rather than twice (reserve, then publish).
// The mutex's cache line is shared with the sequencer on the other core, and taking it
// costs a miss whenever the sequencer took it last: with one-transfer requests (160
// bytes encoded) the second acquisition was most of a push's cost. Copying 1 KiB takes
// less time than that miss, so holding the mutex over it delays the sequencer less than
// the second acquisition did.
const ringCopyUnderLockBytesMax = 1024

func newInputRing(bytes int, requests int) *inputRing {
	return &inputRing{buffer: make([]byte, bytes), metadata: make([]requestMeta, requests)}
}

// push copies a request into the ring. It returns StatusBusy when there is no room and
// StatusShuttingDown once closed.
func (r *inputRing) push(request *backend.Request, write bool) model.Status {
	status, _ := r.pushCounting(request, write)
	return status
}

// pushCounting is push that also returns the requests queued once it is done (depth's
// figure, read in the same hold of the mutex): SubmitDeferred decides from it whether
// to wake the sequencer, and a second acquisition of the mutex, whose line the
// sequencer shares, cost a cache miss per request.
func (r *inputRing) pushCounting(request *backend.Request, write bool) (model.Status, int) {
	length := core.EncodedRequestSize(len(request.Body))
	stamped := !request.Received.IsZero()
	var received int64
	if !stamped {
		received = monotonicNow()
	}
	r.mutex.Lock()
	if r.closed {
		r.mutex.Unlock()
		return model.StatusShuttingDown, 0
	}
	if r.cancels.any() { // Nothing may overtake a waiting cancel-on-disconnect.
		r.mutex.Unlock()
		return model.StatusBusy, 0
	}
	if stamped {
		received = r.receivedLocked(request.Received)
	}
	slot, start, ok := r.reserveLocked(request.Connection, length, write, received)
	if !ok {
		r.mutex.Unlock()
		return model.StatusBusy, 0
	}
	if length <= ringCopyUnderLockBytesMax {
		r.encode(start, length, request)
		r.publishLocked(slot)
		depth := int(r.reserved - r.taken)
		r.mutex.Unlock()
		return model.StatusOK, depth
	}
	r.mutex.Unlock()

	r.encode(start, length, request)

	r.mutex.Lock()
	r.publishLocked(slot)
	depth := int(r.reserved - r.taken)
	r.mutex.Unlock()
	return model.StatusOK, depth
}

// reserveLocked reserves room for an encoded request of length bytes and its metadata
// slot, and returns the slot and where its bytes start; ok false: no room. Called with
// the mutex held.
func (r *inputRing) reserveLocked(connection uint64, length int, write bool,
	received int64) (slot uint64, start uint64, ok bool) {
	size := uint64(len(r.buffer))
	start = r.head
	if r.tail == r.head && start%size != 0 {
		// Nothing is queued or being read: begin again at the front of the buffer, whose
		// lines the last requests left in the cache. Going on into memory the ring last
		// used a lap ago made the copy of a full batch miss the cache on every line
		// (p50 0.07 ms, p90 1.8-3.8 ms with 1 request of 8,189 transfers in flight; at the
		// front, p50 0.03 ms, p90 0.08-0.15 ms).
		start += size - start%size
		r.tail = start
	}
	if offset := start % size; offset+uint64(length) > size {
		start += size - offset // Skip the tail: a request never wraps.
	}
	end := start + uint64(length)
	if end-r.tail > size || r.reserved-r.taken == uint64(len(r.metadata)) {
		return 0, 0, false
	}
	r.head = end
	slot = r.reserved
	r.reserved++
	if connection != 0 {
		r.accepted++
	}
	r.metadata[slot%uint64(len(r.metadata))] = requestMeta{connection: connection,
		start: start, end: end, length: uint32(length), write: write, received: received,
		ticket: slot, barriers: r.barriers.Load()}
	return slot, start, true
}

// pushCancel queues the internal request that cancels client's open orders
// (cancel_session) at the ring's current end: after every request queued before it,
// before every request queued after it, so that it cancels what the ended session
// placed and nothing its client places later. With no room now it waits in the ring's
// list and the ring refuses every other request (busy) until release has queued it;
// it is dropped only when the ring closes or the log fails (dropCancels). It returns
// StatusOK once queued or waiting, StatusShuttingDown once the ring is closed, and
// StatusBusy only when cancelsPendingMax other clients wait already (see there: not
// with a valid keys file).
func (r *inputRing) pushCancel(client uint64) model.Status {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	if r.closed {
		return model.StatusShuttingDown
	}
	if !r.cancels.any() && r.queueCancelLocked(client) {
		return model.StatusOK
	}
	if !r.cancels.add(client) {
		return model.StatusBusy
	}
	return model.StatusOK
}

// queueCancelLocked queues client's cancel_session request if there is room. Called
// with the mutex held; its 8-byte body is copied under it.
func (r *inputRing) queueCancelLocked(client uint64) bool {
	var body [8]byte
	binary.LittleEndian.PutUint64(body[:], client)
	request := backend.Request{Operation: model.OperationCancelSession, Body: body[:]}
	length := core.EncodedRequestSize(len(body))
	slot, start, ok := r.reserveLocked(0, length, true, monotonicNow())
	if !ok {
		return false
	}
	r.encode(start, length, &request)
	r.publishLocked(slot)
	return true
}

// queueWaitingCancelsLocked queues the waiting cancels, in order, as far as there is
// room; the ring takes other requests again once none is left. Called with the mutex
// held.
func (r *inputRing) queueWaitingCancelsLocked() {
	queued := 0
	for _, client := range r.cancels.waiting() {
		if !r.queueCancelLocked(client) {
			break
		}
		queued++
	}
	r.cancels.done(queued)
}

// receivedLocked returns a request's non-zero Received stamp on the monotonicNow scale
// (no clock read: the event loop read the clock once for every request of one read).
// A stamp equal to the last one converted (the same clock reading: == compares the wall
// and monotonic readings and the location, all of what Sub reads) gives the same value
// without Time.Sub, ~49 instructions a request (callgrind, session 45): a read's
// requests reach the ring in a row but for the other event loop's pushes between them,
// so the conversion runs about once per read. Called with the mutex held, which guards
// the cache: the event loops push at once.
func (r *inputRing) receivedLocked(stamp time.Time) int64 {
	if stamp != r.stampLast {
		r.stampLast, r.receivedLast = stamp, int64(stamp.Sub(processStart))
	}
	return r.receivedLast
}

// encode writes request, encoded, into its reserved region of length bytes at start.
func (r *inputRing) encode(start uint64, length int, request *backend.Request) {
	offset := start % uint64(len(r.buffer))
	encoded := core.AppendRequest(r.buffer[offset:offset:offset+uint64(length)], &core.Request{
		Client: request.Client, Session: request.Session, Number: request.Number,
		Operation: request.Operation, Flags: request.Flags, Body: request.Body})
	if len(encoded) != length {
		panic("shard: encoded request length differs from its reservation")
	}
}

// publishLocked marks the request of metadata slot written, and publishes it with every
// written request after it, once every request before it is published. Called with the
// mutex held.
func (r *inputRing) publishLocked(slot uint64) {
	r.metadata[slot%uint64(len(r.metadata))].ready = true
	for r.published < r.reserved && r.metadata[r.published%uint64(len(r.metadata))].ready {
		r.published++
	}
}

// take returns up to limit published requests (in order) and whether the ring is closed.
// The caller reads their bytes with bytes() and must call release with the last one. It
// keeps no read-before-write order (takeUpTo does): its callers answer everything they
// take with one status at once, in the ring's order.
func (r *inputRing) take(into []requestMeta, limit int, bytesMax int) ([]requestMeta, bool) {
	into, closed, _ := r.takeFrom(into, limit, bytesMax, true, anyBarriers, false)
	return into, closed
}

// barrier orders what its caller did before it (SetGrants: a new grant table) before
// every request pushed after it, for a consumer that reads barrierCount first, acts on
// what it sees (the sequencer: the grant table's check), then takes with that count:
// takeUpTo stops at the first request queued after a barrier that came since, which the
// consumer's next take (counting again) finds. A push records the count it sees; it
// needs no mutex: a push that returns after barrier did loads the count after it.
// Requests queued before the barrier are still taken: a stream of barriers (a reload
// between every check and take) delays only those queued after each, by one turn.
func (r *inputRing) barrier() { r.barriers.Add(1) }

// barrierCount returns how many barriers were set so far.
func (r *inputRing) barrierCount() uint64 { return r.barriers.Load() }

// takeUpTo is the sequencer's take for a turn. With writes false it stops before the
// first write: it stays queued, first, for the next take. It stops before the first
// request queued after a barrier set since its caller read barriersSeen (barrierCount),
// unless that is anyBarriers. And it stops before a write whose connection has a read
// among the requests taken (ordered reports that it did): the turn answers its reads
// against the state after its whole entry, and after the entry's replies, so a read
// taken with a later write of its own connection would see that write and be answered
// after it (PROTOCOL.md section 6: one connection's requests are processed, and
// answered, in the order received). A turn thus holds, per connection, its writes and
// then its reads. Writes of other connections are taken on: no order is promised
// between connections, and a read concurrent with a write may see it (linearizable).
func (r *inputRing) takeUpTo(into []requestMeta, limit int, bytesMax int,
	writes bool, barriersSeen uint64) (taken []requestMeta, closed bool, ordered bool) {
	return r.takeFrom(into, limit, bytesMax, writes, barriersSeen, true)
}

// readingConnectionsBits is the size of takeFrom's set of the connections that have a
// read among the requests taken, a bitmap indexed by the connection id modulo its size.
// Two connections that share a bit cost at most a needless stop (an entry ended early),
// never a missed one. The network layer's ids hold their connection table's slot in
// their low bits and a node router's are consecutive, so up to this many connections at
// once never share one. 1,024 bits: 128 bytes zeroed per take.
const readingConnectionsBits = 1024

// takeFrom is take and takeUpTo; inOrder keeps one connection's reads before its writes
// (takeUpTo), and ordered reports a stop for that.
func (r *inputRing) takeFrom(into []requestMeta, limit int, bytesMax int, writes bool,
	barriersSeen uint64, inOrder bool) (taken []requestMeta, closed bool, ordered bool) {
	var reading [readingConnectionsBits / 64]uint64
	anyReading := false
	r.mutex.Lock()
	defer r.mutex.Unlock()
	total := 0
	for r.taken < r.published && len(into) < limit {
		meta := r.metadata[r.taken%uint64(len(r.metadata))]
		if (len(into) > 0 && total+int(meta.length) > bytesMax) || (meta.write && !writes) ||
			meta.barriers > barriersSeen {
			break
		}
		if inOrder && !meta.write {
			bit := meta.connection % readingConnectionsBits
			reading[bit/64] |= 1 << (bit % 64)
			anyReading = true
		} else if anyReading {
			if bit := meta.connection % readingConnectionsBits; reading[bit/64]&(1<<(bit%64)) != 0 {
				ordered = true
				break
			}
		}
		total += int(meta.length)
		into = append(into, meta)
		r.taken++
	}
	return into, r.closed && r.taken == r.reserved, ordered
}

// bytes returns the encoded request of meta.
func (r *inputRing) bytes(meta *requestMeta) []byte {
	offset := meta.start % uint64(len(r.buffer))
	return r.buffer[offset : offset+uint64(meta.length)]
}

// release frees the ring space up to and including meta, and queues the waiting
// cancels (pushCancel) into the room it made.
func (r *inputRing) release(meta *requestMeta) {
	r.mutex.Lock()
	r.tail = meta.end
	if r.cancels.any() {
		r.queueWaitingCancelsLocked()
	}
	r.mutex.Unlock()
}

// cancelsWaiting returns how many cancels wait for room (pushCancel), for tests.
func (r *inputRing) cancelsWaiting() int {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return r.cancels.count()
}

// close refuses further submissions; queued requests are still taken. Cancels still
// waiting for room are dropped (dropCancels): they were not queued, like a request
// refused shutting_down. It returns how many were dropped.
func (r *inputRing) close() int {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	r.closed = true
	return r.cancels.drop()
}

// dropCancels drops the cancels waiting for room (pushCancel) and returns how many: the
// sequencer will not log them (its log failed), and while they wait the ring would
// refuse every request, the reads it still answers included.
func (r *inputRing) dropCancels() int {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return r.cancels.drop()
}

// queuedBytes returns the bytes of the requests queued and not yet taken.
func (r *inputRing) queuedBytes() uint64 {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	if r.taken == r.reserved {
		return 0
	}
	return r.head - r.metadata[r.taken%uint64(len(r.metadata))].start
}

// acceptedCount returns how many requests with a connection were queued so far.
func (r *inputRing) acceptedCount() uint64 {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return r.accepted
}

// depth returns the queued request count, for stats.
func (r *inputRing) depth() int {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return int(r.reserved - r.taken)
}
