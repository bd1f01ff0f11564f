package wal

import (
	"encoding/hex"

	"fmt"
	"io"
	"slices"
	"strings"
)

// Replayer is the state machine Verify replays the log into (core implements it).
type Replayer interface {
	Reset()                    // discard all state: the empty state before op 1
	Restore(r io.Reader) error // load a snapshot's state, replacing all state
	Apply(e *Entry) error      // apply one entry; must be deterministic
	Digest() [32]byte          // digest of the current state
}

// VerifyReport is what Verify checked.
type VerifyReport struct {
	Dir            string `json:"dir"`
	SnapshotDir    string `json:"snapshot_dir,omitempty"`
	Segments       int    `json:"segments"`
	Entries        int64  `json:"entries"`
	FirstOp        uint64 `json:"first_op"`
	LastOp         uint64 `json:"last_op"`
	LastChain      string `json:"last_chain"`
	ReplayStart    string `json:"replay_start"` // "empty state" or a snapshot path
	ReplayStartOp  uint64 `json:"replay_start_op"`
	EntriesApplied int64  `json:"entries_applied"`
	// FinalDigest is the replayed state's digest at LastOp: two replicas whose logs verify
	// to the same final digest hold the same state.
	FinalDigest string `json:"final_digest"`
	// LogEmptyAfterSnapshot: the log has no entry and records no base, and the state is
	// its one snapshot's (a crash cut a standby's start over short after the snapshot was
	// put in place, before the new log recorded its base: BaseOp). Serve starts from it only as
	// a standby with its primary up (which streams after the snapshot if it holds its op
	// of the same history, else plans a start over or refuses); alone it refuses
	// it (the log ends before the newest snapshot: a log that lost every entry looks the
	// same).
	LogEmptyAfterSnapshot bool `json:"log_empty_after_snapshot,omitempty"`
	// BaseOp: the log has no entry and its segment header records that it starts after
	// this op (a start over, or a truncation that emptied it, before its next entry);
	// the state is the snapshot at that op, of the recorded chain, which serve starts
	// from in any role (the record tells it from a log that lost its entries).
	BaseOp           uint64          `json:"base_op,omitempty"`
	SnapshotsChecked []SnapshotCheck `json:"snapshots_checked"`
	SnapshotsSkipped []SnapshotCheck `json:"snapshots_skipped,omitempty"`
}

// SnapshotCheck is the outcome for one snapshot.
type SnapshotCheck struct {
	Path   string `json:"path"`
	Op     uint64 `json:"op"`
	Result string `json:"result"`
}

// String renders the report for operators.
func (r *VerifyReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "log %s: %d segments, %d entries, ops %d..%d, last chain %s\n", r.Dir,
		r.Segments, r.Entries, r.FirstOp, r.LastOp, r.LastChain)
	fmt.Fprintf(&b, "replayed %d entries from %s (op %d); final state digest %s\n",
		r.EntriesApplied, r.ReplayStart, r.ReplayStartOp, r.FinalDigest)
	if r.BaseOp != 0 {
		fmt.Fprintf(&b, "the log holds no entry yet: it records that it starts after op %d "+
			"(the snapshot there is the state)\n", r.BaseOp)
	}
	if r.LogEmptyAfterSnapshot {
		fmt.Fprintf(&b, "the log is empty after its one snapshot (a start over cut short "+
			"before its base was recorded): a node starts from it only as a standby with "+
			"its primary up\n")
	}
	for _, c := range r.SnapshotsChecked {
		fmt.Fprintf(&b, "  snapshot op %-12d %s  %s\n", c.Op, c.Result, c.Path)
	}
	for _, c := range r.SnapshotsSkipped {
		fmt.Fprintf(&b, "  snapshot op %-12d not checked: %s  %s\n", c.Op, c.Result, c.Path)
	}
	return b.String()
}

// Verify checks a log directory offline: every checksum, the hash chain, the op sequence,
// and a replay into r from the empty state (if the log starts at op 1) or from the oldest
// valid snapshot the log continues; the replayed digest must equal every later snapshot's
// digest at its op, and the log's chain every snapshot's chain. Every snapshot the replay
// reaches is also loaded as a server would load it (its body read to the end through
// every checksum and restored into r, whose digest must then match the header), so a
// snapshot that serve would reject never verifies. Any problem (including a torn tail, a
// damaged snapshot, or a snapshot beyond the end of the log) is an error naming the
// segment, offset and op, or the snapshot. An empty log beside exactly one snapshot (a
// start over cut short before its base was recorded) verifies as that snapshot's state,
// restored, with LogEmptyAfterSnapshot set.
func Verify(dir, snapshotDir string, r Replayer) (VerifyReport, error) {
	v := &verifier{replayer: r}
	v.report = VerifyReport{Dir: dir, SnapshotDir: snapshotDir}
	if snapshotDir != "" {
		infos, err := ListSnapshots(snapshotDir)
		if err != nil {
			return v.report, err
		}
		for _, info := range infos {
			if info.Err != nil {
				return v.report, info.Err
			}
		}
		slices.Reverse(infos) // oldest first
		v.snapshots = infos
	}
	scans, err := scanDirectory(dir, v.visit)
	if err != nil {
		return v.report, err
	}
	v.report.Segments = len(scans)
	for i := range scans {
		if base := scans[i].Header.Base; base.LastOp != 0 && scans[i].Problem == nil {
			v.recordedBase = base
			break
		}
	}
	tail := tailIndex(scans)
	for i := range scans {
		if damage := scanDamage(scans, i, tail); damage != nil {
			return v.report, damage
		}
		if scans[i].Problem != nil {
			return v.report, fmt.Errorf("%w (torn tail: Open would truncate it)", scans[i].positionError())
		}
	}
	return v.report, v.finish()
}

// verifier replays the log as scanDirectory visits it.
type verifier struct {
	replayer  Replayer
	report    VerifyReport
	snapshots []SnapshotInfo // valid snapshots, oldest first
	next      int            // index of the next snapshot to check
	started   bool           // the replay start is chosen
	base      uint64         // entries up to this op are in the start state
	expected  uint64         // next op expected by the replay
	body      []byte         // decompression buffer
	chain     [32]byte       // chain of the last entry visited
	stopped   bool           // the log is discontinuous: the replay stopped
	// recordedBase is the base a segment header records (LastOp 0: none).
	recordedBase ChainPoint
}

// visit checks and applies one entry.
func (v *verifier) visit(scan *segmentScan, e *scannedEntry) error {
	h := &e.Header
	if !v.started {
		if err := v.start(h); err != nil {
			return err
		}
	}
	if v.stopped || h.FirstOp != v.expected {
		// Only after damage, which the scan reports with its position once it ends.
		v.stopped = true
		return nil
	}
	v.expected = h.LastOp() + 1
	v.report.Entries++
	v.report.LastOp, v.chain = h.LastOp(), h.Chain
	if h.LastOp() > v.base {
		body, err := decompress(v.body[:0], e.Stored, h.Codec, int(h.RawBytes))
		if err != nil {
			return &PositionError{Path: scan.File.Path, Segment: scan.File.Number, Offset: e.Offset,
				Op: h.FirstOp, Reason: err.Error(), Err: ErrCorrupt}
		}
		if h.Codec != CodecNone {
			v.body = body
		}
		entry := Entry{Epoch: h.Epoch, FirstOp: h.FirstOp, Count: h.Count,
			Timestamp: h.Timestamp, Body: body}
		if err := v.replayer.Apply(&entry); err != nil {
			return &PositionError{Path: scan.File.Path, Segment: scan.File.Number, Offset: e.Offset,
				Op: h.FirstOp, Reason: "apply: " + err.Error(), Err: ErrCorrupt}
		}
		v.report.EntriesApplied++
	}
	return v.checkSnapshots(scan, e)
}

// start chooses where the replay starts, at the log's first entry.
func (v *verifier) start(h *entryHeader) error {
	v.started = true
	v.report.FirstOp, v.expected = h.FirstOp, h.FirstOp
	for v.next < len(v.snapshots) && v.snapshots[v.next].Meta.Op+1 < h.FirstOp {
		s := v.snapshots[v.next]
		v.report.SnapshotsSkipped = append(v.report.SnapshotsSkipped, SnapshotCheck{s.Path,
			s.Meta.Op, "older than the log's first op"})
		v.next++
	}
	if h.FirstOp == 1 {
		v.replayer.Reset()
		v.report.ReplayStart = "empty state"
		return nil
	}
	if v.next == len(v.snapshots) {
		return fmt.Errorf("%w: the log starts at op %d and no snapshot is at or after op %d",
			ErrCompacted, h.FirstOp, h.FirstOp-1)
	}
	s := v.snapshots[v.next]
	if s.Meta.Op+1 == h.FirstOp && s.Meta.Chain != h.PreviousChain {
		return fmt.Errorf("%w: snapshot %s at op %d: chain differs from the log's", ErrCorrupt,
			s.Path, s.Meta.Op)
	}
	if err := v.restore(s); err != nil {
		return err
	}
	v.base = s.Meta.Op
	v.report.ReplayStart, v.report.ReplayStartOp = s.Path, s.Meta.Op
	if s.Meta.Op+1 == h.FirstOp {
		v.next++
		v.report.SnapshotsChecked = append(v.report.SnapshotsChecked, SnapshotCheck{s.Path,
			s.Meta.Op, "restored; digest and chain match"})
	}
	return nil
}

func (v *verifier) restore(s SnapshotInfo) error {
	_, reader, err := OpenSnapshot(s.Path)
	if err != nil {
		return err
	}
	defer reader.Close()
	v.replayer.Reset()
	if err := v.replayer.Restore(reader); err != nil {
		return fmt.Errorf("snapshot %s: restore: %w", s.Path, err)
	}
	// Read to the end whatever the replayer left: the body checksum is checked at EOF.
	if _, err := io.Copy(io.Discard, reader); err != nil {
		return fmt.Errorf("snapshot %s: %w", s.Path, err)
	}
	if digest := v.replayer.Digest(); digest != s.Meta.Digest {
		return fmt.Errorf("%w: snapshot %s at op %d: restored state digest %x, header says %x",
			ErrDigestMismatch, s.Path, s.Meta.Op, digest[:8], s.Meta.Digest[:8])
	}
	return nil
}

// checkSnapshots compares the snapshots at or inside the entry just visited.
func (v *verifier) checkSnapshots(scan *segmentScan, e *scannedEntry) error {
	h := &e.Header
	for v.next < len(v.snapshots) && v.snapshots[v.next].Meta.Op <= h.LastOp() {
		s := v.snapshots[v.next]
		v.next++
		where := &PositionError{Path: scan.File.Path, Segment: scan.File.Number, Offset: e.Offset,
			Op: h.FirstOp, Err: ErrCorrupt}
		switch {
		case s.Meta.Op != h.LastOp():
			where.Reason = fmt.Sprintf("snapshot %s at op %d is inside entry %d..%d", s.Path,
				s.Meta.Op, h.FirstOp, h.LastOp())
			return where
		case s.Meta.Chain != h.Chain:
			where.Reason = fmt.Sprintf("snapshot %s chain differs from the log's at op %d",
				s.Path, s.Meta.Op)
			return where
		}
		if s.Meta.Op > v.base {
			if digest := v.replayer.Digest(); digest != s.Meta.Digest {
				where.Reason = fmt.Sprintf("snapshot %s at op %d: replayed digest %x, snapshot says %x",
					s.Path, s.Meta.Op, digest[:8], s.Meta.Digest[:8])
				where.Err = ErrDigestMismatch
				return where
			}
			// The header matches; now the body, as serve would load it: every checksum
			// and the framing read to the end, the state decoded, its digest the header's.
			// The replay then goes on from the restored state, which is what a server
			// starting from this snapshot does.
			if err := v.restore(s); err != nil {
				return err
			}
		}
		v.report.SnapshotsChecked = append(v.report.SnapshotsChecked, SnapshotCheck{s.Path,
			s.Meta.Op, "digest and chain match; body restored"})
	}
	return nil
}

// finish reports the final state, and snapshots the log does not reach: their ops are
// missing from the log (except the one snapshot beside an empty log:
// finishAtTheOnlySnapshot).
func (v *verifier) finish() error {
	v.reportFinalState()
	if !v.started && v.recordedBase.LastOp != 0 {
		return v.finishAtTheBase()
	}
	if !v.started && len(v.snapshots) == 1 {
		return v.finishAtTheOnlySnapshot()
	}
	if !v.started && len(v.snapshots) > 0 {
		return fmt.Errorf("%w: the log is empty but snapshots exist (newest at op %d)",
			ErrCorrupt, v.snapshots[len(v.snapshots)-1].Meta.Op)
	}
	if v.next < len(v.snapshots) {
		s := v.snapshots[v.next]
		return fmt.Errorf("%w: snapshot %s at op %d is beyond the log's last op %d: entries are missing",
			ErrCorrupt, s.Path, s.Meta.Op, v.report.LastOp)
	}
	return nil
}

// finishAtTheOnlySnapshot verifies an empty log beside one snapshot, the state a start
// over leaves until its first entry: the snapshot restored as serve would load it (every
// checksum, its digest the header's) is the state, and its chain the log's continuation.
func (v *verifier) finishAtTheOnlySnapshot() error {
	if err := v.finishAtSnapshot(v.snapshots[0], "restored; digest matches (the log is "+
		"empty after it)"); err != nil {
		return err
	}
	v.report.LogEmptyAfterSnapshot = true
	return nil
}

// finishAtSnapshot makes s, restored as serve would load it, the verified state of a log
// that holds no entry after it (its chain the log's continuation), checked with result.
func (v *verifier) finishAtSnapshot(s SnapshotInfo, result string) error {
	if err := v.restore(s); err != nil {
		return err
	}
	v.chain = s.Meta.Chain
	v.reportFinalState()
	v.report.ReplayStart, v.report.ReplayStartOp = s.Path, s.Meta.Op
	v.report.SnapshotsChecked = append(v.report.SnapshotsChecked, SnapshotCheck{s.Path,
		s.Meta.Op, result})
	return nil
}

// reportFinalState sets the report's last chain and final digest from the verifier's
// chain and the replayed state.
func (v *verifier) reportFinalState() {
	v.report.LastChain = hex.EncodeToString(v.chain[:])
	digest := v.replayer.Digest()
	v.report.FinalDigest = hex.EncodeToString(digest[:])
}

// finishAtTheBase verifies a log that holds no entry after the base its segment header
// records: the snapshot at the base's op, of its chain, restored as serve would load it,
// is the state; older snapshots are skipped as for a log that starts after them, and a
// newer one is beyond the log's end.
func (v *verifier) finishAtTheBase() error {
	base := v.recordedBase
	v.report.BaseOp, v.report.LastOp = base.LastOp, base.LastOp
	var at *SnapshotInfo
	for i := range v.snapshots {
		s := &v.snapshots[i]
		switch {
		case s.Meta.Op < base.LastOp:
			v.report.SnapshotsSkipped = append(v.report.SnapshotsSkipped, SnapshotCheck{s.Path,
				s.Meta.Op, "older than the log's base"})
		case s.Meta.Op > base.LastOp:
			return fmt.Errorf("%w: snapshot %s at op %d is beyond the log's last op %d "+
				"(its base): entries are missing", ErrCorrupt, s.Path, s.Meta.Op, base.LastOp)
		case s.Meta.Chain != base.Chain:
			return fmt.Errorf("%w: snapshot %s at op %d: chain differs from the base the "+
				"log records", ErrCorrupt, s.Path, s.Meta.Op)
		default:
			at = s
		}
	}
	if at == nil {
		return fmt.Errorf("%w: the log holds no entry after its base at op %d and no "+
			"snapshot is at that op", ErrCompacted, base.LastOp)
	}
	// Its chain is the base's (checked above).
	return v.finishAtSnapshot(*at, "restored; digest matches and chain is the log's base")
}
