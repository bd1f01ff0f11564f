package wal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers match them with errors.Is; the errors actually returned wrap
// them with the segment, offset and op concerned.
var (
	// ErrCorrupt is returned when a checksum, the hash chain or the op sequence fails
	// anywhere but at a torn tail: a flipped byte, a zeroed range, a duplicated or
	// reordered entry, a segment from another log. Open refuses the log unless
	// Options.TruncateCorrupt is set.
	ErrCorrupt = errors.New("wal: corrupt log")

	// ErrVersion is returned for a segment or entry written by an unknown format version.
	ErrVersion = errors.New("wal: unknown format version")

	// ErrMissingSegment is returned when segment numbers have a gap.
	ErrMissingSegment = errors.New("wal: missing segment")

	// ErrLogFull is returned by Append and AppendStored when the entry might not fit: the
	// active segment has no room left for it and the next segment could not be prepared
	// (the file system is full). It is not sticky and has no side effect: nothing was
	// queued, the log has not failed, and it takes entries again as soon as a segment can
	// be prepared (the preparer retries). See PrepareErr.
	ErrLogFull = errors.New("wal: log full: no room left in the active segment and the next cannot be prepared")

	// ErrClosed is returned by operations on a closed log.
	ErrClosed = errors.New("wal: log closed")

	// ErrCompacted is returned by Read and ChainAt for ops that were retired: the caller
	// must start from a snapshot instead.
	ErrCompacted = errors.New("wal: op retired from the log")

	// ErrNotBoundary is returned by TruncateAfter when the op is not the last op of an
	// entry, or lies outside the log.
	ErrNotBoundary = errors.New("wal: op is not an entry boundary of the log")

	// ErrDiscontinuity is returned by AppendStored when the entry does not continue this
	// log: wrong first op, previous chain, epoch or timestamp.
	ErrDiscontinuity = errors.New("wal: entry does not continue the log")

	// ErrSnapshotCorrupt is returned for a snapshot whose header or body fails its
	// checksum or framing. The caller falls back to an older snapshot.
	ErrSnapshotCorrupt = errors.New("wal: corrupt snapshot")

	// ErrDigestMismatch is returned by Verify when the replayed state's digest differs
	// from a snapshot's digest at the same op.
	ErrDigestMismatch = errors.New("wal: replayed digest differs from snapshot")
)

// PositionError says where in the log a problem is. It wraps one of the sentinels.
type PositionError struct {
	Path    string // segment file, or snapshot file
	Segment uint64 // segment number (0 for a snapshot)
	Offset  int64  // byte offset within the file
	Op      uint64 // first op of the entry concerned, 0 if unknown
	Reason  string // what is wrong, in words
	Err     error  // the sentinel
}

func (e *PositionError) Error() string {
	op := ""
	if e.Op != 0 {
		op = fmt.Sprintf(" op %d", e.Op)
	}
	return fmt.Sprintf("%v: segment %d offset %d%s (%s): %s",
		e.Err, e.Segment, e.Offset, op, e.Path, e.Reason)
}

func (e *PositionError) Unwrap() error { return e.Err }
