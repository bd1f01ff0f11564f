package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// exitUsage is the exit code for bad flags or arguments, so scripts can tell a usage
// error (2) from a failed run (1).
const exitUsage = 2

// usageError marks an error as the user's (bad flag or argument).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "sequent:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(exitUsage)
		}
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "sequent",
		Short: "Sequent: an in-memory ledger and matching core with a durable, replicated log",
		Long: `Sequent is a low-latency in-memory double-entry ledger and order-matching core.
Every accepted command is written to a checksummed, hash-chained write-ahead log (and to a
hot standby) before its reply leaves.

Start a server on embedded defaults with 'sequent serve'; see each subcommand's --help.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
	})
	root.AddCommand(newVersionCommand(), newServeCommand(), newClientCommand(), newWalCommand(),
		newWitnessCommand(), newAdminCommand(), newDrillCommand(), newBenchCommand(),
		newSettleCommand(), newReconcileCommand())
	hideSentinelDefaults(root)
	return root
}

// hideSentinelDefaults keeps --help from showing a flag's placeholder value as its
// default where the flag's own text already says what happens without it ("(default:
// --id + 1)", "(default: from --ledgers)") or that it must be given ("required"): the
// help then read "(default: the cut-off timestamp) (default \"0\")". Only the text
// shown changes; the value a flag holds when not given stays the same.
func hideSentinelDefaults(command *cobra.Command) {
	hide := func(flag *pflag.Flag) {
		if !strings.Contains(flag.Usage, "(default:") && !strings.Contains(flag.Usage, "required") {
			return
		}
		// pflag shows no default when DefValue is its type's zero spelling.
		switch valueType := flag.Value.Type(); {
		case valueType == "string":
			flag.DefValue = ""
		case strings.HasSuffix(valueType, "Slice") || strings.HasSuffix(valueType, "Array"):
			flag.DefValue = "[]"
		case valueType == "bool":
			flag.DefValue = "false"
		case valueType == "duration":
			flag.DefValue = "0s"
		case strings.HasPrefix(valueType, "int") || strings.HasPrefix(valueType, "uint") ||
			strings.HasPrefix(valueType, "float"):
			flag.DefValue = "0"
		}
	}
	command.LocalNonPersistentFlags().VisitAll(hide)
	command.PersistentFlags().VisitAll(hide)
	for _, child := range command.Commands() {
		hideSentinelDefaults(child)
	}
}
