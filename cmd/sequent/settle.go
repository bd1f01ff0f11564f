package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/client"
	"sequent/netio/jsonview"
	"sequent/tools/clearing"
)

// settleOptions are `sequent settle`'s flags.
type settleOptions struct {
	connection clientOptions
	partners   []string
	from       string
	until      string
	transfers  int
	ledgers    string
	book       bool
	via        []string
	firstID    string
	code       uint16
	timeout    uint32
	reference  string
}

func newSettleCommand() *cobra.Command {
	o := &settleOptions{}
	cmd := &cobra.Command{
		Use:   "settle --partner ACCOUNT --until TIME",
		Short: "Net position with a partner's settlement accounts over a window, per ledger (optionally book the settlement)",
		Long: `Compute the net position with a partner over a window: per ledger, the posted
credits to the partner's settlement accounts minus the posted debits from them (positive:
payable, we owe the partner; negative: receivable), the pending transfers still in flight
at the cut-off, and the list of transfers behind it. It reads through the public protocol
(run it against a read-only standby to keep the load off the primary), with an
operator's key.

With --book, the settlement itself is booked as one pending transfer per ledger with a
position, between the partner's account and the operator's settlement account (--via):
payable, partner → via; receivable, via → partner. It stays pending — visible as in
flight — until the partner confirms (sequent client post --pending-id ID) or disputes it
(sequent client void --pending-id ID). Ids: --settlement-id for the first ledger with a
non-zero net, +1 for each next one, in ledger order (already booked or not).

The ledger may refuse some ledgers' settlements (a closed account, a balance limit) and
book the others. Fix the cause and run the same booking again (the same --from and
--until; after --until now, the cut-off the first run printed) with a new
--settlement-id: the ledgers whose settlement of that cut-off is in flight or confirmed
are left alone ("already booked"), the others are booked. The same --settlement-id does
not do: a refused id answers id_already_failed for ever. A settlement booked after the
cut-off for another cut-off, or for this one with another amount or direction or on
another partner account, refuses the booking before anything is sent; so does one in
flight inside the window.

A settlement's deadline (--timeout-seconds) has passed once an entry read on the
partner's account is at or after it: the ledger expires it at log time, which may be
behind this machine's clock. A settlement whose deadline has passed by this machine's
clock only, or, booked inside the window, by the cut-off only (--until now on a clock
ahead of the log's, or a later end), may still be confirmed, so it is voided first (ids
after the settlements': --settlement-id + the number of ledgers with a non-zero net, +1
per void) and its ledger is booked only if the ledger answers that it is voided or
expired; answered already posted, the ledger is already booked (confirmed), or, for one
inside the window, whose net is then stale, nothing is booked (run it again; the voids
sent and their answers are printed, --json too, and it exits 1); any other answer leaves
the ledger unbooked and refused. The output ends with the ledgers booked, already booked
and refused (--json: "settlements", each with its outcome and any "voided_first";
"voided", the ledger's answers to the voids).

On a node of several shards the partner's accounts may be on any shards; the --via
account of a ledger must be on its partner account's shard (a pending transfer cannot
span shards): give one per ledger and shard, and the one on the partner's shard is used;
with none there, the command books nothing and says which account is where. A cross-shard
transfer counts on the debit side as a pending transfer and its post, on the credit side
when credited (README, Settlement netting).

Times: RFC 3339, a date (midnight UTC), nanoseconds since 1970, or now. The window is
inclusive at both ends. The operators' HTTP endpoint GET /v1/settlement answers the same.

Exit codes: 0 done (with --book: every ledger booked or already booked); 1 some ledger's
settlement refused by the ledger, or its id that of a voided or expired settlement, or
the void sent first refused; 2 bad flags, no server reachable, or a booking refused
before anything was sent.`,
		Example: `  sequent settle --partner 50 --partner 60 --from 2026-05-01 --until 2026-05-02 --ledgers ledgers.json
  sequent settle --partner 50 --until now --book --via 90 --settlement-id 9000 --code 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	flags := cmd.Flags()
	o.connection.addConnectionFlags(flags)
	flags.DurationVar(&o.connection.timeout, "timeout", time.Minute, "give up after this long")
	flags.BoolVar(&o.connection.asJSON, "json", false, "print the report as JSON")
	flags.StringSliceVar(&o.partners, "partner", nil, "the partner's settlement account (repeat, or comma-separate, for several)")
	flags.StringVar(&o.from, "from", "", "start of the window (default: the beginning)")
	flags.StringVar(&o.until, "until", "", "the cut-off (required)")
	flags.IntVar(&o.transfers, "transfers", clearing.ListMaxDefault, "most transfers listed (all are counted)")
	flags.StringVar(&o.ledgers, "ledgers", os.Getenv("SEQUENT_LEDGERS"), "ledger registry file (JSON: currency names and scales, each key once and lower case; SEQUENT_LEDGERS)")
	flags.BoolVar(&o.book, "book", false, "book the settlement as pending transfers")
	flags.StringSliceVar(&o.via, "via", nil, "with --book: the operator's settlement account on each ledger (repeat; on several shards, one per ledger and shard: the partner's shard's is used)")
	flags.StringVar(&o.firstID, "settlement-id", "0", "with --book: id of the first settlement transfer (then +1 per ledger)")
	flags.Uint16Var(&o.code, "code", 0, "with --book: transfer code of the settlements")
	flags.Uint32Var(&o.timeout, "timeout-seconds", 0, "with --book: unconfirmed settlements expire after this long (0: never)")
	flags.StringVar(&o.reference, "reference", "0", "with --book: user_data_128 of the settlements (default: the cut-off timestamp)")
	return cmd
}

func (o *settleOptions) run(cmd *cobra.Command) error {
	query, ledgers, err := o.query(cmd)
	if err != nil {
		return err
	}
	return o.connection.run(cmd, func(ctx context.Context, c *client.Client) error {
		// A query the netting refuses is the flags' fault: exit 2, as the help says, not
		// 1, which it keeps for a refused booking.
		if err := clearing.RefuseSharedIDs(ctx, c, query.Partners); err != nil {
			return nettingUsage(cmd, err)
		}
		report, err := clearing.Net(ctx, c, ledgers, query)
		if err != nil {
			return nettingUsage(cmd, err)
		}
		var booking *settleBooking
		if o.book {
			if booking, err = o.bookSettlements(cmd, ctx, c, query, report); err != nil {
				if booking != nil { // Voids were sent: say so, --json too.
					if printErr := o.print(cmd, report, booking); printErr != nil &&
						!errors.Is(printErr, errEventsFailed) {
						return printErr
					}
				}
				return err
			}
		}
		return o.print(cmd, report, booking)
	})
}

// nettingUsage makes the netting's refusal of the query (clearing.ErrNettingQuery) a usage
// error, and so a --partner that names no account this key may read (account_not_found,
// which the operators' GET /v1/settlement answers 400 too): no booking was tried, and the
// help keeps exit 1 for a refused one. Any other error is returned as it is.
func nettingUsage(cmd *cobra.Command, err error) error {
	var status *client.StatusError
	if errors.Is(err, clearing.ErrNettingQuery) ||
		(errors.As(err, &status) && status.Status == model.StatusAccountNotFound) {
		return usage(cmd, "%v", err)
	}
	return err
}

func (o *settleOptions) query(cmd *cobra.Command) (clearing.NettingQuery, *clearing.Ledgers,
	error) {
	ledgers, err := clearing.LoadLedgers(o.ledgers)
	if err != nil {
		return clearing.NettingQuery{}, nil, usage(cmd, "--ledgers: %v", err)
	}
	if o.until == "" || len(o.partners) == 0 {
		return clearing.NettingQuery{}, nil, usage(cmd, "--partner and --until are required")
	}
	query := clearing.NettingQuery{ListMax: o.transfers}
	for _, text := range o.partners {
		account, err := parseID(cmd, "partner", text)
		if err != nil {
			return query, nil, err
		}
		// Checked here: the node's lookup answers such an id twice, which the check for
		// one id on two shards took for that ("account 2 is on ledgers 1 and 1").
		if slices.Contains(query.Partners, account) {
			return query, nil, usage(cmd, "--partner %s is given twice", account)
		}
		query.Partners = append(query.Partners, account)
	}
	from, until, err := parseWindow(o.from, o.until, time.Now())
	if err != nil {
		return query, nil, usage(cmd, "%v", err)
	}
	query.Window = clearing.Window{From: from, Until: until}
	return query, ledgers, nil
}

// settleClock is the command's clock (a variable for the tests of a clock ahead of the
// log's).
var settleClock = time.Now

// settleBooking is what a --book run did, ledger by ledger.
type settleBooking struct {
	sent    []model.Transfer    // The settlements sent, in ledger order.
	results []model.EventResult // The ledger's answer to each.
	// existing is, for each sent settlement answered exists, its state (in_flight or
	// confirmed), or "" when it is neither: an earlier settlement of that id was voided or
	// expired.
	existing []string
	already  []clearing.BookedSettlement // This cut-off's, booked before: not sent.
	// voids are the voids sent first (clearing.PlanSettlements), with the ledger's
	// answers, and voided the settlements they void.
	voids       []model.Transfer
	voidResults []model.EventResult
	voided      []clearing.BookedSettlement
	// notVoided are the settlements whose void was refused for another reason: their
	// ledgers are not booked (they may still be confirmed).
	notVoided []clearing.BookedSettlement
	// afterVoids is why nothing was booked once the voids were answered (planning again
	// refused the booking), or nil.
	afterVoids error
}

// bookSettlements books the report's settlements as pending transfers, but for the ledgers
// whose settlement of this cut-off is already booked. An error after voids were sent comes
// with the booking, for the caller to print (TestReview2S50JSONPrintedWhenTheRunFailsAfter
// ItsVoids).
func (o *settleOptions) bookSettlements(cmd *cobra.Command, ctx context.Context,
	c *client.Client, query clearing.NettingQuery, report *clearing.NettingReport) (
	*settleBooking, error) {
	booking := clearing.Booking{Via: map[uint32]model.Uint128{}, Code: o.code,
		Timeout: o.timeout}
	var err error
	// A settlement is booked after its window's cut-off: look there for one in flight or
	// confirmed.
	if booking.BookedAfter, err = clearing.SettlementsBookedAfter(ctx, c, query.Partners,
		report.Until, uint64(settleClock().UnixNano())); err != nil {
		return nil, err
	}
	if booking.FirstID, err = parseID(cmd, "settlement-id", o.firstID); err != nil {
		return nil, err
	}
	if booking.Reference, err = parseID(cmd, "reference", o.reference); err != nil {
		return nil, err
	}
	accounts, err := o.viaAccounts(cmd, ctx, c)
	if err != nil {
		return nil, err
	}
	placement, err := serverShardMap(ctx, c)
	if err != nil {
		return nil, err
	}
	chooseVia(booking.Via, accounts, placement, report)
	done := &settleBooking{}
	plan, err := report.PlanSettlements(booking)
	if err != nil {
		return nil, usage(cmd, "%v", err)
	}
	// Checked before anything is sent, with the settlements of the ledgers that wait on a
	// void: a refusal sent nothing (TestReview2S50ShardCheckBeforeTheVoids).
	if problem := pendingSpanningShards(placement, slices.Concat(plan.Transfers,
		settlementsAfterVoids(report, booking.Via, plan.Voids))); problem != "" {
		return nil, usage(cmd, "--book: %s", problem)
	}
	if len(plan.Voids) != 0 {
		if plan, err = done.voidFirst(ctx, c, report, &booking, plan); err != nil {
			if done.voidResults == nil {
				return nil, err
			}
			return done, err
		}
	}
	// Checked for the shards above: planning again after the voids books only ledgers of
	// the first plan's settlements or voids, between the same accounts.
	done.sent, done.already = plan.Transfers, plan.Booked
	if len(done.sent) == 0 {
		return done, nil
	}
	if done.results, err = c.CreateTransfers(ctx, done.sent); err != nil {
		return nil, err
	}
	// Not printed on an error: the settlements answered exists would read not booked.
	if err := done.checkExisting(ctx, c, query.Partners, report.Until); err != nil {
		return nil, err
	}
	return done, nil
}

// viaAccounts looks up the --via accounts.
func (o *settleOptions) viaAccounts(cmd *cobra.Command, ctx context.Context,
	c *client.Client) ([]model.Account, error) {
	var viaIDs []model.Uint128
	for _, text := range o.via {
		id, err := parseID(cmd, "via", text)
		if err != nil {
			return nil, err
		}
		viaIDs = append(viaIDs, id)
	}
	accounts, err := c.LookupAccounts(ctx, viaIDs)
	if err != nil {
		return nil, err
	}
	if len(accounts) != len(viaIDs) {
		return nil, usage(cmd, "--via: %d of %d accounts exist", len(accounts), len(viaIDs))
	}
	return accounts, nil
}

// voidFirst voids the settlements that only the command's clock judges expired (the
// partner may still confirm them while the log's time is behind that clock), and plans the
// booking again from the ledger's answers: a ledger is booked only once its settlement can
// no longer be confirmed, so the partner is never paid twice whatever the clocks
// (TestSettleClock50VoidedFirstWhenTheClockRunsAhead). A settlement the ledger answers
// already posted is the window's, already booked (confirmed); one whose void is refused
// for another reason leaves its ledger unbooked (exit 1). A plan refused only now (a
// settlement of another window found posted) is an error of the run, after the voids.
func (b *settleBooking) voidFirst(ctx context.Context, c *client.Client,
	report *clearing.NettingReport, booking *clearing.Booking, plan clearing.SettlementPlan) (
	clearing.SettlementPlan, error) {
	// Voiding, not a search of BookedAfter: a settlement in the window whose deadline
	// only the cut-off has passed is voided first too, and a refused void of it must
	// leave its ledger refused (TestReview50SCFutureCutoffBooksOverALiveSettlement).
	b.voids, b.voided = plan.Voids, plan.Voiding
	var err error
	if b.voidResults, err = c.CreateTransfers(ctx, b.voids); err != nil {
		return plan, err
	}
	// By ledger and id: transfer ids are unique per shard only.
	refused := map[voidedKey]bool{}
	for i, void := range b.voids {
		if !booking.Voided(void, b.voidResults[i].Status) {
			refused[voidedKey{void.Ledger, void.PendingID}] = true
		}
	}
	again, err := report.PlanSettlements(*booking)
	if err != nil {
		b.afterVoids = err
		var answers []string
		for i, void := range b.voids {
			answers = append(answers, fmt.Sprintf("void %s of settlement %s: %s", void.ID,
				void.PendingID, b.voidResults[i].Status))
		}
		return plan, fmt.Errorf("settlements voided first (%s); then nothing booked: %w",
			strings.Join(answers, "; "), err)
	}
	for _, void := range again.Voids {
		// Cannot be: planning again voids only those.
		if !refused[voidedKey{void.Ledger, void.PendingID}] {
			return plan, fmt.Errorf("settlement %s is to be voided again", void.PendingID)
		}
	}
	for _, s := range b.voided {
		if refused[voidedKey{s.Ledger, s.ID}] {
			b.notVoided = append(b.notVoided, s)
		}
	}
	return again, nil
}

// voidedKey names a settlement voided first by its ledger and id (transfer ids are unique
// per shard only: two ledgers' settlements may share one).
type voidedKey struct {
	ledger uint32
	id     model.Uint128
}

// checkExisting marks the settlements the ledger answered exists that are not booked. An
// identical resend answers exists whatever became of the transfer since, so the id of a
// settlement voided or expired (the window may be booked again) answers exists and books
// nothing (TestSettle50RebookingAVoidedSettlementsIDIsNotBooked); a settlement a
// concurrent run booked is in flight and stays counted as booked.
func (b *settleBooking) checkExisting(ctx context.Context, c *client.Client,
	partners []model.Uint128, cutoff uint64) error {
	b.existing = make([]string, len(b.sent))
	if !slices.ContainsFunc(b.results, func(r model.EventResult) bool {
		return r.Status == model.StatusExists
	}) {
		return nil
	}
	booked, err := clearing.SettlementsBookedAfter(ctx, c, partners, cutoff,
		uint64(settleClock().UnixNano()))
	if err != nil {
		return err
	}
	for i, result := range b.results {
		for _, settlement := range booked[b.sent[i].Ledger] {
			// One the clock judges expired is not counted booked: it may expire unconfirmed.
			if result.Status == model.StatusExists && settlement.ID == b.sent[i].ID &&
				!settlement.ClockExpired {
				b.existing[i] = settlement.State()
			}
		}
	}
	return nil
}

// settlementsAfterVoids returns, for the shard check, a settlement of each ledger of the
// voids (between its partner's account and its --via account): booked once the voids
// have taken.
func settlementsAfterVoids(report *clearing.NettingReport, via map[uint32]model.Uint128,
	voids []model.Transfer) []model.Transfer {
	var settlements []model.Transfer
	for _, p := range report.Positions {
		voided := slices.ContainsFunc(voids, func(v model.Transfer) bool {
			return v.Ledger == p.Ledger
		})
		if !voided || len(p.Accounts) != 1 { // PlanSettlements refuses several.
			continue
		}
		partner, _ := model.ParseUint128(p.Accounts[0])
		t := model.Transfer{DebitAccountID: partner, CreditAccountID: via[p.Ledger],
			Ledger: p.Ledger}
		if p.Direction == clearing.DirectionReceivable { // As PlanSettlements books it.
			t.DebitAccountID, t.CreditAccountID = t.CreditAccountID, t.DebitAccountID
		}
		settlements = append(settlements, t)
	}
	return settlements
}

// chooseVia fills the operator's settlement account per ledger from the --via accounts.
// On a node of several shards an operator may give one per ledger and shard: of several on
// a ledger, the one on the shard of that ledger's partner account is kept (a settlement
// is a pending transfer, which cannot span shards); otherwise the last given.
func chooseVia(via map[uint32]model.Uint128, accounts []model.Account,
	placement *shardmap.Map, report *clearing.NettingReport) {
	partnerShard := map[uint32]uint16{}
	if placement != nil {
		for _, p := range report.Positions {
			if len(p.Accounts) == 1 { // SettlementTransfers refuses several.
				partner, _ := model.ParseUint128(p.Accounts[0])
				partnerShard[p.Ledger] = placement.AccountShard(partner, p.Ledger)
			}
		}
	}
	for _, account := range accounts {
		current, given := via[account.Ledger]
		shard, known := partnerShard[account.Ledger]
		if given && known && placement.AccountShard(current, account.Ledger) == shard {
			continue
		}
		via[account.Ledger] = account.ID
	}
}

// settleJSON is `settle --json` output: the report and what was booked.
type settleJSON struct {
	*clearing.NettingReport
	Booked      []jsonview.Result    `json:"booked,omitempty"` // The ledger's answers.
	Voided      []jsonview.Result    `json:"voided,omitempty"` // Its answers to the voids first.
	Settlements []settlementLineJSON `json:"settlements,omitempty"`
}

// settlementLineJSON is one ledger's settlement in `settle --book --json`.
type settlementLineJSON struct {
	Ledger  uint32 `json:"ledger"`
	ID      string `json:"id"`
	Amount  string `json:"amount"`
	Debit   string `json:"debit_account_id"`
	Credit  string `json:"credit_account_id"`
	Outcome string `json:"outcome"`          // booked, already_booked or refused.
	State   string `json:"state,omitempty"`  // Already booked: in_flight or confirmed.
	Status  string `json:"status,omitempty"` // The ledger's answer, when sent.
	// VoidedFirst are the voids sent before booking the ledger: of settlements whose
	// deadline had passed by the command's clock only.
	VoidedFirst []voidFirstJSON `json:"voided_first,omitempty"`
}

// voidFirstJSON is a void sent before booking a ledger, and the ledger's answer.
type voidFirstJSON struct {
	ID        string `json:"id"`
	PendingID string `json:"pending_id"` // The settlement voided.
	Status    string `json:"status"`
}

// Outcomes of a ledger's settlement in a --book run.
const (
	outcomeBooked        = "booked"
	outcomeAlreadyBooked = "already_booked"
	outcomeRefused       = "refused"
)

// lines returns the booking's settlements in ledger order, each with its outcome and the
// sentence `settle` prints for it.
func (b *settleBooking) lines() ([]settlementLineJSON, []string) {
	var lines []settlementLineJSON
	var texts []string
	for _, s := range b.already {
		line := bookedLine(s, outcomeAlreadyBooked)
		line.State = s.State()
		lines = append(lines, line)
		texts = append(texts, fmt.Sprintf("already booked for this cut-off (%s); not "+
			"booked again", strings.ReplaceAll(s.State(), "_", " ")))
	}
	for i, t := range b.sent {
		status := b.results[i].Status
		line := settlementLineJSON{Ledger: t.Ledger, ID: t.ID.String(),
			Amount: t.Amount.String(), Debit: t.DebitAccountID.String(),
			Credit: t.CreditAccountID.String(), Outcome: outcomeRefused,
			Status: status.String()}
		text := describeStatus(status)
		switch {
		case status == model.StatusOK:
			line.Outcome = outcomeBooked
		case status == model.StatusExists && b.existing[i] != "": // A concurrent run's.
			line.Outcome, line.State = outcomeAlreadyBooked, b.existing[i]
		case status == model.StatusExists:
			text += ", but voided or expired: not booked; book it with a new --settlement-id"
		case status == model.StatusIDAlreadyFailed:
			text += ": this id was refused before, and the ledger keeps a refused id; " +
				"book it with a new --settlement-id"
		}
		lines, texts = append(lines, line), append(texts, text)
	}
	for _, s := range b.notVoided {
		lines = append(lines, b.refusedLine(s))
		texts = append(texts, "in flight on the ledger's log, where the partner may "+
			"still confirm it, and not voided: the ledger is not booked again")
	}
	if b.afterVoids != nil {
		for _, s := range b.voided {
			lines = append(lines, b.refusedLine(s))
			texts = append(texts, "voided first; then nothing was booked: "+
				b.afterVoids.Error())
		}
	}
	b.addVoidsFirst(lines, texts)
	order := make([]int, len(lines))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(lines[a].Ledger, lines[b].Ledger)
	})
	sortedLines, sortedTexts := make([]settlementLineJSON, len(lines)), make([]string, len(lines))
	for i, from := range order {
		sortedLines[i], sortedTexts[i] = lines[from], texts[from]
	}
	return sortedLines, sortedTexts
}

// bookedLine is the line of a settlement booked before this run (not sent by it).
func bookedLine(s clearing.BookedSettlement, outcome string) settlementLineJSON {
	return settlementLineJSON{Ledger: s.Ledger, ID: s.ID.String(),
		Amount: s.Amount.String(), Debit: s.DebitAccountID.String(),
		Credit: s.CreditAccountID.String(), Outcome: outcome}
}

// refusedLine is the line of a settlement voided first whose ledger is not booked, with
// the ledger's answer to its void.
func (b *settleBooking) refusedLine(s clearing.BookedSettlement) settlementLineJSON {
	line := bookedLine(s, outcomeRefused)
	line.Status = b.voidStatus(s).String()
	return line
}

// voidStatus is the ledger's answer to the void sent first of a settlement.
func (b *settleBooking) voidStatus(settlement clearing.BookedSettlement) model.Status {
	for i, void := range b.voids {
		if void.PendingID == settlement.ID && void.Ledger == settlement.Ledger {
			return b.voidResults[i].Status
		}
	}
	return model.StatusOK
}

// addVoidsFirst adds to each ledger's line the voids sent before booking it: to the line
// of a settlement voided first, its own void only (TestReview2S50RefusedLedgerNamedOnce).
func (b *settleBooking) addVoidsFirst(lines []settlementLineJSON, texts []string) {
	voided := map[voidedKey]bool{}
	for _, void := range b.voids {
		voided[voidedKey{void.Ledger, void.PendingID}] = true
	}
	for i, void := range b.voids {
		for j := range lines {
			id, _ := model.ParseUint128(lines[j].ID)
			if lines[j].Ledger != void.Ledger ||
				(voided[voidedKey{lines[j].Ledger, id}] && id != void.PendingID) {
				continue
			}
			status := b.voidResults[i].Status
			lines[j].VoidedFirst = append(lines[j].VoidedFirst, voidFirstJSON{
				ID: void.ID.String(), PendingID: void.PendingID.String(),
				Status: status.String()})
			texts[j] += fmt.Sprintf(" (settlement %s's deadline had passed by this "+
				"machine's clock or the cut-off but not on the ledger's log: void %s sent "+
				"first, %s)",
				void.PendingID, void.ID, describeStatus(status))
		}
	}
}

func (o *settleOptions) print(cmd *cobra.Command, report *clearing.NettingReport,
	booking *settleBooking) error {
	out := settleJSON{NettingReport: report}
	var lines []settlementLineJSON
	var texts []string
	if booking != nil {
		for i, t := range booking.sent {
			out.Booked = append(out.Booked, jsonview.NewResult(t.ID, &booking.results[i]))
		}
		for i, t := range booking.voids {
			out.Voided = append(out.Voided, jsonview.NewResult(t.ID, &booking.voidResults[i]))
		}
		lines, texts = booking.lines()
		out.Settlements = lines
	}
	if o.connection.asJSON {
		if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
			return err
		}
	} else {
		w := cmd.OutOrStdout()
		printNetting(w, report)
		for i, line := range lines {
			fmt.Fprintf(w, "settlement %s (ledger %d, %s %s → %s): %s\n", line.ID, line.Ledger,
				line.Amount, line.Debit, line.Credit, texts[i])
		}
		if booking != nil {
			printBookingSummary(w, lines, report.Until)
		}
	}
	if slices.ContainsFunc(lines, func(l settlementLineJSON) bool {
		return l.Outcome == outcomeRefused
	}) {
		return errEventsFailed
	}
	return nil
}

// printBookingSummary says which ledgers were booked, already booked and refused, and
// what to do about the refused.
func printBookingSummary(w io.Writer, lines []settlementLineJSON, cutoff uint64) {
	byOutcome := map[string][]string{}
	for _, line := range lines {
		// A ledger is named once: it has a line per settlement voided first and refused
		// (TestReview2S50RefusedLedgerNamedOnce); lines come in ledger order.
		ledger := strconv.Itoa(int(line.Ledger))
		if named := byOutcome[line.Outcome]; len(named) == 0 || named[len(named)-1] != ledger {
			byOutcome[line.Outcome] = append(named, ledger)
		}
	}
	name := func(outcome string) string {
		switch ledgers := byOutcome[outcome]; len(ledgers) {
		case 0:
			return "none"
		case 1:
			return "ledger " + ledgers[0]
		default:
			return "ledgers " + strings.Join(ledgers, ", ")
		}
	}
	fmt.Fprintf(w, "booked: %s; already booked: %s; refused: %s\n", name(outcomeBooked),
		name(outcomeAlreadyBooked), name(outcomeRefused))
	if len(byOutcome[outcomeRefused]) > 0 {
		fmt.Fprintf(w, "to complete the booking, fix what refused it and run the same "+
			"booking again (the same --from, --until %d) with a new --settlement-id: the "+
			"ledger keeps each refused id, and the ledgers booked are not booked again\n",
			cutoff)
	}
}

func printNetting(w io.Writer, r *clearing.NettingReport) {
	from := r.FromTime
	if from == "" {
		from = "(start)"
	}
	fmt.Fprintf(w, "settlement with partner accounts %v, %s … %s: %d transfers\n", r.Partners,
		from, r.UntilTime, r.TransfersCounted)
	for _, p := range r.Positions {
		major := ""
		if p.NetMajor != "" {
			major = " (" + p.NetMajor + " " + p.Currency + ")"
		}
		fmt.Fprintf(w, "  ledger %d %s: net %s%s %s; posted credits %s, debits %s; in flight "+
			"credits %s, debits %s; %d transfers\n", p.Ledger, p.Currency, p.Net, major,
			p.Direction, p.CreditsPosted, p.DebitsPosted, p.InFlightCredits, p.InFlightDebits,
			p.Transfers)
	}
	if r.Truncated {
		fmt.Fprintf(w, "  (--json lists the transfers: %d of %d now; raise --transfers)\n",
			len(r.Transfers), r.TransfersCounted)
	}
}
