package wal

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LastChain is the chain hash of the last entry appended (zero if the log is empty). If
// that entry is still being compressed it waits until the writer has sealed it (well
// under a millisecond), the first entry of a new log included (the chain ring is empty
// until then); after an I/O failure it returns the last sealed chain.
func (l *Log) LastChain() [32]byte {
	target := l.lastOp.Load()
	l.chainsMutex.Lock()
	defer l.chainsMutex.Unlock()
	for {
		last, ok := l.chains.last()
		if target == 0 || (ok && last.LastOp >= target) || l.Err() != nil {
			return last.Chain
		}
		l.chainsCond.Wait()
	}
}

// ChainAt returns the chain hash of the entry whose last op is op, if the log holds such
// an entry and it has been sealed, or of the base the log starts after (StartAfter, or a
// truncation that emptied the log: recorded in its segment header, so it answers after a
// reopen too, while its first entry is in the log). A demoted primary compares it with
// the new primary's to find the last op they share.
func (l *Log) ChainAt(op uint64) ([32]byte, bool) {
	l.chainsMutex.Lock()
	chain, found := l.chains.find(op)
	covered := l.chains.covers(op)
	l.chainsMutex.Unlock()
	if found || covered {
		return chain, found
	}
	info, ok := l.segmentHolding(op)
	if !ok {
		return [32]byte{}, false
	}
	err := l.scanHeadersOf(info, func(h *entryHeader, _ int64) bool {
		if h.LastOp() == op {
			chain, found = h.Chain, true
		}
		return h.LastOp() < op
	})
	return chain, found && err == nil
}

// segmentHolding returns the index entry of the segment whose entries include op.
func (l *Log) segmentHolding(op uint64) (segmentInfo, bool) {
	l.segmentsMutex.Lock()
	defer l.segmentsMutex.Unlock()
	for _, info := range l.segments {
		if info.Entries > 0 && info.FirstOp <= op && op <= info.LastOp {
			return info, true
		}
	}
	return segmentInfo{}, false
}

// AppendStored appends an entry received from a primary in its exact stored form (header
// and stored body, as given to the primary's observer). It checks the header checksum,
// the body checksum, the entry's own chain hash, and that the entry continues this log
// (op, previous chain, epoch, timestamp); then it appends the bytes verbatim except for
// this log's local fields (segment number, synced offset, header checksum), which the
// chain does not cover, so both logs keep identical chain hashes. Errors wrap ErrCorrupt,
// ErrVersion or ErrDiscontinuity; ErrLogFull as for Append. Appending goroutine only.
func (l *Log) AppendStored(stored []byte) error {
	l.announceDeferred() // Before LastChain below, which waits for the writer to seal.
	if l.closed.Load() {
		return ErrClosed
	}
	if err := l.Err(); err != nil {
		return err
	}
	h, err := validateStored(stored)
	if err != nil {
		return err
	}
	if l.appender.chainPending {
		l.appender.link.Chain = l.LastChain()
		l.appender.chainPending = false
	}
	if reason := l.appender.startCheck(&h); reason != "" {
		return fmt.Errorf("%w: op %d: %s", ErrDiscontinuity, h.FirstOp, reason)
	}
	if err := l.reserve(int64(len(stored))); err != nil {
		return err
	}
	s := l.acquireSlot()
	s.reservedBytes = int64(len(stored))
	s.entry = Entry{Epoch: h.Epoch, FirstOp: h.FirstOp, Count: h.Count, Timestamp: h.Timestamp}
	s.verbatim, s.offloaded = true, false
	s.buffer = grow(s.buffer, len(stored))
	copy(s.buffer, stored)
	s.out = s.buffer
	l.handOver(false)
	l.appender.link.advance(&h)
	l.lastOp.Store(h.LastOp())
	return nil
}

// startCheck is chainLink.check plus the rule for an empty log without a base: the first
// entry is op 1 on a zero previous chain.
func (a *appenderState) startCheck(h *entryHeader) string {
	if !a.link.Known && (h.FirstOp != 1 || h.PreviousChain != [32]byte{}) {
		return "first entry of an empty log must be op 1 (StartAfter sets another base)"
	}
	return a.link.check(h)
}

// validateStored checks a stored entry on its own: header, body checksum, chain hash.
func validateStored(stored []byte) (entryHeader, error) {
	var h entryHeader
	if len(stored) < entryHeaderSize {
		return h, fmt.Errorf("%w: stored entry of %d bytes", ErrCorrupt, len(stored))
	}
	kind, reason := decodeEntryHeader(stored, &h)
	switch kind {
	case headerValid:
	case headerVersion:
		return h, fmt.Errorf("%w: %s", ErrVersion, reason)
	default:
		return h, fmt.Errorf("%w: %s", ErrCorrupt, reason)
	}
	body := stored[entryHeaderSize:]
	if len(body) != int(h.StoredBytes) {
		return h, fmt.Errorf("%w: op %d: %d body bytes, header says %d",
			ErrCorrupt, h.FirstOp, len(body), h.StoredBytes)
	}
	if crc32c(body) != h.BodyCRC {
		return h, fmt.Errorf("%w: op %d: body checksum mismatch", ErrCorrupt, h.FirstOp)
	}
	digest := sha256.Sum256(body)
	if chainHash(stored, &digest) != h.Chain {
		return h, fmt.Errorf("%w: op %d: chain hash does not match the entry", ErrCorrupt, h.FirstOp)
	}
	return h, nil
}

// DecodeStored validates a stored entry (as AppendStored does, without the continuity
// check) and returns it as an Entry with its body decompressed into buffer (grown if
// needed; the Body may alias stored or buffer). A standby uses it to apply what it
// appends.
func DecodeStored(stored, buffer []byte) (Entry, EntryMeta, error) {
	h, err := validateStored(stored)
	if err != nil {
		return Entry{}, EntryMeta{}, err
	}
	body, err := decompress(buffer, stored[entryHeaderSize:], h.Codec, int(h.RawBytes))
	if err != nil {
		return Entry{}, EntryMeta{}, fmt.Errorf("%w: op %d: %v", ErrCorrupt, h.FirstOp, err)
	}
	entry := Entry{Epoch: h.Epoch, FirstOp: h.FirstOp, Count: h.Count, Timestamp: h.Timestamp,
		Body: body}
	meta := EntryMeta{Epoch: h.Epoch, FirstOp: h.FirstOp, Count: h.Count,
		Timestamp: h.Timestamp, Segment: h.Segment, Codec: h.Codec,
		StoredBytes: h.StoredBytes, RawBytes: h.RawBytes, Chain: h.Chain}
	return entry, meta, nil
}

// StartAfter sets the base of an empty log: the next entry must be op+1 and link to
// chain. A standby or a node restored from a snapshot at op uses it (with the snapshot's
// Chain) so that its log continues the primary's chain. The base is durable when it
// returns: the active segment's header records it (segmentVersionBase), so that the log
// reopened before its first entry still ends at op (LastOp, LastChain, ChainAt(op)) and
// recovery tells it from a log that lost its entries. Appending goroutine only.
func (l *Log) StartAfter(op uint64, chain [32]byte) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.appender.link.Known {
		return fmt.Errorf("%w: StartAfter on a log that is not empty (last op %d)",
			ErrNotBoundary, l.appender.link.LastOp)
	}
	reply := l.request(controlRequest{kind: controlStartAfter, op: op, chain: chain})
	if reply.err != nil {
		return reply.err
	}
	l.appender.link, l.appender.chainPending = reply.link, false
	l.lastOp.Store(op)
	return nil
}

// TruncateAfter discards every entry with FirstOp > op and makes the result durable
// before returning. op must be the last op of an entry (or the op before the first
// entry, which empties the log); otherwise it returns ErrNotBoundary. A demoted primary
// uses it to discard its divergent suffix. Durable drops to op if it was above.
// Appending goroutine only; Read callers must not rely on entries above op meanwhile.
func (l *Log) TruncateAfter(op uint64) error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.maintenanceMutex.Lock()
	reply := l.request(controlRequest{kind: controlTruncate, op: op})
	l.maintenanceMutex.Unlock()
	if reply.err != nil {
		return reply.err
	}
	l.appender.link, l.appender.chainPending = reply.link, false
	l.lastOp.Store(reply.link.LastOp)
	return nil
}

// truncateOnWriter does TruncateAfter's work on the writer goroutine, after every queued
// entry is written.
func (l *Log) truncateOnWriter(op uint64) controlReply {
	w := &l.writer
	if err := l.Err(); err != nil {
		return controlReply{link: w.link, err: err}
	}
	if op == w.link.LastOp {
		l.syncAndPublish()
		return controlReply{link: w.link, err: l.Err()}
	}
	if op > w.link.LastOp {
		return controlReply{link: w.link, err: fmt.Errorf("%w: op %d is after the last op %d",
			ErrNotBoundary, op, w.link.LastOp)}
	}
	cut, err := l.findCut(op)
	if err != nil {
		return controlReply{link: w.link, err: err}
	}
	if err := l.cutSegments(cut); err != nil {
		l.fail(err)
		return controlReply{link: w.link, err: err}
	}
	w.link = cut.link
	l.chainsMutex.Lock()
	l.chains.dropAfter(op)
	if last, ok := l.chains.last(); !ok || last.LastOp < op {
		// Emptied the log, or cut below the ring: LastChain must still answer.
		l.chains.push(ChainPoint{LastOp: op, Chain: cut.link.Chain})
	}
	l.chainsMutex.Unlock()
	if l.durable.Load() > op {
		l.durable.Store(op)
	}
	l.publishDurable(op)
	return controlReply{link: w.link}
}

// truncation says where TruncateAfter cuts.
type truncation struct {
	index   int       // index in l.segments of the segment cut
	offset  int64     // offset of the first byte discarded
	entries int       // entries kept in the segment cut
	firstOp uint64    // first op kept in the segment cut (0 if none)
	link    chainLink // the last entry kept (or the base before the first entry)
}

// findCut locates the end of the entry whose last op is op.
func (l *Log) findCut(op uint64) (truncation, error) {
	l.segmentsMutex.Lock()
	segments := append([]segmentInfo(nil), l.segments...)
	l.segmentsMutex.Unlock()
	for i, info := range segments {
		if info.Entries == 0 || op+1 < info.FirstOp || op > info.LastOp {
			continue
		}
		cut := truncation{index: i, offset: segmentHeaderSize}
		err := l.scanHeadersOf(info, func(h *entryHeader, offset int64) bool {
			if h.FirstOp > op { // the first entry to discard
				if cut.entries == 0 {
					// Emptying the log: the base is this entry's previous chain; the
					// previous entry's epoch and timestamp are unknown.
					cut.link = chainLink{Known: true, LastOp: op, Chain: h.PreviousChain}
				}
				return false
			}
			if cut.entries == 0 {
				cut.firstOp = h.FirstOp
			}
			cut.entries++
			cut.offset = offset + entryHeaderSize + int64(h.StoredBytes)
			cut.link.advance(h)
			return true
		})
		if err != nil {
			return cut, err
		}
		if !cut.link.Known || cut.link.LastOp != op {
			return cut, fmt.Errorf("%w: op %d is inside an entry", ErrNotBoundary, op)
		}
		return cut, nil
	}
	return truncation{}, fmt.Errorf("%w: op %d is not in the log (first op %d)",
		ErrCompacted, op, l.FirstOp())
}

// scanHeadersOf calls fn with the header and offset of each entry of a segment of the
// index, from its start, while fn returns true. For ops older than the chain ring, and
// for TruncateAfter; neither is on a hot path, so the 4 MiB window is not pooled.
func (l *Log) scanHeadersOf(info segmentInfo, fn func(h *entryHeader, offset int64) bool) error {
	var s scanner
	return walkSegment(info, &s, func(e *scannedEntry) (bool, error) {
		return fn(&e.Header, e.Offset), nil
	})
}

// cutSegments applies a truncation on disk and in the index: later segments are deleted
// newest first (a crash leaves a shorter log, never a gap), the outstanding prepared
// segment is dropped, then the cut segment is rewritten atomically and reopened as the
// active segment, and the next segment is prepared again.
func (l *Log) cutSegments(cut truncation) error {
	w := &l.writer
	if w.file != nil {
		w.file.Close()
		w.file = nil
	}
	if err := l.abandonPreparation(); err != nil {
		return err
	}
	l.segmentsMutex.Lock()
	later := append([]segmentInfo(nil), l.segments[cut.index+1:]...)
	l.segmentsMutex.Unlock()
	for i := len(later) - 1; i >= 0; i-- {
		if err := os.Remove(later[i].Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := SyncDirectory(l.options.Dir); err != nil {
		return err
	}
	l.segmentsMutex.Lock()
	l.segments = l.segments[:cut.index+1]
	info := &l.segments[cut.index]
	info.Entries, info.EndOffset = cut.entries, cut.offset
	info.FirstOp, info.LastOp = cut.firstOp, 0
	if cut.entries > 0 {
		info.LastOp = cut.link.LastOp
	}
	path, number, bytes := info.Path, info.Number, info.Bytes
	l.segmentsMutex.Unlock()
	// A cut that empties the log records its base, as StartAfter does: its next entry
	// follows op, which a reopened log must still know (the snapshot at op is the state).
	var base *ChainPoint
	if cut.entries == 0 {
		base = &ChainPoint{LastOp: cut.link.LastOp, Chain: cut.link.Chain}
	}
	var filler zeroFiller
	if err := filler.rewriteSegment(path, cut.offset, false, base); err != nil {
		return err
	}
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	w.file, w.number, w.segmentBytes = file, number, bytes
	w.offset, w.syncedOffset, w.unsynced = cut.offset, cut.offset, false
	w.writtenOp = cut.link.LastOp
	l.publishActiveFree()
	l.prepareRequests <- number + 1
	return nil
}

// recordBase does StartAfter's work on disk, on the writer goroutine: the active segment,
// which holds no entry, is rewritten atomically (a copy, fsync, rename, directory fsync)
// with a header that records the base, so that a log reopened before its first entry
// still starts after op (a log that lost its entries has no such header).
// A failure is the log's (Err): the active segment file was closed for the rewrite.
func (l *Log) recordBase(base ChainPoint) error {
	w := &l.writer
	if w.offset != segmentHeaderSize {
		return fmt.Errorf("%w: StartAfter with bytes written in the active segment",
			ErrNotBoundary)
	}
	if err := w.file.Close(); err != nil {
		l.fail(err)
		return err
	}
	w.file = nil
	path := filepath.Join(l.options.Dir, segmentName(w.number))
	var filler zeroFiller
	err := filler.rewriteSegment(path, segmentHeaderSize, false, &base)
	if err == nil {
		w.file, err = os.OpenFile(path, os.O_RDWR, 0)
	}
	if err != nil {
		l.fail(err)
		return err
	}
	return nil
}
