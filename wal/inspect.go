package wal

import (
	"fmt"
	"strings"
	"time"
)

// Report is what Inspect finds in a log directory (and its snapshot directory).
type Report struct {
	Dir              string          `json:"dir"`
	Segments         []SegmentReport `json:"segments"`
	Entries          int64           `json:"entries"`
	FirstOp          uint64          `json:"first_op"`
	LastOp           uint64          `json:"last_op"`
	EpochFirst       uint64          `json:"epoch_first"`
	EpochLast        uint64          `json:"epoch_last"`
	TimestampFirst   uint64          `json:"timestamp_first_ns"`
	TimestampLast    uint64          `json:"timestamp_last_ns"`
	StoredBytes      int64           `json:"stored_bytes"`
	RawBytes         int64           `json:"raw_bytes"`
	CompressionRatio float64         `json:"compression_ratio"` // raw / stored
	SnapshotDir      string          `json:"snapshot_dir,omitempty"`
	Snapshots        []SnapshotInfo  `json:"snapshots"`
	Problems         []string        `json:"problems,omitempty"` // damage found, see Verify
}

// SegmentReport describes one segment file.
type SegmentReport struct {
	Number           uint64         `json:"number"`
	Path             string         `json:"path"`
	FileBytes        int64          `json:"file_bytes"`
	UsedBytes        int64          `json:"used_bytes"` // headers and entries, up to the last
	Entries          int            `json:"entries"`
	FirstOp          uint64         `json:"first_op"`
	LastOp           uint64         `json:"last_op"`
	EpochFirst       uint64         `json:"epoch_first"`
	EpochLast        uint64         `json:"epoch_last"`
	TimestampFirst   uint64         `json:"timestamp_first_ns"`
	TimestampLast    uint64         `json:"timestamp_last_ns"`
	StoredBytes      int64          `json:"stored_bytes"`
	RawBytes         int64          `json:"raw_bytes"`
	CompressionRatio float64        `json:"compression_ratio"`
	Codecs           map[string]int `json:"codecs"` // entries per body codec
	// BaseOp is the op the log starts after, when this segment's header records it (a
	// start over, or a truncation that emptied the log, wrote it before the next entry).
	BaseOp  uint64 `json:"base_op,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// Inspect describes the segments of dir and the snapshots of snapshotDir (if not empty)
// without changing anything. Damage does not make it fail: it is listed in Problems
// (Verify is the checker). It returns an error only if the directories cannot be read.
// It takes no lock: on a log open in another process, the entries being written may
// show as a problem at the tail.
func Inspect(dir, snapshotDir string) (Report, error) {
	report := Report{Dir: dir, SnapshotDir: snapshotDir}
	codecs := map[uint64]map[string]int{}
	scans, err := scanDirectory(dir, func(scan *segmentScan, e *scannedEntry) error {
		counts := codecs[scan.File.Number]
		if counts == nil {
			counts = map[string]int{}
			codecs[scan.File.Number] = counts
		}
		counts[e.Header.Codec.String()]++
		return nil
	})
	if err != nil {
		return report, err
	}
	for i := range scans {
		segment := segmentReportOf(&scans[i], codecs[scans[i].File.Number])
		report.add(&segment)
		report.Segments = append(report.Segments, segment)
		if problem := scanProblemText(scans, i); problem != "" {
			report.Problems = append(report.Problems, problem)
		}
	}
	report.CompressionRatio = ratio(report.RawBytes, report.StoredBytes)
	if snapshotDir != "" {
		report.Snapshots, err = ListSnapshots(snapshotDir)
	}
	return report, err
}

func segmentReportOf(scan *segmentScan, codecs map[string]int) SegmentReport {
	s := SegmentReport{Number: scan.File.Number, Path: scan.File.Path,
		FileBytes: scan.FileBytes, UsedBytes: scan.EndOffset, Entries: scan.Entries,
		StoredBytes: scan.StoredBytes, RawBytes: scan.RawBytes, Codecs: codecs,
		CompressionRatio: ratio(scan.RawBytes, scan.StoredBytes), BaseOp: scan.Header.Base.LastOp}
	if s.Codecs == nil {
		s.Codecs = map[string]int{}
	}
	if scan.Entries > 0 {
		s.FirstOp, s.LastOp = scan.First.FirstOp, scan.Last.LastOp()
		s.EpochFirst, s.EpochLast = scan.First.Epoch, scan.Last.Epoch
		s.TimestampFirst, s.TimestampLast = scan.First.Timestamp, scan.Last.Timestamp
	}
	if scan.Problem != nil {
		s.Problem = scan.positionError().Error()
	}
	return s
}

// scanProblemText describes what is wrong at segment i, with what Open would do.
func scanProblemText(scans []segmentScan, i int) string {
	tail := tailIndex(scans)
	if damage := scanDamage(scans, i, tail); damage != nil {
		return damage.Error() + " (Open refuses the log)"
	}
	if scans[i].Problem != nil {
		return scans[i].positionError().Error() +
			" (in the last segment: Open truncates it if it is a torn write)"
	}
	return ""
}

func (r *Report) add(s *SegmentReport) {
	if s.Entries == 0 {
		if r.Entries == 0 && s.BaseOp != 0 {
			r.LastOp = s.BaseOp // No entry yet after the base: the log ends there.
		}
		return
	}
	if r.Entries == 0 {
		r.FirstOp, r.EpochFirst, r.TimestampFirst = s.FirstOp, s.EpochFirst, s.TimestampFirst
	}
	r.LastOp, r.EpochLast, r.TimestampLast = s.LastOp, s.EpochLast, s.TimestampLast
	r.Entries += int64(s.Entries)
	r.StoredBytes += s.StoredBytes
	r.RawBytes += s.RawBytes
}

func ratio(raw, stored int64) float64 {
	if stored == 0 {
		return 0
	}
	return float64(raw) / float64(stored)
}

// String renders the report as a table for operators.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "log %s: %d entries, ops %d..%d, epochs %d..%d, %s\n", r.Dir, r.Entries,
		r.FirstOp, r.LastOp, r.EpochFirst, r.EpochLast, timeSpan(r.TimestampFirst, r.TimestampLast))
	fmt.Fprintf(&b, "  stored %d bytes for %d raw (ratio %.2f)\n", r.StoredBytes, r.RawBytes,
		r.CompressionRatio)
	fmt.Fprintf(&b, "  %-8s %10s %10s %8s %-23s %-9s %12s %12s %6s  %s\n", "segment", "file",
		"used", "entries", "ops", "epochs", "stored", "raw", "ratio", "time span")
	for _, s := range r.Segments {
		fmt.Fprintf(&b, "  %-8d %10d %10d %8d %-23s %-9s %12d %12d %6.2f  %s\n", s.Number,
			s.FileBytes, s.UsedBytes, s.Entries, fmt.Sprintf("%d..%d", s.FirstOp, s.LastOp),
			fmt.Sprintf("%d..%d", s.EpochFirst, s.EpochLast), s.StoredBytes, s.RawBytes,
			s.CompressionRatio, timeSpan(s.TimestampFirst, s.TimestampLast))
		if s.BaseOp != 0 {
			fmt.Fprintf(&b, "           the log starts after op %d (recorded in this header)\n",
				s.BaseOp)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  PROBLEM: %s\n", p)
	}
	if r.SnapshotDir != "" {
		fmt.Fprintf(&b, "snapshots %s: %d\n", r.SnapshotDir, len(r.Snapshots))
	}
	for _, s := range r.Snapshots {
		if s.Err != nil {
			fmt.Fprintf(&b, "  op %-12d DAMAGED: %v\n", s.Meta.Op, s.Err)
			continue
		}
		fmt.Fprintf(&b, "  op %-12d epoch %-4d %12d stored %12d raw  digest %x  %s\n",
			s.Meta.Op, s.Meta.Epoch, s.StoredBytes, s.RawBytes, s.Meta.Digest[:8], s.Path)
	}
	return b.String()
}

func timeSpan(first, last uint64) string {
	if first == 0 {
		return "no entries"
	}
	from := time.Unix(0, int64(first)).UTC()
	return fmt.Sprintf("%s + %v", from.Format(time.RFC3339Nano), time.Duration(last-first))
}
