package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
directory of segment files without a log of its own (--wal-archive) is read as one log.`,
		Example: `  sequent wal inspect ./sequent-data
  sequent wal inspect ./sequent-data --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			layout, placement, err := walLayout(args[0])
			if err != nil {
				return err
			}
			reports := make([]wal.Report, placement.Shards)
			for index := range reports {
				if reports[index], err = wal.Inspect(layout.logDir(index),
					layout.snapshotDir(index)); err != nil {
					return fmt.Errorf("shard %d: %w", index, err)
				}
			}
			return printShardReports(cmd, asJSON, reports, func(r *wal.Report) string {
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
consistent (sagas may be in flight in a directory of a node that was running). Exits
non-zero with a message naming the shard, segment, offset and op of the first problem.
A directory of segment files without a log of its own (--wal-archive DIR, or DIR/shard-n)
is read as one log without snapshots, replayed from op 1.`,
		Example: `  sequent wal verify ./sequent-data`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			layout, placement, err := walLayout(args[0])
			if err != nil {
				return err
			}
			reports := make([]wal.VerifyReport, placement.Shards)
			machines := make([]*core.Machine, placement.Shards)
			for index := range reports {
				replayer := &tools.MachineReplayer{Config: core.Config{
					Shard: core.ShardConfig{Map: placement, Index: uint16(index)}}}
				if reports[index], err = wal.Verify(layout.logDir(index), layout.snapshotDir(index),
					replayer); err != nil {
					return fmt.Errorf("shard %d: %w", index, err)
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
			return printShardReports(cmd, asJSON, reports, func(r *wal.VerifyReport) string {
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

// walDirectories is what `sequent wal` reads: a data directory's shards (its layout), or
// an archive of retired segments (--wal-archive DIR, or DIR/shard-n: segment files only)
// as one log without snapshots.
type walDirectories struct {
	layout  node.Layout
	archive bool // The directory holds segments itself: read it as one log.
}

func (w walDirectories) logDir(index int) string {
	if w.archive {
		return w.layout.Dir
	}
	return w.layout.LogDir(index)
}

func (w walDirectories) snapshotDir(index int) string {
	if w.archive {
		return "" // An archive holds no snapshots: a replay starts from op 1.
	}
	return w.layout.SnapshotDir(index)
}

// walLayout returns a data directory's layout and shard map (one shard for a directory
// without a recorded map), or, for a directory without a log of its own that holds
// segment files (an archive), that directory as one log.
func walLayout(dir string) (walDirectories, *shardmap.Map, error) {
	layout := node.Layout{Dir: dir}
	placement, err := layout.ReadShardMap()
	if err != nil {
		return walDirectories{layout: layout}, nil, err
	}
	if placement == nil {
		placement = shardmap.Single()
		if _, err := os.Stat(layout.LogDir(0)); errors.Is(err, fs.ErrNotExist) {
			segments, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
			return walDirectories{layout: layout, archive: len(segments) > 0}, placement, nil
		}
	}
	return walDirectories{layout: layout}, placement, nil
}

// printShardReports prints one report per shard (a one-shard directory's as before, the
// shards' under a header each), then summary (if any) as the last line.
func printShardReports[R any](cmd *cobra.Command, asJSON bool, reports []R,
	text func(*R) string, summary string) error {
	if asJSON {
		if len(reports) == 1 {
			return printReport(cmd, true, &reports[0], "")
		}
		return printReport(cmd, true, map[string]any{"shards": reports}, "")
	}
	var out strings.Builder
	for index := range reports {
		if len(reports) > 1 {
			fmt.Fprintf(&out, "== shard %d\n", index)
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
