package clearing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"sequent/core/model"
	"sequent/core/saga"
	"sequent/netio/client"
)

// Settlement netting: the net position with a partner over a window, per ledger.
//
// The partner has one settlement account per ledger (or several). A transfer that
// credits such an account moves value to the partner: Sequent owes it that value (the
// partner pays the merchant out, say). A transfer that debits it moves value back. So per
// ledger, over the window:
//
//	net = Σ posted credits to the partner's accounts − Σ posted debits from them
//	net > 0: payable (we owe the partner); net < 0: receivable (the partner owes us)
//
// "Posted" counts single-phase transfers and posts of pending transfers (the amount
// posted) whose timestamp is in the window. A pending transfer made in the window is not
// posted: it is in flight at the cut-off unless a post or void in the window resolved it,
// or its timeout had passed by then (the ledger refuses to post it after its deadline).
// Voids move nothing. Booked settlements (Booking) are transfers like any other: once one
// is posted, the next window's net includes it, so a settled position reads zero.
//
// On a node of several shards each account's transfers are its own shard's, and a
// cross-shard transfer X of v from a (shard A) to b (shard B) is a saga (core/saga/doc.go)
// that each side books differently; Net reads each side as booked, with no special case,
// and X counts once on each side:
//   - a partner's account a (the debit side): X is a pending transfer a → S(A→B, L) at
//     step 1, then posted by P(B, seq) with the amount credited (or voided by V(B, seq)
//     when B refused). X is in flight from step 1 until its post or void, then posted at
//     the post's time (A's clock) and amount, like any posted pending transfer.
//   - a partner's account b (the credit side): X is the single-phase credit C(A, seq),
//     S(A→B, L) → b, counted posted at C's time (B's clock) and amount. Before C the
//     amount is on the debit shard's settlement account, not on b's shard: it is not in
//     b's position (GET /v1/reconcile lists the sagas in flight).
// Summed over a window both sides' cut-offs have passed, the net per ledger equals that
// of the same transfers on one shard (cmd/sequent's TestSettlementNettingOnTwoShards).

// NettingQuery asks for the net position with a partner.
type NettingQuery struct {
	Partners []model.Uint128 // The partner's settlement accounts.
	Window   Window          // Window.Until is the cut-off.
	ListMax  int             // Most transfers listed in the report (all are counted).
	// expiredAt is when a pending transfer's deadline is judged (ExpiredBy) for its
	// state in the report; 0: at the cut-off. SettlementsBookedAfter reads past any clock
	// and judges its settlements itself, at the latest log time read of their account and
	// at its now.
	expiredAt uint64
	// keepSettlements makes the netter keep every booked settlement in flight or
	// confirmed (SettlementsBookedAfter); there are at most NettingTransfersMax.
	keepSettlements bool
}

// Bounds of one netting query.
const (
	// PartnersMax bounds the settlement accounts of one query.
	PartnersMax = 64
	// NettingTransfersMax bounds the transfers one query reads (it keeps the unresolved
	// pending ones until the end): past it the query fails with ErrWindowTooLarge and a
	// narrower window is needed.
	NettingTransfersMax = 20_000_000
	// ListMaxDefault is the default of NettingQuery.ListMax for the commands.
	ListMaxDefault = 10_000
)

// Errors of Net.
var (
	ErrNettingQuery   = errors.New("clearing: bad netting query")
	ErrWindowTooLarge = errors.New("clearing: window holds too many transfers")
)

// NettingReport is the answer: one position per ledger, and the transfers behind them.
type NettingReport struct {
	Partners         []string         `json:"partners"`
	From             uint64           `json:"from_ns"`
	Until            uint64           `json:"until_ns"`
	FromTime         string           `json:"from"`
	UntilTime        string           `json:"until"`
	Positions        []Position       `json:"positions"`
	TransfersCounted int              `json:"transfers_counted"`
	Transfers        []NettedTransfer `json:"transfers"`
	Truncated        bool             `json:"transfers_truncated"` // More were counted than listed.
}

// Position is the net position on one ledger.
type Position struct {
	Ledger          uint32        `json:"ledger"`
	Currency        string        `json:"currency"`
	Accounts        []string      `json:"accounts"`
	CreditsPosted   model.WideSum `json:"credits_posted"`
	DebitsPosted    model.WideSum `json:"debits_posted"`
	Net             string        `json:"net"`                 // Signed, minor units.
	NetMajor        string        `json:"net_major,omitempty"` // Signed, major units (scale known).
	Direction       string        `json:"direction"`           // payable, receivable or flat.
	InFlightCredits model.WideSum `json:"in_flight_credits"`   // Pending at the cut-off.
	InFlightDebits  model.WideSum `json:"in_flight_debits"`
	// SettlementInFlight is the part of the in-flight amounts that are booked
	// settlements not yet confirmed: Booking refuses to book the ledger again meanwhile.
	SettlementInFlight model.WideSum `json:"settlement_in_flight"`
	Transfers          int           `json:"transfers"`

	negative  bool          // Net < 0.
	magnitude model.WideSum // |Net|.
	// unproven are the booked settlements in the window that the cut-off alone judges
	// expired: no log time read of their account has passed their deadline, and a
	// cut-off is no log time (`--until now` on a clock ahead of the log's, a far-future
	// end), so the partner may still confirm them. PlanSettlements voids them first.
	unproven []BookedSettlement
}

// Directions of a position.
const (
	DirectionPayable    = "payable"    // We owe the partner.
	DirectionReceivable = "receivable" // The partner owes us.
	DirectionFlat       = "flat"
)

// NettedTransfer is one transfer behind a position, as seen from the partner's account.
type NettedTransfer struct {
	ID          string `json:"id"`
	Account     string `json:"account"` // The partner's account.
	Ledger      uint32 `json:"ledger"`
	Side        string `json:"side"` // credit or debit (of the partner's account).
	Amount      string `json:"amount"`
	Timestamp   uint64 `json:"timestamp"`
	Kind        string `json:"kind"` // single, pending, post or void.
	PendingID   string `json:"pending_id,omitempty"`
	State       string `json:"state"` // posted, in_flight, resolved, expired or voided.
	Settlement  bool   `json:"settlement,omitempty"`
	UserData128 string `json:"user_data_128,omitempty"`
}

// Net computes the net position with the partner's accounts over the window.
func Net(ctx context.Context, reader Reader, ledgers *Ledgers, query NettingQuery) (
	*NettingReport, error) {
	n, err := readWindow(ctx, reader, query)
	if err != nil {
		return nil, err
	}
	return n.report(ledgers), nil
}

// readWindow reads the partners' transfers of the window into a netter.
func readWindow(ctx context.Context, reader Reader, query NettingQuery) (*netter, error) {
	if err := query.validate(); err != nil {
		return nil, err
	}
	n := newNetter(query)
	for _, account := range query.Partners {
		err := ForEachTransfer(ctx, reader, account, query.Window,
			func(page []model.Transfer) error { return n.addPage(account, page) })
		if err != nil {
			return nil, err
		}
		n.finishAccount(account)
	}
	return n, nil
}

// RefuseSharedIDs refuses a partner id that names accounts on two ledgers, before Net
// reads through a node's router (`sequent settle`): with accounts placed by ledger, one id
// may be created on a ledger of each of two shards, and an account's transfers (the
// filter names no ledger) are then read from one of them only: the router answers from
// the first shard that knows the id, so the other ledger's position would be left out
// without a word (TestHunt44aSettleOfAnIDOnTwoLedgersIsNotHalfCounted). ShardedReader
// (the operators' endpoint) refuses such an id by itself.
func RefuseSharedIDs(ctx context.Context, reader Reader, partners []model.Uint128) error {
	// A node's settlement account has a copy on each shard of its pair, on one ledger,
	// and a partner listed twice is answered twice: say what it is, as Net would, rather
	// than "on ledgers 1 and 1" (TestHunt53aSharedIDsNamesASettlementAccount,
	// TestReview53aRefuseSharedIDsOfAPartnerListedTwice).
	if problem := partnersProblem(partners); problem != "" {
		return fmt.Errorf("%w: %s", ErrNettingQuery, problem)
	}
	accounts, err := reader.LookupAccounts(ctx, partners)
	if err != nil {
		return err
	}
	ledgers := map[model.Uint128]uint32{}
	for _, account := range accounts {
		if ledger, seen := ledgers[account.ID]; seen {
			return fmt.Errorf("%w: account %s is on ledgers %d and %d (one id on two shards "+
				"of a node placing accounts by ledger): its transfers cannot be read as one "+
				"account's; name accounts whose ids are unique", ErrNettingQuery, account.ID,
				ledger, account.Ledger)
		}
		ledgers[account.ID] = account.Ledger
	}
	return nil
}

func (q *NettingQuery) validate() error {
	problem := ""
	switch {
	case len(q.Partners) == 0:
		problem = "name at least one partner settlement account"
	case len(q.Partners) > PartnersMax:
		problem = fmt.Sprintf("%d partner accounts, at most %d", len(q.Partners), PartnersMax)
	case q.Window.Until == 0:
		problem = "a cut-off (until) is required"
	case q.Window.From > q.Window.Until:
		problem = "the window starts after its cut-off"
	case q.ListMax < 0:
		problem = "negative transfer list size"
	}
	if partners := partnersProblem(q.Partners); partners != "" {
		problem = partners
	}
	if problem != "" {
		return fmt.Errorf("%w: %s", ErrNettingQuery, problem)
	}
	return nil
}

// partnersProblem says why a list of partner accounts cannot be netted: one is 0, listed
// twice, or a node's settlement account ("" otherwise).
func partnersProblem(partners []model.Uint128) string {
	problem := ""
	for i, account := range partners {
		if account.IsZero() || slices.Contains(partners[:i], account) {
			problem = fmt.Sprintf("partner account %s is 0 or listed twice", account)
		}
		if settlement := settlementAccountProblem(account); settlement != "" {
			problem = settlement
		}
	}
	return problem
}

// settlementAccountProblem says why an account is no partner's when it is a node's own
// settlement account of a pair of shards, which exists on both shards (core/saga), each
// holding half of every saga through it ("" otherwise).
func settlementAccountProblem(account model.Uint128) string {
	from, to, ledger, ok := saga.SettlementAccount(account)
	if !ok {
		return ""
	}
	return fmt.Sprintf("account %s is the node's settlement account of shards %d → %d on "+
		"ledger %d (cross-shard transfers pass through it), not a partner's", account, from,
		to, ledger)
}

// netter accumulates positions over the pages of each partner account. Pages come newest
// first, so a post or void is seen before the pending transfer it resolves.
type netter struct {
	query     NettingQuery
	positions map[uint32]*Position
	accounts  map[uint32][]model.Uint128 // Partner accounts seen per ledger.
	counted   int
	listed    []NettedTransfer
	// resolved holds the pending ids that a post or void of the account's window
	// resolved (true: a post), until the pending transfer itself is seen (or the account
	// ends: then it was made before the window).
	resolved map[model.Uint128]bool
	// settlements are the booked settlements in flight or confirmed, with
	// NettingQuery.keepSettlements; those in flight whatever their deadline.
	settlements []BookedSettlement
	// latest is, with NettingQuery.keepSettlements, the latest timestamp read of each
	// partner account (its accountLatest once read): its shard's log time is at least
	// that (each shard keeps its own).
	latest map[model.Uint128]uint64
	// accountLatest is the latest timestamp read of the account being read: pages come
	// newest first, so a pending transfer is judged after every later one of the window.
	accountLatest uint64
}

func newNetter(query NettingQuery) *netter {
	return &netter{query: query, positions: map[uint32]*Position{},
		accounts: map[uint32][]model.Uint128{}, resolved: map[model.Uint128]bool{},
		latest: map[model.Uint128]uint64{}}
}

func (n *netter) position(ledger uint32, account model.Uint128) *Position {
	p := n.positions[ledger]
	if p == nil {
		p = &Position{Ledger: ledger}
		n.positions[ledger] = p
	}
	if !slices.Contains(n.accounts[ledger], account) {
		n.accounts[ledger] = append(n.accounts[ledger], account)
	}
	return p
}

func (n *netter) addPage(account model.Uint128, page []model.Transfer) error {
	for i := range page {
		if n.counted++; n.counted > NettingTransfersMax {
			return fmt.Errorf("%w: more than %d; narrow the window", ErrWindowTooLarge,
				NettingTransfersMax)
		}
		n.add(account, &page[i])
	}
	return nil
}

// add counts one transfer of the partner's account.
func (n *netter) add(account model.Uint128, t *model.Transfer) {
	credit := t.CreditAccountID == account
	n.accountLatest = max(n.accountLatest, t.Timestamp)
	p := n.position(t.Ledger, account)
	p.Transfers++
	line := n.list(account, t, credit)
	switch {
	case t.Flags&model.TransferPending != 0:
		n.setState(line, n.pendingState(p, t, credit))
	case t.Flags&model.TransferVoidPending != 0:
		n.resolved[t.PendingID] = false
		n.setState(line, "voided")
	default: // Single-phase, or a post (its amount is what was posted).
		if t.Flags&model.TransferPostPending != 0 {
			n.resolved[t.PendingID] = true
		}
		addSide(&p.CreditsPosted, &p.DebitsPosted, credit, t.Amount)
		n.setState(line, "posted")
	}
}

// pendingState decides a pending transfer of the window at the cut-off: resolved (posted
// or voided in the window, already counted through its post), expired (its deadline at or
// before the cut-off), or in flight.
func (n *netter) pendingState(p *Position, t *model.Transfer, credit bool) string {
	if posted, resolved := n.resolved[t.ID]; resolved {
		delete(n.resolved, t.ID)
		if posted {
			n.keepSettlement(t, credit, true)
		}
		return "resolved"
	}
	// Kept whatever its deadline: SettlementsBookedAfter judges it once the latest log
	// time read of the account is known.
	n.keepSettlement(t, credit, false)
	expiredAt := n.query.Window.Until
	if n.query.expiredAt != 0 {
		expiredAt = n.query.expiredAt
	}
	if ExpiredBy(t, expiredAt) {
		// Expired at the cut-off by its deadline; the booking takes a settlement as
		// expired only once a log time read of its account has passed that deadline
		// (TestReview50SCSettlementInTheWindowExpiredByTheCutoffOnly).
		if !n.query.keepSettlements && isSettlement(t) &&
			!ExpiredBy(t, n.accountLatest) {
			s := bookedSettlement(t, credit)
			s.ClockExpired = true
			p.unproven = append(p.unproven, s)
		}
		return "expired"
	}
	addSide(&p.InFlightCredits, &p.InFlightDebits, credit, t.Amount)
	if isSettlement(t) {
		p.SettlementInFlight.Add(t.Amount)
	}
	return "in_flight"
}

// keepSettlement keeps a pending transfer in flight or confirmed if it is a booked
// settlement and the query keeps them.
func (n *netter) keepSettlement(t *model.Transfer, credit, confirmed bool) {
	if n.query.keepSettlements && isSettlement(t) {
		s := bookedSettlement(t, credit)
		if confirmed {
			s.Confirmed, s.deadline = true, 0
		}
		n.settlements = append(n.settlements, s)
	}
}

// bookedSettlement is a booked settlement, in flight, as read on the partner's account
// (credited if credit).
func bookedSettlement(t *model.Transfer, credit bool) BookedSettlement {
	s := BookedSettlement{ID: t.ID, Ledger: t.Ledger,
		DebitAccountID: t.DebitAccountID, CreditAccountID: t.CreditAccountID,
		Amount: t.Amount, Receivable: credit, Cutoff: t.UserData64}
	if t.Timeout != 0 {
		s.deadline = t.Timestamp + uint64(t.Timeout)*nanosecondsPerSecond
	}
	return s
}

// finishAccount forgets the resolutions of pending transfers made before the window, and
// keeps the latest timestamp read of the account (NettingQuery.keepSettlements).
func (n *netter) finishAccount(account model.Uint128) {
	clear(n.resolved)
	if n.query.keepSettlements {
		n.latest[account] = n.accountLatest
	}
	n.accountLatest = 0
}

// ExpiredBy reports whether a pending transfer's timeout has passed by the cut-off: its
// deadline (timestamp + timeout) is at or before it, after which the ledger refuses to post
// it and expires it at the next entry.
func ExpiredBy(t *model.Transfer, cutoff uint64) bool {
	deadline := t.Timestamp + uint64(t.Timeout)*nanosecondsPerSecond
	return t.Timeout != 0 && deadline <= cutoff
}

// nanosecondsPerSecond converts a transfer's timeout (seconds) to log time.
const nanosecondsPerSecond = 1_000_000_000

// isSettlement reports whether a transfer was booked by Booking (by its kind byte).
func isSettlement(t *model.Transfer) bool {
	return uint8(t.UserData32>>24) == client.ClearingKindSettlement
}

func addSide(credits, debits *model.WideSum, credit bool, amount model.Uint128) {
	if credit {
		credits.Add(amount)
	} else {
		debits.Add(amount)
	}
}

// list appends the transfer to the listing if there is room, and returns its index or -1.
func (n *netter) list(account model.Uint128, t *model.Transfer, credit bool) int {
	if len(n.listed) >= n.query.ListMax {
		return -1
	}
	line := NettedTransfer{ID: t.ID.String(), Account: account.String(), Ledger: t.Ledger,
		Side: "debit", Amount: t.Amount.String(), Timestamp: t.Timestamp, Kind: "single",
		Settlement: isSettlement(t)}
	if credit {
		line.Side = "credit"
	}
	switch {
	case t.Flags&model.TransferPending != 0:
		line.Kind = "pending"
	case t.Flags&model.TransferPostPending != 0:
		line.Kind = "post"
	case t.Flags&model.TransferVoidPending != 0:
		line.Kind = "void"
	}
	if !t.PendingID.IsZero() {
		line.PendingID = t.PendingID.String()
	}
	if !t.UserData128.IsZero() {
		line.UserData128 = t.UserData128.String()
	}
	n.listed = append(n.listed, line)
	return len(n.listed) - 1
}

func (n *netter) setState(line int, state string) {
	if line >= 0 {
		n.listed[line].State = state
	}
}

// report orders the positions by ledger and computes each net.
func (n *netter) report(ledgers *Ledgers) *NettingReport {
	r := &NettingReport{From: n.query.Window.From, Until: n.query.Window.Until,
		FromTime: FormatTime(n.query.Window.From), UntilTime: FormatTime(n.query.Window.Until),
		TransfersCounted: n.counted, Transfers: n.listed,
		Truncated: n.counted > len(n.listed), Positions: []Position{}}
	if r.Transfers == nil {
		r.Transfers = []NettedTransfer{}
	}
	for _, account := range n.query.Partners {
		r.Partners = append(r.Partners, account.String())
	}
	for _, p := range n.positions {
		for _, account := range n.accounts[p.Ledger] {
			p.Accounts = append(p.Accounts, account.String())
		}
		p.Currency = ledgers.Name(p.Ledger)
		p.negative, p.magnitude = signedDifference(p.CreditsPosted, p.DebitsPosted)
		p.Net, p.Direction = signedString(p.negative, p.magnitude.String()), DirectionFlat
		if info, ok := ledgers.Ledger(p.Ledger); ok && p.magnitude.High == 0 {
			p.NetMajor = signedString(p.negative, FormatAmount(p.magnitude.Low, info.Scale))
		}
		switch {
		case p.magnitude == (model.WideSum{}):
		case p.negative:
			p.Direction = DirectionReceivable
		default:
			p.Direction = DirectionPayable
		}
		r.Positions = append(r.Positions, *p)
	}
	slices.SortFunc(r.Positions, func(a, b Position) int { return cmp.Compare(a.Ledger, b.Ledger) })
	return r
}

// signedDifference returns |a − b| and whether a < b.
func signedDifference(a, b model.WideSum) (negative bool, magnitude model.WideSum) {
	if wideLess(a, b) {
		return true, wideSub(b, a)
	}
	return false, wideSub(a, b)
}

func wideLess(a, b model.WideSum) bool {
	return a.High < b.High || (a.High == b.High && a.Low.Less(b.Low))
}

// wideSub returns a − b for a ≥ b.
func wideSub(a, b model.WideSum) model.WideSum {
	low, borrow := a.Low.Sub(b.Low)
	high := a.High - b.High
	if borrow {
		high--
	}
	return model.WideSum{Low: low, High: high}
}

func signedString(negative bool, magnitude string) string {
	if negative && magnitude != "0" {
		return "-" + magnitude
	}
	return magnitude
}

// Booking says how to book the settlement of a report's positions: per ledger with a
// non-zero net, one pending transfer of |net| between the partner's account and the
// operator's settlement account (Via) on that ledger — payable: partner → Via (the
// liability is paid out); receivable: Via → partner. It stays pending until the partner
// confirms (post it) or disputes (void it), so the ledger shows what is in flight.
//
// The ledger answers each transfer on its own, so a booking may be refused on some
// ledgers (a closed account, a balance limit) and made on others. Booking the same cut-off
// again then books only the ledgers still without its settlement: a ledger whose
// settlement of that cut-off, of the same amount and direction, is in flight or confirmed
// is left alone (SettlementTransfers returns it as already booked); one in flight whose
// deadline only the caller's clock has passed is voided first (PlanSettlements). A
// ledger's id is FirstID plus its index among the positions to settle, booked now or
// before, so the same run sends each ledger the same id (a concurrent duplicate answers
// exists). An id
// refused for a transient reason (model.Status.Transient: every refusal that fixing an
// account cures) answers id_already_failed for ever, so completing a booking partly
// refused takes another FirstID.
type Booking struct {
	Via       map[uint32]model.Uint128 // The operator's settlement account per ledger.
	FirstID   model.Uint128            // Ids FirstID, FirstID+1, … in ascending ledger order.
	Code      uint16                   // Transfer code; not 0.
	Timeout   uint32                   // Seconds until an unconfirmed settlement expires; 0 never.
	Reference model.Uint128            // user_data_128; 0: the cut-off timestamp.
	// BookedAfter is, per ledger, the settlements booked on the partner's accounts after
	// the report's cut-off and still in flight or confirmed (SettlementsBookedAfter): a
	// settlement is booked after its window, so the report never shows the one booked for
	// it. One of the report's own cut-off is the ledger's settlement, already booked; one
	// of another cut-off refuses the booking: booking a window cut before that settlement
	// would pay the partner twice, whether it is still pending or already posted.
	BookedAfter map[uint32][]BookedSettlement
	// answered holds the ledger's answers to the voids of settlements in the window
	// (Position.unproven), by the settlement's ledger and id (Voided): transfer ids are
	// unique per shard only, so two ledgers' settlements may share one
	// (TestReview2S50VoidAnswersKeptPerLedger).
	answered map[ledgerID]model.Status
}

// ledgerID names a transfer on a node of several shards: its id and its ledger.
type ledgerID struct {
	ledger uint32
	id     model.Uint128
}

// BookedSettlement is a settlement (Booking) booked on a partner's account, in flight or
// confirmed.
type BookedSettlement struct {
	ID              model.Uint128
	Ledger          uint32
	DebitAccountID  model.Uint128
	CreditAccountID model.Uint128
	Amount          model.Uint128 // As booked (pending); a confirmation may post less.
	Receivable      bool          // The operator's account → the partner's; else the reverse.
	Cutoff          uint64        // The cut-off of the window it settles (its user_data_64).
	Confirmed       bool          // Posted; else in flight.
	// ClockExpired marks one in flight whose deadline has passed by the caller's clock but
	// not by any log time read of its account: the ledger expires it at its own log time,
	// which may run behind the caller's clock, so the partner may still confirm it.
	// PlanSettlements voids it before booking its ledger again.
	ClockExpired bool
	deadline     uint64 // In flight: when the ledger expires it (ExpiredBy); 0 never.
}

// partner is the partner's account the settlement is booked on: credited if receivable.
func (s *BookedSettlement) partner() model.Uint128 {
	if s.Receivable {
		return s.CreditAccountID
	}
	return s.DebitAccountID
}

// State is the settlement's state as the reports name it: confirmed or in_flight.
func (s *BookedSettlement) State() string {
	if s.Confirmed {
		return "confirmed"
	}
	return "in_flight"
}

// SettlementsBookedAfter returns, per ledger, the settlements booked on the partners'
// accounts after cutoff that are in flight or were posted, for Booking.BookedAfter.
// Voided ones are left out, and so are those whose deadline has passed at the latest log
// time read of the account they are booked on: the ledger refuses to post them, and the
// window may be booked again. One whose deadline has passed at now, the caller's clock,
// but not at that log time is kept, marked ClockExpired: the log may be behind the
// caller's clock, and the partner may still confirm it
// (TestReview50SettlementStillConfirmableIsNotBookedAgain). It reads every transfer after
// the cut-off, not only those up to now: the timestamps are the log's, which may also run
// ahead of the caller's clock (another machine's clock; log time never goes back after a
// failover), and a settlement stamped after the caller's now must count too
// (TestReviewa44SettlementBookedAfterTheCommandsClock).
func SettlementsBookedAfter(ctx context.Context, reader Reader, partners []model.Uint128,
	cutoff, now uint64) (map[uint32][]BookedSettlement, error) {
	if cutoff == math.MaxUint64 {
		return nil, nil
	}
	later, err := readWindow(ctx, reader, NettingQuery{Partners: partners,
		Window:    Window{From: cutoff + 1, Until: math.MaxUint64},
		expiredAt: max(now, 1), keepSettlements: true})
	if err != nil {
		return nil, err
	}
	// Only a log time proves a deadline passed: the ledger expires a settlement at its
	// shard's log time, which never goes back, and a transfer read of the partner's
	// account shows that shard's log reached its timestamp. That log time may run ahead of
	// the caller's clock (TestReview50ExpiredOnTheLogIsNotAlreadyBooked) or behind it, and
	// another shard's proves nothing (TestReview50ExpiryJudgedAtTheSettlementsOwnShard).
	booked := map[uint32][]BookedSettlement{}
	for _, settlement := range later.settlements {
		if settlement.deadline != 0 {
			if settlement.deadline <= later.latest[settlement.partner()] {
				continue
			}
			settlement.ClockExpired = settlement.deadline <= now
		}
		booked[settlement.Ledger] = append(booked[settlement.Ledger], settlement)
	}
	return booked, nil
}

// Voided takes the ledger's answer to a void of PlanSettlements into b.BookedAfter, and
// reports whether the settlement it voids can no longer be confirmed twice: voided by it
// (ok, or exists: a retry of it), voided before or expired by the ledger (it is left
// out: the ledger may be booked again), or already posted (it stays, confirmed: the
// window may be paid). Any other answer leaves the settlement in flight and its ledger
// unbooked. The answer to the void of a settlement in the window (not of b.BookedAfter)
// is kept for PlanSettlements: voided or expired, it pays nothing and the ledger is
// booked; posted, the window's net read before it is stale and the booking is refused.
func (b *Booking) Voided(void model.Transfer, status model.Status) bool {
	settlements := b.BookedAfter[void.Ledger]
	i := slices.IndexFunc(settlements, func(s BookedSettlement) bool {
		return s.ID == void.PendingID
	})
	if i < 0 {
		if b.answered == nil {
			b.answered = map[ledgerID]model.Status{}
		}
		b.answered[ledgerID{void.Ledger, void.PendingID}] = status
		return voidTook(status) || status == model.StatusPendingTransferAlreadyPosted
	}
	switch {
	case voidTook(status):
		b.BookedAfter[void.Ledger] = slices.Delete(slices.Clone(settlements), i, i+1)
		return true
	case status == model.StatusPendingTransferAlreadyPosted:
		settlements = slices.Clone(settlements)
		settlements[i].Confirmed, settlements[i].ClockExpired = true, false
		b.BookedAfter[void.Ledger] = settlements
		return true
	}
	return false
}

// voidTook reports whether the ledger's answer to a void means the settlement it voids is
// voided or expired: voided by it (ok, or exists: a retry of it), before it, or expired.
func voidTook(status model.Status) bool {
	switch status {
	case model.StatusOK, model.StatusExists, model.StatusPendingTransferAlreadyVoided,
		model.StatusPendingTransferExpired:
		return true
	}
	return false
}

// ErrBooking is wrapped by the errors of SettlementTransfers.
var ErrBooking = errors.New("clearing: cannot book the settlement")

// SettlementTransfers returns the pending transfers that settle the report's positions,
// and the settlements of the report's cut-off already booked (Booking.BookedAfter), which
// are not to be booked again; both in ascending ledger order. It is PlanSettlements for a
// booking with nothing to void first: one that needs a void refuses the whole booking.
func (r *NettingReport) SettlementTransfers(b Booking) (transfers []model.Transfer,
	booked []BookedSettlement, err error) {
	plan, err := r.PlanSettlements(b)
	if err != nil {
		return nil, nil, err
	}
	if len(plan.Voids) != 0 {
		return nil, nil, fmt.Errorf("%w: ledger %d's settlement %s may still be confirmed "+
			"(its deadline has passed by this clock only): void it first", ErrBooking,
			plan.Voids[0].Ledger, plan.Voids[0].PendingID)
	}
	return plan.Transfers, plan.Booked, nil
}

// SettlementPlan is how to book a report's settlements (PlanSettlements).
type SettlementPlan struct {
	// Transfers are the pending transfers to book, in ascending ledger order. Their
	// user data: user_data_128 the reference, user_data_64 the cut-off timestamp,
	// user_data_32 kind ClearingKindSettlement in its top byte.
	Transfers []model.Transfer
	// Booked are the settlements of the report's cut-off already booked, in flight or
	// confirmed, in ascending ledger order: not to be booked again.
	Booked []BookedSettlement
	// Voids are to be sent before anything is booked: one per settlement ClockExpired on
	// the partner's account of a ledger to book, or in its window past its deadline at the
	// cut-off only (a cut-off is no log time), whose ledger is in neither list. Each
	// names the settlement's accounts and ledger (which place it on a node's shard).
	// Once the ledger has answered them (Booking.Voided), planning again books the ledgers
	// whose settlements can no longer be confirmed; a ledger whose void was refused for
	// another reason is among the voids again, and must not be booked.
	Voids []model.Transfer
	// Voiding are the settlements the voids void, in the same order.
	Voiding []BookedSettlement
}

// PlanSettlements plans the booking of the report's settlements. A ledger it cannot book
// refuses the whole booking, before anything is sent.
//
// A settlement the caller's clock alone judges expired (BookedSettlement.ClockExpired)
// may still be confirmed: the log's time, at which the ledger expires it, may be behind
// that clock; so may one in the window that the cut-off alone judges expired (the report
// says expired, at the cut-off, but the cut-off may be ahead of the log: `--until now` on
// such a clock, or a far-future end). Booking the ledger again over it could pay the
// partner twice, so it is voided first (Voids), and the ledger is booked only if the
// ledger answers that it is voided or expired; a settlement the ledger answers already
// posted is the ledger's, already booked (confirmed), if it settles the position (one in
// the window refuses the booking: the window's net counted it unposted). The voids' ids
// follow the settlements' (FirstID + the number of positions to settle, + 1 for each
// next void).
func (r *NettingReport) PlanSettlements(b Booking) (SettlementPlan, error) {
	var plan SettlementPlan
	if b.FirstID.IsZero() || b.Code == 0 {
		return plan, fmt.Errorf("%w: an id and a code are required", ErrBooking)
	}
	reference := b.Reference
	if reference.IsZero() {
		reference = model.U128(r.Until)
	}
	settled, voids := uint64(0), uint64(0) // Settlement ids given, and void ids.
	for i := range r.Positions {
		if r.Positions[i].Direction != DirectionFlat {
			voids++
		}
	}
	for i := range r.Positions {
		p := &r.Positions[i]
		if p.Direction == DirectionFlat {
			continue
		}
		id, fits := idAfter(b.FirstID, settled)
		if settled++; !fits {
			return SettlementPlan{}, errIDsPastTheLast(b.FirstID)
		}
		same, stale, problem := r.alreadyBooked(p, b.BookedAfter[p.Ledger], b.answered)
		via, ok := b.Via[p.Ledger]
		switch {
		case len(p.Accounts) != 1:
			problem = fmt.Sprintf("ledger %d has %d partner accounts; book one at a time",
				p.Ledger, len(p.Accounts))
		case p.SettlementInFlight != (model.WideSum{}):
			problem = fmt.Sprintf("ledger %d has a settlement of %s in flight: post or void "+
				"it first", p.Ledger, p.SettlementInFlight)
		case problem != "":
		case same != nil:
			plan.Booked = append(plan.Booked, *same)
			continue
		case !ok:
			problem = fmt.Sprintf("no settlement account given for ledger %d", p.Ledger)
		case p.magnitude.High != 0:
			problem = fmt.Sprintf("ledger %d's net does not fit one transfer", p.Ledger)
		}
		if problem != "" {
			return SettlementPlan{}, fmt.Errorf("%w: %s", ErrBooking, problem)
		}
		if len(stale) != 0 {
			for _, s := range stale {
				id, fits := idAfter(b.FirstID, voids)
				if voids++; !fits {
					return SettlementPlan{}, errIDsPastTheLast(b.FirstID)
				}
				plan.Voids = append(plan.Voids, model.Transfer{ID: id,
					PendingID: s.ID, DebitAccountID: s.DebitAccountID,
					CreditAccountID: s.CreditAccountID, Ledger: s.Ledger,
					Flags: model.TransferVoidPending})
				plan.Voiding = append(plan.Voiding, s)
			}
			continue
		}
		partner, _ := model.ParseUint128(p.Accounts[0])
		t := model.Transfer{ID: id, DebitAccountID: partner, CreditAccountID: via,
			Amount: p.magnitude.Low, UserData128: reference, UserData64: r.Until,
			UserData32: uint32(client.ClearingKindSettlement) << 24, Timeout: b.Timeout,
			Ledger: p.Ledger, Code: b.Code, Flags: model.TransferPending}
		if p.negative {
			t.DebitAccountID, t.CreditAccountID = via, partner
		}
		plan.Transfers = append(plan.Transfers, t)
	}
	return plan, nil
}

// idAfter returns first + offset, the id of a booking's settlement or void, and whether
// it fits below the last id, which no transfer may take (id_must_not_be_int_max): an id
// past it would wrap (TestReview50SCVoidIDsPastTheLastIDRefuseNotPanic).
func idAfter(first model.Uint128, offset uint64) (model.Uint128, bool) {
	id, overflow := first.Add(model.U128(offset))
	return id, !overflow && !id.IsMax()
}

func errIDsPastTheLast(first model.Uint128) error {
	return fmt.Errorf("%w: the ids from %s (a settlement per ledger, then a void per "+
		"settlement to void first) run past the last id; give a lower one", ErrBooking, first)
}

// alreadyBooked finds, among the settlements booked on a position's ledger after the
// report's cut-off, the one of this very cut-off that settles the position, and those on
// the position's account that only the caller's clock judges expired, or in the window
// the cut-off alone (Position.unproven) unless a void answered took (stale: to void
// before booking the ledger); problem says why the ledger cannot be booked at all (a
// settlement of another cut-off, or of this one for another amount or direction: it
// settles another window; one in the window confirmed since the window was read).
func (r *NettingReport) alreadyBooked(p *Position, settlements []BookedSettlement,
	answered map[ledgerID]model.Status) (
	same *BookedSettlement, stale []BookedSettlement, problem string) {
	for _, s := range p.unproven {
		switch status, ok := answered[ledgerID{s.Ledger, s.ID}]; {
		case ok && status == model.StatusPendingTransferAlreadyPosted:
			return nil, nil, fmt.Sprintf("ledger %d's settlement %s, in the window and past "+
				"its deadline at the cut-off but not on the ledger's log, was confirmed after "+
				"the window was read: its net is stale; run the booking again", p.Ledger, s.ID)
		case ok && voidTook(status): // It pays nothing: the window's net holds.
		default:
			stale = append(stale, s)
		}
	}
	for i := range settlements {
		s := &settlements[i]
		otherAccount := len(p.Accounts) == 1 && s.partner().String() != p.Accounts[0]
		switch {
		case s.ClockExpired && otherAccount:
			// Another account's settlement pays none of this position, confirmed or not.
			continue
		case s.ClockExpired:
			stale = append(stale, *s)
			continue
		case otherAccount:
			// Another partner account of the query, idle in the window: its settlement
			// is not this position's (TestReview50AlreadyBookedOnlyForThePositionsAccount).
			return nil, nil, fmt.Sprintf("ledger %d has settlement %s of %s (%s) booked "+
				"after the window's cut-off on partner account %s, not on %s, whose position "+
				"this is: book the partner accounts one at a time", p.Ledger, s.ID, s.Amount,
				s.State(), s.partner(), p.Accounts[0])
		case s.Cutoff != r.Until:
			return nil, nil, fmt.Sprintf("ledger %d has settlement %s of %s (%s) booked "+
				"after the window's cut-off, for the cut-off %d (%s): to complete that "+
				"booking book that cut-off again; otherwise void it while in flight, or book "+
				"a cut-off after it", p.Ledger, s.ID, s.Amount, s.State(), s.Cutoff,
				FormatTime(s.Cutoff))
		case s.Receivable != p.negative || p.magnitude != (model.WideSum{Low: s.Amount}):
			return nil, nil, fmt.Sprintf("ledger %d has settlement %s of this cut-off (%s, "+
				"%s %s) while the window's net is %s: it settles another window with the "+
				"same cut-off (another start?); void it while in flight, or book another "+
				"cut-off", p.Ledger, s.ID, s.State(), directionOf(s.Receivable), s.Amount,
				p.Net)
		case same != nil:
			return nil, nil, fmt.Sprintf("ledger %d has two settlements of this cut-off, %s "+
				"and %s: void one while in flight", p.Ledger, same.ID, s.ID)
		}
		same = s
	}
	if same != nil && len(stale) != 0 {
		return nil, nil, fmt.Sprintf("ledger %d has settlement %s of this cut-off, and "+
			"settlement %s whose deadline has passed by this machine's clock but not yet on "+
			"the ledger's log, which may still let the partner confirm it: void it, or wait "+
			"until the ledger has expired it", p.Ledger, same.ID, stale[0].ID)
	}
	return same, stale, ""
}

func directionOf(receivable bool) string {
	if receivable {
		return DirectionReceivable
	}
	return DirectionPayable
}
