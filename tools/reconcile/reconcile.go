package reconcile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"sequent/core/model"
	"sequent/tools/clearing"
)

// Options configures one reconciliation.
type Options struct {
	Reader  clearing.Reader   // Sequent, through the public protocol.
	Ledgers *clearing.Ledgers // Currency names and scales.
	Account model.Uint128     // The account the statement is about.
	Window  clearing.Window   // Our transfers in it are reconciled; Until 0: up to now.
	MatchBy string            // MatchByUserData128 (default), MatchByUserData64 or MatchByID.
	// Statement is the statement file's path; "" skips the statement section (the report
	// then holds the checks alone).
	Statement string
	Mapping   Mapping
	// RunEntries bounds the entries each side keeps in memory before sorting on disk (0:
	// RunEntriesDefault; a side may hold up to runsMax runs of it); TempDirectory is where
	// sort runs go ("": the system's).
	RunEntries    int
	TempDirectory string
	JSON          io.Writer // The full report as JSON (differences streamed), or nil.
	CSV           io.Writer // The differences as CSV, or nil.
	Checks        []Check   // Run after the statement section, in order.
	Now           time.Time // The cut-off when Window.Until is 0 (zero: time.Now()).
	// FirstDifferencesMax is how many differences Report.FirstDifferences keeps (0: 20).
	FirstDifferencesMax int
}

// Defaults and sizes of a run.
const (
	firstDifferencesDefault = 20       // Differences the text report shows.
	outputBufferBytes       = 64 << 10 // The JSON output's buffer.
	// contextCheckEvery is how many statement lines (or references merged) go between
	// two looks at the context: an interrupt or --timeout stops the statement's reading
	// and the merge too, not only the paging (TestHunt52bCancelStopsTheRun).
	contextCheckEvery = 4096
)

// ErrOptions is wrapped by errors in Options.
var ErrOptions = errors.New("reconcile: bad options")

// Run reconciles: reads the statement and our transfers (concurrently), matches them,
// streams the differences to the outputs, runs the checks and returns the report.
// Report.OK is true only when nothing differs and every check passed. An error means the
// reconciliation could not be carried out (nothing to conclude from the outputs).
func Run(ctx context.Context, options Options) (*Report, error) {
	o, err := options.withDefaults()
	if err != nil {
		return nil, err
	}
	accounts, err := o.Reader.LookupAccounts(ctx, []model.Uint128{o.Account})
	if err != nil {
		return nil, fmt.Errorf("reconcile: looking up account %s: %w", o.Account, err)
	}
	if len(accounts) != 1 {
		return nil, fmt.Errorf("%w: account %s does not exist", ErrOptions, o.Account)
	}
	info, _ := o.Ledgers.Ledger(accounts[0].Ledger)
	info.Ledger = accounts[0].Ledger
	report := &Report{ReportHead: ReportHead{Account: o.Account.String(), Ledger: info.Ledger,
		Currency: o.Ledgers.Name(info.Ledger), From: clearing.FormatTime(o.Window.From),
		Until: clearing.FormatTime(o.Window.Until), MatchBy: o.MatchBy,
		Statement: o.Statement}}
	var jsonOutput *bufio.Writer
	if o.JSON != nil {
		jsonOutput = bufio.NewWriterSize(o.JSON, outputBufferBytes)
		if err := report.writeJSONHead(jsonOutput); err != nil {
			return nil, err
		}
	}
	if o.Statement != "" {
		report.Summary = &Summary{Differences: map[string]int{}}
		if err := o.reconcileStatement(ctx, info, report, jsonOutput); err != nil {
			return nil, err
		}
	}
	if report.Checks, err = runChecks(ctx, o.Checks); err != nil {
		return nil, err
	}
	report.OK = report.Summary == nil || report.Summary.Total() == 0
	for _, section := range report.Checks {
		report.OK = report.OK && section.OK
	}
	if jsonOutput != nil {
		if err := report.writeJSONTail(jsonOutput); err != nil {
			return nil, fmt.Errorf("reconcile: JSON output: %w", err)
		}
	}
	return report, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.MatchBy == "" {
		o.MatchBy = MatchByUserData128
	}
	if o.RunEntries == 0 {
		o.RunEntries = RunEntriesDefault
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.FirstDifferencesMax == 0 {
		o.FirstDifferencesMax = firstDifferencesDefault
	}
	if o.Window.Until == 0 {
		o.Window.Until = uint64(o.Now.UnixNano())
	}
	problem := ""
	switch {
	case o.Reader == nil || o.Ledgers == nil:
		problem = "a reader and a ledger registry are required"
	case o.Account.IsZero():
		problem = "an account is required"
	case o.MatchBy != MatchByUserData128 && o.MatchBy != MatchByUserData64 &&
		o.MatchBy != MatchByID:
		problem = fmt.Sprintf("match by %q: want %s, %s or %s", o.MatchBy,
			MatchByUserData128, MatchByUserData64, MatchByID)
	case o.RunEntries < 0:
		problem = "negative run size"
	case o.Window.From > o.Window.Until:
		problem = "the window starts after it ends"
	}
	if problem != "" {
		return o, fmt.Errorf("%w: %s", ErrOptions, problem)
	}
	return o, nil
}

// sideResult is what one side's goroutine hands to the merge.
type sideResult struct {
	sorted iterator
	err    error
}

// reconcileStatement runs the statement section into report.Summary and the outputs.
func (o *Options) reconcileStatement(ctx context.Context, info clearing.LedgerInfo,
	report *Report, jsonOutput *bufio.Writer) error {
	file, err := os.Open(o.Statement)
	if err != nil {
		return fmt.Errorf("reconcile: statement: %w", err)
	}
	defer file.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A read blocked on a pipe (--statement <(zcat …), /dev/stdin) whose writer stalls
	// never comes to readTheirs's next look at the context, nor ends the header's read:
	// closing the file when the run is cancelled ends it
	// (TestReview52bCancelStopsAStatementReadBlocked).
	stopClosing := context.AfterFunc(ctx, func() { file.Close() })
	defer stopClosing()
	statementLines, err := openStatement(file, o.Statement, o.Mapping, o.Ledgers, info)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("reconcile: statement: %w", context.Cause(ctx))
	}
	if err != nil {
		return err
	}
	summary := report.Summary
	sink := newSink(summary, o.FirstDifferencesMax, jsonOutput, o.CSV)
	theirsDone := make(chan sideResult, 1)
	go func() {
		sorted, err := o.readTheirs(ctx, statementLines, summary, sink)
		if err != nil {
			cancel() // Stop paging our side: the run has failed.
		}
		theirsDone <- sideResult{sorted, err}
	}()
	oursSorter := newSorter(byKey, o.RunEntries, o.TempDirectory)
	source := oursSource{reader: o.Reader, account: o.Account, window: o.Window,
		cutoff: o.Window.Until, matchBy: o.MatchBy}
	counts, oursErr := source.read(ctx, oursSorter)
	if oursErr != nil {
		cancel() // Stop reading the statement: the run has failed.
	}
	theirs := <-theirsDone
	if err := errors.Join(theirs.err, oursErr); err != nil {
		oursSorter.close()
		if theirs.sorted != nil {
			theirs.sorted.close()
		}
		return err
	}
	defer theirs.sorted.close()
	summary.OurRecords = counts.records
	ours, err := oursSorter.finish()
	if err != nil {
		return err
	}
	defer ours.close()
	m := &merger{ctx: ctx, theirs: theirs.sorted, ours: ours, sink: sink, summary: summary,
		ledgers: o.Ledgers, account: info}
	if err := m.run(); err != nil {
		return err
	}
	if sink.csv != nil {
		sink.csv.Flush()
		sink.err = errors.Join(sink.err, sink.csv.Error())
	}
	if sink.err != nil {
		return fmt.Errorf("reconcile: writing differences: %w", sink.err)
	}
	report.FirstDifferences = sink.first
	return nil
}

// readTheirs parses the statement into a sorter; unreadable lines go to the sink at once
// (the sink is not used by the other side until the merge).
func (o *Options) readTheirs(ctx context.Context, s *statement, summary *Summary,
	sink *sink) (iterator, error) {
	sorted := newSorter(byKey, o.RunEntries, o.TempDirectory)
	var e entry
	for count := 0; ; count++ {
		if count%contextCheckEvery == 0 && ctx.Err() != nil {
			sorted.close()
			return nil, fmt.Errorf("reconcile: statement: %w", context.Cause(ctx))
		}
		line, problem, ok, err := s.next(&e)
		if err != nil {
			sorted.close()
			if ctx.Err() != nil { // The file was closed under the read: see reconcileStatement.
				return nil, fmt.Errorf("reconcile: statement: %w", context.Cause(ctx))
			}
			return nil, err
		}
		if !ok {
			break
		}
		summary.StatementLines++
		if problem != "" {
			sink.add(Difference{Kind: KindUnreadable, Line: line, Detail: problem})
			continue
		}
		if err := sorted.add(&e); err != nil {
			sorted.close()
			return nil, err
		}
	}
	return sorted.finish()
}
