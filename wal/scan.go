package wal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// segmentReader serves windows of a segment file from one buffer, so that scanning a
// segment costs one read per few MiB whatever the entry sizes.
type segmentReader struct {
	file   io.ReaderAt
	size   int64  // readable bytes in file
	buffer []byte // readBufferBytes, allocated on first use and reused
	start  int64  // file offset of buffer[0]
	length int    // valid bytes in buffer
}

func (r *segmentReader) reset(file io.ReaderAt, size int64) {
	r.file, r.size, r.start, r.length = file, size, 0, 0
	if r.buffer == nil {
		r.buffer = make([]byte, readBufferBytes)
	}
}

// window returns file bytes [offset, offset+n), fewer if the file ends first. The slice is
// valid until the next call.
func (r *segmentReader) window(offset int64, n int) ([]byte, error) {
	if n > len(r.buffer) {
		// Only with a test-sized buffer: entries never exceed readBufferBytes.
		r.buffer, r.length = make([]byte, n), 0
	}
	if offset >= r.start && offset+int64(n) <= r.start+int64(r.length) {
		from := int(offset - r.start)
		return r.buffer[from : from+n], nil
	}
	if offset >= r.size {
		return nil, nil
	}
	want := min(int64(len(r.buffer)), r.size-offset)
	read, err := r.file.ReadAt(r.buffer[:want], offset)
	if err != nil && err != io.EOF {
		r.length = 0
		return nil, err
	}
	r.start, r.length = offset, read
	return r.buffer[:min(n, read)], nil
}

// scannedEntry is one entry found by a scanner. Stored aliases the reader's buffer.
type scannedEntry struct {
	Offset int64
	Header entryHeader
	Bytes  []byte // header and stored body as on disk, valid until the next scan call
	Stored []byte // the stored body: Bytes after the header
}

// scanProblem is why a scan stopped before the end of a segment.
type scanProblem struct {
	Kind   headerProblem // headerTorn, headerVersion or headerInvalid
	Offset int64
	Reason string
	Op     uint64 // the entry's first op if its header decoded, else the op expected there
}

// tornAt and invalidAt build the problems of an entry at offset (h nil if its header did
// not decode).
func tornAt(h *entryHeader, offset int64, reason string) *scanProblem {
	return problemAt(headerTorn, h, offset, reason)
}

func invalidAt(h *entryHeader, offset int64, reason string) *scanProblem {
	return problemAt(headerInvalid, h, offset, reason)
}

func problemAt(kind headerProblem, h *entryHeader, offset int64, reason string) *scanProblem {
	p := &scanProblem{Kind: kind, Offset: offset, Reason: reason}
	if h != nil {
		p.Op = h.FirstOp
	}
	return p
}

// scanner walks the entries of one segment and validates each on its own: header,
// position, body checksum and, if verifyChain, the entry's own chain hash. Linking an
// entry to the previous one is the caller's job (chainLink).
type scanner struct {
	reader      segmentReader
	number      uint64 // segment number every entry must carry
	size        int64  // segment size from its header
	offset      int64  // offset of the next entry
	verifyChain bool   // recompute SHA-256 chain hashes (Open, Verify), not Read
	checkTail   bool   // at a zero header, check that the rest of the segment is zero
}

// start prepares the scanner for a segment.
func (s *scanner) start(opened *openedSegment) {
	s.startAt(opened.file, opened.fileBytes, &opened.header)
}

func (s *scanner) startAt(file io.ReaderAt, fileSize int64, header *segmentHeader) {
	s.reader.reset(file, min(fileSize, header.Bytes))
	s.number, s.size, s.offset = header.Number, header.Bytes, segmentHeaderSize
}

// next scans the entry at s.offset. It returns done at the clean end of the segment, a
// problem if the entry is bad, or an I/O error.
func (s *scanner) next(e *scannedEntry) (done bool, problem *scanProblem, err error) {
	offset := s.offset
	window, err := s.reader.window(offset, entryHeaderSize)
	if err != nil {
		return false, nil, err
	}
	if len(window) < entryHeaderSize {
		if offset+entryHeaderSize > s.size {
			return true, nil, nil // no room left for an entry: the segment is full
		}
		return false, tornAt(nil, offset, "segment file ends inside an entry header"), nil
	}
	kind, reason := decodeEntryHeader(window, &e.Header)
	switch kind {
	case headerZero:
		return s.nextZero(offset)
	case headerValid:
	default:
		return false, &scanProblem{Kind: kind, Offset: offset, Reason: reason}, nil
	}
	h := &e.Header
	end := offset + entryHeaderSize + int64(h.StoredBytes)
	if reason := s.checkPosition(h, offset, end); reason != "" {
		return false, invalidAt(h, offset, reason), nil
	}
	window, err = s.reader.window(offset, int(end-offset))
	if err != nil {
		return false, nil, err
	}
	if int64(len(window)) < end-offset {
		return false, tornAt(h, offset, "segment file ends inside an entry body"), nil
	}
	body := window[entryHeaderSize:]
	if crc32c(body) != h.BodyCRC {
		return false, tornAt(h, offset, "entry body checksum mismatch"), nil
	}
	if s.verifyChain {
		digest := sha256.Sum256(body)
		if chainHash(window, &digest) != h.Chain {
			return false, invalidAt(h, offset, "chain hash does not match the entry"), nil
		}
	}
	e.Offset, e.Bytes, e.Stored, s.offset = offset, window, body, end
	return false, nil, nil
}

// checkPosition checks the header fields that depend on where the entry lies.
func (s *scanner) checkPosition(h *entryHeader, offset, end int64) string {
	switch {
	case h.Segment != s.number:
		return "entry written for segment " + decimal(h.Segment)
	case int64(h.SyncedOffset) < segmentHeaderSize || int64(h.SyncedOffset) > offset:
		return "synced offset outside the written part of the segment"
	case end > s.size:
		return "entry runs past the end of the segment"
	}
	return ""
}

// nextZero handles a zero header: the clean end of the segment if everything after it is
// zero too (the preallocated tail), a problem otherwise.
func (s *scanner) nextZero(offset int64) (bool, *scanProblem, error) {
	if !s.checkTail {
		return true, nil, nil
	}
	for from := offset; from < s.size; {
		n := min(s.size-from, readBufferBytes)
		window, err := s.reader.window(from, int(n))
		if err != nil {
			return false, nil, err
		}
		if !isZero(window) {
			return false, tornAt(nil, offset, "zero entry header followed by non-zero bytes"), nil
		}
		if int64(len(window)) < n {
			return false, tornAt(nil, offset, "segment file shorter than its header says"), nil
		}
		from += n
	}
	return true, nil, nil
}

// tornEvidence looks at a segment after a bad entry at offset and says whether that
// entry cannot be a torn write: some later entry of this segment with a valid header says
// the segment was synced past offset, so the bad bytes were durable before and are
// damage, not an interrupted write. It also returns where the non-zero bytes end, to
// report how much a truncation discards.
func tornEvidence(file io.ReaderAt, fileSize int64, header *segmentHeader,
	offset int64) (bool, int64, error) {
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], entryMagic)
	size := min(fileSize, header.Bytes)
	buffer := make([]byte, max(min(readBufferBytes, size-offset), 0))
	nonZeroEnd := offset
	for from := offset; from < size; {
		read, err := file.ReadAt(buffer[:min(int64(len(buffer)), size-from)], from)
		if err != nil && err != io.EOF {
			return false, 0, err
		}
		chunk := buffer[:read]
		if last := lastNonZero(chunk); last >= 0 {
			nonZeroEnd = from + int64(last) + 1
		}
		for i := 0; ; {
			j := bytes.Index(chunk[i:], magic[:])
			if j < 0 || i+j+entryHeaderSize > len(chunk) {
				break
			}
			i += j
			var h entryHeader
			kind, _ := decodeEntryHeader(chunk[i:], &h)
			if from+int64(i) > offset && kind == headerValid && h.Segment == header.Number &&
				int64(h.SyncedOffset) > offset {
				return true, nonZeroEnd, nil
			}
			i++
		}
		if read < len(buffer) || from+int64(read) >= size {
			break
		}
		// Overlap by one header so that a header straddling two chunks is seen whole.
		from += int64(read) - entryHeaderSize
	}
	return false, nonZeroEnd, nil
}

func lastNonZero(b []byte) int {
	for end := len(b); end > 0; {
		from := max(0, end-len(zeroPage))
		if !isZero(b[from:end]) {
			for i := end - 1; i >= from; i-- {
				if b[i] != 0 {
					return i
				}
			}
		}
		end = from
	}
	return -1
}

// chainLink checks that each entry continues the previous one: contiguous ops, the
// previous chain hash, non-decreasing epoch and increasing timestamp.
type chainLink struct {
	Known     bool // false before the first entry: nothing to link to
	LastOp    uint64
	Epoch     uint64
	Timestamp uint64
	Chain     [32]byte
}

// check returns why h does not continue the link, or "".
func (k *chainLink) check(h *entryHeader) string {
	if !k.Known {
		return ""
	}
	switch {
	case h.FirstOp != k.LastOp+1:
		return "entry starts at op " + decimal(h.FirstOp) + ", expected " + decimal(k.LastOp+1) +
			" (duplicated, reordered or foreign entry)"
	case h.PreviousChain != k.Chain:
		return "previous chain hash does not match the previous entry (entry from another log)"
	case h.Epoch < k.Epoch:
		return "epoch goes backwards"
	case h.Timestamp <= k.Timestamp:
		return "timestamp does not increase"
	}
	return ""
}

func (k *chainLink) advance(h *entryHeader) {
	*k = chainLink{true, h.LastOp(), h.Epoch, h.Timestamp, h.Chain}
}

// openedSegment is a segment file open for reading, with its header.
type openedSegment struct {
	file      *os.File
	fileBytes int64
	header    segmentHeader
	problem   *scanProblem // the header is bad: nothing else can be read
}

// openSegment opens a segment file and validates its header against its name. A missing
// file is ErrCompacted: segments in the index disappear only through Retire.
func openSegment(file segmentFile) (openedSegment, error) {
	f, err := os.Open(file.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return openedSegment{}, fmt.Errorf("%w: segment %d is gone: %v", ErrCompacted, file.Number, err)
	}
	if err != nil {
		return openedSegment{}, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return openedSegment{}, err
	}
	s := openedSegment{file: f, fileBytes: info.Size()}
	s.problem = s.readHeader(file.Number)
	return s, nil
}

func (s *openedSegment) readHeader(number uint64) *scanProblem {
	var b [segmentHeaderSize]byte
	if _, err := s.file.ReadAt(b[:], 0); err != nil {
		return invalidAt(nil, 0, "segment file shorter than its header")
	}
	reason, sentinel := decodeSegmentHeader(b[:], &s.header)
	switch {
	case sentinel == ErrVersion:
		return problemAt(headerVersion, nil, 0, reason)
	case sentinel != nil:
		return invalidAt(nil, 0, reason)
	case s.header.Number != number:
		return invalidAt(nil, 0, "segment header says number "+decimal(s.header.Number))
	}
	return nil
}

// walkSegment scans a segment of the index with s and calls fn for each valid entry until
// fn returns false or an error. A bad entry ends the walk with a *PositionError.
func walkSegment(info segmentInfo, s *scanner, fn func(e *scannedEntry) (bool, error)) error {
	opened, err := openSegment(segmentFile{info.Number, info.Path})
	if err != nil {
		return err
	}
	defer opened.file.Close()
	if opened.problem != nil {
		return segmentError(info, opened.problem)
	}
	s.start(&opened)
	var entry scannedEntry
	for {
		done, problem, err := s.next(&entry)
		switch {
		case err != nil || done:
			return err
		case problem != nil:
			return segmentError(info, problem)
		}
		if more, err := fn(&entry); err != nil || !more {
			return err
		}
	}
}

// segmentError describes a problem found in a segment of the index.
func segmentError(info segmentInfo, problem *scanProblem) error {
	sentinel := ErrCorrupt
	if problem.Kind == headerVersion {
		sentinel = ErrVersion
	}
	return &PositionError{Path: info.Path, Segment: info.Number, Offset: problem.Offset,
		Op: problem.Op, Reason: problem.Reason, Err: sentinel}
}
