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

Start a server on embedded defaults with 'sequent serve'; see each subcommand's --help.

Exit codes: 0 done; 1 the run failed or found a problem (each command's --help says
which); 2 bad flags or arguments, or what they name cannot be used (a missing file or
directory, a keys file refused, no server reachable).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
	})
	root.AddCommand(newVersionCommand(), newServeCommand(), newClientCommand(), newWalCommand(),
		newWitnessCommand(), newAdminCommand(), newDrillCommand(), newBenchCommand(),
		newSettleCommand(), newReconcileCommand())
	// Cobra adds its completion group only when Execute runs, after the checks below were
	// set: 'sequent completion bogus' then printed the group's help and exited 0. Added
	// here, the group gets the argument check every other group has.
	root.InitDefaultCompletionCmd()
	hideSentinelDefaults(root)
	checkArgumentsAsUsage(root)
	return root
}

// checkArgumentsAsUsage makes every command's argument check answer with a usage error
// (exit 2) and gives each command that only groups subcommands a check of its own.
// Without it cobra answers a misspelt subcommand of a group ('sequent wal verfy DIR',
// 'sequent client tranfer 1 2') by printing the group's help and exiting 0, which a
// script reads as success, and answers a stray argument ('sequent serve DIR') or an
// unknown top-level command with exit 1, the code of a run that failed.
func checkArgumentsAsUsage(command *cobra.Command) {
	if command.HasSubCommands() && !command.Runnable() {
		command.Args = unknownSubcommand
		command.SuggestionsMinimumDistance = suggestionDistanceMax
		command.RunE = func(group *cobra.Command, _ []string) error { return group.Help() }
	}
	if check := command.Args; check != nil {
		command.Args = func(checked *cobra.Command, arguments []string) error {
			err := check(checked, arguments)
			var usage usageError
			if err == nil || errors.As(err, &usage) {
				return err
			}
			return usageError{fmt.Errorf("%w (see '%s --help')", err, checked.CommandPath())}
		}
	}
	for _, child := range command.Commands() {
		checkArgumentsAsUsage(child)
	}
}

// suggestionDistanceMax is how many letters a misspelt subcommand may differ from a real
// one (Levenshtein distance) for the error to suggest it, as cobra does at the root.
const suggestionDistanceMax = 2

// unknownSubcommand is the argument check of a command that only groups subcommands:
// cobra hands it the arguments when the first one names none of them. Without arguments,
// or with the one word help ('sequent wal help', as 'sequent help wal'), the group shows
// its help (exit 0), as 'sequent' alone does.
func unknownSubcommand(group *cobra.Command, arguments []string) error {
	if len(arguments) == 0 || len(arguments) == 1 && arguments[0] == "help" {
		return nil
	}
	message := fmt.Sprintf("unknown command %q for %q", arguments[0], group.CommandPath())
	if suggestions := group.SuggestionsFor(arguments[0]); len(suggestions) > 0 {
		message += "; did you mean " + strings.Join(suggestions, " or ") + "?"
	}
	return usageError{fmt.Errorf("%s (see '%s --help')", message, group.CommandPath())}
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
