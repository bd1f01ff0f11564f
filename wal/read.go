package wal

import (
	"fmt"
	"sync"

	"sequent/core/invariants"
)

// logReader is the per-call state of Read, pooled so that a replication catch-up calling
// Read in a loop does not allocate its 4 MiB window each time.
type logReader struct {
	scanner      scanner
	decompressed []byte // decompression buffer, EntryBodyBytesMax capacity
	entry        Entry
	link         chainLink // the last entry read, to check continuity
}

var logReaders = sync.Pool{New: func() any { return new(logReader) }}

// Read calls fn with every entry whose LastOp > afterOp, in order, up to Durable() as it
// was when Read started. The first entry may straddle afterOp: it is passed whole and the
// caller skips the ops it has. e and e.Body are valid only during fn. Read checks header
// and body checksums and the op and chain continuity of what it reads; it may run at any
// time, including concurrently with Append (replication catch-up). It returns fn's error,
// ErrCompacted if ops after afterOp were retired, or an error wrapping ErrCorrupt.
func (l *Log) Read(afterOp uint64, fn func(e *Entry) error) error {
	r := logReaders.Get().(*logReader)
	defer logReaders.Put(r)
	return l.readEntries(r, afterOp, invariants.Enabled,
		func(info segmentInfo, scanned *scannedEntry) error {
			return r.deliver(info, scanned, fn)
		})
}

// ReadStored is Read for replication: fn receives each entry in its exact stored form
// (header and stored body, what AppendStored takes and the observer sees), without
// decompressing it. stored is valid only during fn.
func (l *Log) ReadStored(afterOp uint64, fn func(stored []byte, meta EntryMeta) error) error {
	r := logReaders.Get().(*logReader)
	defer logReaders.Put(r)
	return l.readEntries(r, afterOp, invariants.Enabled,
		func(info segmentInfo, scanned *scannedEntry) error {
			h := &scanned.Header
			return fn(scanned.Bytes, EntryMeta{Epoch: h.Epoch, FirstOp: h.FirstOp,
				Count: h.Count, Timestamp: h.Timestamp, Segment: h.Segment,
				Offset: scanned.Offset, Codec: h.Codec, StoredBytes: h.StoredBytes,
				RawBytes: h.RawBytes, Chain: h.Chain})
		})
}

// readEntries walks the entries after afterOp up to Durable() as it was at the start,
// checking continuity (and with verifyChain each entry's own chain hash), and hands each
// to deliver.
func (l *Log) readEntries(r *logReader, afterOp uint64, verifyChain bool,
	deliver func(info segmentInfo, scanned *scannedEntry) error) error {
	durable := l.Durable()
	if afterOp >= durable {
		return nil
	}
	r.link = chainLink{}
	r.scanner.verifyChain, r.scanner.checkTail = verifyChain, false
	next := afterOp // every op up to next has been read or skipped
	for next < durable {
		info, ok := l.segmentAfter(next)
		if !ok || info.FirstOp > next+1 {
			return fmt.Errorf("%w: op %d (first op in the log: %d)", ErrCompacted, next+1, l.FirstOp())
		}
		last, err := r.readSegment(info, afterOp, durable, deliver)
		if err != nil {
			return err
		}
		if last <= next {
			return fmt.Errorf("%w: %s: no entry after op %d although the index says up to %d",
				ErrCorrupt, info.Path, next, info.LastOp)
		}
		next = last
	}
	return nil
}

// segmentAfter returns the oldest segment holding an op after op.
func (l *Log) segmentAfter(op uint64) (segmentInfo, bool) {
	l.segmentsMutex.Lock()
	defer l.segmentsMutex.Unlock()
	for _, info := range l.segments {
		if info.Entries > 0 && info.LastOp > op {
			return info, true
		}
	}
	return segmentInfo{}, false
}

// readSegment passes the segment's entries after afterOp and up to durable to fn, and
// returns the last op it went through.
func (r *logReader) readSegment(info segmentInfo, afterOp, durable uint64,
	deliver func(info segmentInfo, scanned *scannedEntry) error) (uint64, error) {
	last := uint64(0)
	err := walkSegment(info, &r.scanner, func(scanned *scannedEntry) (bool, error) {
		h := &scanned.Header
		if reason := r.link.check(h); reason != "" {
			return false, segmentError(info, invalidAt(h, scanned.Offset, reason))
		}
		r.link.advance(h)
		last = h.LastOp()
		if last > afterOp {
			if err := deliver(info, scanned); err != nil {
				return false, err
			}
		}
		return last < durable, nil
	})
	return last, err
}

// deliver decompresses an entry and passes it to fn.
func (r *logReader) deliver(info segmentInfo, scanned *scannedEntry,
	fn func(e *Entry) error) error {
	h := &scanned.Header
	if r.decompressed == nil && h.Codec != CodecNone {
		r.decompressed = make([]byte, 0, EntryBodyBytesMax)
	}
	body, err := decompress(r.decompressed, scanned.Stored, h.Codec, int(h.RawBytes))
	if err != nil {
		return &PositionError{Path: info.Path, Segment: info.Number, Offset: scanned.Offset,
			Op: h.FirstOp, Reason: err.Error(), Err: ErrCorrupt}
	}
	r.entry = Entry{Epoch: h.Epoch, FirstOp: h.FirstOp, Count: h.Count,
		Timestamp: h.Timestamp, Body: body}
	return fn(&r.entry)
}
