package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"sequent/tools"
	"sequent/wal"
)

func newWalCommand() *cobra.Command {
	command := &cobra.Command{
		Use:   "wal",
		Short: "Inspect and verify a data directory's write-ahead log and snapshots",
	}
	var asJSON bool
	inspect := &cobra.Command{
		Use:   "inspect DATA_DIR",
		Short: "List segments, entries, op ranges, epochs, sizes, compression and time span",
		Long: `Inspect a data directory (the --data of 'sequent serve') offline: every log
segment with its entries, op range, epochs, stored and raw sizes, compression ratio and
time span, and every snapshot. It reads only; run it on a stopped server or a copy.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			report, err := wal.Inspect(tools.LogDir(args[0]), tools.SnapshotDir(args[0]))
			if err != nil {
				return err
			}
			return printReport(cmd, asJSON, &report, report.String())
		},
	}
	verify := &cobra.Command{
		Use:   "verify DATA_DIR",
		Short: "Check checksums, the hash chain, and replay the log against every snapshot",
		Long: `Verify a data directory offline: every checksum, the hash chain that links the
entries, the op sequence, and a replay of the log through the state machine from the
oldest usable snapshot (or from op 1), whose state digest must equal every later
snapshot's; every snapshot is also loaded as 'serve' would load it (body checksums,
decoding, restored digest). Exits non-zero with a message naming the segment, offset and
op of the first problem.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			report, err := wal.Verify(tools.LogDir(args[0]), tools.SnapshotDir(args[0]),
				&tools.MachineReplayer{})
			if err != nil {
				return err
			}
			return printReport(cmd, asJSON, &report, report.String()+"verify: ok")
		},
	}
	for _, sub := range []*cobra.Command{inspect, verify} {
		sub.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of text")
		command.AddCommand(sub)
	}
	return command
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
