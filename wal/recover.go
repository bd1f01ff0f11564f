package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// recoveredState is what Open learned from the directory.
type recoveredState struct {
	segments      []segmentInfo // segments in use, oldest first; the last is active
	prepared      *os.File      // an empty segment after the active one, ready for the roll
	preparedBytes int64         // its size
	preparedPath  string        // its path
	link          chainLink     // the last entry (Known false for an empty log)
	chains        chainRing     // chain points of the last entries
}

// recoverDirectory scans the log directory and decides, per the rules in doc.go, whether
// the log is clean, has a torn tail to truncate, or is damaged. It returns the state to
// continue from.
func recoverDirectory(options Options) (*recoveredState, error) {
	if err := removeTemporaryFiles(options.Dir); err != nil {
		return nil, err
	}
	state := &recoveredState{}
	scans, err := scanDirectory(options.Dir, func(segment *segmentScan, e *scannedEntry) error {
		h := &e.Header
		last, ok := state.chains.last()
		if ok && (h.FirstOp != last.LastOp+1 || h.PreviousChain != last.Chain) {
			state.chains = chainRing{} // after damage: the ring holds one linked run
		}
		if base := segment.Header.Base; !ok && base.LastOp != 0 &&
			base.LastOp+1 == h.FirstOp && base.Chain == h.PreviousChain {
			// The log's first entry follows the base its header records: ChainAt(base)
			// answers as it did before the log was closed (StartAfter put it in the ring).
			state.chains.push(base)
		}
		state.chains.push(ChainPoint{LastOp: e.Header.LastOp(), Chain: e.Header.Chain})
		return nil
	})
	if err != nil {
		return nil, err
	}
	scans, err = repairDirectory(options, scans)
	if err != nil {
		return nil, err
	}
	return state, state.build(options, scans)
}

// repairDirectory finds the first problem and applies the matching outcome: nothing for
// a clean log, truncation for a torn tail, an error (or, with TruncateCorrupt, a cut) for
// damage. It returns the scans of the segments that remain.
func repairDirectory(options Options, scans []segmentScan) ([]segmentScan, error) {
	logger := options.Logger
	tail := tailIndex(scans)
	for i := range scans {
		scan := &scans[i]
		damage := scanDamage(scans, i, tail)
		if damage == nil && scan.Problem != nil && i == tail {
			torn, nonZeroEnd, err := tornTail(scan)
			if err != nil {
				return nil, err
			}
			if !torn {
				damage = scan.positionError()
			} else {
				return truncateTornTail(logger, scans, i, nonZeroEnd)
			}
		}
		if damage == nil {
			continue
		}
		if !options.TruncateCorrupt {
			return nil, damage
		}
		return truncateDamage(logger, scans, i, damage)
	}
	return scans, nil
}

// scanDamage returns the damage found at segment i that no crash can explain, or nil.
// A problem in the tail segment is left to the torn-tail check.
func scanDamage(scans []segmentScan, i, tail int) *PositionError {
	scan := &scans[i]
	switch {
	case scan.MissingBefore > 0:
		return &PositionError{Path: scan.File.Path, Segment: scan.File.Number,
			Reason: fmt.Sprintf("%d segment(s) missing before this one", scan.MissingBefore),
			Err:    ErrMissingSegment}
	case scan.Problem != nil && (i < tail || scan.Problem.Kind != headerTorn):
		return scan.positionError()
	case scan.empty() && i < tail:
		return &PositionError{Path: scan.File.Path, Segment: scan.File.Number,
			Offset: segmentHeaderSize, Reason: "segment holds no entry but later segments do",
			Err: ErrCorrupt}
	}
	return nil
}

// truncateTornTail cuts the tail segment at its torn entry and logs what was discarded.
func truncateTornTail(logger loggerLike, scans []segmentScan, i int,
	nonZeroEnd int64) ([]segmentScan, error) {
	scan := &scans[i]
	offset := scan.Problem.Offset
	var filler zeroFiller
	if err := filler.rewriteSegment(scan.File.Path, offset, false, nil); err != nil {
		return nil, err
	}
	logger.Warn("wal: truncated torn tail", "segment", scan.File.Number, "path", scan.File.Path,
		"offset", offset, "bytes", nonZeroEnd-offset, "reason", scan.Problem.Reason,
		"last_op", scan.Last.LastOp())
	scan.Problem = nil
	return scans, nil
}

// truncateDamage applies Options.TruncateCorrupt: the log is cut at the damage, the
// damaged segment is rewritten without it, and every later non-empty segment is moved
// aside; the originals are kept as *.corrupt for the operator.
func truncateDamage(logger loggerLike, scans []segmentScan, i int,
	damage *PositionError) ([]segmentScan, error) {
	keep := i + 1
	scan := &scans[i]
	switch {
	case scan.MissingBefore > 0 || scan.Problem == nil || scan.Problem.Offset == 0:
		keep = i // the whole segment goes: gap before it, empty in the middle, bad header
	default:
		var filler zeroFiller
		if err := filler.rewriteSegment(scan.File.Path, scan.Problem.Offset, true, nil); err != nil {
			return nil, err
		}
		scan.Problem = nil
	}
	for j := keep; j < len(scans); j++ {
		if err := os.Rename(scans[j].File.Path, preservedName(scans[j].File.Path)); err != nil {
			return nil, err
		}
	}
	if err := SyncDirectory(filepath.Dir(scan.File.Path)); err != nil {
		return nil, err
	}
	logger.Error("wal: TRUNCATED A DAMAGED LOG AS ASKED (TruncateCorrupt); entries after the "+
		"damage are gone from the log and kept aside as *.corrupt", "damage", damage.Error(),
		"segments_set_aside", len(scans)-keep)
	return scans[:keep], nil
}

// loggerLike is the subset of *slog.Logger used here.
type loggerLike interface {
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// build turns the scans of a sound directory into the recovered state: the index of
// segments in use, the active one, the prepared one, and the last entry's link.
func (s *recoveredState) build(options Options, scans []segmentScan) error {
	active := max(tailIndex(scans), 0)
	for i := 0; i < len(scans) && i <= active; i++ {
		scan := &scans[i]
		info := segmentInfo{Number: scan.File.Number, Path: scan.File.Path,
			Bytes: scan.Header.Bytes, Entries: scan.Entries, EndOffset: scan.EndOffset}
		if scan.Entries > 0 {
			info.FirstOp, info.LastOp = scan.First.FirstOp, scan.Last.LastOp()
			s.link.advance(&scan.Last)
		} else if base := scan.Header.Base; base.LastOp != 0 && !s.link.Known {
			// No entry yet after the base the header records (StartAfter): the log ends
			// there, as it did before it was closed.
			s.link = chainLink{Known: true, LastOp: base.LastOp, Chain: base.Chain}
		}
		s.segments = append(s.segments, info)
	}
	s.chains.dropAfter(s.link.LastOp) // points of entries a repair discarded
	tip := ChainPoint{LastOp: s.link.LastOp, Chain: s.link.Chain}
	if last, ok := s.chains.last(); s.link.Known && (!ok || last != tip) {
		s.chains = chainRing{}
		s.chains.push(tip)
	}
	var filler zeroFiller
	if len(s.segments) == 0 {
		file, path, err := filler.prepareSegment(options.Dir, 1, options.SegmentBytes)
		if err != nil {
			return err
		}
		file.Close()
		s.segments = []segmentInfo{{Number: 1, Path: path, Bytes: options.SegmentBytes,
			EndOffset: segmentHeaderSize}}
		return nil
	}
	return s.adoptTrailing(scans[active+1:])
}

// adoptTrailing keeps the first empty segment after the active one as the prepared
// segment and deletes any others (only an interrupted truncation leaves them).
func (s *recoveredState) adoptTrailing(trailing []segmentScan) error {
	for i := range trailing {
		if i == 0 && trailing[0].File.Number == s.segments[len(s.segments)-1].Number+1 {
			file, err := os.OpenFile(trailing[0].File.Path, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			s.prepared, s.preparedBytes = file, trailing[0].Header.Bytes
			s.preparedPath = trailing[0].File.Path
			continue
		}
		if err := os.Remove(trailing[i].File.Path); err != nil {
			return err
		}
	}
	return nil
}

// newLog builds the Log from the recovered state; start launches its goroutines.
func newLog(options Options, lock *os.File, state *recoveredState) *Log {
	l := &Log{
		options:         options,
		logger:          options.Logger,
		lock:            lock,
		durableNotify:   make(chan struct{}, 1),
		segments:        state.segments,
		chains:          state.chains,
		control:         make(chan controlRequest),
		prepareRequests: make(chan uint64, 1),
		prepared:        make(chan preparedSegment, 1),
	}
	l.room.changed = make(chan struct{}, 1)
	l.room.prepareAbandonment = make(chan struct{}, 1)
	l.pipeline.init(options.PipelineDepth)
	l.chainsCond.L = &l.chainsMutex
	l.appender.link = state.link
	l.writer.link = state.link
	l.lastOp.Store(state.link.LastOp)
	l.durable.Store(state.link.LastOp)
	return l
}

// start opens the active segment (syncing it: entries recovered from the page cache of a
// crashed process may not be on disk yet, and Durable claims they are), then starts the
// writer, the encoders and the preparer.
func (l *Log) start(state *recoveredState) error {
	active := l.segments[len(l.segments)-1]
	file, err := os.OpenFile(active.Path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := syncData(file); err != nil {
		file.Close()
		return err
	}
	w := &l.writer
	w.file, w.number, w.segmentBytes = file, active.Number, active.Bytes
	w.offset, w.syncedOffset, w.writtenOp = active.EndOffset, active.EndOffset, state.link.LastOp
	w.lastSync = time.Now()
	w.timer = time.NewTimer(time.Hour)
	w.timer.Stop()
	w.iovecs = make([]syscall.Iovec, 0, l.options.PipelineDepth)
	l.publishActiveFree()
	if state.prepared != nil {
		l.room.preparedFreeBytes.Store(state.preparedBytes - segmentHeaderSize)
		l.prepared <- preparedSegment{number: active.Number + 1, file: state.prepared,
			path: state.preparedPath, bytes: state.preparedBytes}
	} else {
		l.prepareRequests <- active.Number + 1
	}
	l.goroutines.Add(2)
	go l.runWriter()
	go l.runPreparer()
	l.encoders.Add(l.options.EncoderCount)
	for range l.options.EncoderCount {
		go l.runEncoder()
	}
	return nil
}

// preparedSegment is a new segment file handed from the preparer to the writer.
type preparedSegment struct {
	number uint64
	file   *os.File
	path   string
	bytes  int64
}
