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
	var listen, key, logLevel, statePath, id string
	var stateInMemory bool
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

Run it on a third machine (or at least outside the two nodes' failure domain).

--state FILE is required: the witness stores there, durably and before it answers, the
highest epoch it granted and its holder, whether that grant was released (its holder
gave it up before writing, a promotion that failed) and the epoch written below it, and
its id (a 376-byte checksummed record, created at the first start; a file of an earlier
build is read and rewritten in this format, at start when it lacks an id, otherwise at
its next change, after which an earlier build refuses it). A restarted witness loads
it and refuses a renewal below that epoch, so a stale primary restarted on its old log
cannot take the lease from the node that replaced it. It refuses to start on a file it
cannot read or verify: restore the file, or stop both nodes, remove it, and start the
node with the highest epoch file first. A grant that cannot be stored (disk full,
read-only) is refused and logged at error level. The lease's expiry is not stored: after
a restart the witness grants no failover for one lease, so that a lease granted before
has run out.

--state-in-memory instead keeps the state in memory only (for tests): a restart forgets
the epoch, and the first node to renew after it holds the lease, even a stale primary.

Requests are authenticated with the replication key, and so are the witness's replies
(signed over a nonce the node draws for each request), so that nobody on the path can
forge a grant or a refusal to a node of this build (unless it runs with
--witness-allow-unsigned).

The witness has an id, printed at start: --id NAME (1 to 64 printable ASCII characters,
no space), or else one generated at the first start and kept in the --state file (with
--state-in-memory, a new one at every start). Give it to both nodes of the pair
(--witness-id): they then believe only a witness that proves that id (its replies' mac
covers it), so a second witness holding the same replication key (another pair's, an old
one left running after a move) cannot grant them the lease, even to a standby whose
connection an attacker redirects to it. Nodes without --witness-id believe any witness
holding the key (and say so once at warn level); give each pair its own key anyway.

Upgrade the witness before the nodes: it still answers the nodes of earlier builds (as
before: unsigned to the builds before session 37), but a node of this build refuses an
earlier witness's unsigned answers unless it speaks TLS to it or runs with
--witness-allow-unsigned (off by default; see 'sequent serve --help'), and a node with
--witness-id refuses a witness that cannot prove an id (a build before session 38). When
the nodes run with --replication-tls-*, they also speak TLS to the witness: give the
witness the same three flags (its own certificate, signed by the same CA and naming the
address the nodes dial), or the primary's renewals fail and it fences itself.

It runs until SIGINT or SIGTERM (exit 0). Exits 1 when the --listen address is taken or
the --state file cannot be read, verified or created; 2 for bad flags, no replication
key, neither or both of --state and --state-in-memory, a bad --id, or TLS files that
cannot be loaded.`,
		Example: `  sequent witness --listen 10.0.0.3:7409 --state /var/lib/sequent-witness/state \
      --replication-key "$KEY"
  # then both nodes: sequent serve ... --witness 10.0.0.3:7409 --witness-id ID_IT_PRINTED
  sequent witness --state-in-memory --replication-key "$KEY" --lease 2s   # tests only`,
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
			if id != "" {
				if err := replication.ValidateWitnessID(id); err != nil {
					return usageError{fmt.Errorf("--id: %w", err)}
				}
			}
			if (statePath == "") == !stateInMemory {
				return usageError{fmt.Errorf("give either --state FILE (where the witness " +
					"remembers the epoch across restarts) or --state-in-memory")}
			}
			witnessTLS, err := loadReplicationTLS(tlsFiles)
			if err != nil {
				return usageError{err}
			}
			listener, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			if stateInMemory {
				logger.Warn("witness: state kept in memory: a restart forgets the epoch, and " +
					"the first node to renew after it holds the lease, even a stale primary")
			}
			witness, err := replication.OpenWitness(replication.WitnessConfig{
				Listener: listener, TLS: witnessTLS, Key: []byte(key), LeaseDuration: lease,
				Logger: logger, StatePath: statePath, ID: id})
			if err != nil {
				return err
			}
			transport := "plain TCP"
			if witnessTLS != nil {
				transport = "mutual TLS"
			}
			state := "state in " + statePath
			if stateInMemory {
				state = "state in memory only"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sequent witness: leases of %v on %s (%s, %s)\n"+
				"sequent witness: id %s (give both nodes --witness-id %s)\n",
				lease, listener.Addr(), transport, state, witness.ID(), witness.ID())
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
	flags.StringVar(&statePath, "state", "", "file where the witness keeps its epoch and holder across restarts (required, unless --state-in-memory)")
	flags.BoolVar(&stateInMemory, "state-in-memory", false, "keep the state in memory only: a restart forgets the epoch (tests only)")
	flags.StringVar(&id, "id", "", "this witness's id, which the nodes pin with --witness-id (1 to 64 printable ASCII characters, no space; default: one generated at the first start and kept in the --state file)")
	flags.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addReplicationTLSFlags(flags, &tlsFiles, "the witness's")
	return command
}
