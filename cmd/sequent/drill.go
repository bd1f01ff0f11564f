package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"sequent/tools/drill"
)

func newDrillCommand() *cobra.Command {
	var config drill.Config
	var keep, asJSON bool
	var fault string
	command := &cobra.Command{
		Use:   "drill",
		Short: "Failover drill: kill the primary under load, fail over, rejoin, check nothing was lost",
		Long: `Run a failover drill on this machine. It starts a primary and a standby as separate
'sequent serve' processes on 127.0.0.1 (random free ports, sync replication), drives
transfer load through the Go client, and for each cycle: SIGKILLs the primary at a
random moment (with --fault stop: SIGSTOPs it, a hung process), promotes the standby
('sequent admin promote' over HTTP) or, with --automatic, lets a witness do it, keeps the
load going, (SIGCONTs a stopped primary and checks that it finds itself fenced without
having acknowledged anything alone,) restarts the old primary as the new standby and
waits for it to catch up.

Afterwards it checks that every transfer whose reply was received is present, that none
whose client was told it was refused (an event refusal, or busy, not_primary... with no
copy possibly applied) is present, that none was applied twice (each account's balances equal the sum of its stored transfers), and
that both replicas' logs replay to the same state digest. It reports per cycle and in
total: acknowledged, lost, duplicated, RTO (kill to first acknowledged write on the new
primary) and the rejoined node's catch-up time. Exit status 1 if anything was lost,
refused but stored, duplicated or diverged.

The kill moments come from --seed; without it, from the clock. The seed is printed on
stderr at the start, so that a drill that found a problem can be rerun as it was.`,
		Example: `  sequent drill                                  # 3 cycles, manual promotion
  sequent drill --cycles 100 --seed 42 --json
  sequent drill --automatic --lease 2s --cycles 20   # through a witness
  sequent drill --fault stop --shards 2 --keep       # a hung primary, nodes of 2 shards`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config.Cycles < 1 || config.Workers < 1 || config.BatchSize < 1 ||
				config.BatchSize > 8189 || config.Accounts < 2 || config.Rate < 0 ||
				config.Shards < 1 || config.Lease <= 0 {
				return usageError{errors.New("--cycles, --workers, --accounts (≥2) and --batch (1..8189) must be positive, --rate not negative, --lease above zero")}
			}
			if !cmd.Flags().Changed("seed") {
				config.Seed = uint64(time.Now().UnixNano())
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "sequent drill: seed %d\n", config.Seed)
			var err error
			if config.Fault, err = drill.ParseFault(fault); err != nil {
				return usageError{fmt.Errorf("--fault: %w", err)}
			}
			binary, err := os.Executable()
			if err != nil {
				return err
			}
			config.Binary = binary
			if config.Directory == "" {
				if config.Directory, err = os.MkdirTemp("", "sequent-drill-"); err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(config.Directory)
				}
			}
			config.Progress = cmd.ErrOrStderr()
			report, err := drill.Run(cmd.Context(), config)
			if printErr := printDrill(cmd, report, asJSON); printErr != nil {
				return printErr
			}
			if err != nil {
				return fmt.Errorf("drill failed: %w (node logs in %s; keep them with --keep)", err,
					config.Directory)
			}
			if !report.OK {
				return errors.New("drill found problems (see the report)")
			}
			return nil
		},
	}
	flags := command.Flags()
	flags.IntVar(&config.Cycles, "cycles", 3, "failovers to perform")
	flags.BoolVar(&config.Automatic, "automatic", false, "fail over through a witness instead of 'admin promote'")
	flags.StringVar(&fault, "fault", string(drill.FaultKill), "what happens to the primary: kill (SIGKILL) or stop (SIGSTOP, SIGCONT once the standby has taken over: a hung process)")
	flags.Uint64Var(&config.Seed, "seed", 0, "random seed of the kill moments (default: from the clock; printed at the start)")
	flags.IntVar(&config.Workers, "workers", 2, "concurrent load batches")
	flags.IntVar(&config.BatchSize, "batch", 50, "transfers per batch")
	flags.Float64Var(&config.Rate, "rate", drill.RateDefault,
		"most transfers per second the load sends (0: as fast as replies allow; both nodes keep every transfer)")
	flags.IntVar(&config.Accounts, "accounts", 16, "accounts the load moves money between")
	flags.DurationVar(&config.Lease, "lease", drill.LeaseDefault, "witness lease with --automatic: failover takes about one lease, and a node that gets no renewal through for most of a lease fences itself, so a loaded machine needs a longer one (the end-to-end test uses 2s)")
	flags.IntVar(&config.Shards, "shards", 1, "shards of each node (hash placement): with more than one, most transfers cross shards, and the report adds the settlement pairs not netting to zero and the sagas in flight at the end (both must be 0)")
	flags.DurationVar(&config.KillAfterMin, "kill-after-min", 500*time.Millisecond, "least load time before each kill")
	flags.DurationVar(&config.KillAfterMax, "kill-after-max", 1500*time.Millisecond, "most load time before each kill")
	flags.StringVar(&config.Directory, "dir", "", "directory for the nodes' data and logs (default: a temporary one)")
	flags.BoolVar(&keep, "keep", false, "keep the temporary directory")
	flags.BoolVar(&asJSON, "json", false, "print one JSON object")
	return command
}

func printDrill(cmd *cobra.Command, report drill.Report, asJSON bool) error {
	out := cmd.OutOrStdout()
	if asJSON {
		encoder := json.NewEncoder(out)
		encoder.SetIndent("", "  ")
		return encoder.Encode(report)
	}
	fmt.Fprintf(out, "drill (%s, fault %s): %d of %d cycles, %d transfers sent, %d acknowledged, %d lost, %d duplicated\n",
		report.Mode, report.Fault, len(report.CycleReports), report.Cycles, report.Sent,
		report.Acknowledged, report.Lost, report.Duplicated)
	fmt.Fprintf(out, "outcome unknown to the client: %d; refused but stored: %d\n", report.Unknown,
		report.RefusedButStored)
	fmt.Fprintf(out, "RTO p50 %.0f ms, max %.0f ms; promoted p50 %.0f ms, max %.0f ms; catch-up p50 %.0f ms, max %.0f ms\n",
		report.RTOMs.P50, report.RTOMs.Max, report.PromotedMs.P50, report.PromotedMs.Max,
		report.CatchUpMs.P50, report.CatchUpMs.Max)
	fmt.Fprintf(out, "replicas equal: %v (digest %s)\n", report.DigestsEqual, report.FinalDigest)
	fmt.Fprintf(out, "shards %d: invariants held %v, settlement pairs not netting to zero %d, sagas in flight %d\n",
		report.Shards, report.Reconciled, report.SettlementUnsettled, report.SagasInFlight)
	for _, problem := range report.Problems {
		fmt.Fprintln(out, "problem:", problem)
	}
	if report.OK {
		fmt.Fprintln(out, "drill: ok")
	}
	return nil
}
