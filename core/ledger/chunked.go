package ledger

import (
	"unsafe"

	"sequent/core/internal/hugepage"
)

// chunked is an append-mostly array of T stored in fixed-size chunks, so that growth never
// copies (records never move, and a snapshot can keep reading old chunks while the
// sequencer appends) and never allocates more than one chunk at a time.
//
// Owned by the sequencer goroutine. A snapshot view may read chunks [0, count) from another
// goroutine after a happens-before hand-off, because records below the count at hand-off
// time are never written again (see Ledger.Snapshot for the exceptions it copies).
type chunked[T any] struct {
	chunks [][]T  // Each of length chunkRecordCount.
	count  uint32 // Records in use.
	// spare is the next chunk, allocated ahead of need and offered to ahead's populater
	// (allocateAhead), or nil. It is not in chunks: counts, indexes and snapshots never
	// see it until a push takes it into use.
	spare []T
	// ahead is the ledger's populater link for an array that allocates ahead (the ones a
	// transfer appends to), nil for the others.
	ahead *freshSink
}

const (
	// chunkShift sets chunkRecordCount to 65,536 records: 8 MiB of 128-byte records, so a
	// chunk allocation happens once per 65,536 appends (never per event), and the chunk
	// table for 2^32 records is only 64 Ki pointers.
	chunkShift       = 16
	chunkRecordCount = 1 << chunkShift
	chunkMask        = chunkRecordCount - 1
)

func (c *chunked[T]) at(index uint32) *T {
	return &c.chunks[index>>chunkShift][index&chunkMask]
}

// push appends a record and returns its index and address. The record holds whatever
// an undone push left there: the caller must overwrite all of it.
//
// The first chunk starts small and doubles (copying) until it is full, so a push into it
// may move earlier records: addresses from at() are invalid after a push on the same
// array, as with a Go slice. Only the first chunk ever moves, and only while it grows;
// a SnapshotView keeps the old copy, whose records below its count never change.
func (c *chunked[T]) push() (uint32, *T) {
	if index, record, ok := c.pushInPlace(); ok {
		return index, record
	}
	index := c.count
	chunk, offset := index>>chunkShift, index&chunkMask
	if int(chunk) == len(c.chunks) {
		c.chunks = append(c.chunks, c.newChunk(chunk))
	}
	if int(offset) == len(c.chunks[chunk]) {
		c.growFirst(2 * len(c.chunks[chunk]))
	}
	c.count++
	return index, &c.chunks[chunk][offset]
}

// newChunk returns the storage of the given chunk, the next one: a small first chunk
// (it grows by doubling), else the spare allocated ahead when there is one. Taking the
// spare allocates the next one ahead (allocateAhead), so that the populater has the
// whole of this chunk's appends to fault it in.
func (c *chunked[T]) newChunk(chunk uint32) []T {
	if chunk == 0 {
		return make([]T, chunkRecordCountFirst)
	}
	fresh := c.spare
	c.spare = nil
	if fresh == nil {
		fresh = make([]T, chunkRecordCount)
	}
	c.allocateAhead()
	return fresh
}

// allocateAhead allocates the next chunk as the spare and offers it to the populater,
// when the array allocates ahead, a populater is attached and no spare is held: at most
// chunkSparesMax chunk per array is ever allocated ahead.
//
// Unlike reserved chunks (reserve), a spare is not advised for huge pages. Measured with
// BenchmarkSequencerGrowth (package shard; two rounds each in separate processes, load
// ~8): populated in 4 KiB pages, the sequencer's batches while growing took p99 18 and
// 26 ms against 52 and 54 ms when the populater advised the spares first (37 and 42 ms
// without a populater), and its thread 223 against 280-284 cpu-ns per transfer. Likely
// (not measured apart) the kernel compacting memory for huge pages (THP defrag is
// "madvise" here), on the populater's faults and on the sequencer's own; records written
// in order gain little from fewer TLB misses.
func (c *chunked[T]) allocateAhead() {
	if !c.ahead.active() || len(c.spare) != 0 {
		return
	}
	c.spare = make([]T, chunkRecordCount)
	c.ahead.offer(newFreshRange(c.spare))
}

// allocateAheadOfFullChunk is allocateAhead for an array whose last chunk is full-sized
// (when a populater is attached to a ledger that holds such chunks already): an array
// that is empty or still in its growing first chunk allocates ahead once that chunk is
// full-sized (growFirst).
func (c *chunked[T]) allocateAheadOfFullChunk() {
	if len(c.chunks) != 0 && len(c.chunks[len(c.chunks)-1]) == chunkRecordCount {
		c.allocateAhead()
	}
}

// pushInPlace is push when the record fits in the chunks already allocated (ok false,
// and nothing pushed, otherwise): push's first step. It reads the chunk table and the
// chunk once, into locals: read through c after the count's store, they were loaded and
// bounds-checked again. (A transfer's three appends do its test once for all three
// arrays: appendTransfer.)
func (c *chunked[T]) pushInPlace() (index uint32, record *T, ok bool) {
	index = c.count
	chunks := c.chunks
	chunk := int(index >> chunkShift)
	if chunk >= len(chunks) {
		return 0, nil, false
	}
	records := chunks[chunk]
	offset := int(index & chunkMask)
	if offset >= len(records) {
		return 0, nil, false
	}
	c.count = index + 1
	return index, &records[offset], true
}

// firstChunk returns the address of the first chunk's storage (nil before any push): it
// changes when growFirst moves the chunk.
func (c *chunked[T]) firstChunk() *T {
	if len(c.chunks) == 0 {
		return nil
	}
	return unsafe.SliceData(c.chunks[0])
}

// growFirst reallocates the first chunk with the given length (at most a full chunk).
func (c *chunked[T]) growFirst(length int) {
	if len(c.chunks) != 1 || length > chunkRecordCount {
		panic("ledger: only a partial first chunk grows")
	}
	grown := make([]T, length)
	copy(grown, c.chunks[0])
	c.chunks[0] = grown
	if length == chunkRecordCount {
		c.allocateAhead() // The next push that needs a chunk takes a second one.
	}
}

// pop removes the last record (undo of push).
func (c *chunked[T]) pop() {
	if c.count == 0 {
		panic("ledger: chunked pop of an empty array")
	}
	c.count--
}

// reserve allocates chunks up front so that the first count appends allocate nothing,
// and touches every page of them: the kernel maps fresh memory lazily, and first-touch
// page faults on the hot path cost far more than the stores themselves (measured on this
// VM: ~80 ns per 128-byte record appended into untouched memory).
func (c *chunked[T]) reserve(count uint32) {
	if count == 0 {
		return
	}
	if len(c.chunks) == 1 && len(c.chunks[0]) < chunkRecordCount {
		c.growFirst(chunkRecordCount)
		clear(c.chunks[0][c.count:])
	}
	missing := int((uint64(count)+chunkRecordCount-1)/chunkRecordCount) - len(c.chunks)
	if missing <= 0 {
		return
	}
	// One block for all of them, advised whole (hugepage.AdviseCovering): records are
	// read at random, and chunks allocated and advised one by one kept part of each in
	// 4 KiB pages (a TLB miss per access), while a chunk of small records (links,
	// statuses, owners) was too small to hold a huge page at all.
	block := make([]T, missing*chunkRecordCount)
	hugepage.AdviseCovering(block)
	clear(block)
	for i := range missing {
		start, end := i*chunkRecordCount, (i+1)*chunkRecordCount
		c.chunks = append(c.chunks, block[start:end:end])
	}
}

// chunkList returns a copy of the chunk table: the chunks themselves are shared.
func (c *chunked[T]) chunkList() [][]T {
	return append([][]T(nil), c.chunks...)
}

// bytes returns the memory held by the chunks and the spare, given the record size.
func (c *chunked[T]) bytes(recordSize uint64) uint64 {
	var total uint64
	for _, chunk := range c.chunks {
		total += uint64(len(chunk)) * recordSize
	}
	return total + uint64(len(c.spare))*recordSize
}
