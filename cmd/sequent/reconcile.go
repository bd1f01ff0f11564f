package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"sequent/netio/client"
	"sequent/tools/clearing"
	"sequent/tools/reconcile"
)

// errNotReconciled makes `sequent reconcile` exit 1 after printing its report.
var errNotReconciled = errors.New("differences found (see the report)")

// reconcileOptions are `sequent reconcile`'s flags.
type reconcileOptions struct {
	connection     clientOptions
	statement      string
	account        string
	from, until    string
	matchBy        string
	format         string
	delimiter      string
	noHeader       bool
	columns        []string
	amountUnit     string
	statuses       []string
	directions     []string
	invert         bool
	hashReferences bool
	ledgers        string
	jsonPath       string
	csvPath        string
	http           []string
	token          string // Admin bearer token for the cross-shard report.
	anchor         string
	noTrialBalance bool
	memoryEntries  int
	temporary      string
}

func newReconcileCommand() *cobra.Command {
	o := &reconcileOptions{}
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Match a partner's statement with Sequent's transfers; trial balance and hash-chain check for the auditor",
		Long: `Reconcile a partner's statement with the transfers of one account, and check the
ledger itself, into one report.

Statement section (with --statement and --account): each statement line is matched with
the account's transfers in the window by reference — the partner's id in the transfer's
user data (--match-by user_data_128, the default, or user_data_64), or Sequent's transfer
id (--match-by id). A pending transfer and its post or void are one payment, whose status
at the cut-off is posted, pending, voided or expired. Reported: matched; missing_ours (on
the statement only); missing_theirs (in Sequent only); amount (or direction), currency or
status differs; duplicate_ours, duplicate_theirs; unreadable statement lines.

Statement formats: CSV (a header line naming the columns; --no-header to give column
numbers instead) or JSON lines (.jsonl, .ndjson). Fields and default column names:
reference (required: a decimal number, 0x-hex or a UUID; --hash-references for other
text), amount (required; signed unless a direction column exists; major units, or
--amount-unit minor), currency (a name in --ledgers or a ledger number; without it, the
account's ledger is assumed and not compared), status (settled, completed, paid … =
posted; processing, authorized … = pending; cancelled, reversed, failed … = voided;
expired; add words with --status-map word=status), direction (credit/debit, cr/dr, c/d,
in/out; --direction-map word=credit). Rename columns with --column field=name
(names match in any case of their ASCII letters; two columns naming one field are refused;
currency names, status and direction words also match in any case of their ASCII letters).
--invert reads a statement written from the partner's side (its credit is our debit).

Checks: the trial balance of every ledger (Σ debits = Σ credits, posted and pending;
get_ledger_totals; --no-trial-balance to skip) and, with --http, the log's hash chain
verified by each node over the window (GET /v1/audit/chain; on a node of several shards
every shard's log, each with its own chain; give the primary and the standby to compare
their chains, and --chain-anchor [SHARD:]OP:HASH from an earlier report to pin history)
and, from the first --http node, the cross-shard report (GET /v1/reconcile):
per-ledger totals over every shard, each settlement pair's position, the sagas in flight
with their age; it fails when a ledger does not balance over the shards or a pair is
inconsistent). The cross-shard report covers every client's accounts, so it takes that
node's admin token (--token, or better SEQUENT_ADMIN_TOKEN). Without --statement only the
checks run.

Everything is read through the public protocol with an operator's key (a read-only
standby works) and the operators' HTTP endpoints: no node's files are opened. Memory is
bounded: each side sorts on disk beyond --memory-entries entries.

Outputs: a summary on stdout; --json FILE (the whole report, differences included) and
--csv FILE (the differences). Exit codes: 0 everything matches and every check passed;
1 differences or a failed check; 2 bad flags, or the reconciliation could not run or was
interrupted (then no --json or --csv file is left).`,
		Example: `  sequent reconcile --statement partner-2026-05-01.csv --account 50 \
      --from 2026-05-01 --until 2026-05-02 --ledgers ledgers.json \
      --json report.json --csv differences.csv --http 10.0.0.1:7401 --http 10.0.0.2:7401
  sequent reconcile --statement s.csv --account 50 --no-header \
      --column reference=3 --column amount=5 --amount-unit minor --invert`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	flags := cmd.Flags()
	o.connection.addConnectionFlags(flags)
	flags.DurationVar(&o.connection.timeout, "timeout", 10*time.Minute, "give up after this long")
	flags.StringVar(&o.statement, "statement", "", "the partner's statement (CSV or JSON lines)")
	flags.StringVar(&o.account, "account", "", "the account the statement is about")
	flags.StringVar(&o.from, "from", "", "start of the window (default: the beginning)")
	flags.StringVar(&o.until, "until", "", "end of the window, the cut-off (default: now)")
	flags.StringVar(&o.matchBy, "match-by", reconcile.MatchByUserData128, "what a statement's reference is: user_data_128, user_data_64 or id")
	flags.StringVar(&o.format, "format", "", "csv or jsonl (default: by extension)")
	flags.StringVar(&o.delimiter, "delimiter", ",", "CSV field separator (one character; \\t for tab)")
	flags.BoolVar(&o.noHeader, "no-header", false, "the CSV has no header line: --column gives column numbers")
	flags.StringArrayVar(&o.columns, "column", nil, "field=column: reference, amount, currency, status or direction (repeat)")
	flags.StringVar(&o.amountUnit, "amount-unit", reconcile.AmountUnitMajor, "major (decimals) or minor (integers)")
	flags.StringArrayVar(&o.statuses, "status-map", nil, "word=posted|pending|voided|expired (repeat)")
	flags.StringArrayVar(&o.directions, "direction-map", nil, "word=credit|debit (repeat)")
	flags.BoolVar(&o.invert, "invert", false, "the statement is written from the partner's side")
	flags.BoolVar(&o.hashReferences, "hash-references", false, "match text references by SHA-256 (see tools/reconcile.ReferenceKey)")
	flags.StringVar(&o.ledgers, "ledgers", os.Getenv("SEQUENT_LEDGERS"), "ledger registry file (JSON: currency names and scales, each key once and lower case; SEQUENT_LEDGERS)")
	flags.StringVar(&o.jsonPath, "json", "", "write the full report as JSON to this file (- for stdout)")
	flags.StringVar(&o.csvPath, "csv", "", "write the differences as CSV to this file")
	flags.StringArrayVar(&o.http, "http", nil, "operators' HTTP address of a node whose log chain to verify (repeat: primary and standby); the first one also reports the cross-shard invariants (section shards); a host name must be in that node's --http-host (else 421)")
	secretVar(flags, &o.token, "token", "SEQUENT_ADMIN_TOKEN", "admin bearer token of the first --http node, for its cross-shard report (SEQUENT_ADMIN_TOKEN)")
	flags.StringVar(&o.anchor, "chain-anchor", "", "[SHARD:]OP:HASH from an earlier report: the chain of that shard's log (default 0) at OP must still be HASH")
	flags.BoolVar(&o.noTrialBalance, "no-trial-balance", false, "skip the trial balance")
	flags.IntVar(&o.memoryEntries, "memory-entries", reconcile.RunEntriesDefault, "entries each side sorts in memory before spilling to disk (64 bytes each)")
	flags.StringVar(&o.temporary, "temp-dir", "", "where sort runs go (default: the system's temporary directory)")
	return cmd
}

func (o *reconcileOptions) run(cmd *cobra.Command) error {
	options, closeOutputs, err := o.options(cmd)
	if err != nil {
		return err
	}
	// An interrupt stops the run as a failure (exit 2), so that its report files are
	// removed below rather than left cut short by the signal's default exit.
	// The command's own context comes back when the run ends: stop cancels ctx, and cobra
	// keeps a subcommand's context once set (TestReview52bReconcileTwiceOnOneCommand).
	parent := cmd.Context()
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer cmd.SetContext(parent)
	defer stop()
	cmd.SetContext(ctx)
	err = o.connection.run(cmd, func(ctx context.Context, c *client.Client) error {
		options.Reader = c
		if !o.noTrialBalance {
			options.Checks = append(options.Checks,
				reconcile.TrialBalance{Reader: c, Ledgers: options.Ledgers})
		}
		if len(o.http) > 0 {
			chain, err := o.chainCheck(cmd, options.Window)
			if err != nil {
				return err
			}
			// Each shard's log has its own chain: the check verifies every one.
			placement, err := c.ShardMap(ctx)
			if err != nil {
				return usageError{fmt.Errorf("reading the node's shard map: %w", err)}
			}
			chain.Shards = int(placement.Shards)
			// The cross-shard invariants, as the first node named computes them.
			options.Checks = append(options.Checks, chain,
				reconcile.ShardsCheck{Address: o.http[0], Token: o.token})
		}
		report, err := reconcile.Run(ctx, options)
		if err != nil {
			// Exit 2 whatever the cause: the reconciliation did not run, which a script
			// must not read as "differences found" (1).
			return usageError{err}
		}
		if o.jsonPath != "-" {
			report.Text(cmd.OutOrStdout())
		}
		if !report.OK {
			return errNotReconciled
		}
		return nil
	})
	// A report file is kept only when the reconciliation ran to its verdict: one left by
	// a run that failed (exit 2) is empty or cut short, and its CSV, a header and the
	// differences found so far, would read as the whole list
	// (TestHunt52bFailedReconcileLeavesNoReportFiles).
	ran := err == nil || errors.Is(err, errNotReconciled)
	if closeErr := closeOutputs(ran); closeErr != nil && ran {
		return usageError{closeErr}
	}
	return err
}

// closeFunction closes the output files, removing them unless keep; it returns the first
// error closing one (a report not wholly written).
type closeFunction func(keep bool) error

// closeNothing is the closeFunction when no output file is open.
func closeNothing(bool) error { return nil }

// options translates the flags; closeOutputs closes the output files.
func (o *reconcileOptions) options(cmd *cobra.Command) (reconcile.Options, closeFunction,
	error) {
	options := reconcile.Options{MatchBy: o.matchBy, Statement: o.statement,
		RunEntries: o.memoryEntries, TempDirectory: o.temporary}
	closeOutputs := closeNothing
	var err error
	if options.Ledgers, err = clearing.LoadLedgers(o.ledgers); err != nil {
		return options, closeOutputs, usage(cmd, "--ledgers: %v", err)
	}
	if o.statement != "" || o.account != "" {
		if options.Account, err = parseID(cmd, "account", o.account); err != nil {
			return options, closeOutputs, err
		}
	}
	if len(o.http) > 0 && strings.TrimSpace(o.token) == "" {
		return options, closeOutputs, usage(cmd, "--http: the cross-shard report needs the node's "+
			"admin token: set SEQUENT_ADMIN_TOKEN or pass --token")
	}
	if o.statement == "" && o.account == "" && len(o.http) == 0 && o.noTrialBalance {
		return options, closeOutputs, usage(cmd, "nothing to do: give --statement and "+
			"--account, or keep the trial balance, or --http")
	}
	if o.memoryEntries < 1024 {
		return options, closeOutputs, usage(cmd, "--memory-entries %d: at least 1024", o.memoryEntries)
	}
	from, until, err := parseWindow(o.from, o.until, time.Now())
	if err != nil {
		return options, closeOutputs, usage(cmd, "%v", err)
	}
	options.Window = clearing.Window{From: from, Until: until}
	if options.Mapping, err = o.mapping(cmd); err != nil {
		return options, closeOutputs, err
	}
	return o.openOutputs(cmd, options)
}

// mapping builds the statement mapping from the flags.
func (o *reconcileOptions) mapping(cmd *cobra.Command) (reconcile.Mapping, error) {
	m := reconcile.Mapping{Format: o.format, NoHeader: o.noHeader, AmountUnit: o.amountUnit,
		Invert: o.invert, HashReferences: o.hashReferences}
	delimiter := strings.ReplaceAll(o.delimiter, `\t`, "\t")
	if len([]rune(delimiter)) != 1 {
		return m, usage(cmd, "--delimiter %q: one character", o.delimiter)
	}
	m.Comma = []rune(delimiter)[0]
	var err error
	if m.Columns, err = pairs(cmd, "column", o.columns); err != nil {
		return m, err
	}
	if m.Statuses, err = pairs(cmd, "status-map", o.statuses); err != nil {
		return m, err
	}
	m.Directions, err = pairs(cmd, "direction-map", o.directions)
	return m, err
}

// pairs parses repeated key=value flags.
func pairs(cmd *cobra.Command, flag string, values []string) (map[string]string, error) {
	result := map[string]string{}
	for _, value := range values {
		key, item, ok := strings.Cut(value, "=")
		if !ok || key == "" {
			return nil, usage(cmd, "--%s %q: want key=value", flag, value)
		}
		result[key] = item
	}
	return result, nil
}

// openOutputs opens the JSON and CSV files.
func (o *reconcileOptions) openOutputs(cmd *cobra.Command, options reconcile.Options) (
	reconcile.Options, closeFunction, error) {
	var files []*os.File
	closeOutputs := func(keep bool) error {
		var first error
		for _, file := range files {
			if !keep {
				discardOutput(file)
			}
			if err := file.Close(); err != nil && first == nil {
				first = fmt.Errorf("closing %s: %w", file.Name(), err)
			}
		}
		return first
	}
	// refuse closes and removes the files opened so far, and refuses the flags.
	refuse := func(format string, args ...any) (reconcile.Options, closeFunction, error) {
		closeOutputs(false)
		return options, closeNothing, usage(cmd, format, args...)
	}
	for _, output := range []struct {
		path string
		csv  bool
	}{{o.jsonPath, false}, {o.csvPath, true}} {
		if output.path == "" {
			continue
		}
		if output.path == "-" && !output.csv {
			options.JSON = cmd.OutOrStdout()
			continue
		}
		if input := o.inputAt(output.path); input != "" {
			return refuse("%s is the %s: an output would overwrite it", output.path, input)
		}
		if len(files) > 0 && sameFile(files[0], output.path) {
			// Opened twice, the JSON report and the CSV would be written over each other
			// (TestReview52bJSONAndCSVNamingOneFileAreRefused).
			return refuse("--json and --csv name one file, %s", output.path)
		}
		file, err := os.Create(output.path)
		if err != nil {
			return refuse("%v", err)
		}
		files = append(files, file)
		if output.csv {
			options.CSV = file
		} else {
			options.JSON = file
		}
	}
	return options, closeOutputs, nil
}

// inputAt names the input file (the statement or the ledger registry) that path is, or
// returns "": creating an output there would empty it, and a failed run's removal of its
// reports would then delete it (TestReview52bOutputNamingTheStatementIsRefused).
func (o *reconcileOptions) inputAt(path string) string {
	output, err := os.Stat(path)
	if err != nil {
		return ""
	}
	for _, input := range []struct{ path, name string }{{o.statement, "statement"},
		{o.ledgers, "ledger registry"}} {
		if input.path == "" {
			continue
		}
		if info, err := os.Stat(input.path); err == nil && os.SameFile(info, output) {
			return input.name
		}
	}
	return ""
}

// sameFile reports whether path is the open file.
func sameFile(file *os.File, path string) bool {
	opened, err := file.Stat()
	if err != nil {
		return false
	}
	named, err := os.Stat(path)
	return err == nil && os.SameFile(opened, named)
}

// discardOutput undoes a report file of a run that failed. Only a regular file is touched
// (a device or FIFO given as the output, /dev/null say, is not the run's to delete): it
// is emptied, so that no cut-short report is left wherever the path leads, and its path
// is removed when it names that file itself rather than a link to it
// (TestReview52bFailedReconcileRemovesOnlyItsOwnReports).
func discardOutput(file *os.File) {
	opened, err := file.Stat()
	if err != nil || !opened.Mode().IsRegular() {
		return
	}
	file.Truncate(0)
	if named, err := os.Lstat(file.Name()); err == nil && os.SameFile(opened, named) {
		os.Remove(file.Name())
	}
}

// chainCheck builds the chain section from --http and --chain-anchor ([SHARD:]OP:HASH:
// the shard's log, 0 if not given; the caller sets the node's shard count).
func (o *reconcileOptions) chainCheck(cmd *cobra.Command, window clearing.Window) (
	reconcile.ChainCheck, error) {
	check := reconcile.ChainCheck{Addresses: o.http, From: window.From, Until: window.Until}
	if o.anchor == "" {
		return check, nil
	}
	fields := strings.Split(o.anchor, ":")
	shard := 0
	var err error
	if len(fields) == 3 {
		shard, err = strconv.Atoi(fields[0])
		fields = fields[1:]
	}
	if len(fields) != 2 || err != nil || shard < 0 {
		return check, usage(cmd, "--chain-anchor %q: want [SHARD:]OP:HASH (64 hex digits)",
			o.anchor)
	}
	number, err := strconv.ParseUint(fields[0], 10, 64)
	// The hash must be hex: one that is not matches no chain, and the check would report
	// the node's history as changed (exit 1) for a typo in the anchor.
	_, hexErr := hex.DecodeString(fields[1])
	if err != nil || number == 0 || len(fields[1]) != 64 || hexErr != nil {
		return check, usage(cmd, "--chain-anchor %q: want [SHARD:]OP:HASH (64 hex digits)",
			o.anchor)
	}
	check.AnchorShard, check.AnchorOp = shard, number
	check.AnchorChain = strings.ToLower(fields[1])
	return check, nil
}
