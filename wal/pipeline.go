package wal

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"time"

	"sequent/core/invariants"
)

// pipeline is the bounded ring of slots between the appending goroutine and the writer.
// The appender fills slot produced%depth and advances produced; encoders compress large
// bodies in any order; the writer seals and writes slots in ring order and advances
// consumed. Slot buffers grow to the largest entry seen and are then reused, so the
// steady state allocates nothing and the memory is bounded by depth.
type pipeline struct {
	slots       []slot
	produced    atomic.Uint64 // slots handed over; written by the appender
	consumed    atomic.Uint64 // slots released; written by the writer
	wake        chan struct{} // capacity 1: appender → writer, "slots produced"
	freed       chan struct{} // capacity 1: writer → appender, "slots released"
	encodeQueue chan uint64   // appender → encoders: sequence numbers of large bodies
}

// slot is one queued entry. Between the appender's hand-over and the writer's release it
// belongs to the encoder (if offloaded, until done is signalled) and then the writer.
type slot struct {
	entry         Entry  // metadata of the entry; Body is nil (the body is in buffer)
	reservedBytes int64  // room reserved for it (room.go), given back once written
	verbatim      bool   // from AppendStored: buffer holds a complete stored entry
	offloaded     bool   // compressed and hashed by an encoder goroutine
	buffer        []byte // entryHeaderSize bytes of header room, then the raw body
	compressed    []byte // entryHeaderSize bytes of header room, then the compressed body
	out           []byte // header and stored body as written: a prefix of buffer or compressed
	codec         Codec
	bodyCRC       uint32
	digest        [32]byte      // SHA-256 of the stored body
	meta          EntryMeta     // set when sealed, for the observer
	done          chan struct{} // capacity 1: encoder → writer, "encoded"
}

func (p *pipeline) init(depth int) {
	p.slots = make([]slot, depth)
	p.wake = make(chan struct{}, 1)
	p.freed = make(chan struct{}, 1)
	p.encodeQueue = make(chan uint64, depth)
	for i := range p.slots {
		p.slots[i].done = make(chan struct{}, 1)
	}
}

func (p *pipeline) slot(sequence uint64) *slot {
	return &p.slots[sequence%uint64(len(p.slots))]
}

// appenderState is what the appending goroutine knows of the log's end, ahead of the
// writer: the link the next entry must continue.
type appenderState struct {
	link         chainLink
	chainPending bool // link.Chain is not known yet: the last entry is still being sealed
	deferring    bool // AppendDeferred is queuing an entry: handOver leaves the writer asleep
	deferred     bool // entries are queued and the writer was not told (deferred.go)
}

// Append queues e for writing and returns without waiting for the disk; it blocks only
// while PipelineDepth entries are queued, or while the next segment is being prepared and
// e might not fit before it. It returns ErrLogFull, queuing nothing, when e might not fit
// and the next segment cannot be prepared (room.go). The body is copied. e must continue the log:
// FirstOp == LastOp()+1 (1 on an empty log), Count >= 1, Epoch not below the previous
// one, Timestamp above the previous one, Body at most EntryBodyBytesMax; anything else
// is a bug in the caller and panics. Appending goroutine only.
func (l *Log) Append(e Entry) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if err := l.Err(); err != nil {
		return err
	}
	if !l.appender.deferring {
		l.announceDeferred() // Else AppendDeferred queues one more behind it (deferred.go).
	}
	assertContinues(&l.appender.link, &e)
	reserved := int64(entryHeaderSize + len(e.Body))
	if err := l.reserve(reserved); err != nil {
		return err
	}
	s := l.acquireSlot()
	s.reservedBytes = reserved
	s.entry = Entry{Epoch: e.Epoch, FirstOp: e.FirstOp, Count: e.Count, Timestamp: e.Timestamp}
	s.verbatim = false
	s.offloaded = len(e.Body) > encodeInlineBytesMax
	s.buffer = grow(s.buffer, entryHeaderSize+len(e.Body))
	copy(s.buffer[entryHeaderSize:], e.Body)
	l.handOver(s.offloaded)
	l.appender.link = chainLink{Known: true, LastOp: e.LastOp(), Epoch: e.Epoch,
		Timestamp: e.Timestamp}
	l.appender.chainPending = true
	l.lastOp.Store(e.LastOp())
	return nil
}

// assertContinues panics unless e continues the log ending at link: these are the
// sequencer's invariants, and a violation means it is broken.
func assertContinues(link *chainLink, e *Entry) {
	switch {
	case e.Count == 0:
		panic("wal: Append of an entry with zero commands")
	case len(e.Body) > EntryBodyBytesMax:
		panic(fmt.Sprintf("wal: Append of a %d-byte body, above EntryBodyBytesMax", len(e.Body)))
	case !link.Known && e.FirstOp != 1:
		panic(fmt.Sprintf("wal: first Append to an empty log at op %d, not 1 (StartAfter?)", e.FirstOp))
	case link.Known && e.FirstOp != link.LastOp+1:
		panic(fmt.Sprintf("wal: Append at op %d after op %d", e.FirstOp, link.LastOp))
	case e.LastOp() < e.FirstOp:
		panic("wal: Append op range overflows")
	case e.Epoch < link.Epoch:
		panic(fmt.Sprintf("wal: Append epoch %d after epoch %d", e.Epoch, link.Epoch))
	case link.Known && e.Timestamp <= link.Timestamp:
		panic(fmt.Sprintf("wal: Append timestamp %d not after %d", e.Timestamp, link.Timestamp))
	}
}

// acquireSlot waits until a slot is free and returns it. When every slot is free, the
// slot gets the buffers of the one written last, which the cache still holds: with one
// entry at a time (a lone client's full batches), going round the ring's buffers instead
// made the copy of a 1 MiB body and its compression write to memory untouched for
// PipelineDepth entries, a cache miss on every line.
func (l *Log) acquireSlot() *slot {
	p := &l.pipeline
	produced := p.produced.Load()
	for produced-p.consumed.Load() >= uint64(len(p.slots)) {
		l.wakeWriter() // A slot AppendDeferred queued may be what holds the ring full.
		<-p.freed
	}
	s := p.slot(produced)
	if produced > 0 && p.consumed.Load() == produced {
		// The last slot is written and released: nobody reads its buffers any more.
		last := p.slot(produced - 1)
		s.buffer, last.buffer = last.buffer, s.buffer
		s.compressed, last.compressed = last.compressed, s.compressed
	}
	return s
}

// handOver publishes the slot filled last to the writer (and to an encoder).
func (l *Log) handOver(offloaded bool) {
	p := &l.pipeline
	sequence := p.produced.Load()
	if offloaded {
		p.encodeQueue <- sequence // never blocks: capacity is the ring size
	}
	p.produced.Store(sequence + 1)
	if !l.appender.deferring {
		l.wakeWriter()
	}
}

// grow returns b resized to n bytes, reallocating only when its capacity is short.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// runEncoder compresses and hashes offloaded slots until Close.
func (l *Log) runEncoder() {
	defer l.encoders.Done()
	for sequence := range l.pipeline.encodeQueue {
		s := l.pipeline.slot(sequence)
		started := time.Now()
		l.encode(s)
		// Recorded before done, so that once the entry is written its encoding is counted.
		l.latencies.record(&l.latencies.encode, time.Since(started))
		s.done <- struct{}{}
	}
}

// encode compresses the slot's body if it pays, and computes the stored body's CRC32C
// and SHA-256. It runs on an encoder or, for small bodies, on the writer.
func (l *Log) encode(s *slot) {
	raw := s.buffer[entryHeaderSize:]
	s.out = s.buffer
	s.codec = CodecNone
	if l.options.Compression != CodecNone && len(raw) >= compressBytesMin {
		s.compressed = grow(s.compressed, entryHeaderSize+compressBound(len(raw)))
		stored, codec := compress(l.options.Compression, s.compressed[entryHeaderSize:], raw)
		if codec != CodecNone {
			if &stored[0] != &s.compressed[entryHeaderSize] {
				panic("wal: compressed body not in the slot's buffer")
			}
			s.out, s.codec = s.compressed[:entryHeaderSize+len(stored)], codec
			if invariants.Enabled {
				assertDecompresses(stored, codec, raw)
			}
		}
	}
	body := s.out[entryHeaderSize:]
	s.bodyCRC = crc32c(body)
	s.digest = sha256.Sum256(body)
}

// assertDecompresses is the pair assertion of compression: decoding must give back the
// raw body.
func assertDecompresses(stored []byte, codec Codec, raw []byte) {
	back, err := decompress(nil, stored, codec, len(raw))
	if err != nil || !bytes.Equal(back, raw) {
		panic(fmt.Sprintf("wal: %v body does not decompress to its raw bytes: %v", codec, err))
	}
}
