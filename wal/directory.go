package wal

import (
	"io"
	"os"
)

// segmentScan is what a full scan learned about one segment.
type segmentScan struct {
	File          segmentFile
	Header        segmentHeader
	FileBytes     int64        // size of the file
	MissingBefore uint64       // segment numbers missing between the previous one and this
	Entries       int          // valid entries before the end or the first problem
	First         entryHeader  // first valid entry (if Entries > 0)
	Last          entryHeader  // last valid entry (if Entries > 0)
	EndOffset     int64        // offset after the last valid entry
	StoredBytes   int64        // sum of stored body bytes of the valid entries
	RawBytes      int64        // sum of raw body bytes of the valid entries
	Problem       *scanProblem // first problem, nil if the segment ends cleanly
}

// empty reports whether the segment holds nothing: no entry and no problem.
func (s *segmentScan) empty() bool { return s.Entries == 0 && s.Problem == nil }

// positionError describes the segment's problem with its sentinel.
func (s *segmentScan) positionError() *PositionError {
	sentinel := ErrCorrupt
	if s.Problem.Kind == headerVersion {
		sentinel = ErrVersion
	}
	return &PositionError{Path: s.File.Path, Segment: s.File.Number, Offset: s.Problem.Offset,
		Op: s.Problem.Op, Reason: s.Problem.Reason, Err: sentinel}
}

// scanVisitor is called for every valid, linked entry in log order. Returning an error
// stops the scan.
type scanVisitor func(segment *segmentScan, entry *scannedEntry) error

// scanDirectory scans every segment of dir in order, verifying checksums, chain hashes
// and links, and reports per segment. It stops a segment at its first problem and goes
// on with the next one (with no link to check against), so that a report covers the
// whole directory. Only I/O errors and visitor errors are returned as errors.
func scanDirectory(dir string, visit scanVisitor) ([]segmentScan, error) {
	files, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	scans := make([]segmentScan, len(files))
	var s scanner
	s.verifyChain, s.checkTail = true, true
	var link chainLink
	for i, file := range files {
		scan := &scans[i]
		scan.File = file
		if i > 0 && file.Number != files[i-1].Number+1 {
			scan.MissingBefore = file.Number - files[i-1].Number - 1
			link = chainLink{}
		}
		if err := scanSegment(&s, scan, &link, visit); err != nil {
			return scans, err
		}
		if scan.Problem != nil {
			link = chainLink{}
		}
	}
	return scans, nil
}

// scanSegment scans one segment into scan, linking its entries to link.
func scanSegment(s *scanner, scan *segmentScan, link *chainLink, visit scanVisitor) error {
	opened, err := openSegment(scan.File)
	if err != nil {
		return err
	}
	defer opened.file.Close()
	scan.FileBytes, scan.Header, scan.EndOffset = opened.fileBytes, opened.header, segmentHeaderSize
	if opened.problem != nil {
		scan.Problem = opened.problem
		return nil
	}
	if base := opened.header.Base; base.LastOp != 0 {
		// The log starts after the base its header records: its first entry must follow
		// it, and a base after earlier entries must be where they end.
		if link.Known && (link.LastOp != base.LastOp || link.Chain != base.Chain) {
			scan.Problem = invalidAt(nil, 0, "segment header records a base at op "+
				decimal(base.LastOp)+" that does not continue the previous segment")
			scan.Problem.Op = link.LastOp + 1
			return nil
		}
		if !link.Known {
			*link = chainLink{Known: true, LastOp: base.LastOp, Chain: base.Chain}
		}
	}
	s.start(&opened)
	var entry scannedEntry
	for {
		done, problem, err := s.next(&entry)
		if err != nil || done {
			return err
		}
		if problem == nil {
			if reason := link.check(&entry.Header); reason != "" {
				problem = invalidAt(&entry.Header, entry.Offset, reason)
			}
		}
		if problem != nil {
			if problem.Op == 0 && link.Known {
				problem.Op = link.LastOp + 1
			}
			scan.Problem = problem
			return nil
		}
		link.advance(&entry.Header)
		scan.add(&entry)
		if visit != nil {
			if err := visit(scan, &entry); err != nil {
				return err
			}
		}
	}
}

func (s *segmentScan) add(e *scannedEntry) {
	if s.Entries == 0 {
		s.First = e.Header
	}
	s.Last = e.Header
	s.Entries++
	s.EndOffset = e.Offset + entryHeaderSize + int64(e.Header.StoredBytes)
	s.StoredBytes += int64(e.Header.StoredBytes)
	s.RawBytes += int64(e.Header.RawBytes)
}

// tailIndex is the index of the last segment that is not empty, -1 if all are.
func tailIndex(scans []segmentScan) int {
	for i := len(scans) - 1; i >= 0; i-- {
		if !scans[i].empty() {
			return i
		}
	}
	return -1
}

// tornTail reports whether the tail segment's problem is a write interrupted by a crash,
// which recovery truncates, rather than damage: only a checksum-level failure qualifies,
// and only if no later entry proves the bad bytes had been synced.
func tornTail(scan *segmentScan) (bool, int64, error) {
	if scan.Problem == nil || scan.Problem.Kind != headerTorn || scan.Problem.Offset == 0 {
		return false, 0, nil
	}
	file, err := os.Open(scan.File.Path)
	if err != nil {
		return false, 0, err
	}
	defer file.Close()
	evidence, nonZeroEnd, err := tornEvidence(io.ReaderAt(file), scan.FileBytes, &scan.Header,
		scan.Problem.Offset)
	return !evidence, nonZeroEnd, err
}
