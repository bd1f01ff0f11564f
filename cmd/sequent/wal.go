package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"sequent/core"
	"sequent/core/node"
	"sequent/core/node/reconcile"
	"sequent/core/shardmap"
	"sequent/tools"
	"sequent/wal"
)

func newWalCommand() *cobra.Command {
	command := &cobra.Command{
		Use:   "wal",
		Short: "Inspect and verify a data directory's write-ahead logs and snapshots (every shard's)",
		Example: `  sequent wal inspect ./sequent-data         # a stopped server's directory, or a copy
  sequent wal verify ./sequent-data --json`,
	}
	var asJSON bool
	inspect := &cobra.Command{
		Use:   "inspect DATA_DIR",
		Short: "List segments, entries, op ranges, epochs, sizes, compression and time span",
		Long: `Inspect a data directory (the --data of 'sequent serve') offline: for every shard,
every log segment with its entries, op range, epochs, stored and raw sizes, compression
ratio and time span, and every snapshot. It reads only; run it on a stopped server or a
copy. With --json: one object for a one-shard directory, else {"shards": [...]}. A
directory of segment files without a log of its own (--wal-archive DIR) is read as an
archive: its own segments as shard 0's log, each DIR/shard-n's as shard n's. Damage
found is listed (PROBLEM lines; "problems" in JSON), not an error: it exits 1 only when a
directory cannot be read or the data directory's shard map does not read (a damaged shard
map is not listed) ('sequent wal verify' is the check, and exits 1 on damage).`,
		Example: `  sequent wal inspect ./sequent-data
  sequent wal inspect ./sequent-data --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			layout, placement, err := walLayout(args[0])
			if err != nil {
				return err
			}
			reports := make([]wal.Report, layout.count(placement))
			for index := range reports {
				if reports[index], err = wal.Inspect(layout.logDir(index),
					layout.snapshotDir(index)); err != nil {
					return layout.shardError(index, err)
				}
			}
			return printShardReports(cmd, asJSON, reports, layout.shard, func(r *wal.Report) string {
				return r.String()
			}, "")
		},
	}
	verify := &cobra.Command{
		Use:   "verify DATA_DIR",
		Short: "Check checksums, the hash chain, and replay every shard's log against its snapshots",
		Long: `Verify a data directory offline, every shard: every checksum, the hash chain that
links the entries, the op sequence, and a replay of the log through the state machine
from the oldest usable snapshot (or from op 1), whose state digest must equal every
later snapshot's; every snapshot is also loaded as 'serve' would load it (body
checksums, decoding, restored digest). With several shards, the replayed states are then
reconciled: every ledger must balance over all shards and every settlement pair be
consistent (sagas may be in flight in a directory of a node that was running). Exits 1
with a message naming the shard, segment, offset and op of the first problem; 2 on bad
flags or when DATA_DIR is not a directory.
A directory of segment files without a log of its own (--wal-archive DIR) is read as an
archive: its own segments as shard 0's log and each DIR/shard-n's as shard n's, every
one without snapshots, replayed alone from op 1 (not reconciled: an archive records no
shard map). DIR/shard-n alone is read as one log.`,
		Example: `  sequent wal verify ./sequent-data`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			layout, placement, err := walLayout(args[0])
			if err != nil {
				return err
			}
			reports := make([]wal.VerifyReport, layout.count(placement))
			machines := make([]*core.Machine, len(reports))
			for index := range reports {
				replayer := &tools.MachineReplayer{Config: core.Config{
					Shard: core.ShardConfig{Map: placement, Index: layout.replayIndex(index)}}}
				if reports[index], err = wal.Verify(layout.logDir(index), layout.snapshotDir(index),
					replayer); err != nil {
					return layout.shardError(index, err)
				}
				machines[index] = replayer.Machine()
			}
			summary := "verify: ok"
			if placement.Shards > 1 {
				reconciliation := reconcile.Compute(machines)
				if err := reconciliation.Check(false); err != nil {
					return fmt.Errorf("the shards do not reconcile: %w", err)
				}
				summary = fmt.Sprintf("verify: ok (%d shards reconcile: %d ledgers balanced, "+
					"%d settlement pairs, %d sagas in flight)", placement.Shards,
					len(reconciliation.Ledgers), len(reconciliation.Pairs),
					len(reconciliation.Running))
			}
			return printShardReports(cmd, asJSON, reports, layout.shard, func(r *wal.VerifyReport) string {
				return r.String()
			}, summary)
		},
	}
	for _, sub := range []*cobra.Command{inspect, verify} {
		sub.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of text")
		command.AddCommand(sub)
	}
	return command
}

// archiveShardPrefix names shard n's subdirectory of an archive (n ≥ 1), as replication
// archives it (--wal-archive DIR/shard-n).
const archiveShardPrefix = "shard-"

// walDirectories is what `sequent wal` reads: a data directory's shards (its layout), or
// an archive of retired segments (--wal-archive DIR: shard 0's segments in DIR, shard
// n's in DIR/shard-n), each of its logs read as one log without snapshots.
type walDirectories struct {
	layout  node.Layout
	archive []archivedLog // The archive's logs, by shard; nil for a data directory.
}

// archivedLog is one shard's log in an archive.
type archivedLog struct {
	shard int
	dir   string
}

// count returns how many logs there are to read (placement: the data directory's map).
func (w walDirectories) count(placement *shardmap.Map) int {
	if w.archive != nil {
		return len(w.archive)
	}
	return int(placement.Shards)
}

// shard returns the shard number of the index-th log read.
func (w walDirectories) shard(index int) int {
	if w.archive != nil {
		return w.archive[index].shard
	}
	return index
}

// replayIndex is the shard index the index-th log is replayed as: an archive's logs each
// as the one shard of the one-shard map (its map is not recorded).
func (w walDirectories) replayIndex(index int) uint16 {
	if w.archive != nil {
		return 0
	}
	return uint16(index)
}

func (w walDirectories) logDir(index int) string {
	if w.archive != nil {
		return w.archive[index].dir
	}
	return w.layout.LogDir(index)
}

func (w walDirectories) snapshotDir(index int) string {
	if w.archive != nil {
		return "" // An archive holds no snapshots: a replay starts from op 1.
	}
	return w.layout.SnapshotDir(index)
}

// shardError names the log a problem was found in: its shard, and for an archive its
// directory (shard n's is DIR/shard-n).
func (w walDirectories) shardError(index int, err error) error {
	if w.archive != nil {
		return fmt.Errorf("shard %d (%s): %w", w.archive[index].shard, w.archive[index].dir, err)
	}
	return fmt.Errorf("shard %d: %w", index, err)
}

// walLayout returns a data directory's layout and shard map (one shard for a directory
// without a recorded map), or, for a directory without a log of its own that holds
// segment files (an archive: DIR, DIR/shard-n), its logs with the one-shard map (each is
// replayed alone: an archive records no map, and its shards' logs end at different ops).
func walLayout(dir string) (walDirectories, *shardmap.Map, error) {
	layout := node.Layout{Dir: dir}
	// A directory that is not there is the argument's fault (exit 2), not a log found
	// damaged (exit 1): it used to fail as "shard 0: open DIR/log", exit 1.
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return walDirectories{layout: layout}, nil, usageError{fmt.Errorf("%s is not a directory", dir)}
	}
	placement, err := layout.ReadShardMap()
	if err != nil {
		return walDirectories{layout: layout}, nil, err
	}
	if placement == nil {
		placement = shardmap.Single()
		if _, err := os.Stat(layout.LogDir(0)); errors.Is(err, fs.ErrNotExist) {
			return walDirectories{layout: layout, archive: archivedLogs(dir)}, placement, nil
		}
	}
	return walDirectories{layout: layout}, placement, nil
}

// archivedLogs lists the logs of an archive directory: its own segment files (shard 0)
// and those of each shard-n subdirectory, by shard; nil when it holds none.
func archivedLogs(dir string) []archivedLog {
	var logs []archivedLog
	entries, _ := os.ReadDir(dir) // Read once: for its own segments and its shard-n.
	if holdsSegments(entries) {
		logs = append(logs, archivedLog{shard: 0, dir: dir})
	}
	var shards []archivedLog
	for _, entry := range entries {
		number, ok := strings.CutPrefix(entry.Name(), archiveShardPrefix)
		shard, err := strconv.Atoi(number)
		if !ok || err != nil || shard < 1 || !entry.IsDir() {
			continue
		}
		path := filepath.Join(dir, entry.Name())
		if subdirectory, _ := os.ReadDir(path); holdsSegments(subdirectory) {
			shards = append(shards, archivedLog{shard: shard, dir: path})
		}
	}
	slices.SortFunc(shards, func(a, b archivedLog) int { return a.shard - b.shard })
	return append(logs, shards...)
}

// holdsSegments says whether a directory's entries hold a segment file (*.wal; the
// directory read as one, not matched by a glob pattern, which a path with '[' would
// break).
func holdsSegments(entries []os.DirEntry) bool {
	for _, entry := range entries {
		if !entry.IsDir() && strings.HasSuffix(entry.Name(), ".wal") {
			return true
		}
	}
	return false
}

// printShardReports prints one report per shard (a one-shard directory's as before, the
// shards' under a header each), then summary (if any) as the last line.
func printShardReports[R any](cmd *cobra.Command, asJSON bool, reports []R,
	shard func(index int) int, text func(*R) string, summary string) error {
	if asJSON {
		if len(reports) == 1 {
			return printReport(cmd, true, &reports[0], "")
		}
		return printReport(cmd, true, map[string]any{"shards": reports}, "")
	}
	var out strings.Builder
	for index := range reports {
		if len(reports) > 1 {
			fmt.Fprintf(&out, "== shard %d\n", shard(index))
		}
		out.WriteString(text(&reports[index]))
	}
	out.WriteString(summary)
	return printReport(cmd, false, nil, strings.TrimRight(out.String(), "\n"))
}

func printReport(cmd *cobra.Command, asJSON bool, report any, text string) error {
	if !asJSON {
		fmt.Fprintln(cmd.OutOrStdout(), text)
		return nil
	}
	encoder := json.NewEncoder(cmd.OutOrStdout())
	encoder.SetIndent("", "  ")
	return encoder.Encode(report)
}

// exactArgs is cobra.ExactArgs with a usage error (exit 2).
func exactArgs(count int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(count)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
		}
		return nil
	}
}
