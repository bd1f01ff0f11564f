package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"sequent/replication"
)

func newWitnessCommand() *cobra.Command {
	var listen, key, logLevel string
	var tlsFiles [3]string
	var lease time.Duration
	command := &cobra.Command{
		Use:   "witness",
		Short: "Run the lease witness that makes automatic failover safe",
		Long: `Run the witness: the third party that makes automatic failover between a primary
and its standby safe. It holds one lease. The primary (started with --witness) renews it
and fences itself when it cannot; the standby (also with --witness) promotes itself only
when the witness grants it the lease, which it does only after the primary's lease ran
out. Without a witness, two nodes never promote themselves: use 'sequent admin promote'.

Run it on a third machine (or at least outside the two nodes' failure domain). It keeps
its state in memory: after a restart it grants no failover for one lease, and the node
that renews first holds the lease again.

Requests are authenticated with the replication key. When the nodes run with
--replication-tls-*, they also speak TLS to the witness: give the witness the same three
flags (its own certificate, signed by the same CA and naming the address the nodes dial),
or the primary's renewals fail and it fences itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnvironment(cmd); err != nil {
				return usageError{err}
			}
			if key == "" {
				return usageError{fmt.Errorf("--replication-key (or SEQUENT_REPLICATION_KEY) is required")}
			}
			logger, _, err := newLogger(logLevel, cmd.ErrOrStderr())
			if err != nil {
				return usageError{err}
			}
			witnessTLS, err := loadReplicationTLS(tlsFiles)
			if err != nil {
				return usageError{err}
			}
			listener, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			witness := replication.StartWitness(replication.WitnessConfig{Listener: listener,
				TLS: witnessTLS, Key: []byte(key), LeaseDuration: lease, Logger: logger})
			transport := "plain TCP"
			if witnessTLS != nil {
				transport = "mutual TLS"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sequent witness: leases of %v on %s (%s)\n", lease,
				listener.Addr(), transport)
			signals := make(chan os.Signal, 1)
			signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
			<-signals
			return witness.Close()
		},
	}
	flags := command.Flags()
	flags.StringVar(&listen, "listen", "127.0.0.1:7409", "address to serve leases on")
	flags.StringVar(&key, "replication-key", "", "the nodes' shared replication secret")
	flags.DurationVar(&lease, "lease", replication.LeaseDurationDefault, "lease duration (failover takes about one lease)")
	flags.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addReplicationTLSFlags(flags, &tlsFiles, "the witness's")
	return command
}
