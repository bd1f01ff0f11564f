package wal

import (
	"os"
	"syscall"
	"time"

	"sequent/core/invariants"
)

// writerState is owned by the goroutine holding Log.writing: the writer goroutine, or the
// appender in WriteDeferred (and Open before the writer starts). The SyncInterval timer
// is the writer goroutine's alone: WriteDeferred writes only under SyncEvery.
type writerState struct {
	consumed     uint64          // next slot sequence to write
	file         *os.File        // active segment, open for writing
	number       uint64          // active segment number
	segmentBytes int64           // active segment size
	offset       int64           // next write offset in the active segment
	syncedOffset int64           // bytes of the active segment known durable
	link         chainLink       // the last sealed entry
	writtenOp    uint64          // last op written to the file
	unsynced     bool            // bytes written since the last fdatasync
	lastSync     time.Time       // time of the last fdatasync (SyncInterval)
	timer        *time.Timer     // SyncInterval deadline for unsynced bytes
	timerArmed   bool            // timer is running
	buffers      [][]byte        // scratch: one buffer per entry of the current write
	bufferedSize int64           // bytes in buffers
	iovecs       []syscall.Iovec // scratch for writeVector, capacity PipelineDepth
	writeFirst   uint64          // sequence of the slot of buffers[0]
}

// controlRequest is an operation the appender asks of the writer, executed after every
// slot produced before it.
type controlRequest struct {
	kind  controlKind
	op    uint64
	chain [32]byte
	reply chan controlReply
}

type controlKind uint8

const (
	controlClose controlKind = iota
	controlTruncate
	controlStartAfter
)

type controlReply struct {
	link chainLink
	err  error
}

// request sends a control request to the writer and waits for its reply.
func (l *Log) request(r controlRequest) controlReply {
	r.reply = make(chan controlReply, 1)
	l.control <- r
	return <-r.reply
}

// runWriter is the writer goroutine: it writes slots in order, syncs per the policy,
// publishes Durable and serves control requests, until Close. It holds writing while it
// works, so that an appender writing a deferred entry itself (WriteDeferred) and the
// writer never write at once.
func (l *Log) runWriter() {
	defer l.goroutines.Done()
	w := &l.writer
	for {
		var deadline <-chan time.Time
		if w.timerArmed {
			deadline = w.timer.C
		}
		select {
		case <-l.pipeline.wake:
			l.writing.Lock()
			l.writeAvailable()
			l.writing.Unlock()
		case <-deadline:
			l.writing.Lock()
			w.timerArmed = false
			l.syncAndPublish()
			l.writing.Unlock()
		case r := <-l.control:
			l.writing.Lock()
			l.writeAvailable()
			reply := l.serveControl(&r)
			l.writing.Unlock()
			r.reply <- reply
			if r.kind == controlClose {
				return
			}
		}
	}
}

// writeAvailable writes every produced slot, one group commit at a time.
func (l *Log) writeAvailable() {
	w := &l.writer
	p := &l.pipeline
	for {
		end := p.produced.Load()
		if w.consumed == end {
			return
		}
		count := l.collectGroup(w.consumed, end)
		if l.Err() == nil {
			l.writeGroup(w.consumed, count)
			l.stats.groups.Add(1)
		}
		w.consumed += count
		p.consumed.Store(w.consumed) // After publishActiveFree (flushWrite): see room.
		l.signalRoom()
		select {
		case p.freed <- struct{}{}:
		default:
		}
		if l.Err() == nil {
			l.syncPerPolicy()
		}
	}
}

// collectGroup returns how many slots from first form the next group: the first slot
// (waiting for its encoder if need be), then every following slot that is ready, so that
// a slow encoder never holds back a write that could go now.
func (l *Log) collectGroup(first, end uint64) uint64 {
	count := uint64(0)
	for sequence := first; sequence < end; sequence++ {
		s := l.pipeline.slot(sequence)
		switch {
		case s.verbatim:
		case !s.offloaded:
			l.encode(s)
		case count == 0:
			<-s.done
		default:
			select {
			case <-s.done:
			default:
				return count
			}
		}
		count++
	}
	return count
}

// writeGroup seals the slots [first, first+count) and writes them with one pwritev per
// segment touched, rolling to the next segment when an entry does not fit.
func (l *Log) writeGroup(first, count uint64) {
	w := &l.writer
	w.buffers, w.bufferedSize, w.writeFirst = w.buffers[:0], 0, first
	for sequence := first; sequence < first+count; sequence++ {
		s := l.pipeline.slot(sequence)
		if w.offset+w.bufferedSize+int64(len(s.out)) > w.segmentBytes {
			if !l.flushWrite() || !l.roll() {
				return
			}
			w.writeFirst = sequence
		}
		l.seal(s, w.offset+w.bufferedSize)
		w.buffers = append(w.buffers, s.out)
		w.bufferedSize += int64(len(s.out))
	}
	l.flushWrite()
}

// seal fills the slot's header for its place in the log: segment, synced offset, the
// previous chain and its own chain hash. Entries from AppendStored keep their header and
// chain and only get this log's local fields.
func (l *Log) seal(s *slot, offset int64) {
	w := &l.writer
	header := s.out[:entryHeaderSize]
	var h entryHeader
	if s.verbatim {
		restamp(header, w.number, uint32(w.syncedOffset))
		if kind, reason := decodeEntryHeader(header, &h); kind != headerValid {
			panic("wal: restamped stored header does not decode: " + reason)
		}
		if h.PreviousChain != w.link.Chain {
			panic("wal: stored entry does not continue the writer's chain")
		}
	} else {
		h = entryHeader{Codec: s.codec, Count: s.entry.Count, Epoch: s.entry.Epoch,
			Segment: w.number, FirstOp: s.entry.FirstOp, Timestamp: s.entry.Timestamp,
			StoredBytes: uint32(len(s.out) - entryHeaderSize),
			RawBytes:    uint32(len(s.buffer) - entryHeaderSize),
			BodyCRC:     s.bodyCRC, SyncedOffset: uint32(w.syncedOffset),
			PreviousChain: w.link.Chain}
		h.encode(header)
		h.Chain = chainHash(header, &s.digest)
		h.encode(header)
	}
	if reason := w.link.check(&h); reason != "" {
		panic("wal: sealing an entry that does not continue the log: " + reason)
	}
	if invariants.Enabled {
		assertSealed(header, &h)
	}
	w.link.advance(&h)
	s.meta = EntryMeta{Epoch: h.Epoch, FirstOp: h.FirstOp, Count: h.Count,
		Timestamp: h.Timestamp, Segment: h.Segment, Offset: offset, Codec: h.Codec,
		StoredBytes: h.StoredBytes, RawBytes: h.RawBytes, Chain: h.Chain}
	l.chainsMutex.Lock()
	l.chains.push(ChainPoint{LastOp: h.LastOp(), Chain: h.Chain})
	l.chainsMutex.Unlock()
}

// assertSealed is the pair assertion of sealing: the header decodes to what was encoded.
func assertSealed(header []byte, h *entryHeader) {
	var back entryHeader
	kind, reason := decodeEntryHeader(header, &back)
	back.HeaderCRC, back.Magic, back.Version = 0, 0, 0
	sealed := *h
	sealed.HeaderCRC, sealed.Magic, sealed.Version = 0, 0, 0
	if kind != headerValid || back != sealed {
		panic("wal: sealed header does not decode to itself: " + reason)
	}
}

// flushWrite writes the buffered entries with one pwritev, calls the observer, and
// updates the segment index. It returns false after an I/O failure.
func (l *Log) flushWrite() bool {
	w := &l.writer
	if len(w.buffers) == 0 {
		return true
	}
	count := len(w.buffers)
	started := time.Now()
	err := injectedFault(&testHookWrite, l.options.Dir)
	if err == nil {
		err = writeVector(w.file, w.buffers, w.offset, w.iovecs)
	}
	if err != nil {
		l.fail(err)
		return false
	}
	l.latencies.record(&l.latencies.write, time.Since(started))
	if observer := l.observer.Load(); observer != nil {
		for i := range count {
			s := l.pipeline.slot(w.writeFirst + uint64(i))
			(*observer)(s.out, s.meta)
		}
	}
	if tails := l.tails.Load(); tails != nil {
		for i := range count {
			s := l.pipeline.slot(w.writeFirst + uint64(i))
			for _, tail := range *tails {
				tail.push(s.out, s.meta)
			}
		}
	}
	first := l.pipeline.slot(w.writeFirst).meta.FirstOp
	raw := uint64(0)
	for i := range count {
		raw += uint64(l.pipeline.slot(w.writeFirst + uint64(i)).meta.RawBytes)
	}
	l.stats.rawBytes.Add(raw)
	l.stats.entries.Add(uint64(count))
	l.stats.storedBytes.Add(uint64(w.bufferedSize))
	w.offset += w.bufferedSize
	l.publishActiveFree()
	w.buffers, w.bufferedSize = w.buffers[:0], 0
	w.unsynced, w.writtenOp = true, w.link.LastOp
	l.segmentsMutex.Lock()
	active := &l.segments[len(l.segments)-1]
	if active.Entries == 0 {
		active.FirstOp = first
	}
	active.Entries += count
	active.LastOp, active.EndOffset = w.writtenOp, w.offset
	l.segmentsMutex.Unlock()
	l.chainsMutex.Lock()
	l.chainsCond.Broadcast()
	l.chainsMutex.Unlock()
	return true
}

// roll makes the active segment durable and switches to the prepared next one. Syncing
// before the first write to the next segment keeps the invariant recovery relies on: a
// segment followed by a non-empty segment is complete, so only the last one can be torn.
func (l *Log) roll() bool {
	w := &l.writer
	if !l.syncAndPublish() {
		return false
	}
	if err := w.file.Close(); err != nil {
		l.logger.Warn("wal: closing a full segment", "segment", w.number, "error", err)
	}
	w.file = nil
	// Append reserved room only with a prepared segment ready (room.go), so it is here.
	p := <-l.prepared
	l.room.preparedFreeBytes.Store(0)
	if p.number != w.number+1 {
		panic("wal: prepared segment " + decimal(p.number) + " does not follow " + decimal(w.number))
	}
	l.prepareRequests <- p.number + 1 // never blocks: one request at a time
	l.stats.rolls.Add(1)
	w.file, w.number, w.segmentBytes = p.file, p.number, p.bytes
	w.offset, w.syncedOffset = segmentHeaderSize, segmentHeaderSize
	l.publishActiveFree()
	l.segmentsMutex.Lock()
	l.segments = append(l.segments, segmentInfo{Number: p.number, Path: p.path,
		Bytes: p.bytes, EndOffset: segmentHeaderSize})
	l.segmentsMutex.Unlock()
	return true
}

// syncPerPolicy syncs and publishes after a group write as the policy says.
func (l *Log) syncPerPolicy() {
	w := &l.writer
	switch l.options.Sync {
	case SyncEvery:
		l.syncAndPublish()
	case SyncNone:
		l.publishDurable(w.writtenOp)
	case SyncInterval:
		elapsed := time.Since(w.lastSync)
		if elapsed >= l.options.SyncInterval {
			l.syncAndPublish()
		} else if !w.timerArmed {
			w.timer.Reset(l.options.SyncInterval - elapsed)
			w.timerArmed = true
		}
	}
}

// syncAndPublish fdatasyncs the active segment if bytes were written since the last sync
// and publishes the written op as durable. A failed fdatasync is final (fsyncgate): the
// kernel may have dropped the dirty pages, so a retry could report success for lost data.
func (l *Log) syncAndPublish() bool {
	w := &l.writer
	if l.Err() != nil {
		return false
	}
	if !w.unsynced {
		return true
	}
	started := time.Now()
	err := injectedFault(&testHookSync, l.options.Dir)
	if err == nil {
		err = syncData(w.file)
	}
	if err != nil {
		l.fail(err)
		return false
	}
	l.latencies.record(&l.latencies.sync, time.Since(started))
	l.stats.syncs.Add(1)
	w.unsynced, w.syncedOffset, w.lastSync = false, w.offset, time.Now()
	l.publishDurable(w.writtenOp)
	return true
}

// serveControl executes a control request once every earlier slot is written.
func (l *Log) serveControl(r *controlRequest) controlReply {
	w := &l.writer
	switch r.kind {
	case controlClose:
		l.syncAndPublish()
		if w.timerArmed {
			w.timer.Stop()
		}
		var err error
		if w.file != nil {
			err = w.file.Close()
		}
		return controlReply{err: err}
	case controlTruncate:
		return l.truncateOnWriter(r.op)
	case controlStartAfter:
		if w.link.Known {
			return controlReply{err: ErrNotBoundary}
		}
		if err := l.Err(); err != nil {
			return controlReply{err: err}
		}
		if r.op != 0 {
			if err := l.recordBase(ChainPoint{LastOp: r.op, Chain: r.chain}); err != nil {
				return controlReply{err: err}
			}
		}
		w.link = chainLink{Known: true, LastOp: r.op, Chain: r.chain}
		l.chainsMutex.Lock()
		l.chains.push(ChainPoint{LastOp: r.op, Chain: r.chain})
		l.chainsCond.Broadcast()
		l.chainsMutex.Unlock()
		l.publishDurable(r.op)
		return controlReply{link: w.link}
	}
	panic("wal: unknown control request")
}
