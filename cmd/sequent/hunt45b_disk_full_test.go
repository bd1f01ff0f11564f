package main

import (
	"testing"

	"sequent/core/shardmap"
	"sequent/netio/ops"
)

// TestAFullFileSystemIsReportedLow (hunt45b): /healthz reports disk_space_low below
// --data-free-bytes-warn bytes left (README "Disk full and log failures"), and read an
// available size of 0 as "unknown". But statfs says 0 available exactly when the file
// system is full (for the unprivileged user the units run as), while its size is known:
// the problem vanished from /healthz at the moment the log could no longer create a
// segment and writes were refused, leaving it 200 "ok". Unknown is a size of 0 (no
// statfs); a known size with 0 left is as low as it gets.
func TestAFullFileSystemIsReportedLow(t *testing.T) {
	running, _, _ := startDevNode(t, shardmap.Spec{})
	status := running.groups.Status()
	for _, c := range diskSpaceCases {
		snapshot := running.opsSnapshot()
		snapshot.DataDirectoryAvailableBytes = c.available
		snapshot.DataDirectoryFilesystemBytes = c.filesystem
		low := false
		for _, problem := range running.problems(&snapshot, &status) {
			low = low || problem.Code == ops.ProblemDiskSpaceLow
		}
		if low != c.low {
			t.Errorf("%s (%d of %d bytes left): disk_space_low %v, want %v", c.name,
				c.available, c.filesystem, low, c.low)
		}
	}
}

// diskSpaceCases are the data directory's space left (of a file system's size) and
// whether disk_space_low is due at --data-free-bytes-warn's default (1 GiB).
var diskSpaceCases = []struct {
	name                  string
	available, filesystem uint64
	low                   bool
}{
	{"full", 0, 64 << 30, true},
	{"nearly full", 4096, 64 << 30, true},
	{"roomy", 32 << 30, 64 << 30, false},
	{"unknown (no statfs)", 0, 0, false},
}
